"""The shipped playbooks, end to end, in the local playbook interpreter.

Pack scripts run as on the platform (their own session, demisto.executeCommand into the tenant), the real
integration commands are answered by the simulated SOC of a bundled scenario, and human tasks by the local
approval providers: everything approved, everything rejected, nobody answering (SLA expiry).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from xsoar_session import XSOARSession, run_script

from localsoc.playbook import ApproveAll, NobodyAnswers, PlaybookInterpreter, PlaybookLibrary, RejectAll
from localsoc.playbook.approvals import ApprovalAnswer, Reply
from tests.content.xsoar_harness import REPO, SCRIPTS, Tenant, seed_run

PLAYBOOKS = REPO / "Packs" / "AIReasoning" / "Playbooks"
PACK_SCRIPTS = {p.name for p in SCRIPTS.iterdir() if p.is_dir()}
IAM = "AI Reasoning - IAM Anomaly ART Analysis"
API = "AI Reasoning - API Key Abuse ReAct Investigation"
TRIAGE = "AI Reasoning - Alert Triage"
APPROVAL = "AI Reasoning - Apply Recommendations With Approval"


class Runtime:
    """Routes what playbook tasks call: pack scripts (run as the platform runs them) and everything else
    (builtins, the gateway, integrations) to the tenant."""

    def __init__(self, tenant: Tenant, approvals: Any) -> None:
        self.tenant = tenant
        self.interpreter = PlaybookInterpreter(self.dispatch, library=PlaybookLibrary([PLAYBOOKS]),
                                               approvals=approvals, is_available=self.available,
                                               lists=tenant.lists)

    def available(self, command: str, brand: str | None = None) -> bool:
        soc = self.tenant.soc
        return command in PACK_SCRIPTS or (soc is not None and soc.is_available(command))

    def dispatch(self, command: str, args: dict[str, Any], scope: Any) -> list[dict[str, Any]]:
        if command not in PACK_SCRIPTS:
            return self.tenant.dispatch(command, args)
        session = XSOARSession(args=args, context=scope.context, incident=scope.incident,
                               dispatcher=self.tenant.dispatch, calling_user="", script_name=command)
        result = run_script(SCRIPTS / command / f"{command}.py", session)
        scope.context.clear()
        scope.context.update(session.context)  # setContext and outputs, as the server applied them
        return [dict(e, EntryContext=None) for e in result.entries]

    def run(self, playbook: str, inputs: dict[str, Any] | None = None) -> Any:
        path = next(p for p in PLAYBOOKS.glob("*.yml") if f"\nname: {playbook}\n" in p.read_text())
        result = self.interpreter.run(Path(path), context=self.tenant.context, incident=self.tenant.incident,
                                      inputs=inputs or {})
        return result


def actions(context: dict[str, Any]) -> list[dict[str, Any]]:
    value = context.get("AIReasoning", {}).get("Action")
    return [] if value is None else value if isinstance(value, list) else [value]


def statuses(context: dict[str, Any]) -> list[str]:
    runs = context["AIReasoning"]["Run"]
    run = runs[-1] if isinstance(runs, list) else runs
    return [r["status"] for r in run["recommendations"]]


@pytest.fixture(scope="module")
def iam_tp_all() -> tuple[Tenant, Any]:
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    return tenant, Runtime(tenant, ApproveAll()).run(IAM)


def test_iam_art_true_positive_approved_actions_run(iam_tp_all):
    tenant, result = iam_tp_all
    assert result.status == "completed", result.failure
    latest = tenant.context["AIReasoning"]["Latest"]
    assert latest["verdict"] in ("true_positive", "suspicious")
    commands = tenant.commands()
    for enrichment in ("aws-iam-get-user", "aws-iam-list-attached-user-policies", "aws-iam-list-access-keys-for-user",
                       "aws-cloudtrail-lookup-events", "ip"):
        assert enrichment in commands
    assert tenant.run_record()["method"] == "art" and tenant.run_record()["program"]
    executed = [a for a in actions(tenant.context) if a["status"] == "executed"]
    assert executed, actions(tenant.context)
    assert all(a["rollback"] is None or a["rollback"]["command"] for a in executed)
    assert tenant.context["AIReasoning"]["Approval"]



def test_iam_art_playbook_recommends_the_containment_its_evidence_supports(iam_tp_all):
    """Regression: the gateway's deterministic reasoner scored the prompt's compacted tool outputs, so the
    playbook run recommended only block_ip on the leaked-key incident while the same engine in-process, on the
    same enrichment, also detached AdministratorAccess and deactivated both keys (must_recommend)."""
    tenant, result = iam_tp_all
    assert result.status == "completed", result.failure
    from AIReasoningApiModule import ToolRegistry

    registry = ToolRegistry.from_config(tenant.lists["AIReasoningToolRegistry"])
    run = tenant.run_record()
    recs = run["recommendations"]
    commands = {registry.get(r["action"]).command for r in recs}
    assert set(tenant.soc.scenario.expect["must_recommend"]) <= commands, recs
    evidence = {e["id"] for e in run["evidence"]}
    assert all(r["evidence_refs"] and set(r["evidence_refs"]) <= evidence for r in recs)
    keys = {r["args"]["access_key_id"] for r in recs if r["action"] == "iam_deactivate_access_key"}
    assert keys == set(tenant.soc.scenario.expect["attacker_keys"])
    executed = {(a.get("action"), a.get("status")) for a in actions(tenant.context)}
    assert ("iam_detach_user_policy", "executed") in executed and ("iam_deactivate_access_key", "executed") in executed

def test_iam_art_false_positive_asks_nobody():
    tenant = Tenant("iam_anomaly_key_rotation_fp")
    result = Runtime(tenant, ApproveAll()).run(IAM)
    assert result.status == "completed", result.failure
    assert tenant.context["AIReasoning"]["Latest"]["verdict"] not in ("true_positive",)
    assert actions(tenant.context) == [] or all(a["status"] != "executed" or a["tier"] in ("none", "optional")
                                                for a in actions(tenant.context))


def test_api_key_abuse_rejected_nothing_runs():
    tenant = Tenant("api_key_abuse_scraping_tp")
    result = Runtime(tenant, RejectAll()).run(API)
    assert result.status == "completed", result.failure
    assert "splunk-search" in tenant.commands() and "aws-cloudtrail-lookup-events" in tenant.commands()
    state = statuses(tenant.context)
    assert state and "executed" not in [s for s, a in zip(state, actions(tenant.context), strict=False)
                                        if a.get("tier") not in ("none", "optional")]
    assert "rejected" in state
    assert "aws-iam-update-access-key" not in tenant.commands()


def test_api_key_abuse_timeout_expires_and_escalates():
    tenant = Tenant("api_key_abuse_scraping_tp")
    before = tenant.incident.get("severity")
    result = Runtime(tenant, NobodyAnswers()).run(API, {"EscalationOwner": "soc-lead"})
    assert result.status == "completed", result.failure
    assert "expired" in statuses(tenant.context)
    assert "aws-iam-update-access-key" not in tenant.commands()
    assert int(tenant.incident["severity"]) >= max(3, int(before or 0))


def test_alert_triage_routes_a_true_positive():
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    result = Runtime(tenant, ApproveAll()).run(TRIAGE)
    assert result.status == "completed", result.failure
    triage = tenant.context["AIReasoning"]["Triage"]
    assert (triage[-1] if isinstance(triage, list) else triage)["action"] == "routed"
    assert tenant.closed == []


def test_alert_triage_closes_only_under_the_policy_rule():
    tenant = Tenant("iam_anomaly_key_rotation_fp")
    result = Runtime(tenant, ApproveAll()).run(TRIAGE)
    assert result.status == "completed", result.failure
    decision = tenant.context["AIReasoning"]["Triage"]
    decision = decision[-1] if isinstance(decision, list) else decision
    assert (decision["action"] == "closed") == bool(tenant.closed)
    policy = json.loads(tenant.lists["AIReasoningPolicy"])["auto_close"]
    if decision["action"] == "closed":
        assert decision["verdict"] in policy["verdicts"] and decision["confidence"] >= policy["min_confidence"]


class SameUserTwice:
    """Both dual-approval forms answered by the same person."""

    name = "same-user"

    def answer(self, request: Any) -> ApprovalAnswer:
        return ApprovalAnswer(replies=[Reply(approver="alice", answers=["Approve", "ok"])], approver="alice")


@pytest.mark.parametrize("approvals,expected", [(ApproveAll(), "executed"), (SameUserTwice(), "proposed"),
                                                (RejectAll(), "rejected"), (NobodyAnswers(), "expired")])
def test_dual_approval_path(approvals, expected):
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    run = seed_run(tenant, [("okta_suspend_user", {"username": "j.doe@example.com"}, "dual")])
    rec = run["recommendations"][0]
    result = Runtime(tenant, approvals).run(APPROVAL, {"run_id": run["run_id"], "recommendation_id": rec["id"]})
    assert result.status == "completed", result.failure
    stored = next(r for r in tenant.run_record(run["run_id"])["recommendations"] if r["id"] == rec["id"])
    if expected == "executed":
        assert stored["status"] in ("executed", "failed")  # the command ran (the SOC may not know the user)
        assert len({a["user"] for a in stored["approvals"]}) == 2
        assert "okta-suspend-user" in tenant.commands()
    else:
        assert stored["status"] == expected
        assert "okta-suspend-user" not in tenant.commands()


def test_single_approval_granted_executes_once():
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    key = {"user_name": "ci-deploy", "access_key_id": "AKIAXB7K2QZ4CIDEPLY1"}
    run = seed_run(tenant, [("iam_deactivate_access_key", key, "required")])
    rec = run["recommendations"][0]
    result = Runtime(tenant, ApproveAll()).run(APPROVAL, {"run_id": run["run_id"], "recommendation_id": rec["id"]})
    assert result.status == "completed", result.failure
    assert [c for c in tenant.commands() if c == "aws-iam-update-access-key"] == ["aws-iam-update-access-key"]
    approval = tenant.context["AIReasoning"]["Approval"]
    approval = approval[-1] if isinstance(approval, list) else approval
    assert approval["user"] == "local-approver-1"
    assert tenant.run_record(run["run_id"])["recommendations"][0]["status"] == "executed"
