"""War-room entries in the shape ``demisto.executeCommand`` returns them.

We build plain dicts instead of importing CommonServerPython so the simulator has no dependency on the
platform doubles (which are another part of the repository and may be swapped). The keys mirror what
``CommandResults.to_context()`` produces plus the ``Brand``/``ModuleName`` the server adds when a script's
``executeCommand`` returns the entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "ENTRY_ERROR",
    "ENTRY_NOTE",
    "ENTRY_WARNING",
    "context_key",
    "error_entry",
    "note_entry",
    "table_to_markdown",
    "text_entry",
]

ENTRY_NOTE = 1
ENTRY_ERROR = 4
ENTRY_WARNING = 11


def module_name(brand: str) -> str:
    """Default instance name the XSOAR UI gives the first instance of an integration."""
    return f"{brand}_instance_1"


def context_key(prefix: str, key_field: str) -> str:
    """The DT key CommandResults builds from outputs_prefix + outputs_key_field."""
    return f"{prefix}(val.{key_field} && val.{key_field} == obj.{key_field})"


def note_entry(
    brand: str,
    contents: Any,
    human_readable: str | None,
    entry_context: Mapping[str, Any] | None,
    content_format: str = "json",
) -> dict[str, Any]:
    """A NOTE entry (Type 1) as CommandResults.to_context() + the server's Brand/ModuleName."""
    return {
        "Type": ENTRY_NOTE,
        "ContentsFormat": content_format,
        "Contents": contents,
        "HumanReadable": human_readable,
        "ReadableContentsFormat": "markdown",
        "EntryContext": dict(entry_context) if entry_context else {},
        "IndicatorTimeline": [],
        "IgnoreAutoExtract": False,
        "Note": False,
        "Relationships": None,
        "Brand": brand,
        "ModuleName": module_name(brand),
    }


def text_entry(brand: str, message: str) -> dict[str, Any]:
    """What ``demisto.results("some text")`` becomes: the real action commands answer like this."""
    return _message_entry(ENTRY_NOTE, brand, message)


def error_entry(brand: str, message: str) -> dict[str, Any]:
    """An ERROR entry (Type 4) as ``return_error`` produces; ``is_error``/``get_error`` read Contents."""
    return _message_entry(ENTRY_ERROR, brand, message)


def _message_entry(entry_type: int, brand: str, message: str) -> dict[str, Any]:
    return {
        "Type": entry_type,
        "ContentsFormat": "text",
        "Contents": message,
        "HumanReadable": None,
        "EntryContext": None,
        "Brand": brand,
        "ModuleName": module_name(brand),
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",<br>".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_to_markdown(name: str, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                      headers: Iterable[str] | None = None) -> str:
    """A small tableToMarkdown: same layout (### title, header row, ---), enough for human-readable output."""
    items = [rows] if isinstance(rows, Mapping) else list(rows)
    if not items:
        return f"### {name}\n**No entries.**\n"
    cols = list(headers) if headers else list(dict.fromkeys(k for item in items for k in item))
    lines = [f"### {name}", "|" + "|".join(cols) + "|", "|" + "|".join("---" for _ in cols) + "|"]
    for item in items:
        lines.append("| " + " | ".join(_cell(item.get(c)) for c in cols) + " |")
    return "\n".join(lines) + "\n"
