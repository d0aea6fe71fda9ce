"""Builtins over the session, and value/operator/transformer details not covered by the fixture playbooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localsoc.playbook.builtins import BuiltinEnv, ListStore, run_builtin
from localsoc.playbook.errors import Unsupported
from localsoc.playbook.values import OPERATORS, Resolver, incident_view


def env(context: dict | None = None, incident: dict | None = None) -> BuiltinEnv:
    return BuiltinEnv(context if context is not None else {}, incident or {"CustomFields": {}}, ListStore())


def test_set_incident_updates_own_and_custom_fields() -> None:
    e = env()
    run_builtin("setIncident", {"severity": "4", "aireasoningverdict": "true_positive",
                                "customFields": json.dumps({"aireasoningthreatlevel": "high"})}, e)
    assert e.incident["severity"] == 4
    assert e.incident["CustomFields"] == {"aireasoningverdict": "true_positive", "aireasoningthreatlevel": "high"}
    assert incident_view(e.incident)["aireasoningthreatlevel"] == "high"


def test_close_investigation_records_reason() -> None:
    e = env()
    run_builtin("closeInvestigation", {"closeReason": "False Positive", "closeNotes": "benign rotation"}, e)
    assert e.incident["status"] == 2 and e.incident["closeReason"] == "False Positive" and e.incident["closed"]


def test_set_append_and_delete_context() -> None:
    e = env({"A": {"B": 1}})
    run_builtin("Set", {"key": "X.Y", "value": [1, 2]}, e)
    run_builtin("Set", {"key": "X.Y", "value": 3, "append": "true"}, e)
    assert e.context["X"]["Y"] == [1, 2, 3]
    run_builtin("SetAndHandleEmpty", {"key": "Z", "value": ""}, e)
    assert "Z" not in e.context
    run_builtin("DeleteContext", {"key": "A.B,X"}, e)
    assert e.context == {"A": {}}
    run_builtin("DeleteContext", {"all": "yes"}, e)
    assert e.context == {}


def test_lists_get_set_add_and_missing() -> None:
    e = env()
    assert run_builtin("getList", {"listName": "Nope"}, e)[0]["Type"] == 4
    run_builtin("setList", {"listName": "L", "listData": "a"}, e)
    run_builtin("addToList", {"listName": "L", "listData": "b"}, e)
    assert run_builtin("getList", {"listName": "L"}, e)[0]["Contents"] == "a,b"
    assert run_builtin("NotABuiltin", {}, e) is None


def test_list_store_loads_the_pack_lists(tmp_path: Path) -> None:
    folder = tmp_path / "Packs" / "P" / "Lists" / "MyList"
    folder.mkdir(parents=True)
    (folder / "MyList.json").write_text(json.dumps({"name": "MyList", "data": "-", "type": "json"}))
    (folder / "MyList_data.json").write_text('{"a": 1}')
    (tmp_path / "Packs" / "P" / "Lists" / "Inline.json").write_text(json.dumps({"name": "Inline", "data": "x"}))
    store = ListStore.from_packs(tmp_path)
    assert store == {"MyList": '{"a": 1}', "Inline": "x"}


def test_repo_lists_are_served() -> None:
    store = ListStore.from_packs(Path(__file__).resolve().parents[2])
    assert "AIReasoningToolRegistry" in store and store["AIReasoningToolRegistry"].strip()


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("in", "b", "abc", True),
        ("inList", ["a", "b"], "a,b,c", True),
        ("inList", ["a", "z"], "a,b,c", False),
        ("notIn", "z", ["a"], True),
        ("containsGeneral", ["x", "yz"], "z", True),
        ("startWith", "svc-backup", "svc-", True),
        ("isTrue", "True", None, True),
        ("isFalse", False, None, True),
        ("greaterThan", ["1", "5"], "4", True),
        ("lessThanOrEqual", "abc", "4", False),
        ("isEmpty", [], None, True),
        ("isNotExists", None, None, True),
        ("match", "1.2.3.4", r"^\d+\.\d+", True),
    ],
)
def test_operators(op: str, left: object, right: object, expected: bool) -> None:
    assert OPERATORS[op](left, right, False) is expected


def test_resolver_paths_and_interpolation() -> None:
    r = Resolver({"A": [{"B": {"C": 1}}, {"B": {"C": 2}}], "Form": {"Answers": {"0": "Yes"}}},
                 inputs={"X": ["p", "q"]}, incident={"name": "n", "CustomFields": {"f": "v"}})
    assert r.path("A.B.C") == [1, 2]
    assert r.path("A.[1].B.C") == 2
    assert r.path("A[0].B.C") == 1
    assert r.path("Form.Answers.0") == "Yes"
    assert r.path("inputs.X") == ["p", "q"]
    assert r.interpolate("${incident.f}/${inputs.X}/${missing}") == "v/p,q/"
    with pytest.raises(Unsupported, match="DT expression"):
        r.path("A(val.B).C")
    with pytest.raises(Unsupported, match="transformer"):
        r.complex({"root": "A", "transformers": [{"operator": "nope"}]})
    with pytest.raises(Unsupported, match="argument form"):
        r.value({"simple": "x", "complex": {}})
