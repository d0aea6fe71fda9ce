"""Server builtins and the stock utility scripts our playbooks call, implemented over the local session.

On a tenant ``setIncident``, ``closeInvestigation``, ``getList``/``setList`` are server builtins, and
``Set``/``SetAndHandleEmpty``/``DeleteContext``/``Print`` are CommonScripts automations every tenant has.
The pack cannot ship them, so the local runtime provides them with the same argument names and effects:
they change the context and the incident the running playbook sees, and the XSOAR Lists the pack ships
(``Packs/*/Lists``) are served from an in-memory store.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xsoar_session import merge_value, set_context_path  # noqa: E402

from localsoc.playbook.values import split_path, to_text  # noqa: E402

__all__ = ["BUILTIN_COMMANDS", "BuiltinEnv", "ListStore", "error_entry", "note_entry", "run_builtin"]

Entry = dict[str, Any]

# Incident fields that live on the incident itself rather than in CustomFields.
_INCIDENT_FIELDS = {
    "name", "severity", "details", "owner", "type", "phase", "occurred", "closeReason", "closeNotes", "labels",
    "status", "playbookId", "sourceBrand", "sourceInstance", "reason", "dueDate", "closed", "rawJSON",
}


def note_entry(contents: Any, human: str | None = None) -> Entry:
    return {
        "Type": 1,
        "ContentsFormat": "json" if isinstance(contents, dict | list) else "text",
        "Contents": contents,
        "HumanReadable": human,
        "EntryContext": None,
        "Brand": "Builtin",
        "ModuleName": "Builtin",
    }


def error_entry(message: str) -> Entry:
    return {"Type": 4, "ContentsFormat": "text", "Contents": message, "HumanReadable": None, "EntryContext": None,
            "Brand": "Builtin", "ModuleName": "Builtin"}


def _bool(value: Any, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "1")


class ListStore(dict[str, str]):
    """XSOAR Lists by name -> text (what ``getList`` returns and ``${lists.Name}`` reads)."""

    @classmethod
    def from_packs(cls, repo_root: str | Path) -> ListStore:
        """Load every list a pack ships: ``Packs/*/Lists/*.json`` (unified) or ``Lists/<Name>/<Name>.json`` with
        a ``<Name>_data.*`` file beside it (demisto-sdk's split form)."""
        store = cls()
        for path in sorted(Path(repo_root).glob("Packs/*/Lists/**/*.json")):
            if path.stem.endswith("_data"):
                continue
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if not isinstance(meta, dict) or "name" not in meta:
                continue
            data = meta.get("data")
            if data in (None, "", "-"):
                for candidate in sorted(path.parent.glob(f"{path.stem}_data.*")):
                    data = candidate.read_text(encoding="utf-8")
                    break
            if isinstance(data, dict | list):
                data = json.dumps(data, indent=2)
            store[str(meta["name"])] = "" if data is None else str(data)
        return store


@dataclass
class BuiltinEnv:
    """What a builtin acts on: the running scope's context, the incident, the lists, and brand availability."""

    context: dict[str, Any]
    incident: dict[str, Any]
    lists: ListStore
    brand_available: Callable[[str], bool] | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def _severity(value: Any) -> Any:
    """The server stores severity as a number (0, 0.5, 1-4); task arguments arrive as text."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() else number


def _set_incident(env: BuiltinEnv, args: dict[str, Any]) -> list[Entry]:
    custom = env.incident.setdefault("CustomFields", {})
    changed: list[str] = []
    for key, value in args.items():
        if key in ("id", "using", "using-brand"):
            continue
        if key == "customFields":
            extra = json.loads(value) if isinstance(value, str) else value
            if not isinstance(extra, Mapping):
                return [error_entry("setIncident: customFields must be a JSON object")]
            custom.update(copy.deepcopy(dict(extra)))
            changed += list(extra)
        elif key == "severity":
            env.incident[key] = _severity(value)
            changed.append(key)
        elif key in _INCIDENT_FIELDS:
            env.incident[key] = copy.deepcopy(value)
            changed.append(key)
        else:
            custom[key] = copy.deepcopy(value)
            changed.append(key)
    return [note_entry("done", f"Incident fields updated: {', '.join(changed) or '(none)'}")]


def _close_investigation(env: BuiltinEnv, args: dict[str, Any]) -> list[Entry]:
    env.incident["status"] = 2
    env.incident["closed"] = env.now().isoformat().replace("+00:00", "Z")
    for key in ("closeReason", "closeNotes"):
        if args.get(key) is not None:
            env.incident[key] = args[key]
    return [note_entry("done", f"Investigation closed: {env.incident.get('closeReason', '')}")]


def _set(env: BuiltinEnv, args: dict[str, Any], handle_empty: bool = False) -> list[Entry]:
    key = args.get("key")
    if not key:
        return [error_entry("Set: missing argument key")]
    value = args.get("value")
    if handle_empty and value in (None, "", [], {}):
        return [note_entry("", f"Nothing to set for {key}")]
    if _bool(args.get("stringify")) and not isinstance(value, str):
        value = json.dumps(value)
    if _bool(args.get("append")):
        parts = [p for _, p in split_path(str(key))]
        node: Any = env.context
        for p in parts[:-1]:
            node = node.get(p) if isinstance(node, Mapping) else None
        existing = node.get(parts[-1]) if isinstance(node, Mapping) else None
        set_context_path(env.context, str(key), merge_value(existing, value, None))
    else:
        set_context_path(env.context, str(key), value)
    return [note_entry("done", f"Key {key} set")]


def _delete_context(env: BuiltinEnv, args: dict[str, Any]) -> list[Entry]:
    if _bool(args.get("all")):
        env.context.clear()
        return [note_entry("done", "Context cleared")]
    key = args.get("key")
    if not key:
        return [error_entry("DeleteContext: either all=yes or key is required")]
    for one in [k.strip() for k in str(key).split(",") if k.strip()]:
        parts = [str(p) for _, p in split_path(one)]
        node: Any = env.context
        for p in parts[:-1]:
            node = node.get(p) if isinstance(node, Mapping) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return [note_entry("done", f"Deleted {key}")]


def _print(env: BuiltinEnv, args: dict[str, Any]) -> list[Entry]:
    return [note_entry(to_text(args.get("value")))]


def _get_list(env: BuiltinEnv, args: dict[str, Any]) -> list[Entry]:
    name = str(args.get("listName") or "")
    if name not in env.lists:
        return [error_entry("Item not found (8)")]
    return [note_entry(env.lists[name])]


def _set_list(env: BuiltinEnv, args: dict[str, Any]) -> list[Entry]:
    name = str(args.get("listName") or "")
    if not name:
        return [error_entry("setList: missing listName")]
    data = args.get("listData")
    env.lists[name] = data if isinstance(data, str) else json.dumps(data)
    return [note_entry(f"Done: list {name} was updated")]


def _add_to_list(env: BuiltinEnv, args: dict[str, Any]) -> list[Entry]:
    name = str(args.get("listName") or "")
    if not name:
        return [error_entry("addToList: missing listName")]
    sep = str(args.get("separator") or ",")
    current = env.lists.get(name, "")
    item = to_text(args.get("listData"))
    env.lists[name] = f"{current}{sep}{item}" if current else item
    return [note_entry(f"Done: list {name} was updated")]


def _is_integration_available(env: BuiltinEnv, args: dict[str, Any]) -> list[Entry]:
    brand = str(args.get("brandname") or "")
    ok = env.brand_available(brand) if env.brand_available else False
    return [note_entry("yes" if ok else "no")]


BUILTIN_COMMANDS: dict[str, Callable[[BuiltinEnv, dict[str, Any]], list[Entry]]] = {
    "setIncident": _set_incident,
    "closeInvestigation": _close_investigation,
    "Set": _set,
    "SetAndHandleEmpty": lambda env, args: _set(env, args, handle_empty=True),
    "DeleteContext": _delete_context,
    "Print": _print,
    "getList": _get_list,
    "setList": _set_list,
    "createList": _set_list,
    "addToList": _add_to_list,
    "IsIntegrationAvailable": _is_integration_available,
}


def run_builtin(command: str, args: dict[str, Any], env: BuiltinEnv) -> list[Entry] | None:
    """Entries for a builtin command, or None when ``command`` is not a builtin."""
    fn = BUILTIN_COMMANDS.get(command)
    if fn is None:
        return None
    return fn(env, dict(args))
