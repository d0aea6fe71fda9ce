"""In-memory XSOAR platform state that the `demistomock` double reads and writes.

On a tenant, `demisto.*` calls talk to the server: arguments, the incident, its context, the war room,
other commands. Locally, one `XSOARSession` holds all of that so that pack code can run unchanged (tests,
the local runtime) and so that a test can inspect exactly what the code wrote and who wrote it.

Import this module as `xsoar_session` (the `platform_doubles` folder is on `sys.path`), the same way pack
code imports `demistomock`: importing it a second time under another name would create a second,
disconnected "current session".
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import os
import re
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Entry = dict[str, Any]
Dispatcher = Callable[[str, dict[str, Any]], list[Entry]]

ENTRY_NOTE = 1
ENTRY_FILE = 3
ENTRY_ERROR = 4
ENTRY_WARNING = 11

PLATFORM_DOUBLES_DIR = str(Path(__file__).resolve().parent)

# What demisto.demistoVersion() reports: a current XSOAR 8 tenant, so version-gated helpers take the modern path.
_DEFAULT_VERSION = {"version": "8.9.0", "buildNumber": "12345", "platform": "xsoar"}


def unsupported_command(command: str, args: dict[str, Any]) -> list[Entry]:
    """Default dispatcher: the answer a tenant gives for a command no enabled integration provides."""
    return [
        {
            "Type": ENTRY_ERROR,
            "ContentsFormat": "text",
            "Contents": f"Unsupported Command : {command}",
            "HumanReadable": None,
            "EntryContext": None,
            "Brand": "none",
            "ModuleName": "none",
        }
    ]


@dataclass
class WarRoomEntry:
    """One war-room entry plus the audit facts the platform records with it."""

    id: str
    entry: Entry
    brand: str
    user: str
    module: str = ""
    source: str = "results"  # results | executeCommand | platform


@dataclass
class ExecutedCommand:
    """One `demisto.executeCommand` call: what was asked, by whom, and what came back."""

    command: str
    args: dict[str, Any]
    result: list[Entry]
    user: str


# --------------------------------------------------------------------------------------------------
# Context merging (the DT semantics the server applies to EntryContext keys)
# --------------------------------------------------------------------------------------------------

_DT_KEY = re.compile(r"^(?P<path>[^()]+)\((?P<expr>[^()]*)\)(?:\.(?P<sub>[\w.]+))?$", re.DOTALL)
_DT_FIELD = re.compile(r"val\.([\w.]+)\s*={2,3}\s*obj\.([\w.]+)")
# `val.UserName === 'alice'` (a literal instead of obj.X) selects a parent object for a sub-path key.
_DT_LITERAL = re.compile(r"""val\.([\w.]+)\s*={2,3}\s*(?:'([^']*)'|"([^"]*)")""")


def parse_context_key(key: str) -> tuple[str, list[list[str]] | None, bool]:
    """Split an EntryContext key into (path, key-field groups, replace).

    `Prefix(val.A && val.A == obj.A && val.B && val.B == obj.B)` -> ('Prefix', [['A', 'B']], False);
    `||` separates alternative groups (the File path); `Path(true)` means "replace"; a plain key has no groups.
    Keys with a sub-path after the selector are handled by `merge_entry_context` (see `_merge_sub_path`).
    """
    m = _DT_KEY.match(key.strip())
    if not m or m.group("sub"):
        return key.strip(), None, False
    path, expr = m.group("path").strip(), m.group("expr").strip()
    if expr.lower() == "true":
        return path, None, True
    groups = []
    for clause in expr.split("||"):
        fields = [val for val, obj in _DT_FIELD.findall(clause) if val == obj]
        if fields:
            groups.append(fields)
    return path, groups, False


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, Mapping) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _same_object(old: Any, new: Any, groups: list[list[str]]) -> bool:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return False
    for group in groups:
        values = [(_dig(old, f), _dig(new, f)) for f in group]
        if all(o not in (None, "", [], {}) and o == n for o, n in values):
            return True
    return False


def merge_value(existing: Any, new: Any, groups: list[list[str]] | None) -> Any:
    """Merge `new` into `existing` the way the server merges one EntryContext key.

    With key fields: an object whose key fields equal an existing object's updates that object (its fields
    override), others are appended. Without key fields: the new value(s) are appended to what is there.
    One object stays an object; more than one becomes a list.
    """
    new = copy.deepcopy(new)
    if existing is None:
        return new
    was_list = isinstance(existing, list) or isinstance(new, list)
    olds = list(existing) if isinstance(existing, list) else [existing]
    news = new if isinstance(new, list) else [new]
    if not groups:
        return olds + news
    for item in news:
        for i, old in enumerate(olds):
            if _same_object(old, item, groups):
                merged = dict(old)
                merged.update(item)
                olds[i] = merged
                break
        else:
            olds.append(item)
    if len(olds) == 1 and not was_list:
        return olds[0]
    return olds


def _parent_for(context: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    parts = [p for p in path.split(".") if p]
    if not parts:
        raise ValueError(f"empty context path: {path!r}")
    node = context
    for part in parts[:-1]:
        child = node.get(part)
        if isinstance(child, list) and child and isinstance(child[-1], dict):
            child = child[-1]
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    return node, parts[-1]


def merge_entry_context(context: dict[str, Any], entry_context: Mapping[str, Any] | None) -> None:
    """Apply every key of an entry's EntryContext to `context` (in place)."""
    if not entry_context:
        return
    for key, value in entry_context.items():
        m = _DT_KEY.match(str(key).strip())
        if m and m.group("sub"):
            _merge_sub_path(context, m.group("path").strip(), m.group("expr"), m.group("sub"), value)
            continue
        path, groups, replace = parse_context_key(str(key))
        parent, leaf = _parent_for(context, path)
        if replace:
            parent[leaf] = copy.deepcopy(value)
        else:
            parent[leaf] = merge_value(parent.get(leaf), value, groups)


def _merge_sub_path(context: dict[str, Any], path: str, expr: str, sub: str, value: Any) -> None:
    """`Path(selector).Sub` keys, as real integrations write them (AWS - IAM:
    `AWS.IAM.Users(val.UserName === obj.UserName).AccessKeys`, `AWS.IAM.Users(val.UserName === 'alice').X`).

    The selector picks the parent object in the list at `Path` (`obj.F` is read from each new item, a quoted
    literal is used as is); the item goes under `Sub` of that parent. A parent that does not exist yet is
    created holding just the selector fields, so the data is never lost.
    """
    refs = [(val, obj) for val, obj in _DT_FIELD.findall(expr)]
    literals = [(field, a if a else b) for field, a, b in _DT_LITERAL.findall(expr)]
    container, leaf = _parent_for(context, path)
    parents = container.get(leaf)
    parents = [] if parents is None else (parents if isinstance(parents, list) else [parents])
    items = value if isinstance(value, list) and (refs and all(isinstance(i, Mapping) for i in value)) else [value]
    for item in items:
        wanted = {field: item.get(obj) if isinstance(item, Mapping) else None for field, obj in refs}
        wanted.update(dict(literals))
        parent = next((p for p in parents if isinstance(p, dict)
                       and all(_dig(p, f) == v for f, v in wanted.items())), None)
        if parent is None:
            parent = {}
            for field, v in wanted.items():
                set_context_path(parent, field, v)
            parents.append(parent)
        holder, sub_leaf = _parent_for(parent, sub)
        if item is value and not refs:
            holder[sub_leaf] = copy.deepcopy(value)  # literal selector: the value is the sub-path's value
        else:
            existing = holder.get(sub_leaf)
            merged = merge_value(existing, [item], None)
            holder[sub_leaf] = [x for i, x in enumerate(merged) if x not in merged[:i]]  # no duplicates on re-run
    container[leaf] = parents if len(parents) != 1 or isinstance(container.get(leaf), list) else parents[0]


def set_context_path(context: dict[str, Any], path: str, value: Any) -> None:
    """`setContext` semantics: overwrite the value at a dotted path, creating the objects on the way."""
    parent, leaf = _parent_for(context, path)
    parent[leaf] = copy.deepcopy(value)


# --------------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------------


class XSOARSession:
    """Everything one script or integration execution sees of the platform.

    `kind` is "script" or "integration": integrations cannot call `executeCommand` (as on the platform).
    `brand` is the integration brand (scripts: "Scripts"); `calling_user` is who ran the command
    (`callingContext.context.ParentEntry.user`); "" would mean the playbook (DBot).
    """

    def __init__(
        self,
        *,
        args: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        command: str = "",
        context: dict[str, Any] | None = None,
        incident: dict[str, Any] | None = None,
        investigation: dict[str, Any] | None = None,
        integration_context: dict[str, Any] | None = None,
        last_run: dict[str, Any] | None = None,
        dispatcher: Dispatcher | None = None,
        calling_user: str = "admin",
        kind: str = "script",
        brand: str | None = None,
        instance: str = "",
        script_name: str = "",
        files_dir: str | None = None,
        merge_executed_context: bool = True,
        demisto_version: dict[str, str] | None = None,
    ) -> None:
        if kind not in ("script", "integration"):
            raise ValueError(f"kind must be 'script' or 'integration', got {kind!r}")
        self.kind = kind
        self.args: dict[str, Any] = dict(args or {})
        self.params: dict[str, Any] = dict(params or {})
        self.command = command
        self.context: dict[str, Any] = copy.deepcopy(context) if context else {}
        self.incident: dict[str, Any] = (
            copy.deepcopy(incident) if incident else {"id": "1", "name": "Local incident", "CustomFields": {}}
        )
        self.incident.setdefault("CustomFields", {})
        inv_id = str(self.incident.get("investigationId") or self.incident.get("id") or "1")
        self.investigation: dict[str, Any] = dict(investigation or {"id": inv_id})
        self.integration_context: dict[str, Any] = dict(integration_context or {})
        self.integration_context_version = 0
        self.last_run: dict[str, Any] = dict(last_run or {})
        self.dispatcher: Dispatcher = dispatcher or unsupported_command
        self.brand = brand if brand is not None else ("Scripts" if kind == "script" else "")
        self.instance = instance or (self.brand if kind == "integration" else "")
        self.script_name = script_name
        self.files_dir = files_dir
        self.merge_executed_context = merge_executed_context
        self.demisto_version = dict(demisto_version or _DEFAULT_VERSION)
        self.war_room: list[WarRoomEntry] = []
        self.results: list[Any] = []  # every raw object passed to demisto.results, in order
        self.executed: list[ExecutedCommand] = []
        self.logs: list[tuple[str, str]] = []
        self.files: dict[str, dict[str, str]] = {}
        self.fetched_incidents: list[dict[str, Any]] = []
        self.module_health: list[tuple[Any, bool]] = []
        self.supported_commands: dict[str, list[dict[str, Any]]] = {}
        self._next_entry = 1
        self.calling_context: dict[str, Any] = self._build_calling_context(calling_user)

    # --- who is running -------------------------------------------------------------------------

    def _build_calling_context(self, user: str) -> dict[str, Any]:
        integration = self.kind == "integration"
        return {
            "context": {
                "IntegrationBrand": self.brand if integration else "",
                "IntegrationInstance": self.instance if integration else "",
                "ScriptName": "" if integration else self.script_name,
                "ParentEntry": {"user": user, "id": "", "contents": ""},
                "ExecutedCommands": [
                    {"moduleBrand": self.brand if integration else "Scripts", "name": self.command or self.script_name}
                ],
                "Inv": {"id": self.investigation["id"]},
                "Incidents": [self.incident],
            },
            "integration": integration,
            "command": self.command,
            "args": self.args,
            "params": self.params,
        }

    @property
    def calling_user(self) -> str:
        return str(self.calling_context["context"]["ParentEntry"].get("user", ""))

    @calling_user.setter
    def calling_user(self, user: str) -> None:
        self.calling_context["context"]["ParentEntry"]["user"] = user

    @property
    def investigation_id(self) -> str:
        return str(self.investigation.get("id", "1"))

    # --- war room -------------------------------------------------------------------------------

    def _new_entry_id(self) -> str:
        entry_id = f"{self._next_entry}@{self.investigation_id}"
        self._next_entry += 1
        return entry_id

    @staticmethod
    def normalize_entry(raw: Any) -> Entry:
        """What the server turns a `demisto.results` item into: a dict entry."""
        if isinstance(raw, dict):
            return copy.deepcopy(raw)
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        return {"Type": ENTRY_NOTE, "ContentsFormat": "text", "Contents": str(raw)}

    def add_entry(
        self,
        raw: Any,
        *,
        brand: str | None = None,
        user: str | None = None,
        module: str | None = None,
        source: str = "results",
        merge_context: bool = True,
    ) -> WarRoomEntry:
        """Record one war-room entry and apply its EntryContext to the incident context."""
        entry = self.normalize_entry(raw)
        record = WarRoomEntry(
            id=self._new_entry_id(),
            entry=entry,
            brand=self.brand if brand is None else brand,
            user=self.calling_user if user is None else user,
            module=(self.instance or self.script_name) if module is None else module,
            source=source,
        )
        self.war_room.append(record)
        if entry.get("Type") == ENTRY_FILE and entry.get("FileID"):
            path = os.path.join(self.files_dir or os.getcwd(), f"{self.investigation_id}_{entry['FileID']}")
            info = {"id": record.id, "path": path, "name": str(entry.get("File", ""))}
            self.files[record.id] = info
            self.files[str(entry["FileID"])] = info
        if merge_context and isinstance(entry.get("EntryContext"), Mapping):
            merge_entry_context(self.context, entry["EntryContext"])
        return record

    def add_file(self, name: str, data: bytes | str) -> str:
        """Put a file in the war room (as if a user uploaded it); returns its entry ID for `getFilePath`."""
        file_id = str(uuid.uuid4())
        directory = self.files_dir or os.getcwd()
        with open(os.path.join(directory, f"{self.investigation_id}_{file_id}"), "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        record = self.add_entry(
            {"Type": ENTRY_FILE, "ContentsFormat": "text", "Contents": "", "File": name, "FileID": file_id},
            source="platform",
        )
        return record.id

    def record_results(self, results: Any) -> None:
        """`demisto.results`: capture the raw object and add its entries to the war room."""
        self.results.append(copy.deepcopy(results))
        if results is None:
            return
        items = results if isinstance(results, list) else [results]
        for item in items:
            self.add_entry(item)

    def entries(self, entry_type: int | None = None) -> list[Entry]:
        """War-room entries (the dicts only), optionally of one Type."""
        return [w.entry for w in self.war_room if entry_type is None or w.entry.get("Type") == entry_type]

    # --- commands -------------------------------------------------------------------------------

    def execute(self, command: str, args: dict[str, Any] | None) -> list[Entry]:
        """`demisto.executeCommand`: ask the dispatcher and always hand back a list of entries."""
        args = dict(args or {})
        raw = self.dispatcher(command, args)
        if raw is None:
            raw = []
        items = raw if isinstance(raw, list) else [raw]
        result: list[Entry] = []
        for item in items:
            entry = self.normalize_entry(item)
            entry.setdefault("Brand", "none" if entry.get("Type") == ENTRY_ERROR else "Scripts")
            entry.setdefault("ModuleName", entry["Brand"])
            result.append(entry)
        self.executed.append(ExecutedCommand(command, args, copy.deepcopy(result), self.calling_user))
        if self.merge_executed_context:
            for entry in result:
                if entry.get("Type") != ENTRY_ERROR and isinstance(entry.get("EntryContext"), Mapping):
                    merge_entry_context(self.context, entry["EntryContext"])
        return result

    # --- context --------------------------------------------------------------------------------

    def set_context(self, path: str, value: Any) -> None:
        set_context_path(self.context, path, value)

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))


# --------------------------------------------------------------------------------------------------
# The current session
# --------------------------------------------------------------------------------------------------

_current: XSOARSession | None = None


def get_session() -> XSOARSession:
    """The session `demistomock` talks to (an empty script session until one is set)."""
    global _current
    if _current is None:
        _current = XSOARSession()
    return _current


def set_session(session: XSOARSession | None) -> XSOARSession | None:
    """Make `session` current (None: a fresh empty one on next use); returns the previous one."""
    global _current
    previous, _current = _current, session
    return previous


@contextlib.contextmanager
def use_session(session: XSOARSession) -> Iterator[XSOARSession]:
    """Run a block against `session`, then restore whatever was current before."""
    previous = set_session(session)
    try:
        yield session
    finally:
        set_session(previous)


# --------------------------------------------------------------------------------------------------
# Running a pack file as the platform does
# --------------------------------------------------------------------------------------------------


@dataclass
class SessionResult:
    """What one execution left behind: its war-room entries and how it ended."""

    session: XSOARSession
    entries: list[Entry] = field(default_factory=list)
    exit_code: int | None = None  # set when the code called sys.exit (return_error does, with 0)
    exception: BaseException | None = None
    traceback: str = ""

    @property
    def errors(self) -> list[Entry]:
        return [e for e in self.entries if e.get("Type") == ENTRY_ERROR]

    @property
    def error_messages(self) -> list[str]:
        return [str(e.get("Contents")) for e in self.errors]

    @property
    def ok(self) -> bool:
        """No uncaught exception and no error entry: how a playbook task decides "completed"."""
        return self.exception is None and not self.errors

    @property
    def context(self) -> dict[str, Any]:
        return self.session.context


def run_script(
    path_to_py: str | os.PathLike[str],
    session: XSOARSession | None = None,
    *,
    extra_paths: Sequence[str | os.PathLike[str]] = (),
) -> SessionResult:
    """Execute a pack script/integration file under `session` as the platform would.

    The file runs as `__main__` (content ends with `if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()`), with its own folder and the platform doubles importable. `SystemExit` (return_error) is caught
    and recorded; an uncaught exception becomes an error entry, as the server reports a failed script.
    """
    path = Path(path_to_py).resolve()
    # dont_inherit: this module's `from __future__ import annotations` must not leak into the content code.
    code = compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path), "__builtins__": builtins}
    return _execute(code, namespace, session, (str(path.parent), PLATFORM_DOUBLES_DIR, *map(str, extra_paths)))


def run_unified(code: str, session: XSOARSession | None = None, *, name: str = "script") -> SessionResult:
    """Execute the code of a *unified* script/integration (what `demisto-sdk unify`/`zip-packs` uploads).

    The platform runs that code in a namespace that already holds CommonServerPython's globals and `demisto`
    (the unifier strips those imports), and without a module of its own in `sys.modules`: `__name__` falls
    through to `builtins`. Running the packed code this way catches what only breaks once it is inlined
    (duplicate names, ApiModules resolved through `sys.modules`, missing `register_module_line`).
    """
    import CommonServerPython
    import demistomock

    namespace = {k: v for k, v in vars(CommonServerPython).items()
                 if k not in ("__name__", "__file__", "__spec__", "__loader__", "__package__", "__cached__")}
    namespace.update({"demisto": demistomock, "__builtins__": builtins})
    return _execute(compile(code, name, "exec", dont_inherit=True), namespace, session, (PLATFORM_DOUBLES_DIR,))


def _execute(code: Any, namespace: dict[str, Any], session: XSOARSession | None,
             paths: Sequence[str]) -> SessionResult:
    session = session or XSOARSession()
    added: list[str] = []
    for p in paths:
        if p not in sys.path:
            sys.path.insert(0, p)
            added.append(p)
    start = len(session.war_room)
    result = SessionResult(session=session)
    try:
        with use_session(session):
            try:
                exec(code, namespace)  # noqa: S102 - running content code is the point of this helper
            except SystemExit as exc:
                result.exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception as exc:  # the platform turns any uncaught error into an error entry
                result.exception = exc
                result.traceback = traceback.format_exc()
                session.add_entry(
                    {
                        "Type": ENTRY_ERROR,
                        "ContentsFormat": "text",
                        "Contents": f"Script failed to run: {exc} [{type(exc).__name__}]",
                    },
                    source="platform",
                )
    finally:
        for p in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(p)
    result.entries = [w.entry for w in session.war_room[start:]]
    return result
