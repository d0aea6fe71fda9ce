"""Double of the XSOAR `demisto` object (`import demistomock as demisto`).

Same function names and signatures as the platform (and as demisto/content's Tests/demistomock), but
instead of returning canned data every call reads or writes the current `xsoar_session.XSOARSession`, so
pack code can run end to end locally and a test can check what reached the war room and the context.
Plain `mocker.patch.object(demisto, 'args', return_value=...)` keeps working: every CommonServerPython
helper calls these functions through the module attribute.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from xsoar_session import (  # noqa: F401 - re-exported: tests and the runtime drive the doubles from here
    SessionResult,
    XSOARSession,
    get_session,
    run_script,
    set_session,
    use_session,
)

_logger = logging.getLogger("demistomock")

is_debug = False  # the platform sets this for `debug-mode=true` runs


class _CallingContext(dict):  # type: ignore[type-arg]
    """`demisto.callingContext`: a dict on the platform; here a live view of the current session's one.

    Reads and writes go to `get_session().calling_context`, so switching sessions (or changing the
    session's `calling_user`) is seen by code that holds `demisto.callingContext`.
    """

    @staticmethod
    def _data() -> dict[str, Any]:
        return get_session().calling_context

    def __getitem__(self, key: Any) -> Any:
        return self._data()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._data()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._data()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __eq__(self, other: object) -> bool:
        return self._data() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._data())

    def get(self, key: Any, default: Any = None) -> Any:
        return self._data().get(key, default)

    def keys(self) -> Any:
        return self._data().keys()

    def values(self) -> Any:
        return self._data().values()

    def items(self) -> Any:
        return self._data().items()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return self._data().setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        return self._data().pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._data().update(*args, **kwargs)

    def copy(self) -> dict[str, Any]:
        return dict(self._data())


callingContext: dict[str, Any] = _CallingContext()


def initialize() -> None:
    """Runs some initializations to the demisto object (nothing to do locally)."""


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def params() -> dict[str, Any]:
    """(Integration only) The integration instance parameters."""
    return get_session().params


def args() -> dict[str, Any]:
    """The command / script arguments."""
    return get_session().args


def command() -> str:
    """(Integration only) The integration command being run."""
    return get_session().command


def getParam(param: str) -> Any:
    """(Integration only) One integration parameter."""
    return params().get(param)


def getArg(arg: str) -> Any:
    """One argument."""
    return args().get(arg)


def context() -> dict[str, Any]:
    """The context data of the current incident (live: later writes are visible)."""
    return get_session().context


def incidents(incidents: list[dict[str, Any]] | None = None) -> Any:
    """Scripts: the list holding the current incident. Integrations (fetch): hand incidents to the server."""
    session = get_session()
    if incidents is None:
        return [session.incident]
    session.fetched_incidents.extend(incidents)
    return results({"Type": 1, "Contents": json.dumps(incidents), "ContentsFormat": "json"})


def incident() -> dict[str, Any]:
    """The current incident (fields, `CustomFields`) as it was when the script started."""
    return incidents()[0]


def investigation() -> dict[str, Any]:
    """The investigation being run in (`{'id': ...}`)."""
    return get_session().investigation


def parentEntry() -> dict[str, Any]:
    """The war-room entry this execution runs from."""
    return dict(callingContext.get("context", {}).get("ParentEntry", {}))


def integrationInstance() -> str:
    """(Integration only) The instance name."""
    return get_session().instance


def demistoVersion() -> dict[str, str]:
    """Server version and build number."""
    return dict(get_session().demisto_version)


def demistoUrls() -> dict[str, str]:
    """Server URLs for the incident (local placeholders)."""
    inv = investigation().get("id", "1")
    server = "https://localhost:8443"
    return {
        "server": server,
        "investigation": f"{server}/#/Details/{inv}",
        "warRoom": f"{server}/#/WarRoom/{inv}",
        "workPlan": f"{server}/#/WorkPlan/{inv}",
        "evidenceBoard": f"{server}/#/EvidenceBoard/{inv}",
        "relatedIncidents": f"{server}/#/Cluster/{inv}",
    }


def getLicenseID() -> str:
    """The license ID (none locally)."""
    return ""


def getAllSupportedCommands() -> dict[str, list[dict[str, Any]]]:
    """(Script only) Available commands by integration, as the session declares them."""
    return get_session().supported_commands


# --------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------


def results(results: Any) -> None:
    """Output entries to the war room (a dict entry, a list of them, or a string note)."""
    get_session().record_results(results)


def executeCommand(command: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    """(Script only) Run a command or script; always a list of entries (one per answering integration).

    Integrations have no executeCommand on the platform: calling it from an integration session raises
    the AttributeError the platform would.
    """
    session = get_session()
    if session.kind == "integration":
        raise AttributeError("module 'demistomock' has no attribute 'executeCommand' (integrations cannot run it)")
    return session.execute(command, args)


def setContext(contextPath: str, value: Any) -> dict[str, Any]:
    """(Script only) Set `value` at a dotted context path (overwrites)."""
    get_session().set_context(contextPath, value)
    return {"status": True}


def createIncidents(incidents: list[dict[str, Any]], lastRun: dict[str, Any] | None = None, userID: Any = None) -> Any:
    """(Integration only) Create incidents from a long-running execution."""
    session = get_session()
    session.fetched_incidents.extend(incidents)
    if lastRun is not None:
        session.last_run = dict(lastRun)
    return incidents


def updateModuleHealth(data: Any, is_error: bool = False) -> None:
    """(Integration only) Report instance health."""
    get_session().module_health.append((data, is_error))


# --------------------------------------------------------------------------------------------------
# Persistent integration state
# --------------------------------------------------------------------------------------------------


def getIntegrationContext() -> dict[str, Any]:
    """(Integration only) The instance's persistent store."""
    return get_session().integration_context


def setIntegrationContext(context: dict[str, Any]) -> None:
    """(Integration only) Replace the instance's persistent store."""
    session = get_session()
    session.integration_context = dict(context)
    session.integration_context_version += 1


def getIntegrationContextVersioned(refresh: bool = False) -> dict[str, Any]:
    """(Integration only) The store with its version (for optimistic concurrency)."""
    session = get_session()
    return {"context": session.integration_context, "version": session.integration_context_version}


def setIntegrationContextVersioned(context: dict[str, Any], version: int = -1, sync: bool = False) -> None:
    """(Integration only) Replace the store; a stale version is refused as on the server (ValueError)."""
    session = get_session()
    if version != -1 and version != session.integration_context_version:
        raise ValueError(f"DB Version mismatch: given {version}, current {session.integration_context_version}")
    setIntegrationContext(context)


def getLastRun() -> dict[str, Any]:
    """(Integration only) The LastRun object of fetch."""
    return get_session().last_run


def setLastRun(obj: dict[str, Any]) -> None:
    """(Integration only) Store the LastRun object."""
    get_session().last_run = dict(obj)


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def uniqueFile() -> str:
    """A unique file name (fileResult writes `<investigation id>_<this>`)."""
    return str(uuid.uuid4())


def getFilePath(id: str) -> dict[str, str]:  # noqa: A002 - platform signature
    """Path and name of a war-room file, by entry ID or file ID."""
    info = get_session().files.get(str(id))
    if info is None:
        raise ValueError(f"Could not find file for entry ID {id}")
    return dict(info)


# --------------------------------------------------------------------------------------------------
# Logging (the server log, not the war room)
# --------------------------------------------------------------------------------------------------


def _format(msg: Any, fmt_args: tuple[Any, ...]) -> str:
    text = str(msg)
    if fmt_args:
        try:
            text = text % fmt_args
        except (TypeError, ValueError):
            text = " ".join([text, *map(str, fmt_args)])
    return text


def log(msg: Any) -> None:
    """Print a message to the investigation log."""
    text = _format(msg, ())
    get_session().log("log", text)
    _logger.debug(text)


def debug(msg: Any, *args: Any) -> None:
    """Server log, debug level."""
    text = _format(msg, args)
    get_session().log("debug", text)
    _logger.debug(text)


def info(msg: Any, *args: Any) -> None:
    """Server log, info level."""
    text = _format(msg, args)
    get_session().log("info", text)
    _logger.debug(text)


def error(msg: Any, *args: Any) -> None:
    """Server log, error level (recorded; tests can assert none were written)."""
    text = _format(msg, args)
    get_session().log("error", text)
    _logger.debug(text)


# --------------------------------------------------------------------------------------------------
# Object access helpers
# --------------------------------------------------------------------------------------------------


def get(obj: Any, field: str, defaultParam: Any = None) -> Any:
    """Value at a dotted path of a nested dict, or `defaultParam`."""
    for part in field.split("."):
        if obj and part in obj:
            obj = obj[part]
        else:
            return defaultParam
    return obj


def gets(obj: Any, field: str) -> str:
    """`get` as a string."""
    return str(get(obj, field))


_FILTER = re.compile(r"^(?P<path>[^(]*)\(\s*val\.(?P<field>[\w.]+)\s*(?P<op>==|!=)\s*(?P<value>.+?)\s*\)$")


def _dt_walk(value: Any, part: str) -> Any:
    if isinstance(value, list):
        out = []
        for item in value:
            got = _dt_walk(item, part)
            if isinstance(got, list):
                out.extend(got)
            elif got is not None:
                out.append(got)
        return out or None
    if isinstance(value, dict):
        return value.get(part)
    return None


def _literal(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def dt(obj: Any = None, trnsfrm: str | None = None) -> Any:
    """A small subset of the DT language: dotted paths (mapped over lists) and one trailing
    `Path(val.Field == 'value')` filter. Anything richer belongs to the playbook interpreter."""
    if obj is None or not trnsfrm:
        return None
    path, flt = trnsfrm.strip(), None
    m = _FILTER.match(path)
    if m:
        path = m.group("path")
        raw = m.group("value").strip()
        expected: Any = raw[1:-1] if raw[:1] in "'\"" and raw[-1:] == raw[:1] else _literal(raw)
        flt = (m.group("field"), m.group("op"), expected)
    value = obj
    for part in [p for p in path.split(".") if p]:
        value = _dt_walk(value, part)
        if value is None:
            return None
    if flt:
        name, op, expected = flt
        items = value if isinstance(value, list) else [value]
        kept = [i for i in items if (get(i, name) == expected) == (op == "==")]
        if not kept:
            return None
        value = kept if isinstance(value, list) else kept[0]
    return value
