import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningReActInvestigate: answer an investigation question about the current incident with ReAct.

Thought -> action (a registered command, under the policy) -> observation, until the model answers or a
budget ends. Model turns go through the AI Reasoning Gateway command; with no gateway instance the
deterministic reasoner answers and says so. Results: AIReasoning.Run, a war-room note, incident fields.
"""


def main() -> None:
    args = demisto.args()
    deliverable, audit, _ = run_reasoner("react", args)
    set_incident_fields(incident_field_args(deliverable))
    return_results(deliverable_results(deliverable, audit, title_tags=["ai-reasoning-react"]))


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
