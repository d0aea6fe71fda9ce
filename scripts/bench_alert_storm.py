#!/usr/bin/env python3
"""Alert storm: 10,000 alerts, one model call per distinct situation, every alert accounted for.

Question answered: in a storm, does the engine ask the model about each distinct situation exactly once,
and does every alert still get a verdict? Alerts are generated with a seeded RNG in XSOAR incident shape
(CustomFields, labels, rawJSON) with realistic repetition:

* bursts - one rule firing again and again for the same user / key / source IP (new ids, timestamps,
  counters, hosts every time);
* campaigns - an attacker IP (or two) hitting many users across many hosts with one rule;
* background noise - benign rules for a pool of users from corporate egress IPs, Zipf-distributed.

Pipeline (AIReasoningBatchApiModule): stream the alerts into ``AlertGrouper`` (situation keys), enrich each
distinct entity once (an entity-level cache in front of a canned, instant executor - the enrichment a
playbook runs, passed in as preloaded observations), run ``run_triage`` once per situation through the
single-flight ``VerdictCache`` with the deterministic reasoner (rules, not a language model) wrapped to count
model calls, and fan each verdict out to the group's members.

Asserts: model_calls <= distinct_situations and alerts_covered == alerts.

    .venv/bin/python scripts/bench_alert_storm.py          # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import _bench_common as bc
from AIReasoningApiModule import (
    DeterministicModelClient,
    IncidentInput,
    ListAuditSink,
    ModelRequest,
    ModelResponse,
    RunConfig,
    ToolRegistry,
    default_plan,
    run_triage,
)
from AIReasoningBatchApiModule import AlertGrouper, VerdictCache, fan_out

RULES: list[tuple[str, str, bool]] = [  # (rule, incident type, carries an access key)
    ("UnauthorizedAccess:IAMUser/MaliciousIPCaller", "AWS IAM Anomaly", True),
    ("Recon:IAMUser/UserPermissions", "AWS IAM Anomaly", True),
    ("IAM Access Key Created For Another User", "AWS IAM Anomaly", True),
    ("Okta Brute Force Then Success", "Unauthorized Access", False),
    ("Okta MFA Push Fatigue", "Unauthorized Access", False),
    ("Impossible Travel", "Unauthorized Access", False),
    ("api-usage-anomaly", "API Key Abuse", True),
    ("AttachUserPolicy AccessDenied", "AWS CloudTrail Event", True),
]
BENIGN_RULES: list[tuple[str, str, bool]] = [
    ("Excessive Failed Logins", "Alert Triage", False),
    ("Login From New Device", "Alert Triage", False),
    ("Console Login Without MFA", "AWS IAM Anomaly", False),
    ("S3 Bucket Policy Changed", "AWS CloudTrail Event", True),
]
START = datetime(2026, 8, 20, tzinfo=UTC)


class World:
    """The entity pools the generator draws from (and the canned enrichment answers from)."""

    def __init__(self, rng: random.Random) -> None:
        self.users = [f"user{i:03d}" for i in range(400)]
        self.keys = {u: "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
                     for u in self.users}
        self.hosts = [f"host-{i:03d}.corp.example" for i in range(300)]
        self.attackers = [f"185.220.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(8)]
        self.scanners = [f"45.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(40)]
        self.corporate = ["203.0.113.10", "203.0.113.11", "198.51.100.20"]
        self.unknown = [f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                        for _ in range(60)]
        self.victims: set[str] = set()


def alert(n: int, when: datetime, rule: tuple[str, str, bool], user: str, ip: str, world: World,
          rng: random.Random, severity: int) -> dict[str, Any]:
    name, kind, with_key = rule
    key = world.keys[user] if with_key else None
    raw = {"rule": name, "user": user, "src_ip": ip, "hostname": rng.choice(world.hosts),
           "event_id": f"{rng.getrandbits(64):016x}", "count": rng.randrange(1, 500), "_time": when.isoformat()}
    custom: dict[str, Any] = {"alertname": name, "usernames": [user], "sourceip": ip}
    labels = [{"type": "user", "value": user}, {"type": "src", "value": ip}]
    if key:
        raw["accessKeyId"] = key
        custom["accesskeyid"] = key
    return {"id": f"A{n:05d}", "name": f"{name} - {user}", "type": kind, "severity": severity,
            "occurred": when.isoformat().replace("+00:00", "Z"), "CustomFields": custom, "labels": labels,
            "rawJSON": json.dumps(raw)}


def generate(total: int, seed: int) -> tuple[list[dict[str, Any]], World]:
    rng = random.Random(seed)
    world = World(rng)
    out: list[tuple[datetime, int, tuple, str, str, int]] = []

    def at() -> datetime:
        return START + timedelta(seconds=rng.randrange(0, 24 * 3600))

    # campaigns: ~20 %
    for c in range(3):
        rule = RULES[c % 3]
        ips = rng.sample(world.attackers, 2 if c == 0 else 1)
        users = rng.sample(world.users, rng.randrange(40, 90))
        world.victims.update(users)
        for user in users:
            for _ in range(rng.randrange(1, 8)):
                out.append((at(), 0, rule, user, rng.choice(ips), 3))
    # bursts: ~50 %
    burst_target = int(total * 0.5)
    while sum(1 for o in out if o[1] == 1) < burst_target:
        rule = rng.choice(RULES + BENIGN_RULES)
        user = rng.choice(world.users)
        ip = rng.choice(world.scanners + world.corporate + world.unknown)
        t0 = at()
        size = min(200, int(rng.paretovariate(1.2) * 4))
        for i in range(size):
            out.append((t0 + timedelta(seconds=15 * i), 1, rule, user, ip, rng.choice((1, 2, 2, 3))))
    # background noise: the rest, Zipf-like over a benign pool
    # each noisy user works from one office egress IP
    pool = [(r, u, world.corporate[i % len(world.corporate)]) for r in BENIGN_RULES
            for i, u in enumerate(world.users[:60])]
    weights = [1.0 / (i + 1) ** 1.1 for i in range(len(pool))]
    rng.shuffle(pool)
    while len(out) < total:
        rule, user, ip = rng.choices(pool, weights)[0]
        out.append((at(), 2, rule, user, ip, 1))
    out = out[:total]
    out.sort(key=lambda o: o[0])
    return [alert(i, when, rule, user, ip, world, rng, sev) for i, (when, _, rule, user, ip, sev) in enumerate(out)], \
        world


class CannedEnrichment:
    """Instant enrichment answers consistent with the generated world, cached per (tool, args)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.cache: dict[str, Any] = {}
        self.tool_calls = 0

    def output(self, tool: str, args: dict[str, Any]) -> Any:
        key = json.dumps([tool, args], sort_keys=True)
        if key not in self.cache:
            self.tool_calls += 1
            self.cache[key] = self._answer(tool, args)
        return self.cache[key]

    def _answer(self, tool: str, args: dict[str, Any]) -> Any:
        w = self.world
        if tool == "ip_reputation":
            ip = args.get("ip", "")
            score, abuse, usage = ((3, 100, "Data Center/Web Hosting/Transit") if ip in w.attackers else
                                   (2, 40, "Data Center/Web Hosting/Transit") if ip in w.scanners else
                                   (1, 0, "Commercial") if ip in w.corporate else (0, 0, "Fixed Line ISP"))
            return {"context": {"DBotScore": [{"Indicator": ip, "Type": "ip", "Score": score, "Vendor": "AbuseIPDB"}],
                                "AbuseIPDB": {"IP": {"Address": ip, "AbuseConfidenceScore": abuse,
                                                     "UsageType": usage}}}, "contents": [], "brands": ["AbuseIPDB"]}
        user = str(args.get("user_name") or args.get("username") or "")
        if tool == "ueba_user_risk":
            risk = 95 if user in w.victims else 10
            return {"context": {"Exabeam": {"User": {"Username": user, "RiskScore": risk}}}, "contents": [],
                    "brands": ["Exabeam"]}
        return {"context": {"Result": {"tool": tool, "args": args, "records": []}}, "contents": [], "brands": ["sim"]}


class CountingDeterministic(DeterministicModelClient):
    """The deterministic reasoner (still recognised and labelled as such by the engine), counting its calls."""

    def __init__(self, registry: ToolRegistry) -> None:
        super().__init__(registry)
        self.calls = 0

    def turn(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        return super().turn(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20260820)
    args = parser.parse_args()
    cfg = bc.load_pack_config()
    started = time.perf_counter()
    alerts, world = generate(args.alerts, args.seed)
    generated = time.perf_counter()
    enrichment = CannedEnrichment(world)
    model = CountingDeterministic(cfg.registry)
    cache = VerdictCache()
    triage_runs = 0

    def triage(representative: dict[str, Any]) -> Any:
        nonlocal triage_runs
        triage_runs += 1
        incident = IncidentInput.from_xsoar(representative)
        policy = cfg.policy()
        plan = default_plan(incident.entities, cfg.registry, policy)
        preloaded = [(step["tool"], step["args"], enrichment.output(step["tool"], step["args"])) for step in plan]
        return run_triage(incident, model=model, executor=bc.ReplayExecutor({}), registry=cfg.registry,
                          policy=policy, clock=bc.SystemClock(), audit=ListAuditSink(),
                          config=RunConfig(preloaded_observations=preloaded, provider="deterministic"))

    grouper = AlertGrouper()

    def stream() -> Iterator[dict[str, Any]]:
        yield from alerts

    for item in stream():  # streaming: one alert at a time
        grouper.add(item)
    grouped = time.perf_counter()
    verdicts: dict[str, str] = {}
    auto_closed = 0
    for group in grouper.groups():
        summary, _ = cache.get_or_compute(group.key, lambda g=group: triage(g.representative))
        for v in fan_out(group, summary):
            verdicts[v.alert_id] = v.verdict
            auto_closed += v.auto_close
    finished = time.perf_counter()
    by_verdict: dict[str, int] = {}
    for verdict in verdicts.values():
        by_verdict[verdict] = by_verdict.get(verdict, 0) + 1
    groups = grouper.groups()
    result = {
        "bench": "alert_storm",
        "alerts": len(alerts),
        "distinct_situations": len(groups),
        "model_calls": model.calls,
        "triage_runs": triage_runs,
        "alerts_covered": len(verdicts),
        "enrichment_tool_calls": enrichment.tool_calls,
        "dedupe_ratio": round(len(alerts) / len(groups), 2),
        "largest_group": max(g.count for g in groups),
        "singleton_groups": sum(1 for g in groups if g.count == 1),
        "alerts_by_verdict": dict(sorted(by_verdict.items())),
        "alerts_auto_close_allowed": auto_closed,
        "reasoner": "deterministic (rules over evidence, not a language model)",
        "wall_s": round(finished - started, 2),
        "generate_s": round(generated - started, 2),
        "group_s": round(grouped - generated, 2),
        "triage_s": round(finished - grouped, 2),
        "peak_mem_mb": bc.peak_mem_mb(),
        "seed": args.seed,
    }
    assert result["model_calls"] <= result["distinct_situations"], result
    assert result["alerts_covered"] == result["alerts"], result
    bc.emit(result)


if __name__ == "__main__":
    main()
