"""AIReasoningNextRecommendation: what the approval playbook branches on."""

from tests.content.xsoar_harness import Tenant, seed_run

SCRIPT = "AIReasoningNextRecommendation"
KEY = {"user_name": "ci-deploy", "access_key_id": "AKIAXB7K2QZ4CIDEPLY1"}


def test_pending_summary_with_tier_group_and_rollback():
    tenant = Tenant(None)
    recs = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required"),
                             ("okta_suspend_user", {"username": "a@example.com"}, "dual"),
                             ("okta_clear_user_sessions", {"user_id": "00u1"}, "optional")])["recommendations"]
    tenant.context["AIReasoningApproval"] = {"Answers": {"0": "Approve", "name": "old"}}
    groups = []
    for rec in recs:
        assert tenant.run(SCRIPT, {"recommendation_id": rec["id"]}, user="").ok
        pending = tenant.context["AIReasoning"]["Pending"]
        groups.append(pending["tier_group"])
        assert pending["recommendation_id"] == rec["id"]
    assert groups == ["single", "dual", "auto"]
    assert tenant.context["AIReasoningApproval"] == {}  # a stale answer can never decide the next one
    assert tenant.run(SCRIPT, {"recommendation_id": recs[0]["id"]}, user="").ok
    pending = tenant.context["AIReasoning"]["Pending"]
    assert pending["command"] == "aws-iam-update-access-key"
    assert pending["rollback"]["args"]["status"] == "Active" and pending["approvals_needed"] == 1


def test_first_proposed_when_no_id_and_none_left():
    tenant = Tenant(None)
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    assert tenant.run(SCRIPT, {}, user="").ok
    assert tenant.context["AIReasoning"]["Pending"]["recommendation_id"] == rec["id"]
    tenant.run_record()["recommendations"][0]["status"] = "executed"
    assert tenant.run(SCRIPT, {}, user="").ok
    assert tenant.context["AIReasoning"]["Pending"]["tier_group"] == "none"
