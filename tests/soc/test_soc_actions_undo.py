"""Response actions change state, record before/after, and undo/rollback restores the snapshot exactly."""

from __future__ import annotations

import pytest
from soc_helpers import one

from localsoc.soc import SimulatedSOC, UndoConflict

NEW_KEY = "AKIAXB7K2QZ4R7V9HW3M"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
OKTA_ID = "00u8q2k4hXwZr1abc357"
IPSET = "6f1a1c1e-7b3a-4f2e-9a59-0c5d8e1f2a3b"


def test_deactivate_key_then_undo_restores_snapshot(tp_soc: SimulatedSOC) -> None:
    before = tp_soc.snapshot()
    entry = one(tp_soc.dispatch("aws-iam-update-access-key",
                                {"userName": "ci-deploy", "accessKeyId": NEW_KEY, "status": "Inactive"}))
    assert entry["Contents"] == f"Access Key with ID {NEW_KEY} was set to status: Inactive"
    assert tp_soc.state["iam"]["users"]["ci-deploy"]["AccessKeys"][NEW_KEY]["Status"] == "Inactive"
    action = tp_soc.action(tp_soc.last_action_id or "")
    assert action["command"] == "aws-iam-update-access-key"
    assert action["changes"][0]["before"] == "Active" and action["changes"][0]["after"] == "Inactive"
    assert action["rollback"] == {"command": "aws-iam-update-access-key",
                                  "args": {"userName": "ci-deploy", "accessKeyId": NEW_KEY, "status": "Active"}}
    tp_soc.undo(action["action_id"])
    assert tp_soc.snapshot() == before
    with pytest.raises(ValueError, match="already undone"):
        tp_soc.undo(action["action_id"])


def test_all_actions_then_rollback_all_restores_everything(tp_soc: SimulatedSOC) -> None:
    before = tp_soc.snapshot()
    calls = [
        ("aws-iam-update-access-key", {"userName": "ci-deploy", "accessKeyId": NEW_KEY, "status": "Inactive"}),
        ("aws-iam-detach-policy", {"type": "User", "entityName": "ci-deploy", "policyArn": ADMIN}),
        ("aws-iam-remove-user-from-group", {"userName": "ci-deploy", "groupName": "deployers"}),
        ("okta-suspend-user", {"username": "m.okafor@example.com"}),
        ("okta-clear-user-sessions", {"userId": OKTA_ID}),
        ("aws-waf-ip-set-update", {"name": "localsoc-blocklist", "id": IPSET,
                                   "addresses": "45.148.10.240,193.47.62.69"}),
        ("zscaler-blacklist-ip", {"ip": "45.148.10.240"}),
        ("aws-iam-add-user-to-group", {"userName": "m.okafor", "groupName": "deployers"}),
    ]
    for command, args in calls:
        entry = one(tp_soc.dispatch(command, args))
        assert entry["Type"] == 1, (command, entry["Contents"])
    state = tp_soc.state
    assert ADMIN not in state["iam"]["users"]["ci-deploy"]["AttachedPolicies"]
    assert state["iam"]["users"]["ci-deploy"]["Groups"] == []
    assert state["okta"]["users"][OKTA_ID]["status"] == "SUSPENDED"
    assert state["waf"]["ip_sets"][IPSET]["Addresses"] == ["45.148.10.240/32", "193.47.62.69/32"]
    assert "45.148.10.240" in tp_soc.blocked_addresses()
    assert len(tp_soc.actions) == len(calls)
    undone = tp_soc.rollback_all()
    assert [a["command"] for a in undone] == [c for c, _ in reversed(calls)]
    assert tp_soc.snapshot() == before


def test_undo_out_of_order_conflict(tp_soc: SimulatedSOC) -> None:
    def set_status(status: str) -> str:
        tp_soc.dispatch("aws-iam-update-access-key", {"userName": "ci-deploy", "accessKeyId": NEW_KEY,
                                                      "status": status})
        return tp_soc.last_action_id or ""

    first_id, second_id, third_id = set_status("Inactive"), set_status("Active"), set_status("Inactive")
    with pytest.raises(UndoConflict, match="undo those first"):
        tp_soc.undo(first_id)  # value matches again, but later actions touched the same key
    tp_soc.undo(third_id)
    tp_soc.undo(second_id)
    tp_soc.undo(first_id)
    assert tp_soc.state["iam"]["users"]["ci-deploy"]["AccessKeys"][NEW_KEY]["Status"] == "Active"


def test_reversibility_flags_and_rollback_recipes(tp_soc: SimulatedSOC) -> None:
    tp_soc.dispatch("okta-clear-user-sessions", {"userId": OKTA_ID})
    clear = tp_soc.action(tp_soc.last_action_id or "")
    assert clear["reversible_on_tenant"] is False and clear["rollback"] is None
    tp_soc.dispatch("okta-suspend-user", {"username": "m.okafor@example.com"})
    suspend = tp_soc.action(tp_soc.last_action_id or "")
    assert suspend["rollback"] == {"command": "okta-unsuspend-user", "args": {"username": "m.okafor@example.com"}}
    tp_soc.dispatch("aws-iam-detach-policy", {"type": "User", "entityName": "ci-deploy", "policyArn": ADMIN})
    detach = tp_soc.action(tp_soc.last_action_id or "")
    assert detach["rollback"]["command"] == "aws-iam-attach-policy"
    assert tp_soc.undo_log[-1]["action_id"] == detach["action_id"]


def test_action_errors_do_not_record_actions(tp_soc: SimulatedSOC, fp_soc: SimulatedSOC) -> None:
    errors = [
        ("aws-iam-update-access-key", {"userName": "ci-deploy", "accessKeyId": "AKIANOTREAL", "status": "Inactive"}),
        ("aws-iam-update-access-key", {"userName": "ci-deploy", "accessKeyId": NEW_KEY, "status": "Disabled"}),
        ("aws-iam-detach-policy", {"type": "User", "entityName": "ci-deploy",
                                   "policyArn": "arn:aws:iam::aws:policy/X"}),
        ("aws-iam-delete-login-profile", {"userName": "ci-deploy"}),  # service user has no console password
        ("okta-unsuspend-user", {"username": "m.okafor@example.com"}),  # not suspended
        ("okta-suspend-user", {"username": "ghost@example.com"}),
        ("okta-clear-user-sessions", {"userId": "00uNOPE"}),
        ("aws-waf-ip-set-update", {"name": "localsoc-blocklist", "id": IPSET, "addresses": "not-an-ip"}),
        ("zscaler-undo-blacklist-ip", {"ip": "10.1.2.3"}),
    ]
    for command, args in errors:
        entry = one(tp_soc.dispatch(command, args))
        assert entry["Type"] == 4, command
    assert tp_soc.actions == []
    entry = one(fp_soc.dispatch("aws-iam-delete-login-profile", {"userName": "m.okafor"}))
    assert entry["Type"] == 1 and fp_soc.actions[-1]["reversible_on_tenant"] is False


def test_lifecycle_round_trip_via_commands(tp_soc: SimulatedSOC) -> None:
    before = tp_soc.snapshot()
    tp_soc.dispatch("okta-deactivate-user", {"username": "m.okafor@example.com"})
    assert tp_soc.state["okta"]["users"][OKTA_ID]["status"] == "DEPROVISIONED"
    tp_soc.dispatch("okta-activate-user", {"username": "m.okafor@example.com"})
    assert tp_soc.state["okta"]["users"][OKTA_ID]["status"] == "ACTIVE"
    tp_soc.rollback_all()
    assert tp_soc.snapshot() == before
