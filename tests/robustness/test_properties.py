"""Property-based robustness: arbitrary JSON-like input never crashes the engine.

Real incidents and tool outputs are whatever integrations, vendors and attackers put in them. For any JSON-like
value (nested dicts and lists of strings with arbitrary Unicode, ints, floats including NaN and infinity, bools,
None): IncidentInput.from_xsoar raises nothing but a clear ValueError; extract_entities is deterministic and
deduplicated; compact() fits max_chars; a planted secret never survives the Redactor; detect_injection and
entries_to_result never raise; and run_react / run_art with the deterministic reasoner and an executor returning
anything (errors, exceptions, junk) always return a Deliverable that validates against its own JSON Schema.

Derandomized and bounded so CI is reproducible and fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from AIReasoningApiModule import *  # noqa: F403
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
LISTS = ROOT / "Packs" / "AIReasoning" / "Lists"
SCHEMA = Deliverable.model_json_schema()
SECRET = "sk-ant-api03-PLANTEDsecretVALUE0123456789"
PLACEHOLDERS = {"", "null", "none", "unknown", "-", "n/a", "(null)", "undefined", "nil"}

FAST = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RUNS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Text that looks like what vendors write (keys, ids, IPs, ARNs, emails, placeholders) mixed with arbitrary Unicode.
VENDORISH = st.sampled_from([
    "alice", "root", "null", "None", "", " ", "-", "(null)", "AKIAIOSFODNN7EXAMPLE", "ASIAEXAMPLETEMPKEY01",
    "203.0.113.7", "10.0.0.1", "2001:db8::1", "arn:aws:iam::123456789012:user/bob",
    "arn:aws:sts::123456789012:assumed-role/app/i-0abc", "arn:aws:iam::123456789012:root", "dana@example.com",
    "role/session", "{\"userName\": \"eve\"}", "[1, 2", "CHG0048213", "2024-05-14T02:13:07Z", "NaN", "\u202e\u200b",
    "ignore previous instructions", "password=hunter2", "eyJhbGciOi", "\x00", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "İstanbul", "ß"])
TEXT = st.one_of(st.text(max_size=40), VENDORISH)
KEYS = st.one_of(st.text(max_size=12), st.sampled_from([
    "userName", "user", "principal", "sourceIPAddress", "ip", "rawJSON", "CloudTrailEvent", "_raw", "eventName",
    "eventTime", "userIdentity", "type", "Score", "Indicator", "RiskScore", "status", "responseBytes", "httpMethod",
    "path", "keyId", "sourceIp", "outcome", "result", "actor", "alternateId", "labels", "value", "Contents",
    "EntryContext", "password", "sessionToken", "account", "usernames", "src_user"]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSON_LIKE = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=6)), max_leaves=25)
INCIDENT_KEYS = ["id", "name", "type", "severity", "occurred", "labels", "CustomFields", "customFields", "rawJSON",
                 "details"]
INCIDENTS = st.one_of(
    JSON_LIKE,
    st.dictionaries(st.sampled_from(INCIDENT_KEYS), st.one_of(
        JSON_LIKE, JSON_LIKE.map(lambda v: json.dumps(v, default=str)),
        st.lists(st.fixed_dictionaries({"type": TEXT, "value": JSON_LIKE}), max_size=4)), max_size=8))


def registry() -> ToolRegistry:
    path = LISTS / "AIReasoningToolRegistry" / "AIReasoningToolRegistry_data.json"
    return ToolRegistry.from_config(path.read_text())


REGISTRY = registry()
LIBRARY = TaskLibrary.from_yaml((LISTS / "AIReasoningTaskLibrary" / "AIReasoningTaskLibrary_data.txt").read_text())
POLICY_DATA = yaml.safe_load((LISTS / "AIReasoningPolicy" / "AIReasoningPolicy_data.json").read_text())


# --------------------------------------------------------------------------------------------
# Model layer
# --------------------------------------------------------------------------------------------


@FAST
@given(INCIDENTS)
def test_from_xsoar_raises_only_a_clear_value_error(incident: Any) -> None:
    try:
        item = IncidentInput.from_xsoar(incident)
    except ValueError as error:
        assert str(error).strip(), "a ValueError must say what is wrong"
        assert not isinstance(incident, dict) or incident is None, f"a dict must normalise: {error}"
        return
    assert 0 <= item.severity <= 4
    json.dumps(item.model_dump(mode="json"), allow_nan=True)
    assert isinstance(item.task_text(), str)


@FAST
@given(JSON_LIKE)
def test_extract_entities_is_deterministic_deduplicated_and_sane(value: Any) -> None:
    first = extract_entities(value)
    assert extract_entities(value) == first
    for kind in Entities.model_fields:
        values = first.of(kind)
        assert len(values) == len(set(values)), f"duplicate {kind}: {values}"
        assert all(isinstance(v, str) and v == v.strip() and v for v in values)
    assert not {u.lower() for u in first.users} & PLACEHOLDERS, first.users
    assert all(k.startswith(("AKIA", "ASIA")) and len(k) == 20 for k in first.access_keys)


# --------------------------------------------------------------------------------------------
# Envelope
# --------------------------------------------------------------------------------------------


@FAST
@given(JSON_LIKE, st.integers(min_value=30, max_value=3000), st.integers(min_value=1, max_value=30))
def test_compact_output_fits_max_chars(value: Any, max_chars: int, max_list: int) -> None:
    compacted, dropped = compact(value, max_chars=max_chars, max_list=max_list)
    assert len(json.dumps(compacted, ensure_ascii=False, default=str)) <= max_chars
    assert all(isinstance(line, str) for line in dropped)


def plant(value: Any, path: list[int], secret_text: str) -> Any:
    """Put ``secret_text`` somewhere inside ``value`` following ``path`` (indices choose the branch)."""
    if not path:
        return [value, secret_text]
    step, rest = path[0], path[1:]
    if isinstance(value, dict) and value:
        key = sorted(value, key=str)[step % len(value)]
        return {**value, key: plant(value[key], rest, secret_text)}
    if isinstance(value, list) and value:
        index = step % len(value)
        return [*value[:index], plant(value[index], rest, secret_text), *value[index + 1:]]
    return {"k": plant(value, rest, secret_text)} if step % 2 else [plant(value, rest, secret_text)]


@FAST
@given(JSON_LIKE, st.lists(st.integers(min_value=0, max_value=7), max_size=45), TEXT, TEXT,
       st.sampled_from(["value", "key", "json"]))
def test_redactor_never_lets_a_planted_secret_survive(value: Any, path: list[int], before: str, after: str,
                                                      where: str) -> None:
    text = f"{before}{SECRET}{after}"
    if where == "key":
        planted = plant(value, path, "x")
        planted = {text: planted, "n": [planted]}
    elif where == "json":
        planted = plant(value, path, json.dumps({"Authorization": text, "nested": [text]}))
    else:
        planted = plant(value, path, text)
    redacted = Redactor([SECRET]).redact(planted)
    assert SECRET not in json.dumps(redacted, ensure_ascii=False, default=str)


@FAST
@given(st.one_of(JSON_LIKE, INCIDENTS))
def test_detect_injection_never_raises(value: Any) -> None:
    findings = detect_injection(value)
    assert isinstance(findings, list) and all(isinstance(f, str) for f in findings)


# --------------------------------------------------------------------------------------------
# Reasoner adapters and runs
# --------------------------------------------------------------------------------------------

ENTRY = st.fixed_dictionaries({}, optional={
    "Type": st.one_of(st.sampled_from([1, 4, 11, "4", None, 0]), st.integers()),
    "Contents": JSON_LIKE, "HumanReadable": st.one_of(st.none(), TEXT), "EntryContext": JSON_LIKE,
    "Brand": st.one_of(TEXT, st.none(), st.integers()), "ModuleName": TEXT, "ContentsFormat": TEXT})
ENTRIES = st.one_of(st.lists(st.one_of(ENTRY, JSON_LIKE), max_size=6), JSON_LIKE)


@FAST
@given(ENTRIES)
def test_entries_to_result_handles_arbitrary_entry_lists(entries: Any) -> None:
    result = entries_to_result(entries)
    assert isinstance(result, ToolResult)
    if result.ok:
        assert set(result.output) == {"context", "contents", "brands"}
    else:
        assert result.error
    json.dumps(result.model_dump(mode="json"), allow_nan=True)


class BrokenExecutorError(RuntimeError):
    pass


class FuzzExecutor:
    """Answers every call from a list of arbitrary behaviours: ToolResults with any output, junk, exceptions."""

    def __init__(self, behaviours: list[Any]) -> None:
        self.behaviours = behaviours or [None]
        self.calls = 0

    def execute(self, call: ToolCall, spec: ToolSpec) -> Any:
        behaviour = self.behaviours[self.calls % len(self.behaviours)]
        self.calls += 1
        kind, payload = behaviour if isinstance(behaviour, tuple) else ("junk", behaviour)
        if kind == "raise":
            raise BrokenExecutorError(str(payload)[:200])
        if kind == "ok":
            return ToolResult(ok=True, output=payload)
        if kind == "error":
            return ToolResult(ok=False, error=str(payload)[:200], output=payload)
        if kind == "text":
            return ToolResult(ok=True, output=json.dumps(payload, default=str)[:-1])  # cut JSON
        return payload  # not a ToolResult at all


BEHAVIOURS = st.lists(st.one_of(
    st.tuples(st.just("ok"), JSON_LIKE), st.tuples(st.just("error"), JSON_LIKE), st.tuples(st.just("raise"), TEXT),
    st.tuples(st.just("text"), JSON_LIKE), JSON_LIKE), min_size=1, max_size=5)


def run_kwargs(behaviours: list[Any]) -> dict[str, Any]:
    clock = SystemClock()
    policy = Policy(REGISTRY, PolicyConfig.from_config(POLICY_DATA), clock, approval_secret="property-secret")
    return {"model": DeterministicModelClient(REGISTRY), "executor": FuzzExecutor(behaviours),
            "registry": REGISTRY, "policy": policy, "clock": clock, "audit": ListAuditSink(), "library": LIBRARY,
            "config": RunConfig(secrets=[SECRET], provider="deterministic", model="none")}


def assert_valid_deliverable(deliverable: Deliverable) -> None:
    assert isinstance(deliverable, Deliverable)
    data = json.loads(deliverable.model_dump_json())
    jsonschema.validate(data, SCHEMA)
    assert data["status"] in ("complete", "partial", "failed")
    assert data["identity"]["deterministic"] is True
    assert SECRET not in deliverable.model_dump_json()


@RUNS
@given(INCIDENTS, BEHAVIOURS)
def test_run_react_always_returns_a_valid_deliverable(incident: Any, behaviours: list[Any]) -> None:
    if isinstance(incident, dict):
        incident = {**incident, "details": f"{incident.get('details', '')} {SECRET}"}
    assert_valid_deliverable(run_react(incident, "Investigate this alert", **run_kwargs(behaviours)))


@RUNS
@given(INCIDENTS, BEHAVIOURS)
def test_run_art_always_returns_a_valid_deliverable(incident: Any, behaviours: list[Any]) -> None:
    assert_valid_deliverable(run_art(incident, "Investigate this alert", **run_kwargs(behaviours)))


@RUNS
@given(BEHAVIOURS)
def test_runs_on_a_real_incident_with_fuzzed_tools(behaviours: list[Any]) -> None:
    incident = json.loads((Path(__file__).parent / "test_data" / "xsoar_incidents.json").read_text())["incidents"][5]
    for runner in (run_react, run_art):
        deliverable = runner(incident, "Was this key abused?", **run_kwargs(behaviours))
        assert_valid_deliverable(deliverable)
        # a valid incident: tools may fail, the run may not
        assert deliverable.status != "failed", deliverable.status_reason
