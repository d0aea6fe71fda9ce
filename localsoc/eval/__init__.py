"""Evaluation of the AI Reasoning playbooks on scenario files: metrics (pure) and the harness over the runner.

    from localsoc.eval import metrics            # pure metric functions, IncidentResult
    from localsoc.eval.harness import run_eval    # runs scenarios through localsoc.runner and scores them
"""

from localsoc.eval import metrics

__all__ = ["metrics"]
