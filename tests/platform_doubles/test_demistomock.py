"""demistomock: every function reads/writes the current session with the platform's signatures."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import demistomock as demisto
import pytest
from xsoar_session import XSOARSession, use_session


def test_inputs_come_from_the_session(session: XSOARSession) -> None:
    session.args.update({"ip": "1.1.1.1"})
    session.params.update({"url": "https://x"})
    session.command = "ip"
    assert demisto.args() == {"ip": "1.1.1.1"}
    assert demisto.getArg("ip") == "1.1.1.1" and demisto.getArg("nope") is None
    assert demisto.params() == {"url": "https://x"}
    assert demisto.getParam("url") == "https://x"
    assert demisto.command() == "ip"


def test_plain_monkeypatch_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demisto, "args", lambda: {"a": "patched"})
    assert demisto.getArg("a") == "patched"  # getArg goes through the module attribute


def test_incident_incidents_investigation(session: XSOARSession) -> None:
    session.incident["CustomFields"]["aireasoningverdict"] = "malicious"
    assert demisto.incidents() == [session.incident]
    assert demisto.incident()["CustomFields"]["aireasoningverdict"] == "malicious"
    assert demisto.investigation() == {"id": "1"}


def test_incidents_in_fetch_hands_them_over(session: XSOARSession) -> None:
    demisto.incidents([{"name": "a"}])
    assert session.fetched_incidents == [{"name": "a"}]
    assert session.entries()[0] == {"Type": 1, "Contents": json.dumps([{"name": "a"}]), "ContentsFormat": "json"}


def test_create_incidents_and_last_run(session: XSOARSession) -> None:
    assert demisto.createIncidents([{"name": "b"}], lastRun={"t": 1}) == [{"name": "b"}]
    assert session.fetched_incidents == [{"name": "b"}] and demisto.getLastRun() == {"t": 1}
    demisto.createIncidents([{"name": "c"}])
    assert demisto.getLastRun() == {"t": 1}


def test_last_run_roundtrip(session: XSOARSession) -> None:
    assert demisto.getLastRun() == {}
    obj = {"time": "2024-01-01"}
    demisto.setLastRun(obj)
    obj["time"] = "mutated"
    assert demisto.getLastRun() == {"time": "2024-01-01"}


def test_integration_context_plain_and_versioned(session: XSOARSession) -> None:
    assert demisto.getIntegrationContext() == {}
    demisto.setIntegrationContext({"token": "t1"})
    assert demisto.getIntegrationContext() == {"token": "t1"}
    versioned = demisto.getIntegrationContextVersioned()
    assert versioned == {"context": {"token": "t1"}, "version": 1}
    demisto.setIntegrationContextVersioned({"token": "t2"}, version=1)
    assert demisto.getIntegrationContextVersioned(refresh=True)["version"] == 2
    with pytest.raises(ValueError, match="DB Version mismatch"):
        demisto.setIntegrationContextVersioned({"token": "t3"}, version=1)
    demisto.setIntegrationContextVersioned({"token": "t4"})  # -1: no version check
    assert demisto.getIntegrationContext() == {"token": "t4"}


def test_results_go_to_war_room_and_context(session: XSOARSession) -> None:
    demisto.results({"Type": 1, "ContentsFormat": "json", "Contents": {}, "EntryContext": {"A(val.id == obj.id)": {}}})
    demisto.results(["x", {"Type": 11, "Contents": "w"}])
    demisto.results("done")
    assert [e["Type"] for e in session.entries()] == [1, 1, 11, 1]
    assert session.entries()[-1]["Contents"] == "done"
    assert session.context == {"A": {}}
    assert len(session.results) == 3


def test_execute_command_returns_list_and_records_user(session: XSOARSession) -> None:
    session.dispatcher = lambda cmd, args: [{"Type": 1, "Contents": {"cmd": cmd, **args}}]
    session.calling_user = "analyst1"
    res = demisto.executeCommand("setIncident", {"severity": 3})
    assert isinstance(res, list) and res[0]["Contents"] == {"cmd": "setIncident", "severity": 3}
    assert session.executed[0].user == "analyst1"


def test_execute_command_refused_in_integrations() -> None:
    with use_session(XSOARSession(kind="integration", brand="B")), pytest.raises(AttributeError, match="integrations"):
        demisto.executeCommand("ip", {})


def test_set_context_dotted(session: XSOARSession) -> None:
    assert demisto.setContext("AIReasoning.Approval.status", "pending") == {"status": True}
    demisto.setContext("AIReasoning.Approval.by", "alice")
    assert demisto.context() == {"AIReasoning": {"Approval": {"status": "pending", "by": "alice"}}}


def test_calling_context_is_live_view(session: XSOARSession) -> None:
    session.calling_user = "carol"
    cc = demisto.callingContext
    assert isinstance(cc, dict)
    assert cc["context"]["ParentEntry"]["user"] == "carol"
    assert cc.get("integration") is False and "context" in cc and cc.get("nope", 5) == 5
    other = XSOARSession(calling_user="dave")
    with use_session(other):
        assert demisto.callingContext["context"]["ParentEntry"]["user"] == "dave"
    cc["extra"] = 1
    assert session.calling_context["extra"] == 1
    assert cc.setdefault("extra", 2) == 1 and cc.pop("extra") == 1 and "extra" not in cc
    cc.update({"k": "v"})
    del cc["k"]
    assert set(cc.keys()) == set(session.calling_context) and len(cc) == len(session.calling_context)
    assert list(iter(cc)) == list(session.calling_context) and list(cc.values())[0] is not None
    assert dict(cc.items()) == session.calling_context and cc == session.calling_context
    assert cc.copy() == session.calling_context and type(cc.copy()) is dict
    assert repr(cc) == repr(session.calling_context)


def test_calling_context_can_be_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demisto, "callingContext", {"context": {"ParentEntry": {"user": "eve"}}})
    assert demisto.parentEntry() == {"user": "eve"}


def test_parent_entry_integration_instance_version_urls(session: XSOARSession) -> None:
    assert demisto.parentEntry()["user"] == "admin"
    assert demisto.integrationInstance() == ""
    assert demisto.demistoVersion()["version"] == "8.9.0"
    urls = demisto.demistoUrls()
    assert urls["warRoom"].endswith("/WarRoom/1") and set(urls) >= {"server", "investigation", "workPlan"}
    assert demisto.getLicenseID() == ""
    session.supported_commands = {"AbuseIPDB": [{"name": "ip"}]}
    assert demisto.getAllSupportedCommands() == {"AbuseIPDB": [{"name": "ip"}]}
    assert demisto.initialize() is None


def test_update_module_health(session: XSOARSession) -> None:
    demisto.updateModuleHealth("bad key", is_error=True)
    assert session.module_health == [("bad key", True)]


def test_unique_file_and_get_file_path(session: XSOARSession, tmp_path: Path) -> None:
    a, b = demisto.uniqueFile(), demisto.uniqueFile()
    assert a != b and len(a) == 36
    session.files_dir = str(tmp_path)
    entry_id = session.add_file("x.json", b"{}")
    info = demisto.getFilePath(entry_id)
    assert info["name"] == "x.json" and Path(info["path"]).read_bytes() == b"{}"
    with pytest.raises(ValueError, match="Could not find file"):
        demisto.getFilePath("999@1")


def test_logging_functions_record(session: XSOARSession) -> None:
    demisto.debug("d %s", 1)
    demisto.info("i")
    demisto.error("e", "extra")
    demisto.log("l")
    assert session.logs == [("debug", "d 1"), ("info", "i"), ("error", "e extra"), ("log", "l")]


def test_get_and_gets() -> None:
    obj = {"a": {"b": {"c": 0}}, "l": [1]}
    assert demisto.get(obj, "a.b") == {"c": 0}
    assert demisto.get(obj, "a.x", "dflt") == "dflt"
    assert demisto.get(None, "a") is None
    assert demisto.gets(obj, "a.b.c") == "0"
    assert demisto.gets(obj, "nope") == "None"


def test_dt_paths_lists_and_filters() -> None:
    ctx: dict[str, Any] = {
        "IP": [{"Address": "1.1.1.1", "Score": 3}, {"Address": "2.2.2.2", "Score": 1}],
        "Account": {"Username": "bob"},
    }
    assert demisto.dt(ctx, "IP.Address") == ["1.1.1.1", "2.2.2.2"]
    assert demisto.dt(ctx, "Account.Username") == "bob"
    assert demisto.dt(ctx, "IP(val.Score == 3).Address") is None  # filter only as the last step
    assert demisto.dt(ctx, "IP(val.Score == 3)") == [{"Address": "1.1.1.1", "Score": 3}]
    assert demisto.dt(ctx, "IP(val.Address != '1.1.1.1')") == [{"Address": "2.2.2.2", "Score": 1}]
    assert demisto.dt(ctx, 'Account(val.Username == "bob")') == {"Username": "bob"}
    assert demisto.dt(ctx, "Account(val.Username == alice)") is None
    assert demisto.dt(ctx, "Nope.x") is None
    assert demisto.dt(None, "IP") is None and demisto.dt(ctx, "") is None


def test_signatures_match_platform() -> None:
    """The authoritative names/parameters from docs/xsoar-platform.md and the platform's demistomock."""
    expected = {
        "params": [],
        "args": [],
        "command": [],
        "context": [],
        "incident": [],
        "incidents": ["incidents"],
        "investigation": [],
        "results": ["results"],
        "executeCommand": ["command", "args"],
        "setContext": ["contextPath", "value"],
        "get": ["obj", "field", "defaultParam"],
        "gets": ["obj", "field"],
        "dt": ["obj", "trnsfrm"],
        "debug": ["msg", "args"],
        "info": ["msg", "args"],
        "error": ["msg", "args"],
        "log": ["msg"],
        "getIntegrationContext": [],
        "setIntegrationContext": ["context"],
        "getIntegrationContextVersioned": ["refresh"],
        "setIntegrationContextVersioned": ["context", "version", "sync"],
        "getLastRun": [],
        "setLastRun": ["obj"],
        "uniqueFile": [],
        "getFilePath": ["id"],
        "getParam": ["param"],
        "getArg": ["arg"],
        "createIncidents": ["incidents", "lastRun", "userID"],
        "updateModuleHealth": ["data", "is_error"],
    }
    for name, params in expected.items():
        assert list(inspect.signature(getattr(demisto, name)).parameters) == params, name


def test_dt_flattens_nested_lists_and_skips_scalars() -> None:
    ctx = {"A": [{"B": [{"C": 1}, {"C": 2}]}, {"B": [{"C": 3}]}, "scalar"]}
    assert demisto.dt(ctx, "A.B.C") == [1, 2, 3]
    assert demisto.dt({"A": "scalar"}, "A.B") is None
