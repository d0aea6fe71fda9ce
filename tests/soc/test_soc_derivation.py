"""A scenario with only an incident and raw CloudTrail records yields identities, keys and permission changes."""

from __future__ import annotations

from soc_helpers import one

from localsoc.soc import SimulatedSOC


def test_identities_and_keys_from_records_only(ct_soc: SimulatedSOC) -> None:
    users = ct_soc.state["iam"]["users"]
    assert set(users) == {"a.chen", "svc-metrics-exporter"}
    chen = users["a.chen"]
    assert chen["UserId"] == "AIDA2F6T9WQ3ACHEN0P1"  # principalId from userIdentity
    assert chen["Arn"] == "arn:aws:iam::216483907755:user/a.chen"
    assert list(chen["AccessKeys"]) == ["AKIA2F6T9WQ3ACHEN7K5"]
    backdoor = users["svc-metrics-exporter"]
    assert backdoor["AccessKeys"]["AKIA2F6T9WQ3SVCMX4R2"]["CreateDate"] == "2026-08-21T22:49:31"
    assert backdoor["CreateDate"] == "2026-08-21T22:49:15"  # from CreateUser responseElements
    assert ct_soc.state["account_id"] == "216483907755"


def test_permission_changes_applied_and_denied(ct_soc: SimulatedSOC) -> None:
    chen = ct_soc.state["iam"]["users"]["a.chen"]
    assert "arn:aws:iam::aws:policy/AdministratorAccess" not in chen["AttachedPolicies"]  # AccessDenied
    assert '"Action": "*"' in chen["InlinePolicies"]["ops-debug"]
    assert ct_soc.state["iam"]["users"]["svc-metrics-exporter"]["Groups"] == ["Administrators"]
    changes = ct_soc.permission_changes()
    assert [(c["eventName"], c["applied"]) for c in changes] == [
        ("AttachUserPolicy", False), ("PutUserPolicy", True), ("CreateUser", True), ("CreateAccessKey", True),
        ("AddUserToGroup", True)]
    assert changes[0]["errorCode"] == "AccessDenied" and changes[3]["target"] == "svc-metrics-exporter"
    assert changes[3]["details"]["accessKeyId"] == "AKIA2F6T9WQ3SVCMX4R2"


def test_derived_state_answers_iam_commands(ct_soc: SimulatedSOC) -> None:
    keys = one(ct_soc.dispatch("aws-iam-list-access-keys-for-user", {"userName": "svc-metrics-exporter"}))
    assert keys["EntryContext"]["AWS.IAM.Users(val.UserName === obj.UserName).AccessKeys"][0]["Status"] == "Active"
    assert one(ct_soc.dispatch("aws-iam-get-user", {"userName": "a.chen"}))["EntryContext"]["AWS.IAM.Users"]


def test_session_credentials_are_not_access_keys_and_rotation_replays(fp_soc: SimulatedSOC) -> None:
    admin = fp_soc.state["iam"]["users"]["m.okafor"]
    assert admin["AccessKeys"] == {}  # ASIA... console session credentials are not IAM keys
    assert admin["PasswordLastUsed"] == "2026-08-18T15:02:09"
    etl = fp_soc.state["iam"]["users"]["reporting-etl"]["AccessKeys"]
    assert {k: v["Status"] for k, v in etl.items()} == {"AKIAYQ6R3TJ2ETL0LD5Q": "Inactive",
                                                         "AKIAYQ6R3TJ2ETLN3W8K": "Active"}


def test_directory_first_then_records(tp_soc: SimulatedSOC) -> None:
    ci = tp_soc.state["iam"]["users"]["ci-deploy"]
    assert ci["Source"] == "directory" and ci["IsService"] and ci["IsAdmin"]  # admin after the replayed grant
    assert ci["Groups"] == ["deployers"]
    okta = tp_soc.state["okta"]["users"]["00u8q2k4hXwZr1abc357"]
    assert okta["profile"]["login"] == "m.okafor@example.com"


def test_okta_sessions_counted_from_logs(fp_soc: SimulatedSOC) -> None:
    assert fp_soc.state["okta"]["users"]["00u8q2k4hXwZr1abc357"]["sessions"] == 1
