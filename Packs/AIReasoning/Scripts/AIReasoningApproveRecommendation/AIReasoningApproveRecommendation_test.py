"""AIReasoningApproveRecommendation under the platform doubles: who, why, dual, initiator, stale bindings."""

import json

from tests.content.xsoar_harness import Tenant, seed_run, texts

SCRIPT = "AIReasoningApproveRecommendation"
KEY = {"user_name": "ci-deploy", "access_key_id": "AKIAXB7K2QZ4CIDEPLY1"}


def approve(tenant, rec_id, user, decision="approve", **extra):
    return tenant.run(SCRIPT, {"recommendation_id": rec_id, "decision": decision, "reason": f"{user} says so", **extra},
                      user=user)


def stored(tenant, rec_id):
    return next(r for r in tenant.run_record()["recommendations"] if r["id"] == rec_id)


def test_single_approval_records_who_when_why():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "recommended")])["recommendations"][0]
    result = approve(tenant, rec["id"], "alice")
    assert result.ok, result.error_messages
    after = stored(tenant, rec["id"])
    assert after["status"] == "approved"
    assert after["approvals"][0]["user"] == "alice" and after["approvals"][0]["reason"] == "alice says so"
    assert after["approvals"][0]["at"]
    approval = tenant.context["AIReasoning"]["Approval"]
    assert approval["user"] == "alice" and approval["status"] == "approved" and approval["approvals_needed"] == 1
    assert tenant.incident["CustomFields"]["aireasoningrecommendationstatus"] == "1 approved"
    audit = [e for e in result.entries if "ai-reasoning-audit" in (e.get("Tags") or [])]
    assert audit and "alice" in json.dumps(audit)


def test_reject_ends_the_recommendation():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    assert approve(tenant, rec["id"], "bob", decision="reject").ok
    assert stored(tenant, rec["id"])["status"] == "rejected"
    again = approve(tenant, rec["id"], "carol")
    assert not again.ok and "already rejected" in again.error_messages[0]


def test_dual_needs_two_distinct_users():
    tenant = Tenant()
    rec = seed_run(tenant, [("okta_suspend_user", {"username": "ci-deploy@example.com"}, "dual")])["recommendations"][0]
    assert approve(tenant, rec["id"], "alice").ok
    assert stored(tenant, rec["id"])["status"] == "proposed"
    same = approve(tenant, rec["id"], "alice")
    assert not same.ok and "different person" in same.error_messages[0]
    assert stored(tenant, rec["id"])["status"] == "proposed"
    assert approve(tenant, rec["id"], "bob").ok
    after = stored(tenant, rec["id"])
    assert after["status"] == "approved" and [a["user"] for a in after["approvals"]] == ["alice", "bob"]


def test_dual_refuses_the_runs_initiator():
    tenant = Tenant()
    rec = seed_run(tenant, [("okta_suspend_user", {"username": "x@example.com"}, "dual")],
                   initiated_by="mallory")["recommendations"][0]
    result = approve(tenant, rec["id"], "mallory")
    assert not result.ok and "started this run" in result.error_messages[0]
    assert stored(tenant, rec["id"])["approvals"] == []
    assert "refused" in texts(result)  # the refusal itself is in the audit trail


def test_edited_arguments_make_the_approval_stale():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    stored(tenant, rec["id"])["args"]["access_key_id"] = "AKIAXB7K2QZ4R7V9HW3M"  # someone edits the context
    result = approve(tenant, rec["id"], "alice")
    assert not result.ok and "arguments changed" in result.error_messages[0]
    assert stored(tenant, rec["id"])["status"] == "proposed"


def test_binding_from_another_run_is_refused():
    tenant = Tenant()
    first = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])
    second = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])
    rec = next(r for r in tenant.run_record(second["run_id"])["recommendations"])
    rec["binding"] = first["recommendations"][0]["binding"]  # copied from the earlier run
    result = approve(tenant, rec["id"], "alice", run_id=second["run_id"])
    assert not result.ok and "belongs to run" in result.error_messages[0]


def test_forged_binding_token_is_refused():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    stored(tenant, rec["id"])["binding"]["token"] = "0" * 64
    result = approve(tenant, rec["id"], "alice")
    assert not result.ok and "token is invalid" in result.error_messages[0]


def test_playbook_task_takes_the_approver_from_the_form():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    result = tenant.run(SCRIPT, {"recommendation_id": rec["id"], "decision": "Approve", "reason": "form",
                                 "approver": "dana"}, user="")
    assert result.ok, result.error_messages
    assert stored(tenant, rec["id"])["approvals"][0]["user"] == "dana"
    assert tenant.context["AIReasoning"]["Pending"]["status"] == "approved"


def test_a_person_cannot_approve_in_someone_elses_name():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    assert approve(tenant, rec["id"], "alice", approver="the-ciso").ok
    assert stored(tenant, rec["id"])["approvals"][0]["user"] == "alice"


def test_approval_without_identity_is_refused_and_expiry_is_recorded():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    nobody = tenant.run(SCRIPT, {"recommendation_id": rec["id"], "decision": "approve"}, user="")
    assert not nobody.ok and "must name the approving user" in nobody.error_messages[0]
    expired = tenant.run(SCRIPT, {"recommendation_id": rec["id"], "decision": "expire"}, user="")
    assert expired.ok
    assert stored(tenant, rec["id"])["status"] == "expired"


def test_bad_decision_and_unknown_recommendation():
    tenant = Tenant()
    seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])
    assert "decision must be" in approve(tenant, "rec-x", "alice", decision="maybe").error_messages[0]
    assert "has no recommendation" in approve(tenant, "rec-missing", "alice").error_messages[0]
