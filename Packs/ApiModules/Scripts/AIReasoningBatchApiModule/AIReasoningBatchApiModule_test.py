"""Tests for alert grouping: situation keys, streaming groups, the single-flight verdict cache and fan-out.

What must hold in an alert storm: the same situation is merged (whatever the timestamps, ids and counters),
different entity sets are never merged, the key is deterministic, no alert is dropped, and the triage runs at
most once per situation.
"""

import copy
import json
import random
import threading
import time
from pathlib import Path

import pytest
from AIReasoningBatchApiModule import (
    AlertGrouper,
    IncidentInput,
    VerdictCache,
    alert_id,
    fan_out,
    group_alerts,
    situation_key,
    situation_of,
    triage_groups,
    verdict_summary,
)

REPO = Path(__file__).resolve().parents[4]


def gd(ident: str, *, user: str = "ci-deploy", key: str = "AKIAXB7K2QZ4CIDEPLY1", ip: str = "45.148.10.240",
       when: str = "2026-08-20T02:19:44Z", count: int = 1, rule: str = "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
       severity: int = 3) -> dict:
    """A GuardDuty finding as XSOAR ingests it (id, occurred and count vary between repetitions)."""
    raw = {"id": f"f-{ident}", "type": rule, "updatedAt": when, "service": {"count": count, "action": {
        "awsApiCallAction": {"remoteIpDetails": {"ipAddressV4": ip}}}},
        "resource": {"accessKeyDetails": {"accessKeyId": key, "userName": user}}}
    return {"id": ident, "name": f"GuardDuty: {rule} - {user}", "type": "AWS IAM Anomaly", "severity": severity,
            "occurred": when, "CustomFields": {"alertname": rule, "accesskeyid": key, "sourceip": ip},
            "labels": [{"type": "userName", "value": user}], "rawJSON": json.dumps(raw)}


def flat(ident: str, **kw: object) -> dict:
    base = {"id": ident, "rule": "okta-brute-force", "user": "alice", "src_ip": "198.51.100.7",
            "dest_ip": "10.0.0.5", "timestamp": "2026-08-20T00:00:00Z", "attempts": 3}
    base.update(kw)
    return base


# ---- situation_key -------------------------------------------------------------------------------


def test_key_ignores_timestamps_ids_and_counters():
    a = gd("1", when="2026-08-20T02:19:44Z", count=1)
    b = gd("2", when="2026-08-21T11:00:00Z", count=57, severity=4)
    assert situation_key(a) == situation_key(b)
    assert situation_key(flat("1")) == situation_key(flat("2", timestamp="2026-08-22T00:00:00Z", attempts=99))


def test_key_is_deterministic_and_independent_of_order():
    a = flat("1", user="Alice")
    shuffled = dict(reversed(list(a.items())))
    assert situation_key(a) == situation_key(shuffled) == situation_key(copy.deepcopy(a))
    assert situation_key(a).startswith("sk1:") and len(situation_key(a)) == 36
    # a stable constant: the same input must produce the same key in every process (no hash() randomisation)
    assert situation_key({"rule": "r", "user": "u"}) == situation_key({"user": "u", "rule": "r"})


@pytest.mark.parametrize("change", [
    {"user": "bob"}, {"src_ip": "198.51.100.8"}, {"rule": "okta-mfa-fatigue"}, {"category": "other"},
])
def test_different_entities_rule_or_category_are_never_merged(change):
    assert situation_key(flat("1")) != situation_key(flat("1", **change))


def test_different_keys_users_ips_of_guardduty_findings_not_merged():
    base = situation_key(gd("1"))
    assert situation_key(gd("2", user="other")) != base
    assert situation_key(gd("3", key="AKIAXB7K2QZ4R7V9HW3M")) != base
    assert situation_key(gd("4", ip="193.47.62.69")) != base


def test_extra_entity_is_a_different_situation():
    """A superset of entities is not the same situation (a second attacker IP changes the picture)."""
    assert situation_key(flat("1")) != situation_key(flat("1", client_ip="203.0.113.99"))


def test_normalisation_of_entities():
    assert situation_key(flat("1", user="CORP\\Alice")) == situation_key(flat("2", user="alice"))
    s = situation_of(flat("1", principal="arn:aws:iam::123456789012:user/Alice"))
    assert "alice" in s.users
    assert situation_of({"rule": "r", "src_ip": "2001:0db8:0000:0000:0000:0000:0000:0001"}).ips == ("2001:db8::1",)


def test_destination_ips_are_victims_not_part_of_the_key():
    assert situation_key(flat("1", dest_ip="10.0.0.5")) == situation_key(flat("2", dest_ip="10.0.0.99"))
    assert situation_of(flat("1")).ips == ("198.51.100.7",)


def test_hosts_only_with_include_hosts():
    a, b = flat("1", hostname="web-1"), flat("2", hostname="web-2")
    assert situation_key(a) == situation_key(b)
    assert situation_key(a, include_hosts=True) != situation_key(b, include_hosts=True)


def test_rule_from_name_when_no_rule_field():
    a = {"id": "1", "name": "Failed logins for bob from 198.51.100.7: 12 attempts", "user": "bob"}
    b = {"id": "2", "name": "Failed logins for bob from 198.51.100.7: 31 attempts", "user": "bob"}
    assert situation_key(a) == situation_key(b)


def test_incident_input_and_dict_agree():
    for path in sorted((REPO / "tests" / "scenarios").glob("*.json")):
        incident = json.loads(path.read_text())["incident"]
        assert situation_key(incident) == situation_key(IncidentInput.from_xsoar(incident)), path.name


def test_bundled_scenarios_are_distinct_situations():
    incidents = [json.loads(p.read_text())["incident"] for p in sorted((REPO / "tests" / "scenarios").glob("*.json"))]
    assert len({situation_key(i) for i in incidents}) == len(incidents)
    rotation = situation_of(next(i for i in incidents if "reporting-etl" in i["name"]))
    assert {"m.okafor", "reporting-etl"} <= set(rotation.users)


def test_bad_input_type_is_rejected():
    with pytest.raises(TypeError):
        situation_key(["not", "an", "alert"])  # type: ignore[arg-type]


# ---- grouping ------------------------------------------------------------------------------------


def storm(seed: int, n: int = 600) -> list[dict]:
    rng = random.Random(seed)
    users = [f"user{i}" for i in range(15)]
    ips = [f"203.0.113.{i}" for i in range(1, 12)]
    rules = ["brute", "impossible-travel", "new-key"]
    return [flat(f"a{i}", user=rng.choice(users), src_ip=rng.choice(ips), rule=rng.choice(rules),
                 timestamp=f"2026-08-20T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
                 attempts=rng.randrange(100)) for i in range(n)]


def test_no_alert_dropped_each_id_in_exactly_one_group():
    alerts = storm(1)
    groups = group_alerts(alerts)
    ids = [i for g in groups for i in g.member_ids]
    assert sorted(ids) == sorted(a["id"] for a in alerts)
    assert len(ids) == len(set(ids))
    assert sum(g.count for g in groups) == len(alerts)


def test_groups_are_exactly_the_distinct_keys():
    alerts = storm(2)
    groups = group_alerts(alerts)
    assert len(groups) == len({situation_key(a) for a in alerts})
    for g in groups:
        members = [a for a in alerts if a["id"] in set(g.member_ids)]
        assert {situation_key(a) for a in members} == {g.key}


def test_grouping_is_deterministic():
    one = [(g.key, g.member_ids, g.representative_id) for g in group_alerts(storm(3))]
    two = [(g.key, g.member_ids, g.representative_id) for g in group_alerts(iter(storm(3)))]
    assert one == two


def test_group_metadata_first_last_seen_and_representative():
    alerts = [gd("1", when="2026-08-20T05:00:00Z", severity=2), gd("2", when="2026-08-20T01:00:00Z", severity=4),
              gd("3", when="2026-08-20T09:00:00Z", severity=3)]
    (group,) = group_alerts(alerts)
    assert group.count == 3 and group.member_ids == ["1", "2", "3"]
    assert group.first_seen.hour == 1 and group.last_seen.hour == 9
    assert group.representative_id == "2"  # the most severe member is what triage sees
    assert group.summary()["count"] == 3


def test_redelivered_alert_is_counted_once():
    grouper = AlertGrouper()
    a = flat("x1")
    grouper.add(a)
    group, opened = grouper.add(copy.deepcopy(a))
    assert not opened and group.count == 1 and group.duplicates == 1
    assert grouper.received == 2 and grouper.alert_ids == 1
    assert grouper.group_of("x1") is group


def test_alerts_without_id_get_content_ids():
    a = {"rule": "r", "user": "u", "timestamp": "2026-01-01T00:00:00Z"}
    b = dict(a, timestamp="2026-01-01T00:01:00Z")
    assert alert_id(a) == alert_id(copy.deepcopy(a)) != alert_id(b)
    assert len(group_alerts([a, b])[0].member_ids) == 2


# ---- cache and fan-out ---------------------------------------------------------------------------


def deliverable(verdict: str, run_id: str = "run-1", auto_close: bool = False) -> dict:
    return {"run_id": run_id, "status": "complete", "assessment": {"verdict": verdict, "threat_level": "low"},
            "auto_close": {"allowed": auto_close, "reason": "r"}, "recommendations": [{"action": "disable_user"}],
            "identity": {"reasoner": "deterministic", "deterministic": True}}


def test_triage_once_per_situation_and_every_alert_gets_a_verdict():
    alerts = storm(4)
    seen: list[str] = []

    def triage(rep: dict) -> dict:
        seen.append(situation_key(rep))
        return deliverable("false_positive" if rep["rule"] == "brute" else "true_positive", run_id=rep["id"])

    result = triage_groups(alerts, triage)
    assert len(seen) == len(set(seen)) == len(result.groups) == result.triage_calls
    assert result.alerts_covered == len(alerts) == result.received
    for a in alerts:
        v = result.verdicts[a["id"]]
        assert v.verdict == ("false_positive" if a["rule"] == "brute" else "true_positive")
        assert v.key == situation_key(a)
    assert sum(result.by_verdict().values()) == len(alerts)


def test_cache_reuse_across_batches_asks_nothing_new():
    cache = VerdictCache()
    calls = []
    triage_groups(storm(5), lambda rep: calls.append(1) or deliverable("suspicious"), cache=cache)
    first = len(calls)
    again = triage_groups(storm(5), lambda rep: calls.append(1) or deliverable("suspicious"), cache=cache)
    assert len(calls) == first and again.triage_calls == 0 and again.cache_hits == len(again.groups)


def test_cache_single_flight_under_threads():
    cache = VerdictCache()
    computed = []

    def slow() -> dict:
        computed.append(1)
        time.sleep(0.05)
        return deliverable("true_positive")

    threads = [threading.Thread(target=cache.get_or_compute, args=("k", slow)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(computed) == 1 and cache.hits == 7


def test_cache_failure_is_not_cached_and_max_age_expires():
    now = [0.0]
    cache = VerdictCache(max_age_seconds=10, clock=lambda: now[0])

    def boom() -> dict:
        raise RuntimeError("model down")

    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", boom)
    assert cache.get("k") is None
    _, computed = cache.get_or_compute("k", lambda: deliverable("true_positive"))
    assert computed
    now[0] = 5
    assert cache.get_or_compute("k", boom)[1] is False
    now[0] = 11
    assert cache.get("k") is None


def test_verdict_summary_and_fan_out_marks_members():
    summary = verdict_summary(deliverable("false_positive", auto_close=True))
    assert summary["verdict"] == "false_positive" and summary["auto_close"] is True
    assert summary["recommended_actions"] == ["disable_user"]
    (group,) = group_alerts([flat("1"), flat("2"), flat("3")])
    out = list(fan_out(group, summary))
    assert [v.alert_id for v in out] == ["1", "2", "3"]
    assert [v.fanned_out for v in out] == [False, True, True]
    assert all(v.auto_close and v.run_id == "run-1" for v in out)
