"""AIReasoningExecuteApproved under the platform doubles, with the simulated SOC answering the real commands."""

import json

from tests.content.xsoar_harness import Tenant, seed_run

SCRIPT = "AIReasoningExecuteApproved"
KEY = {"user_name": "ci-deploy", "access_key_id": "AKIAXB7K2QZ4CIDEPLY1"}
KEY2 = {"user_name": "ci-deploy", "access_key_id": "AKIAXB7K2QZ4R7V9HW3M"}


def approve(tenant, rec_id, user):
    result = tenant.run("AIReasoningApproveRecommendation", {"recommendation_id": rec_id, "decision": "approve",
                                                             "reason": "contain"}, user=user)
    assert result.ok, result.error_messages


def actions(tenant):
    value = tenant.context["AIReasoning"]["Action"]
    return value if isinstance(value, list) else [value]


def key_status(tenant, key_id):
    entries = tenant.soc.dispatch("aws-iam-list-access-keys-for-user", {"userName": "ci-deploy"})
    keys = next(iter(entries[0]["EntryContext"].values()))
    return next(k["Status"] for k in keys if k["AccessKeyId"] == key_id)


def test_approved_action_runs_the_real_command_and_records_the_rollback():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    approve(tenant, rec["id"], "alice")
    result = tenant.run(SCRIPT, {}, user="alice")
    assert result.ok, result.error_messages
    assert ("aws-iam-update-access-key", {"userName": "ci-deploy", "accessKeyId": "AKIAXB7K2QZ4CIDEPLY1",
                                          "status": "Inactive"}) in tenant.calls
    assert key_status(tenant, "AKIAXB7K2QZ4CIDEPLY1") == "Inactive"
    action = actions(tenant)[0]
    assert action["status"] == "executed" and action["executed_by"] == "alice"
    assert action["rollback"]["command"] == "aws-iam-update-access-key"
    assert action["rollback"]["args"] == {"userName": "ci-deploy", "accessKeyId": "AKIAXB7K2QZ4CIDEPLY1",
                                          "status": "Active"}
    assert "Set the access key back to Active" in json.dumps(result.entries)
    assert tenant.run_record()["recommendations"][0]["status"] == "executed"
    state = json.loads(tenant.lists["AIReasoningPolicyState"])["state"]
    assert state["call_times"]["iam_deactivate_access_key"]  # the rate window persists across incidents


def test_unapproved_action_is_denied_and_nothing_runs():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    result = tenant.run(SCRIPT, {"recommendation_ids": rec["id"]}, user="alice")
    assert result.ok
    assert actions(tenant)[0]["status"] == "denied" and "needs required approval" in actions(tenant)[0]["reason"]
    assert "aws-iam-update-access-key" not in tenant.commands()


def test_auto_tier_runs_without_approval():
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    seed_run(tenant, [("okta_clear_user_sessions", {"user_id": "00u8q2k4hXwZr1abc357"}, "optional")])
    result = tenant.run(SCRIPT, {}, user="")
    assert result.ok
    assert "okta-clear-user-sessions" in tenant.commands()
    assert actions(tenant)[0]["reason"].startswith("tier optional")


def test_blast_radius_refuses_the_second_target():
    tenant = Tenant()
    policy = json.loads(tenant.lists["AIReasoningPolicy"])
    policy["blast_radius_per_run"] = 1
    tenant.lists["AIReasoningPolicy"] = json.dumps(policy)
    recs = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required"),
                             ("iam_deactivate_access_key", KEY2, "required")])["recommendations"]
    for rec in recs:
        approve(tenant, rec["id"], "alice")
    assert tenant.run(SCRIPT, {}, user="alice").ok
    first, second = actions(tenant)
    assert first["status"] == "executed"
    assert second["status"] == "denied" and "blast radius" in second["reason"]
    assert key_status(tenant, "AKIAXB7K2QZ4R7V9HW3M") == "Active"


def test_arguments_edited_after_approval_are_not_executed():
    tenant = Tenant()
    rec = seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])["recommendations"][0]
    approve(tenant, rec["id"], "alice")
    tenant.run_record()["recommendations"][0]["args"]["access_key_id"] = "AKIAXB7K2QZ4R7V9HW3M"
    assert tenant.run(SCRIPT, {}, user="alice").ok
    assert actions(tenant)[0]["status"] == "denied" and "arguments changed" in actions(tenant)[0]["reason"]
    assert "aws-iam-update-access-key" not in tenant.commands()


def test_policy_denial_wins_over_approval():
    tenant = Tenant()
    rec = seed_run(tenant, [("block_ip", {"ip": "10.1.2.3"}, "required")])["recommendations"][0]
    approve(tenant, rec["id"], "alice")
    assert tenant.run(SCRIPT, {}, user="alice").ok
    assert actions(tenant)[0]["status"] == "denied" and "private-ip-block-deny" in actions(tenant)[0]["reason"]


def test_nothing_to_execute():
    tenant = Tenant()
    seed_run(tenant, [("iam_deactivate_access_key", KEY, "required")])
    result = tenant.run(SCRIPT, {}, user="alice")
    assert result.ok and "nothing approved to run" in json.dumps(result.entries)
