"""A documented subset of Splunk search over the scenario's datasets (for the simulated ``splunk-search``).

Supported (anything else raises SplunkQueryError naming the unsupported part, which the simulator turns into
an error entry like SplunkPy's ``Error in 'search' command``):

* optional leading ``search`` keyword;
* ``index=<dataset>`` (``cloudtrail``, ``okta``, ``api_access`` or any other dataset name; ``index=*`` = all),
  several ``index=`` terms are ORed like Splunk does;
* ``field=value`` terms, implicitly ANDed (an explicit ``AND`` is accepted); field names are the JSON paths
  Splunk's automatic JSON extraction produces (``userIdentity.userName``, ``target{}.alternateId`` - the
  ``{}`` may be omitted); values may be quoted and may contain ``*`` wildcards; matching is case-insensitive;
* bare keywords (quoted or not): case-insensitive substring match on ``_raw``;
* ``earliest=`` / ``latest=`` terms and the ``earliest_time`` / ``latest_time`` arguments: ISO times or
  relative ``-24h``, ``-7d``, ``-30m``, ``now``;
* a trailing ``| head N`` (or ``| head limit=N``).

Not supported: ``OR``, ``NOT``, parentheses, ``!=``/``<``/``>`` comparisons, time snapping (``@d``), and
every other pipeline command (``stats``, ``table``, ``where``, ``eval``, ...).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localsoc.soc.scenario import record_time
from localsoc.soc.timeutil import parse_relative_or_absolute, splunk_time

__all__ = ["SOURCETYPES", "SplunkQuery", "SplunkQueryError", "flatten", "parse_query", "run_search", "to_event"]

SUPPORTED = "search terms, index=<dataset>, field=value (with * wildcards), keywords, earliest=/latest=, | head N"

# Sourcetypes: aws:cloudtrail is the Splunk Add-on for AWS one; the others are local conventions.
SOURCETYPES = {"cloudtrail": "aws:cloudtrail", "okta": "OktaIM2:log", "api_access": "api_gateway:access_log",
               "alerts": "localsoc:alert"}


class SplunkQueryError(ValueError):
    """A query outside the supported subset; the message names the offending part."""


@dataclass
class SplunkQuery:
    indexes: list[str] = field(default_factory=list)
    terms: list[tuple[str, str]] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    earliest: str | None = None
    latest: str | None = None
    head: int | None = None


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, buf, quote = [], [], False
    for ch in text:
        if ch == '"':
            quote = not quote
        if ch == sep and not quote:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if quote:
        raise SplunkQueryError("unbalanced quotes in query")
    parts.append("".join(buf))
    return parts


def _tokens(text: str) -> list[str]:
    out, buf, quote = [], [], False
    for ch in text:
        if ch == '"':
            quote = not quote
            buf.append(ch)
        elif ch.isspace() and not quote:
            if buf:
                out.append("".join(buf))
                buf = []
        else:
            buf.append(ch)
    if buf:
        out.append("".join(buf))
    return out


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


_FIELD = re.compile(r"^[A-Za-z_@][\w.{}@:-]*$")


def parse_query(query: str) -> SplunkQuery:
    """Parse the supported subset; raise SplunkQueryError for anything else."""
    text = (query or "").strip()
    if not text:
        raise SplunkQueryError("empty query")
    stages = _split_outside_quotes(text, "|")
    head_stage, rest = stages[0].strip(), [s.strip() for s in stages[1:]]
    if not head_stage and rest:
        raise SplunkQueryError(f"generating command '| {rest[0].split()[0]}' is not supported ({SUPPORTED})")
    parsed = SplunkQuery()
    tokens = _tokens(head_stage)
    if tokens and tokens[0].lower() == "search":
        tokens = tokens[1:]
    for tok in tokens:
        upper = tok.upper()
        if upper == "AND":
            continue
        if upper in ("OR", "NOT"):
            raise SplunkQueryError(f"boolean operator {upper} is not supported ({SUPPORTED})")
        if not tok.startswith('"') and ("(" in tok or ")" in tok):
            raise SplunkQueryError(f"parentheses ('{tok}') are not supported ({SUPPORTED})")
        if tok.startswith('"'):
            parsed.keywords.append(_unquote(tok))
            continue
        op = re.search(r"!=|<=|>=|<|>", tok.split('"', 1)[0])
        if op:
            raise SplunkQueryError(f"comparison operator '{op.group(0)}' in '{tok}' is not supported ({SUPPORTED})")
        if "=" in tok:
            name, _, value = tok.partition("=")
            if not _FIELD.match(name):
                raise SplunkQueryError(f"invalid field name '{name}' in '{tok}'")
            value = _unquote(value)
            lname = name.lower()
            if lname == "index":
                parsed.indexes.append(value)
            elif lname == "earliest":
                parsed.earliest = value
            elif lname == "latest":
                parsed.latest = value
            else:
                parsed.terms.append((name, value))
            continue
        if tok == "*":
            continue
        parsed.keywords.append(tok)
    for stage in rest:
        words = stage.split()
        if not words:
            raise SplunkQueryError("empty pipeline stage ('| |')")
        if words[0].lower() != "head":
            raise SplunkQueryError(f"unsupported Splunk command '| {words[0]}' (supported: {SUPPORTED})")
        if len(words) == 1:
            parsed.head = 10  # Splunk's default for a bare head
            continue
        arg = words[1].removeprefix("limit=")
        if len(words) > 2 or not arg.isdigit():
            raise SplunkQueryError(f"unsupported head arguments '{stage}' (use '| head N')")
        parsed.head = int(arg) if parsed.head is None else min(parsed.head, int(arg))
    return parsed


def flatten(value: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Flatten JSON the way Splunk's KV_MODE=json does: dotted names, ``{}`` for arrays, string values."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for key, sub in value.items():
            flatten(sub, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        for item in value:
            flatten(item, f"{prefix}{{}}", out)
    elif value is not None:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if prefix in out:
            existing = out[prefix]
            out[prefix] = (existing if isinstance(existing, list) else [existing]) + [text]
        else:
            out[prefix] = text
    return out


def to_event(dataset: str, record: dict[str, Any], when: datetime | None) -> dict[str, Any]:
    """A Splunk search result for one raw record: metadata fields, ``_raw`` and the extracted JSON fields."""
    event: dict[str, Any] = flatten(record)
    event.update({
        "_raw": json.dumps(record, separators=(",", ":")),
        "index": dataset,
        "sourcetype": SOURCETYPES.get(dataset, f"localsoc:{dataset}"),
        "source": f"localsoc:{dataset}",
        "linecount": "1",
        "splunk_server": "localsoc",
    })
    if when is not None:
        event["_time"] = splunk_time(when)
    return event


def _match_value(actual: Any, pattern: str) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    pat = pattern.lower()
    if "*" in pat:
        regex = re.compile(fnmatch.translate(pat.replace("[", "[[]").replace("?", "[?]")), re.S)
        return any(regex.match(str(v).lower()) for v in values)
    return any(str(v).lower() == pat for v in values)


def _lookup(event: dict[str, Any], name: str) -> Any:
    if name in event:
        return event[name]
    wanted = name.replace("{}", "")
    for key, value in event.items():
        if key.replace("{}", "") == wanted:
            return value
    return None


def run_search(query: str, datasets: dict[str, list[dict[str, Any]]], now: datetime,
               earliest_time: str | None = None, latest_time: str | None = None,
               event_limit: int | None = 100) -> list[dict[str, Any]]:
    """Execute a query over the datasets; newest first, like Splunk's default result order."""
    parsed = parse_query(query)
    try:
        earliest = parse_relative_or_absolute(parsed.earliest or earliest_time or "-7d", now)
        latest = parse_relative_or_absolute(parsed.latest or latest_time or "now", now)
    except ValueError as exc:
        raise SplunkQueryError(str(exc)) from exc
    names = list(datasets)
    if parsed.indexes and "*" not in parsed.indexes:
        unknown = [i for i in parsed.indexes if i not in datasets]
        if unknown:
            raise SplunkQueryError(f"index '{unknown[0]}' does not exist in this scenario "
                                   f"(indexes: {', '.join(names)})")
        names = [n for n in names if n in parsed.indexes]
    results: list[tuple[datetime | None, dict[str, Any]]] = []
    for name in names:
        for record in datasets[name]:
            when = record_time(name, record)
            if when is not None and not (earliest <= when <= latest):
                continue
            event = to_event(name, record, when)
            if not all(_match_value(_lookup(event, f), v) for f, v in parsed.terms):
                continue
            raw = event["_raw"].lower()
            if not all(k.lower() in raw for k in parsed.keywords):
                continue
            results.append((when, event))
    results.sort(key=lambda item: item[0].timestamp() if item[0] else 0.0, reverse=True)
    events = [e for _, e in results]
    if parsed.head is not None:
        events = events[: parsed.head]
    if event_limit:
        events = events[:event_limit]
    return events
