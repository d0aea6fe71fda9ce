"""UEBA-style user risk score computed from the scenario's own baseline (answers ``exabeam-get-user-info``).

Why a formula and not a number in the scenario: the score must move when the evidence moves (a scenario
author who adds a record from a new country should see the score go up), and tests can check each component.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localsoc.soc.records import api_access_view, identity_user_name, is_user_action
from localsoc.soc.reputation import ReputationService
from localsoc.soc.scenario import Scenario
from localsoc.soc.state import ADMIN_POLICY_ARN
from localsoc.soc.timeutil import parse_time

__all__ = ["NOTABLE_THRESHOLD", "SENSITIVE_EVENTS", "Activity", "RiskResult", "aliases_for", "compute_risk"]

NOTABLE_THRESHOLD = 90  # the Exabeam integration's default "Minimum Risk Score To Fetch Users"

SENSITIVE_EVENTS = {
    "CreateAccessKey", "AttachUserPolicy", "PutUserPolicy", "AddUserToGroup", "CreateLoginProfile",
    "UpdateLoginProfile", "UpdateAssumeRolePolicy", "AttachRolePolicy", "PutRolePolicy", "CreateUser",
    "DeactivateMFADevice", "StopLogging", "DeleteTrail", "user.mfa.factor.deactivate",
    "system.api_token.create", "user.account.privilege.grant", "group.user_membership.add",
}


@dataclass
class Activity:
    """One observed action of the principal, normalised across CloudTrail, Okta and API access logs."""

    when: datetime
    source: str
    action: str
    ip: str | None
    user_agent: str | None
    country: str | None
    asn: int | None
    failed: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class RiskResult:
    username: str
    score: int
    components: list[dict[str, Any]]
    activities: list[Activity]
    baseline_found: bool
    average_risk_score: float
    peer_group: str | None


def aliases_for(name: str, state: dict[str, Any]) -> set[str]:
    """Every identifier the same person/key shows up under (IAM name, keys, email, Okta id/login)."""
    out = {name.lower()}
    user = state["iam"]["users"].get(name)
    if user:
        out.update(k.lower() for k in user["AccessKeys"])
        if user.get("Email"):
            out.add(user["Email"].lower())
        out.add(user["Arn"].lower())
    for okta in state["okta"]["users"].values():
        ids = {okta["id"].lower(), (okta["profile"].get("login") or "").lower(),
               (okta["profile"].get("email") or "").lower()}
        if ids & out or (okta["profile"].get("login") or "").split("@")[0].lower() == name.lower():
            out |= {i for i in ids if i}
    return out


def _geo(rep: ReputationService, ip: str | None) -> tuple[str | None, int | None]:
    if not ip:
        return None, None
    info = rep.lookup(ip)
    return info.country, info.asn


def collect_activities(scenario: Scenario, state: dict[str, Any], rep: ReputationService,
                       aliases: set[str]) -> list[Activity]:
    acts: list[Activity] = []
    for rec in scenario.records("cloudtrail"):
        if not is_user_action(rec):
            continue  # an Insights event is a rate statistic, not something the principal did
        ident = rec.get("userIdentity") or {}
        ident = ident if isinstance(ident, dict) else {}
        keys = {v.lower() for v in (identity_user_name(ident), ident.get("accessKeyId"), ident.get("arn"))
                if isinstance(v, str) and v}
        if not keys & aliases:
            continue
        country, asn = _geo(rep, rec.get("sourceIPAddress"))
        rp = rec.get("requestParameters") if isinstance(rec.get("requestParameters"), dict) else {}
        acts.append(Activity(parse_time(rec["eventTime"]), "cloudtrail", rec["eventName"], rec.get("sourceIPAddress"),
                             rec.get("userAgent"), country, asn, bool(rec.get("errorCode")),
                             {"policyArn": rp.get("policyArn"), "eventID": rec["eventID"]}))
    for ev in scenario.records("okta"):
        actor = ev.get("actor") or {}
        if not {str(v).lower() for v in (actor.get("id"), actor.get("alternateId")) if v} & aliases:
            continue
        client = ev.get("client") or {}
        geo = client.get("geographicalContext") or {}
        sec = ev.get("securityContext") or {}
        ua = (client.get("userAgent") or {}).get("rawUserAgent")
        result = (ev.get("outcome") or {}).get("result")
        acts.append(Activity(parse_time(ev["published"]), "okta", ev["eventType"], client.get("ipAddress"), ua,
                             geo.get("country"), sec.get("asNumber"), result in ("FAILURE", "DENY"),
                             {"uuid": ev["uuid"]}))
    for rec in scenario.records("api_access"):
        line = api_access_view(rec)  # quoted status, '-' placeholders and $context field names normalised
        names = {line.principal.lower(), line.principal.lower().rsplit("/", 1)[-1]} if line.principal else set()
        if line.key_id:
            names.add(line.key_id.lower())
        if line.when is None or not names & aliases:
            continue
        country, asn = _geo(rep, line.source_ip)
        acts.append(Activity(line.when, "api_access", f"{line.method} {line.path}", line.source_ip, line.user_agent,
                             country, asn, line.denied, {"requestId": line.request_id, "keyId": line.key_id}))
    acts.sort(key=lambda a: a.when)
    return acts


def _capped(name: str, points: int, cap: int, why: str) -> dict[str, Any]:
    return {"rule": name, "points": min(points, cap), "reason": why}


def compute_risk(username: str, scenario: Scenario, state: dict[str, Any], rep: ReputationService) -> RiskResult:
    """Risk score = sum of the components below (each capped); >= 90 makes the user notable.

    Baseline components (need ``baseline.principals[<user or alias>]``; skipped otherwise):
      new_country        25 per country not in baseline.countries            (cap 50)
      new_asn            20 per ASN not in baseline.asns                     (cap 40)
      new_user_agent     10 per user agent matching no baseline prefix       (cap 20)
      new_source_ip       5 per source IP not in baseline.source_ips         (cap 15)
      off_hours          15 once if any event falls outside working_hours_utc [start, end)
      volume_spike       z = (peak events in one hour - hourly_events_mean) / max(hourly_events_stddev, 1);
                         if z >= 3: round(5 * z)                             (cap 40)
    Evidence components (always):
      sensitive_change   10 per successful sensitive IAM/IdP change (SENSITIVE_EVENTS) (cap 30)
      admin_grant        20 once if AdministratorAccess was attached by/to the principal
      failures            5 per failed/denied call or login                  (cap 20)
      bad_ip_reputation  25 once if any source IP has DBot 3; else 10 once if any has DBot 2
    """
    aliases = aliases_for(username, state)
    acts = collect_activities(scenario, state, rep, aliases)
    principals = scenario.baseline.get("principals", {})
    profile = principals.get(username) or next((p for k, p in principals.items() if k.lower() in aliases), None)
    comps: list[dict[str, Any]] = []
    if profile is not None:
        countries = {c.lower() for c in profile.get("countries", [])}
        new_c = sorted({a.country for a in acts if a.country and a.country.lower() not in countries})
        if new_c and "countries" in profile:
            comps.append(_capped("new_country", 25 * len(new_c), 50, f"first activity from {', '.join(new_c)}"))
        asns = set(profile.get("asns", []))
        new_a = sorted({a.asn for a in acts if a.asn is not None and a.asn not in asns})
        if new_a and "asns" in profile:
            comps.append(_capped("new_asn", 20 * len(new_a), 40, f"new ASN(s) {', '.join(map(str, new_a))}"))
        prefixes = [p.lower() for p in profile.get("user_agents", [])]
        new_ua = sorted({a.user_agent for a in acts
                         if a.user_agent and not any(a.user_agent.lower().startswith(p) for p in prefixes)})
        if new_ua and "user_agents" in profile:
            comps.append(_capped("new_user_agent", 10 * len(new_ua), 20, f"new user agent(s): {'; '.join(new_ua)}"))
        ips = set(profile.get("source_ips", []))
        new_ip = sorted({a.ip for a in acts if a.ip and a.ip not in ips and a.ip[0].isdigit()})
        if new_ip and "source_ips" in profile:
            comps.append(_capped("new_source_ip", 5 * len(new_ip), 15, f"new source IP(s) {', '.join(new_ip)}"))
        hours = profile.get("working_hours_utc")
        if hours:
            start, end = hours
            off = [a for a in acts if not (start <= a.when.hour < end)]
            if off:
                comps.append(_capped("off_hours", 15, 15, f"{len(off)} event(s) outside {start:02d}-{end:02d} UTC"))
        if acts and "hourly_events_mean" in profile:
            per_hour = Counter(a.when.strftime("%Y-%m-%dT%H") for a in acts)
            peak = max(per_hour.values())
            std = max(float(profile.get("hourly_events_stddev", 0.0)), 1.0)
            z = (peak - float(profile["hourly_events_mean"])) / std
            if z >= 3:
                comps.append(_capped("volume_spike", round(5 * z), 40,
                                     f"{peak} events in one hour vs mean {profile['hourly_events_mean']} (z={z:.1f})"))
    sensitive = [a for a in acts if a.action in SENSITIVE_EVENTS and not a.failed]
    if sensitive:
        names = Counter(a.action for a in sensitive)
        comps.append(_capped("sensitive_change", 10 * len(sensitive), 30,
                             ", ".join(f"{n} x{c}" for n, c in sorted(names.items()))))
    admin = [a for a in acts if a.detail.get("policyArn") == ADMIN_POLICY_ARN and not a.failed]
    if admin:
        comps.append(_capped("admin_grant", 20, 20, "AdministratorAccess attached"))
    failed = [a for a in acts if a.failed]
    if failed:
        comps.append(_capped("failures", 5 * len(failed), 20, f"{len(failed)} failed/denied action(s)"))
    scores = {ip: rep.lookup(ip).dbot_score for ip in {a.ip for a in acts if a.ip and a.ip[0].isdigit()}}
    if any(s == 3 for s in scores.values()):
        bad = sorted(ip for ip, s in scores.items() if s == 3)
        comps.append(_capped("bad_ip_reputation", 25, 25, f"activity from known-bad IP(s) {', '.join(bad)}"))
    elif any(s == 2 for s in scores.values()):
        sus = sorted(ip for ip, s in scores.items() if s == 2)
        comps.append(_capped("bad_ip_reputation", 10, 10, f"activity from suspicious IP(s) {', '.join(sus)}"))
    total = sum(c["points"] for c in comps)
    avg = float(profile.get("average_risk_score", 0.0)) if profile else 0.0
    return RiskResult(username, int(total), comps, acts, profile is not None, avg,
                      profile.get("peer_group") if profile else None)
