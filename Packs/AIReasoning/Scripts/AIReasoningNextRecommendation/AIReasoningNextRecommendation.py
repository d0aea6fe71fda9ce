import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningNextRecommendation: prepare one recommendation for the approval playbook.

Puts what the approver must see (action, target, arguments, tier, reasoning, evidence, rollback plan) in
AIReasoning.Pending, with tier_group auto | single | dual for the playbook to branch on, and clears the
answers of the previous iteration's approval forms so a timeout is never mistaken for an old answer.
"""

FORM_KEYS = ("AIReasoningApproval", "AIReasoningSecondApproval")


def main() -> None:
    args = demisto.args()
    run = find_run(str(args.get("run_id") or ""))
    rec_id = str(args.get("recommendation_id") or "")
    if not rec_id:
        pending = [r for r in as_list(run.get("recommendations")) if isinstance(r, dict)
                   and r.get("status") == "proposed"]
        if not pending:
            demisto.setContext(PENDING_KEY, {"run_id": run.get("run_id"), "recommendation_id": "",
                                             "tier_group": "none"})
            return_results("No pending recommendation.")
            return
        rec_id = str(pending[0].get("id"))
    registry = load_setup(with_library=False).registry
    summary = pending_summary(run, find_recommendation(run, rec_id), registry)
    for key in FORM_KEYS:
        demisto.setContext(key, {})
    demisto.setContext(PENDING_KEY, summary)
    return_results(CommandResults(readable_output=tableToMarkdown(
        f"Recommendation {rec_id} awaiting decision", summary,
        headers=["action", "target", "tier", "status", "reasoning", "rollback_plan", "approvals", "approvals_needed"])))


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
