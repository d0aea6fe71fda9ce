"""Alert-storm grouping end to end on the benchmark's own generator (small N): every alert covered, the triage
asked once per situation, and situations with different entities kept apart."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
try:
    import bench_alert_storm as storm  # noqa: E402
finally:
    sys.path.remove(str(REPO / "scripts"))

from AIReasoningBatchApiModule import group_alerts, situation_of, triage_groups  # noqa: E402


def test_generator_is_seeded():
    a, _ = storm.generate(300, seed=1)
    b, _ = storm.generate(300, seed=1)
    c, _ = storm.generate(300, seed=2)
    assert a == b and a != c


def test_storm_sample_every_alert_one_verdict_one_triage_per_situation():
    alerts, _ = storm.generate(1500, seed=3)
    asked: list[str] = []

    def triage(rep: dict) -> dict:
        asked.append(rep["id"])
        return {"run_id": rep["id"], "assessment": {"verdict": "suspicious"}}

    result = triage_groups(alerts, triage)
    assert result.alerts_covered == len(alerts) == len({a["id"] for a in alerts})
    assert result.triage_calls == len(asked) == len(result.groups) < len(alerts) / 2
    for group in result.groups:
        situations = {situation_of(a) for a in alerts if a["id"] in set(group.member_ids)}
        assert len(situations) == 1  # never two entity sets in one group


def test_storm_campaign_users_are_separate_situations():
    alerts, world = storm.generate(1500, seed=4)
    campaign = [a for a in alerts if any(ip in a["CustomFields"]["sourceip"] for ip in world.attackers)]
    users = {a["CustomFields"]["usernames"][0] for a in campaign}
    groups = group_alerts(campaign)
    assert len(groups) >= len(users)
