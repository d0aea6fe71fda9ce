"""Scenario files: load, validate against the JSON Schema, expose typed accessors.

A scenario is data someone else will write by hand, so a mistake must be reported with the file and the
JSON path of the offending value (``$.datasets.cloudtrail[3].eventTime``), not as a KeyError deep inside a
simulated integration.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

from localsoc.soc.timeutil import parse_time

__all__ = ["SCHEMA_PATH", "Scenario", "ScenarioError", "load_scenario", "scenario_schema", "validate_scenario"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "scenario.schema.json"


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the JSON path."""

    def __init__(self, source: str, json_path: str, message: str) -> None:
        self.source = source
        self.json_path = json_path
        self.detail = message
        super().__init__(f"{source}: invalid scenario at {json_path}: {message}")


@lru_cache(maxsize=1)
def scenario_schema() -> dict[str, Any]:
    """The scenario JSON Schema (read once)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _json_path(parts: Iterator[Any] | list[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_scenario(data: Any, source: str = "<scenario>") -> None:
    """Raise ScenarioError for the most relevant schema violation (deepest path first), else return."""
    validator = jsonschema.Draft202012Validator(scenario_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (-len(e.absolute_path), list(map(str, e.path))))
    if errors:
        best = jsonschema.exceptions.best_match(errors) or errors[0]
        # best_match prefers shallow errors; a deep one points at the actual bad value, which helps more.
        deepest = errors[0] if len(errors[0].absolute_path) > len(best.absolute_path) else best
        extra = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ScenarioError(source, _json_path(list(deepest.absolute_path)),
                            f"{deepest.message} [value: {_short(deepest.instance)}]{extra}")
    raw = data["incident"]["rawJSON"]
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ScenarioError(source, "$.incident.rawJSON", f"is not a JSON string: {exc.msg} at char {exc.pos}") from exc
    seen: dict[str, int] = {}
    for i, rec in enumerate(data["datasets"].get("cloudtrail", [])):
        if rec["eventID"] in seen:
            raise ScenarioError(source, f"$.datasets.cloudtrail[{i}].eventID",
                                f"duplicate eventID {rec['eventID']!r} (first at index {seen[rec['eventID']]})")
        seen[rec["eventID"]] = i


def _all_times(data: dict[str, Any]) -> Iterator[datetime]:
    yield parse_time(data["incident"]["occurred"])
    for name, records in data["datasets"].items():
        for rec in records:
            stamp = record_time(name, rec)
            if stamp is not None:
                yield stamp


TIME_FIELDS = {"cloudtrail": ("eventTime",), "okta": ("published",),
               # API Gateway's own $context names after the local 'time' (see apiAccessRecord in the schema)
               "api_access": ("time", "requestTimeEpoch", "requestTime")}
_GENERIC_TIME_FIELDS = ("time", "_time", "timestamp", "@timestamp", "eventTime", "published", "created",
                        "requestTimeEpoch", "requestTime")


def record_time(dataset: str, record: dict[str, Any]) -> datetime | None:
    """The event time of a record of a named dataset (known fields per vendor, common names otherwise)."""
    candidates = TIME_FIELDS.get(dataset, _GENERIC_TIME_FIELDS)
    for key in candidates:
        value = record.get(key)
        if value:
            try:
                return parse_time(value)
            except ValueError:
                return None
    return None


@dataclass
class Scenario:
    """A validated scenario. ``data`` is the parsed JSON; the properties are read-only views of it."""

    data: dict[str, Any]
    source: str = "<scenario>"
    path: Path | None = None
    now: datetime = field(init=False)

    def __post_init__(self) -> None:
        if self.data.get("now"):
            self.now = parse_time(self.data["now"])
        else:
            self.now = max(_all_times(self.data)) + timedelta(minutes=10)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> Scenario:
        """Validate an in-memory scenario (tests, generators) and wrap it."""
        validate_scenario(data, source)
        return cls(copy.deepcopy(data), source=source)

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def category(self) -> str:
        return self.data["category"]

    @property
    def description(self) -> str:
        return self.data["description"]

    @property
    def incident(self) -> dict[str, Any]:
        return self.data["incident"]

    @property
    def raw_alert(self) -> Any:
        return json.loads(self.data["incident"]["rawJSON"])

    @property
    def datasets(self) -> dict[str, list[dict[str, Any]]]:
        return self.data["datasets"]

    def records(self, dataset: str) -> list[dict[str, Any]]:
        return self.data["datasets"].get(dataset, [])

    @property
    def directory(self) -> dict[str, Any] | None:
        return self.data.get("directory")

    @property
    def reputation(self) -> dict[str, Any]:
        return self.data.get("reputation", {})

    @property
    def baseline(self) -> dict[str, Any]:
        return self.data.get("baseline", {})

    @property
    def disabled_integrations(self) -> list[str]:
        return list(self.data.get("disabled_integrations", []))

    @property
    def expect(self) -> dict[str, Any] | None:
        return self.data.get("expect")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; ScenarioError names the file and the JSON path on failure."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, "$", f"cannot read file: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(source, "$", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    validate_scenario(data, source)
    return Scenario(data, source=source, path=path)
