"""What a run report shows, computed once from a `RunOutcome` and rendered as Markdown and HTML.

The deliverable (``AIReasoning.Run``) is read defensively – a failed or partial run may lack any part of it, and
the report must still say what happened. Raw events are matched back to the scenario's dataset records by the
vendors' own ids (CloudTrail ``eventID``, Okta ``uuid``, API gateway ``requestId``) found in evidence excerpts,
so the timeline shows the records the reasoning actually cites.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ReportData", "TimelineRow", "build_report_data", "excerpt", "reasoner_label"]

_ID_FIELDS = ("eventID", "uuid", "requestId", "id", "_id", "event_id")
_TIME_FIELDS = ("eventTime", "published", "time", "_time", "timestamp", "@timestamp")


def excerpt(value: Any, limit: int = 240) -> str:
    """One-line text for a table cell (untrusted data stays text; escaping happens in the renderer)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class TimelineRow:
    time: str
    dataset: str
    summary: str
    actor: str = ""
    source_ip: str = ""
    record_id: str = ""
    cited_by: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class ReportData:
    title: str
    scenario: str
    category: str
    description: str
    playbook: str
    status: str
    failure: str
    provider: str
    approve: str
    reasoner: str
    deterministic: bool
    incident: dict[str, Any]
    verdict: str
    expected_verdict: str
    threat_level: str
    confidence: str
    summary: str
    attack_ids: list[str]
    affected: dict[str, list[str]]
    timeline: list[TimelineRow]
    timeline_matched: bool
    trace: list[dict[str, Any]]
    program: str
    demonstrations: list[str]
    evidence: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    undo_log: list[dict[str, Any]]
    tool_log: list[dict[str, Any]]
    commands: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    timings: dict[str, Any]
    usage: dict[str, Any]
    injection: dict[str, Any]
    errors: list[str]
    run_status: str


def reasoner_label(deliverable: Mapping[str, Any] | None, provider: str) -> tuple[str, bool]:
    """'ART via deterministic reasoner (no model)' etc.; True when no model produced the reasoning."""
    if not deliverable:
        return (f"no deliverable (provider {provider})", provider == "deterministic")
    ident = deliverable.get("identity") or {}
    method = str(deliverable.get("method") or ident.get("reasoner") or "?").upper()
    reasoner = str(ident.get("reasoner") or "?")
    deterministic = bool(ident.get("deterministic")) or reasoner == "deterministic" or \
        str(ident.get("provider")) == "deterministic"
    if deterministic:
        label = f"{method} · reasoner: deterministic (rules, no model)"
        if ident.get("fallback_reason"):
            label += f" — fallback: {ident['fallback_reason']}"
        return label, True
    return f"{method} · {ident.get('provider', provider)} / {ident.get('model', '?')}", False


def _record_id(record: Mapping[str, Any]) -> str:
    for key in _ID_FIELDS:
        if record.get(key):
            return str(record[key])
    return ""


def _record_time(record: Mapping[str, Any]) -> str:
    for key in _TIME_FIELDS:
        if record.get(key):
            return str(record[key])
    return ""


def _summarize(dataset: str, r: Mapping[str, Any]) -> TimelineRow:
    ident = r.get("userIdentity") or {}
    if dataset == "cloudtrail" or "eventName" in r:
        actor = ident.get("userName") or ident.get("arn") or ident.get("principalId") or ""
        key = ident.get("accessKeyId") or ""
        summary = f"{r.get('eventName', '?')} ({r.get('eventSource', '')})"
        if r.get("errorCode"):
            summary += f" — {r['errorCode']}"
        detail = f"key {key}" if key else ""
        if r.get("requestParameters"):
            detail = (detail + " · " if detail else "") + excerpt(r["requestParameters"], 160)
        return TimelineRow(_record_time(r), dataset, summary, str(actor), str(r.get("sourceIPAddress") or ""),
                           _record_id(r), detail=detail)
    if dataset == "okta" or "displayMessage" in r:
        actor = (r.get("actor") or {}).get("alternateId") or (r.get("actor") or {}).get("displayName") or ""
        client = r.get("client") or {}
        outcome = (r.get("outcome") or {}).get("result") or ""
        summary = f"{r.get('displayMessage') or r.get('eventType')} [{outcome}]"
        return TimelineRow(_record_time(r), dataset, summary, str(actor), str(client.get("ipAddress") or ""),
                           _record_id(r), detail=str(r.get("eventType") or ""))
    if dataset == "api_access" or "httpMethod" in r:
        summary = f"{r.get('httpMethod')} {r.get('path')} → {r.get('status')} ({r.get('responseBytes', 0)} bytes)"
        return TimelineRow(_record_time(r), dataset, summary, str(r.get("principal") or ""),
                           str(r.get("sourceIp") or ""), _record_id(r), detail=f"key {r.get('keyId', '')}")
    return TimelineRow(_record_time(r), dataset, excerpt(r, 160), record_id=_record_id(r))


_PROGRAM_RESULT = re.compile(r"^#(\d+):\s*\[(E\d+)\]\s*(.*)$")


def _cited_texts(evidence: list[dict[str, Any]], program: str) -> dict[str, str]:
    """Evidence id -> every text known to come from it: the excerpt, and the ART program's ``#i: [Ek] ...`` line
    (which often carries more of the tool output than the excerpt)."""
    texts = {str(e.get("id") or f"E{i + 1}"): json.dumps(e, default=str) for i, e in enumerate(evidence)}
    for line in program.splitlines():
        m = _PROGRAM_RESULT.match(line.strip())
        if m:
            texts[m.group(2)] = texts.get(m.group(2), "") + "\n" + m.group(3)
    return texts


def _timeline(scenario: Mapping[str, Any], evidence: list[dict[str, Any]],
              program: str = "") -> tuple[list[TimelineRow], bool]:
    texts = _cited_texts(evidence, program)
    rows: list[TimelineRow] = []
    for dataset, records in (scenario.get("datasets") or {}).items():
        for record in records or []:
            if not isinstance(record, Mapping):
                continue
            rid = _record_id(record)
            if not rid or len(rid) < 6:
                continue
            cited = [eid for eid, text in texts.items() if rid in text]
            if cited:
                row = _summarize(dataset, record)
                row.cited_by = cited
                rows.append(row)
    if rows:
        return sorted(rows, key=lambda r: r.time), True
    fallback = []
    for i, e in enumerate(evidence):
        fallback.append(TimelineRow(str(e.get("at") or e.get("time") or ""), str(e.get("tool") or ""),
                                    excerpt(e.get("excerpt"), 300), cited_by=[str(e.get("id") or f"E{i + 1}")],
                                    detail=str(e.get("source") or "")))
    return fallback, False


def _as_dicts(items: Any) -> list[dict[str, Any]]:
    return [dict(i) for i in (items or []) if isinstance(i, Mapping)]


def _dc(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    return {k: getattr(obj, k) for k in getattr(obj, "__dataclass_fields__", {})}


def build_report_data(outcome: Any) -> ReportData:
    """RunOutcome -> ReportData (duck-typed so tests can pass a minimal stand-in)."""
    d: dict[str, Any] = dict(outcome.deliverable or {})
    assessment = dict(d.get("assessment") or {})
    scenario = dict(getattr(outcome, "scenario_data", {}) or {})
    evidence = _as_dicts(d.get("evidence"))
    timeline, matched = _timeline(scenario, evidence, str(d.get("program") or ""))
    label, deterministic = reasoner_label(d or None, getattr(outcome, "provider", "deterministic"))
    failure = outcome.failure
    failure_text = ""
    if failure is not None:
        failure_text = f"task {failure.task_id} in {failure.playbook!r}: {failure.message}"
        if getattr(failure, "kind", "") == "unsupported":
            failure_text = "UNSUPPORTED FEATURE — " + failure_text
    confidence = assessment.get("confidence")
    incident = dict(outcome.incident or {})
    custom = incident.get("CustomFields") or {}
    approvals = [_dc(a) for a in outcome.approvals]
    return ReportData(
        title=f"{incident.get('name') or outcome.scenario}",
        scenario=str(outcome.scenario),
        category=str(getattr(outcome, "category", "")),
        description=str(scenario.get("description") or ""),
        playbook=str(outcome.playbook),
        status=str(outcome.status),
        failure=failure_text,
        provider=str(getattr(outcome, "provider", "")),
        approve=str(getattr(outcome, "approve", "")),
        reasoner=label,
        deterministic=deterministic,
        incident=incident,
        verdict=str(assessment.get("verdict") or custom.get("aireasoningverdict") or "—"),
        expected_verdict=str((getattr(outcome, "expect", None) or {}).get("verdict") or ""),
        threat_level=str(assessment.get("threat_level") or custom.get("aireasoningthreatlevel") or "—"),
        confidence=f"{float(confidence):.2f}" if isinstance(confidence, int | float) else str(confidence or "—"),
        summary=str(assessment.get("summary") or ""),
        attack_ids=[str(a) for a in assessment.get("attack_ids") or []],
        affected={k: [str(v) for v in assessment.get(k) or []]
                  for k in ("affected_accounts", "affected_keys", "affected_ips")},
        timeline=timeline,
        timeline_matched=matched,
        trace=_as_dicts(d.get("trace")),
        program=str(d.get("program") or ""),
        demonstrations=[str(x) for x in d.get("demonstrations") or []],
        evidence=evidence,
        recommendations=_as_dicts(d.get("recommendations")),
        approvals=approvals,
        undo_log=_as_dicts(outcome.undo_log),
        tool_log=_as_dicts(d.get("tool_log")),
        commands=[_dc(c) for c in getattr(outcome, "commands", [])],
        tasks=[_dc(t) for t in getattr(outcome, "tasks", [])],
        timings=dict(getattr(outcome, "timings", {}) or {}),
        usage=dict(d.get("usage") or {}),
        injection=dict(d.get("injection") or {}),
        errors=[str(e) for e in d.get("errors") or []],
        run_status=str(d.get("status") or ""),
    )
