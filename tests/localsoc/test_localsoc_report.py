"""Reports: everything escaped (alert data is attacker-controlled), self-contained HTML, useful sections."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from localsoc.playbook import ApprovalRecord, Failure
from localsoc.report import build_report_data, render_html, render_markdown, write_reports
from localsoc.runner import flagship_for, run_playbook
from localsoc.soc.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
EVIL = '<script>alert("x")</script>'
EVENT_ID = "0580911e-ad48-5e35-a715-e34db96f781e"


@dataclass
class FakeOutcome:
    """The attributes the report reads, nothing more."""

    status: str = "completed"
    playbook: str = "PB " + EVIL
    scenario: str = "evil_scenario"
    category: str = "iam_anomaly"
    failure: Failure | None = None
    incident: dict[str, Any] = field(default_factory=dict)
    deliverable: dict[str, Any] | None = None
    approvals: list[ApprovalRecord] = field(default_factory=list)
    undo_log: list[dict[str, Any]] = field(default_factory=list)
    commands: list[Any] = field(default_factory=list)
    tasks: list[Any] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=lambda: {"duration_ms": 1.0})
    provider: str = "deterministic"
    approve: str = "all"
    expect: dict[str, Any] | None = field(default_factory=lambda: {"verdict": "true_positive"})
    scenario_data: dict[str, Any] = field(default_factory=dict)
    verdict: str = "true_positive"
    threat_level: str = "high"
    expected_verdict: str = "true_positive"
    actions_executed: int = 1
    actions_rejected: int = 0


def fake() -> FakeOutcome:
    deliverable = {
        "method": "art",
        "status": "complete",
        "identity": {"reasoner": "deterministic", "provider": "deterministic", "deterministic": True},
        "assessment": {"verdict": "true_positive", "threat_level": "high", "confidence": 0.9, "summary": EVIL,
                       "affected_accounts": [EVIL], "attack_ids": ["T1078.004"]},
        "evidence": [{"id": "E1", "tool": "cloudtrail_lookup_events", "excerpt": f'{{"EventId": "{EVENT_ID}"}} {EVIL}',
                      "call_id": "c1", "digest": "d"}],
        "trace": [{"index": 1, "kind": "thought", "text": EVIL}],
        "program": f"Q1: [cloudtrail_lookup_events] {EVIL}\n#1: [E1] {EVIL}\nQ2: [EOQ]",
        "recommendations": [{"id": "rec-1", "action": "iam_deactivate_access_key", "target": EVIL,
                             "tier": "required", "status": "executed", "reasoning": EVIL, "evidence_refs": ["E1"],
                             "rollback_plan": EVIL,
                             "approvals": [{"user": "local-approver-1", "decision": "approve"}]}],
        "tool_log": [{"call": {"tool": "cloudtrail_lookup_events", "args": {"q": EVIL}},
                      "decision": {"decision": "allow"}, "ok": True}],
    }
    scenario = {"description": EVIL, "datasets": {"cloudtrail": [
        {"eventID": EVENT_ID, "eventTime": "2026-08-20T02:21:29Z", "eventName": "ListBuckets",
         "eventSource": "s3.amazonaws.com", "sourceIPAddress": "193.47.62.69", "userAgent": EVIL,
         "userIdentity": {"type": "IAMUser", "userName": EVIL}}]}}
    return FakeOutcome(
        incident={"name": "Alert " + EVIL, "type": "AWS IAM Anomaly", "severity": 3, "details": EVIL,
                  "labels": [{"type": "userName", "value": EVIL}], "CustomFields": {"field": EVIL}},
        deliverable=deliverable,
        approvals=[ApprovalRecord("PB", "3", EVIL, "collection", EVIL, [EVIL], False, [], EVIL, {"r": "rec-1"})],
        undo_log=[{"action_id": "act-0001", "command": "aws-iam-update-access-key", "target": EVIL, "changes": [{}],
                   "undone": False, "rollback": {"command": EVIL}}],
        scenario_data=scenario,
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs


def test_html_escapes_every_attacker_controlled_value() -> None:
    page = render_html(build_report_data(fake()))
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    parsed = _Collector()
    parsed.feed(page)
    assert "script" not in parsed.tags
    # self-contained: inline CSS, no external assets, no JavaScript
    assert "link" not in parsed.tags and "img" not in parsed.tags and "iframe" not in parsed.tags
    assert not [a for a in parsed.attrs if a[0] in ("src", "href") or a[0].startswith("on")]


def test_markdown_escapes_too() -> None:
    text = render_markdown(build_report_data(fake()))
    assert "<script" not in text
    assert "&lt;script&gt;" in text
    assert "<pre>Q1: [cloudtrail_lookup_events] &lt;script&gt;" in text


def test_report_sections_and_timeline_match() -> None:
    data = build_report_data(fake())
    assert data.timeline_matched and data.timeline[0].record_id == EVENT_ID and data.timeline[0].cited_by == ["E1"]
    assert data.deterministic and "deterministic" in data.reasoner
    page = render_html(data)
    for heading in ("Verdict", "Incident", "Timeline of cited events", "Reasoning trace", "Evidence",
                    "Recommendations", "Undo log", "Tool invocations"):
        assert f"<h2>{heading}" in page or f">{heading}</h2>" in page, heading
    assert "ART program" in page and "local-approver-1" in page and "no language model" in page


def test_evidence_excerpts_shown_when_no_record_matches() -> None:
    outcome = fake()
    outcome.scenario_data = {"datasets": {}}
    data = build_report_data(outcome)
    assert not data.timeline_matched and data.timeline[0].cited_by == ["E1"]


def test_failed_run_report_says_where(tmp_path: Path) -> None:
    outcome = fake()
    outcome.status = "failed"
    outcome.deliverable = None
    outcome.failure = Failure("7", "boom " + EVIL, "PB", kind="unsupported")
    md, page = write_reports(outcome, tmp_path)
    html = page.read_text()
    assert "UNSUPPORTED FEATURE" in html and "task 7" in html and "<script" not in html
    assert md.read_text().startswith("# ")


def test_end_to_end_alert_with_script_tag_is_escaped(tmp_path: Path) -> None:
    data = json.loads((REPO / "tests" / "scenarios" / "iam_anomaly_leaked_key_tp.json").read_text())
    data["incident"]["name"] = "GuardDuty " + EVIL
    data["incident"]["details"] = EVIL
    data["incident"]["CustomFields"]["alertname"] = EVIL
    for record in data["datasets"]["cloudtrail"]:
        record["userAgent"] = EVIL
    scenario = Scenario.from_dict(data, "evil")
    outcome = run_playbook(str(REPO / "tests" / "playbooks_fixture" / "runner_smoke.yml"), scenario,
                           report_dir=tmp_path)
    assert outcome.status == "completed"
    for path in outcome.reports:
        text = Path(path).read_text()
        assert "&lt;script&gt;" in text
        assert "<script" not in text
    name = flagship_for(scenario.category)
    flagship = run_playbook(name, scenario, report_dir=tmp_path) if name else None
    if flagship is not None and flagship.status == "completed":
        for path in flagship.reports:
            assert "<script" not in Path(path).read_text()


def test_timeline_cites_records_beyond_the_compacted_excerpt():
    """Evidence.record_ids carry the ids of every record in the full output, so the key events appear even when
    the excerpt kept only the latest few (leaked key: CreateAccessKey and AttachUserPolicy)."""
    from localsoc.soc import load_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "iam_anomaly_leaked_key_tp.json")
    outcome = run_playbook(flagship_for(scenario.category), scenario)
    events = {row.summary.split(" ")[0] for row in build_report_data(outcome).timeline}
    assert {"CreateAccessKey", "AttachUserPolicy"} <= events, events
