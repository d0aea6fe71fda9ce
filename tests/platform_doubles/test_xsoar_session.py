"""XSOARSession: context merging (DT keys), war room, dispatch, current-session handling, run_script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import demistomock as demisto
import pytest
import xsoar_session
from xsoar_session import (
    SessionResult,
    XSOARSession,
    get_session,
    merge_entry_context,
    merge_value,
    parse_context_key,
    run_script,
    set_context_path,
    set_session,
    unsupported_command,
    use_session,
)

DBOT_KEY = (
    "DBotScore(val.Indicator && val.Indicator == obj.Indicator && val.Vendor == obj.Vendor && val.Type == obj.Type)"
)

# ----------------------------------------------------------------------------------------------
# parse_context_key
# ----------------------------------------------------------------------------------------------


def test_parse_plain_key() -> None:
    assert parse_context_key("AIReasoning.Run") == ("AIReasoning.Run", None, False)


def test_parse_single_key_field() -> None:
    assert parse_context_key("AIReasoning.Run(val.run_id && val.run_id == obj.run_id)") == (
        "AIReasoning.Run",
        [["run_id"]],
        False,
    )


def test_parse_several_key_fields_and_alternatives() -> None:
    path, groups, replace = parse_context_key(DBOT_KEY)
    assert (path, replace) == ("DBotScore", False)
    assert groups == [["Indicator", "Vendor", "Type"]]
    _, groups, _ = parse_context_key("File(val.MD5 && val.MD5 == obj.MD5 || val.SHA1 && val.SHA1 == obj.SHA1)")
    assert groups == [["MD5"], ["SHA1"]]


def test_parse_replace_key() -> None:
    assert parse_context_key("Path.To(true)") == ("Path.To", None, True)


# ----------------------------------------------------------------------------------------------
# merge_value / merge_entry_context
# ----------------------------------------------------------------------------------------------


def test_merge_with_key_updates_matching_object_in_place() -> None:
    existing = [{"id": 1, "v": "old", "keep": True}, {"id": 2, "v": "x"}]
    merged = merge_value(existing, {"id": 1, "v": "new"}, [["id"]])
    assert merged == [{"id": 1, "v": "new", "keep": True}, {"id": 2, "v": "x"}]
    assert existing[0]["v"] == "old"  # the stored value was not mutated through aliasing


def test_merge_with_key_appends_non_matching_and_single_stays_object() -> None:
    assert merge_value({"id": 1}, {"id": 1, "a": 2}, [["id"]]) == {"id": 1, "a": 2}
    assert merge_value({"id": 1}, {"id": 2}, [["id"]]) == [{"id": 1}, {"id": 2}]


def test_merge_with_key_requires_all_fields_and_truthy_existing_value() -> None:
    groups = [["Indicator", "Vendor"]]
    a = {"Indicator": "1.1.1.1", "Vendor": "A"}
    assert merge_value(a, {"Indicator": "1.1.1.1", "Vendor": "B"}, groups) == [
        a,
        {"Indicator": "1.1.1.1", "Vendor": "B"},
    ]
    # val.K must be truthy: an existing object without the key never matches
    assert merge_value({"x": 1}, {"x": 1, "id": None}, [["id"]]) == [{"x": 1}, {"x": 1, "id": None}]


def test_merge_with_key_or_groups() -> None:
    groups = [["MD5"], ["SHA1"]]
    merged = merge_value([{"MD5": "m", "Name": "a"}], {"SHA1": "s", "MD5": "m", "Size": 3}, groups)
    assert merged == [{"MD5": "m", "Name": "a", "SHA1": "s", "Size": 3}]


def test_merge_list_into_nothing_keeps_list() -> None:
    assert merge_value(None, [{"id": 1}], [["id"]]) == [{"id": 1}]
    assert merge_value(None, {"id": 1}, [["id"]]) == {"id": 1}


def test_merge_without_key_appends() -> None:
    assert merge_value("a", "b", None) == ["a", "b"]
    assert merge_value(["a"], ["b", "c"], None) == ["a", "b", "c"]
    assert merge_value({"x": 1}, {"x": 1}, None) == [{"x": 1}, {"x": 1}]


def test_merge_entry_context_nested_paths_and_replace() -> None:
    ctx: dict[str, Any] = {}
    merge_entry_context(ctx, {"AIReasoning.Run(val.run_id && val.run_id == obj.run_id)": {"run_id": "r1", "s": 1}})
    merge_entry_context(ctx, {"AIReasoning.Run(val.run_id && val.run_id == obj.run_id)": {"run_id": "r1", "s": 2}})
    merge_entry_context(ctx, {"AIReasoning.Run(val.run_id && val.run_id == obj.run_id)": {"run_id": "r2"}})
    assert ctx["AIReasoning"]["Run"] == [{"run_id": "r1", "s": 2}, {"run_id": "r2"}]
    merge_entry_context(ctx, {"Paging(true)": {"next": "t1"}})
    merge_entry_context(ctx, {"Paging(true)": {"next": "t2"}})
    assert ctx["Paging"] == {"next": "t2"}
    merge_entry_context(ctx, None)
    merge_entry_context(ctx, {})
    assert set(ctx) == {"AIReasoning", "Paging"}


def test_merge_entry_context_through_non_dict_parent() -> None:
    ctx: dict[str, Any] = {"A": "scalar", "L": [{"x": 1}]}
    merge_entry_context(ctx, {"A.B": 1, "L.y": 2})
    assert ctx["A"] == {"B": 1}
    assert ctx["L"] == [{"x": 1, "y": 2}]  # a list parent: the last object receives the key


def test_set_context_path_overwrites_and_rejects_empty() -> None:
    ctx: dict[str, Any] = {"A": {"B": [1, 2]}}
    set_context_path(ctx, "A.B", 3)
    set_context_path(ctx, "A.C.D", {"e": 1})
    assert ctx == {"A": {"B": 3, "C": {"D": {"e": 1}}}}
    with pytest.raises(ValueError, match="empty context path"):
        set_context_path(ctx, "", 1)


# ----------------------------------------------------------------------------------------------
# Session basics
# ----------------------------------------------------------------------------------------------


def test_session_defaults() -> None:
    s = XSOARSession()
    assert s.kind == "script" and s.brand == "Scripts"
    assert s.incident["id"] == "1" and s.incident["CustomFields"] == {}
    assert s.investigation == {"id": "1"}
    assert s.calling_user == "admin"
    assert s.calling_context["integration"] is False
    assert s.calling_context["context"]["ExecutedCommands"][0]["moduleBrand"] == "Scripts"


def test_session_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        XSOARSession(kind="playbook")


def test_integration_session_calling_context() -> None:
    s = XSOARSession(kind="integration", brand="AI Reasoning Gateway", instance="gw_1", command="ai-reasoning-step")
    ctx = s.calling_context
    assert ctx["integration"] is True
    assert ctx["context"]["IntegrationBrand"] == "AI Reasoning Gateway"
    assert ctx["context"]["IntegrationInstance"] == "gw_1"
    assert ctx["context"]["ExecutedCommands"][0] == {"moduleBrand": "AI Reasoning Gateway", "name": "ai-reasoning-step"}


def test_session_copies_inputs() -> None:
    context = {"A": {"B": 1}}
    s = XSOARSession(context=context, incident={"id": "7", "investigationId": "77"})
    s.set_context("A.B", 2)
    assert context == {"A": {"B": 1}}
    assert s.investigation_id == "77"


def test_calling_user_setter_updates_parent_entry() -> None:
    s = XSOARSession(calling_user="alice")
    s.calling_user = "bob"
    assert s.calling_context["context"]["ParentEntry"]["user"] == "bob"


def test_add_entry_records_brand_user_id_and_merges_context() -> None:
    s = XSOARSession(calling_user="alice", script_name="MyScript")
    w = s.add_entry({"Type": 1, "Contents": "x", "EntryContext": {"Foo": 1}})
    w2 = s.add_entry("plain text", brand="Other", user="")
    assert (w.id, w.brand, w.user, w.module) == ("1@1", "Scripts", "alice", "MyScript")
    assert (w2.id, w2.brand, w2.user) == ("2@1", "Other", "")
    assert w2.entry == {"Type": 1, "ContentsFormat": "text", "Contents": "plain text"}
    assert s.context == {"Foo": 1}
    assert s.entries(1) == [w.entry, w2.entry] and s.entries(4) == []


def test_normalize_entry_bytes_and_numbers() -> None:
    assert XSOARSession.normalize_entry(b"hi")["Contents"] == "hi"
    assert XSOARSession.normalize_entry(5)["Contents"] == "5"


def test_record_results_list_and_none() -> None:
    s = XSOARSession()
    s.record_results([{"Type": 1, "Contents": "a"}, "b"])
    s.record_results(None)
    assert [e["Contents"] for e in s.entries()] == ["a", "b"]
    assert s.results == [[{"Type": 1, "Contents": "a"}, "b"], None]


def test_add_file_registers_path(tmp_path: Path) -> None:
    s = XSOARSession(files_dir=str(tmp_path))
    entry_id = s.add_file("report.txt", "hello")
    info = s.files[entry_id]
    assert info["name"] == "report.txt"
    assert Path(info["path"]).read_text() == "hello"


def test_execute_default_dispatcher_is_unsupported_error() -> None:
    s = XSOARSession()
    res = s.execute("no-such-command", {"a": 1})
    assert res == unsupported_command("no-such-command", {})
    assert res[0]["Type"] == 4 and res[0]["Contents"] == "Unsupported Command : no-such-command"
    assert s.executed[0].command == "no-such-command" and s.executed[0].args == {"a": 1}


def test_execute_normalizes_and_merges_context() -> None:
    entries = json.loads((Path(__file__).parent / "test_data" / "ip_entries.json").read_text())
    s = XSOARSession(dispatcher=lambda cmd, args: entries)
    res = s.execute("ip", {"ip": "8.8.8.8"})
    assert [e["Brand"] for e in res] == ["AbuseIPDB", "VirusTotal (API v3)"]
    # two integrations answered the same IP: one IP object (updated), two DBotScores (different vendors)
    assert s.context["IP"] == {"Address": "8.8.8.8", "Geo": {"Country": "US"}, "ASN": "AS15169"}
    assert [d["Vendor"] for d in s.context["DBotScore"]] == ["AbuseIPDB", "VirusTotal"]
    assert s.war_room == []  # sub-command entries are not war-room entries of this script


def test_execute_single_dict_and_none_results() -> None:
    s = XSOARSession(dispatcher=lambda cmd, args: {"Type": 1, "Contents": "one"} if cmd == "a" else None)
    assert s.execute("a", None) == [{"Type": 1, "Contents": "one", "Brand": "Scripts", "ModuleName": "Scripts"}]
    assert s.execute("b", {}) == []


def test_execute_error_entries_do_not_touch_context_and_merge_can_be_disabled() -> None:
    entry = {"Type": 1, "Contents": "", "EntryContext": {"X": 1}}
    s = XSOARSession(dispatcher=lambda c, a: [entry, {"Type": 4, "Contents": "e", "EntryContext": {"Y": 1}}])
    s.execute("c", {})
    assert s.context == {"X": 1}
    s2 = XSOARSession(dispatcher=lambda c, a: [entry], merge_executed_context=False)
    s2.execute("c", {})
    assert s2.context == {}


def test_log_records() -> None:
    s = XSOARSession()
    s.log("info", "m")
    assert s.logs == [("info", "m")]


# ----------------------------------------------------------------------------------------------
# Current session
# ----------------------------------------------------------------------------------------------


def test_use_session_switches_and_restores(session: XSOARSession) -> None:
    other = XSOARSession(args={"x": "1"})
    with use_session(other) as s:
        assert s is other and get_session() is other and demisto.args() == {"x": "1"}
    assert get_session() is session


def test_set_session_returns_previous_and_none_creates_fresh(session: XSOARSession) -> None:
    previous = set_session(None)
    try:
        assert previous is session
        fresh = get_session()
        assert fresh is not session and fresh.war_room == []
        assert get_session() is fresh
    finally:
        set_session(session)


def test_use_session_restores_on_error(session: XSOARSession) -> None:
    with pytest.raises(RuntimeError), use_session(XSOARSession()):
        raise RuntimeError("boom")
    assert get_session() is session


# ----------------------------------------------------------------------------------------------
# run_script
# ----------------------------------------------------------------------------------------------


def test_run_script_success(test_data: Path) -> None:
    s = XSOARSession(args={"name": "soc"}, calling_user="alice", script_name="Greet")
    result = run_script(test_data / "script_ok.py", s)
    assert isinstance(result, SessionResult)
    assert result.ok and result.exit_code is None and result.exception is None
    assert [e["HumanReadable"] for e in result.entries] == ["hello soc"]
    assert result.context == {"Greeting": {"name": "soc", "by": "alice"}}
    assert (s.war_room[0].brand, s.war_room[0].user) == ("Scripts", "alice")
    assert get_session() is not s  # the previous session is current again


def test_run_script_twice_updates_by_key(test_data: Path) -> None:
    s = XSOARSession(args={"name": "soc"})
    run_script(test_data / "script_ok.py", s)
    s.calling_user = "bob"
    second = run_script(test_data / "script_ok.py", s)
    assert len(second.entries) == 1  # only this run's entries
    assert s.context["Greeting"] == {"name": "soc", "by": "bob"}


def test_run_script_return_error_exits_zero_with_error_entry(test_data: Path) -> None:
    result = run_script(test_data / "script_error.py", XSOARSession())
    assert result.exit_code == 0
    assert not result.ok
    assert result.error_messages == ["Failed to execute script. Error: upstream said no"]
    assert all(e.get("Contents") != "never reached" for e in result.entries)


def test_run_script_uncaught_exception_becomes_error_entry(test_data: Path) -> None:
    result = run_script(test_data / "script_crash.py", XSOARSession())
    assert isinstance(result.exception, KeyError)
    assert "KeyError" in result.traceback
    assert [e["Type"] for e in result.entries] == [1, 4]
    assert result.errors[0]["Contents"] == "Script failed to run: 'missing_field' [KeyError]"


def test_run_script_with_dispatcher(test_data: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def dispatcher(cmd: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        calls.append((cmd, args))
        return [{"Type": 1, "ContentsFormat": "json", "Contents": {"score": 3}}]

    result = run_script(test_data / "script_enrich.py", XSOARSession(args={"ip": "1.2.3.4"}, dispatcher=dispatcher))
    assert calls == [("ip", {"ip": "1.2.3.4"})]
    assert [e["Contents"] for e in result.entries] == ["score=3"]


def test_run_script_unsupported_command_fails_cleanly(test_data: Path) -> None:
    result = run_script(test_data / "script_enrich.py", XSOARSession(args={"ip": "1.2.3.4"}))
    assert result.exit_code == 0
    assert result.error_messages == ["Failed to execute ip. Error details:\nUnsupported Command : ip"]


def test_run_integration_commands(test_data: Path) -> None:
    path = test_data / "integration_echo.py"

    def integration(command: str, **kw: Any) -> XSOARSession:
        return XSOARSession(kind="integration", brand="Echo", command=command, params={"prefix": ">"}, **kw)

    assert run_script(path, integration("test-module")).entries[0]["Contents"] == "ok"
    s = integration("echo-say", args={"text": "hi"}, integration_context={"calls": 4})
    result = run_script(path, s)
    assert result.ok
    assert s.context == {"Echo": {"text": "hi", "prefix": ">"}}
    assert s.integration_context == {"calls": 5}
    assert s.war_room[0].brand == "Echo"
    bad = run_script(path, integration("echo-nope"))
    assert bad.error_messages[0].startswith("Failed to execute echo-nope command.\nError:\nCommand echo-nope is not")
    blocked = run_script(path, integration("echo-run-command"))
    assert "Cannot run demisto.executeCommand() from integrations." in blocked.error_messages[0]


def test_run_script_restores_sys_path(test_data: Path) -> None:
    import sys

    before = list(sys.path)
    run_script(test_data / "script_ok.py", XSOARSession(), extra_paths=[str(test_data / "nowhere")])
    assert sys.path == before


def test_run_script_default_session(test_data: Path) -> None:
    result = run_script(test_data / "script_ok.py")
    assert result.entries[0]["HumanReadable"] == "hello world"
    assert result.session is not get_session()


def test_module_exports() -> None:
    assert xsoar_session.PLATFORM_DOUBLES_DIR.endswith("platform_doubles")
    assert demisto.XSOARSession is XSOARSession and demisto.run_script is run_script


def test_merge_key_fields_ignore_non_objects() -> None:
    assert merge_value(["s"], {"id": 1}, [["id"]]) == ["s", {"id": 1}]
    assert parse_context_key("Odd(val.a == obj.b)") == ("Odd", [], False)
    assert merge_value({"id": 1}, {"id": 1, "x": 2}, []) == [{"id": 1}, {"id": 1, "x": 2}]
