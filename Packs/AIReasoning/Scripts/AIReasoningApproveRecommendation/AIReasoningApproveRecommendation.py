import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningApproveRecommendation: approve or reject one recommended action of an AI Reasoning run.

Records who, when and why. The approver is the XSOAR user who ran the script (layout button, war room);
when a playbook task runs it (no user), the approver comes from the data-collection task that asked.
Dual approval needs two distinct people, neither of them the run's initiator. An approval is refused when
the recommendation no longer matches what the run bound for approval (edited arguments, another run).
"""

DECISIONS = {"approve": "approve", "approved": "approve", "yes": "approve", "reject": "reject",
             "rejected": "reject", "no": "reject", "expire": "expire", "expired": "expire", "timeout": "expire"}


def approver_identity(args: dict[str, Any]) -> str:
    """The person deciding: the calling user; only a playbook (no user) may name one via `approver`."""
    user = calling_user()
    return user or str(args.get("approver") or "").strip()


def main() -> None:
    args = demisto.args()
    decision = DECISIONS.get(str(args.get("decision") or "").strip().lower())
    if decision is None:
        raise DemistoException("decision must be approve or reject (a playbook may also pass expire)")
    user = approver_identity(args)
    reason = str(args.get("reason") or "").strip()
    run = copy_run(find_run(str(args.get("run_id") or "")))
    rec = find_recommendation(run, str(args.get("recommendation_id") or ""))
    setup = load_setup(with_library=False)
    audit = XsoarAuditSink()
    run_id = str(run.get("run_id"))
    if decision == "approve":
        ok, why = verify_binding(setup.policy(), run, rec)
        if not ok:
            audit.write(audit_record(run_id, "approval", user, {"recommendation_id": rec.get("id"),
                                                                 "decision": "refused", "reason": why}))
            return_results(audit.entries())
            raise DemistoException(f"Approval refused (stale or edited recommendation): {why}")
    try:
        record, message = record_decision(run, rec, decision=decision, user=user, reason=reason,
                                          initiator=str(run.get("initiated_by") or ""))
    except DemistoException as refusal:
        audit.write(audit_record(run_id, "approval", user, {"recommendation_id": rec.get("id"),
                                                             "decision": "refused", "reason": str(refusal)}))
        return_results(audit.entries())
        raise
    approval = {"run_id": run_id, "recommendation_id": rec.get("id"), "action": rec.get("action"),
                "target": rec.get("target"), **record, "approvals": sum(1 for a in rec["approvals"]
                                                                         if a.get("decision") == "approve"),
                "approvals_needed": approvals_needed(str(rec.get("tier")))}
    audit.write(audit_record(run_id, "approval", user, {k: v for k, v in approval.items() if k != "run_id"}))
    set_incident_fields({FIELD_REC_STATUS: recommendation_status_text(as_list(run.get("recommendations")))})
    demisto.setContext(PENDING_KEY, pending_summary(run, rec, setup.registry))  # what the approval playbook reads
    return_results([
        updated_run_result(run, f"Recommendation {rec.get('id')} is now {rec.get('status')}."),
        CommandResults(outputs_prefix=APPROVAL_PREFIX, outputs=approval, mark_as_note=True,
                       tags=[NOTE_TAG, "ai-reasoning-approval"],
                       readable_output=tableToMarkdown(f"AI Reasoning approval: {message}", approval,
                                                       headers=["recommendation_id", "action", "target", "decision",
                                                                "user", "reason", "at", "status", "approvals",
                                                                "approvals_needed"])),
        *audit.entries(),
    ])


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
