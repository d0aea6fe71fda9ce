import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningExecuteApproved: run the approved recommendations of an AI Reasoning run, under the policy.

Each action is checked again right before it runs: allowlist, argument predicates, rate limits and blast
radius (PolicyState persists them across incidents), and its approval binding is verified against the
stored recommendation. Auto tiers (none / optional) run without approval. The rollback plan of every
executed action is recorded and shown. Results: AIReasoning.Action, the updated run, an audit note.
"""


def selected(run: dict[str, Any], ids: list[str]) -> list[dict[str, Any]]:
    recs = [r for r in as_list(run.get("recommendations")) if isinstance(r, dict)]
    if ids:
        return [find_recommendation(run, i) for i in ids]
    return [r for r in recs if r.get("status") == "approved"
            or (r.get("status") == "proposed" and r.get("tier") in AUTO_RUN_TIERS)]


def may_run(policy: Any, run: dict[str, Any], rec: dict[str, Any], call: Any) -> tuple[bool, str, str]:
    """(ok, reason, tier) - the policy decides; approvals only count when still bound to this exact call."""
    decision = policy.decide(call, str(run.get("run_id")), autonomy=str(run.get("autonomy") or "normal"))
    tier = max_tier(decision.tier, str(rec.get("tier") or "none"))  # the run may have raised it (injection)
    if decision.decision == "deny":
        return False, decision.reason, tier
    if tier in AUTO_RUN_TIERS:
        return True, f"tier {tier}: no approval needed", tier
    if rec.get("status") != "approved":
        return False, f"needs {tier} approval; recommendation is {rec.get('status')}", tier
    ok, why = verify_binding(policy, run, rec)
    if not ok:
        return False, f"approval no longer valid: {why}", tier
    have = sum(1 for a in as_list(rec.get("approvals")) if isinstance(a, dict) and a.get("decision") == "approve")
    if have < approvals_needed(tier):
        return False, f"policy now needs {tier} approval ({have} given)", tier
    return True, "approved and verified", tier


def execute_one(setup: ReasoningSetup, policy: Any, run: dict[str, Any], rec: dict[str, Any], user: str) -> dict:
    run_id = str(run.get("run_id"))
    spec = setup.registry.get(str(rec.get("action")))
    binding = rec.get("binding") or {}
    call = ToolCall(id=binding.get("call_id") or new_id("call"), tool=str(rec.get("action")),
                    args=dict(rec.get("args") or {}), requested_by="analyst" if user else "playbook")
    action = {"run_id": run_id, "recommendation_id": rec.get("id"), "action": rec.get("action"),
              "target": rec.get("target"), "args": call.args, "executed_by": user or "playbook", "at": utc_now_iso()}
    if spec is None:
        ok, reason, tier = False, f"action '{call.tool}' is not in the tool registry", "dual"
    else:
        ok, reason, tier = may_run(policy, run, rec, call)
    action["tier"] = tier
    if not ok:
        rec["status"], rec["status_reason"] = "denied", reason
        return {**action, "status": "denied", "reason": reason}
    action["command"] = spec.command
    action["command_args"] = spec.command_args(call.args)
    rollback = spec.rollback
    action["rollback"] = ({"command": rollback.command, "args": rollback.render(call.args),
                           "description": rollback.description} if rollback else None)
    action["reversible"] = spec.reversible
    policy.record_call(call, run_id, spec)
    result = CommandToolExecutor(run_command).execute(call, spec)
    policy.record_result(call, result.ok)
    rec["status"] = "executed" if result.ok else "failed"
    rec["status_reason"] = reason if result.ok else f"command failed: {result.error}"
    if rollback and not rec.get("rollback_plan"):
        rec["rollback_plan"] = rollback.description
    return {**action, "status": rec["status"], "reason": rec["status_reason"], "source": result.source}


def main() -> None:
    args = demisto.args()
    run = copy_run(find_run(str(args.get("run_id") or "")))
    setup = load_setup(with_library=False)
    policy = setup.policy()
    user = calling_user()
    audit = XsoarAuditSink()
    actions = []
    for rec in selected(run, [str(i) for i in argToList(args.get("recommendation_ids"))]):
        action = execute_one(setup, policy, run, rec, user)
        actions.append(action)
        audit.write(audit_record(str(run.get("run_id")), "tool_call", user,
                                 {k: v for k, v in action.items() if k not in ("run_id", "command_args")}))
    setup.save_state(policy)
    status_text = recommendation_status_text(as_list(run.get("recommendations")))
    set_incident_fields({FIELD_REC_STATUS: status_text})
    rows = [{**a, "rollback": (a.get("rollback") or {}).get("description") or ("not reversible" if a.get("command")
                                                                              else "")} for a in actions]
    return_results([
        CommandResults(outputs_prefix=ACTION_PREFIX, outputs=actions, mark_as_note=True,
                       tags=[NOTE_TAG, "ai-reasoning-action"],
                       readable_output=tableToMarkdown(
                           "AI Reasoning actions" if actions else "AI Reasoning actions: nothing approved to run",
                           rows, headers=["recommendation_id", "action", "target", "status", "reason", "tier",
                                          "rollback", "executed_by"])),
        updated_run_result(run, f"Run {run.get('run_id')}: {status_text}."),
        *audit.entries(),
    ])


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
