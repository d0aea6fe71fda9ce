"""Tests for the deterministic reasoner's scoring rules: the findings -> actions added for IAM escalation through
groups, console passwords, role policies and API-gateway abuse, and the benign history signals for scheduled API
access (api_key_baseline) and known-device Okta sign-ins (okta_known_device), each with a must-not-fire case and an
abuse case (a bad-reputation IP keeps the verdict malicious)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from AIReasoningScoringApiModule import *  # noqa: F403
from AIReasoningScoringApiModule import _api_host_cidr, _api_path_shape, _api_record_time, _okta_behaviors

ROOT = Path(__file__).resolve().parents[4]
REGISTRY = json.loads((ROOT / "Packs" / "AIReasoning" / "Lists" / "AIReasoningToolRegistry" /
                       "AIReasoningToolRegistry_data.json").read_text())
SCHEMAS = {tool["name"]: tool["args_schema"] for tool in REGISTRY["tools"]}
BAD_IP = "45.148.10.240"
CORP_IP = "203.0.113.10"

MALLORY = {"type": "IAMUser", "userName": "mallory", "arn": "arn:aws:iam::123456789012:user/mallory",
           "accessKeyId": "AKIAMALLORYEXAMPLE01"}
ALICE = {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::123456789012:user/alice",
         "accessKeyId": "AKIAALICEEXAMPLE0001"}


def _ct(eid: str, name: str, ip: str, identity: dict[str, Any], *, error: str = "", when: str = "2026-08-21T03:45:00Z",
        response: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    record = {"eventID": eid, "eventName": name, "eventTime": when, "eventSource": "iam.amazonaws.com",
              "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0", "userIdentity": identity,
              "requestParameters": params, "responseElements": response}
    if error:
        record["errorCode"] = error
    return record


def _reputation(ip: str, score: int, eid: str = "E9") -> dict[str, Any]:
    return {"tool": "ip_reputation", "output": {"Indicator": ip, "Type": "ip", "Score": score}, "evidence_id": eid}


def _run(records: list[dict[str, Any]], *extra: dict[str, Any],
         tool: str = "cloudtrail_lookup_events") -> tuple[ThreatAssessment, list[ProposedAction]]:
    return score_evidence([{"tool": tool, "output": records, "evidence_id": "E1"}, *extra], {"text": ""})


def _pairs(actions: list[ProposedAction]) -> list[tuple[str, dict[str, str]]]:
    for action in actions:  # every proposal must satisfy the shipped registry's args_schema
        jsonschema.validate(action.args, SCHEMAS[action.action])
        assert action.evidence_refs, action
    return [(a.action, a.args) for a in actions]


# ---- IAM findings -> actions -------------------------------------------------------------------------------------


def test_admin_group_membership_by_suspect_is_removed() -> None:
    records = [_ct("c1", "CreateUser", BAD_IP, MALLORY, userName="svc-backdoor"),
               _ct("c2", "AddUserToGroup", BAD_IP, MALLORY, groupName="ops-admins", userName="svc-backdoor")]
    assessment, actions = _run(records, _reputation(BAD_IP, 3))
    assert assessment.verdict == "true_positive"
    assert "iam_admin_escalation (+3: AddUserToGroup ops-admins)" in assessment.summary
    assert ("iam_remove_user_from_group", {"user_name": "svc-backdoor", "group_name": "ops-admins"}) in _pairs(actions)

    # no reputation at all: refused attempts to stop logging make the actor a suspect on their own
    quiet = [_ct("q1", "StopLogging", "198.51.100.7", MALLORY, error="AccessDenied", trailName="org-trail"),
             _ct("q2", "AddUserToGroup", "198.51.100.7", MALLORY, groupName="Administrators", userName="mallory")]
    assessment, actions = _run(quiet)
    assert assessment.verdict in ("true_positive", "suspicious")
    assert ("iam_remove_user_from_group", {"user_name": "mallory", "group_name": "Administrators"}) in _pairs(actions)

    # a group without an admin-like name becomes admin-like when the evidence shows an admin policy attached to it
    attached = [_ct("g1", "AttachGroupPolicy", BAD_IP, MALLORY, groupName="platform",
                    policyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
                _ct("g2", "AddUserToGroup", BAD_IP, MALLORY, groupName="platform", userName="mallory")]
    _, actions = _run(attached, _reputation(BAD_IP, 3))
    assert ("iam_remove_user_from_group", {"user_name": "mallory", "group_name": "platform"}) in _pairs(actions)


def test_group_membership_not_removed_for_plain_groups_or_unsuspicious_actors() -> None:
    # a non-admin group: a policy change, nothing to undo
    records = [_ct("n1", "AddUserToGroup", BAD_IP, MALLORY, groupName="developers", userName="mallory")]
    assessment, actions = _run(records, _reputation(BAD_IP, 3))
    assert "iam_policy_change (+1: AddUserToGroup developers)" in assessment.summary
    assert "iam_remove_user_from_group" not in [a for a, _ in _pairs(actions)]
    # the attacker's activity makes the incident a true positive, but alice's own change from the office (no bad
    # IP, no logging tampering, no refused admin grant) is not the attacker's and is not undone by the rules
    mixed = [_ct("m1", "CreateAccessKey", BAD_IP, MALLORY, userName="mallory",
                 response={"accessKey": {"accessKeyId": "AKIAMALLORYNEWKEY001"}}),
             _ct("m2", "AddUserToGroup", CORP_IP, ALICE, groupName="Administrators", userName="bob")]
    assessment, actions = _run(mixed, _reputation(BAD_IP, 3))
    assert assessment.verdict == "true_positive"
    assert "iam_remove_user_from_group" not in [a for a, _ in _pairs(actions)]
    # a refused AddUserToGroup changed nothing
    refused = [_ct("r1", "AddUserToGroup", BAD_IP, MALLORY, error="AccessDenied", groupName="Administrators",
                   userName="mallory")]
    _, actions = _run(refused, _reputation(BAD_IP, 3))
    assert "iam_remove_user_from_group" not in [a for a, _ in _pairs(actions)]


def test_console_password_for_another_user_and_console_login_from_bad_ip() -> None:
    records = [
        _ct("l1", "ConsoleLogin", BAD_IP, {"type": "IAMUser", "userName": "mallory",
                                           "arn": "arn:aws:iam::123456789012:user/mallory"},
            response={"ConsoleLogin": "Success"}),
        _ct("l2", "CreateLoginProfile", BAD_IP, MALLORY, userName="svc-legacy-sftp"),
        _ct("l3", "UpdateLoginProfile", BAD_IP, MALLORY, error="AccessDenied", userName="r.vance"),
    ]
    assessment, actions = _run(records, _reputation(BAD_IP, 3))
    assert assessment.verdict == "true_positive"
    pairs = _pairs(actions)
    assert ("iam_delete_login_profile", {"user_name": "svc-legacy-sftp"}) in pairs
    assert ("iam_delete_login_profile", {"user_name": "mallory"}) in pairs
    assert ("iam_delete_login_profile", {"user_name": "r.vance"}) not in pairs  # refused: nothing to delete


def test_console_passwords_not_deleted_without_hostile_evidence() -> None:
    # failed console logins from a bad IP, root's console login, a user setting their own password: no deletion
    records = [
        _ct("f1", "ConsoleLogin", BAD_IP, {"type": "IAMUser", "userName": "carol"}, response={"ConsoleLogin":
                                                                                              "Failure"}),
        _ct("f2", "ConsoleLogin", BAD_IP, {"type": "Root", "arn": "arn:aws:iam::123456789012:root"},
            response={"ConsoleLogin": "Success"}),
        _ct("f3", "UpdateLoginProfile", BAD_IP, MALLORY, userName="mallory"),
    ]
    _, actions = _run(records, _reputation(BAD_IP, 3))
    assert "iam_delete_login_profile" not in [a for a, _ in _pairs(actions)]
    # a help-desk admin creating a console password for a new hire from the office: not a suspect
    helpdesk = [_ct("h1", "CreateLoginProfile", CORP_IP, ALICE, userName="new.hire"),
                _ct("h2", "CreateAccessKey", BAD_IP, MALLORY, userName="mallory",
                    response={"accessKey": {"accessKeyId": "AKIAMALLORYNEWKEY001"}})]
    _, actions = _run(helpdesk, _reputation(BAD_IP, 3))
    assert ("iam_delete_login_profile", {"user_name": "new.hire"}) not in _pairs(actions)


def test_admin_policy_attached_to_role_is_detached() -> None:
    records = [_ct("p1", "CreateRole", BAD_IP, MALLORY, roleName="aws-support-diagnostics"),
               _ct("p2", "AttachRolePolicy", BAD_IP, MALLORY, roleName="aws-support-diagnostics",
                   policyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
               _ct("p3", "AttachRolePolicy", BAD_IP, MALLORY, roleName="aws-support-diagnostics",
                   policyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")]
    assessment, actions = _run(records, _reputation(BAD_IP, 3))
    assert "iam_admin_escalation (+3: AttachRolePolicy" in assessment.summary
    detach = [args for action, args in _pairs(actions) if action == "iam_detach_role_policy"]
    assert detach == [{"role_name": "aws-support-diagnostics",
                       "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"}]
    # a benign verdict proposes nothing, whatever was attached (the CI case is covered by the ART module's tests)
    assessment, actions = _run([_ct("b1", "AttachRolePolicy", CORP_IP, ALICE, roleName="app",
                                    policyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")], _reputation(CORP_IP, 1))
    assert not actions and assessment.verdict != "true_positive"


def test_same_action_from_two_findings_is_proposed_once() -> None:
    records = [_ct("d1", "ConsoleLogin", BAD_IP, {"type": "IAMUser", "userName": "svc-x"},
                   response={"ConsoleLogin": "Success"}),
               _ct("d2", "CreateLoginProfile", BAD_IP, MALLORY, userName="svc-x")]
    _, actions = score_evidence([{"tool": "a", "output": records[:1], "evidence_id": "E1"},
                                 {"tool": "b", "output": records[1:], "evidence_id": "E2"}, _reputation(BAD_IP, 3)],
                                {"text": ""})
    deletes = [a for a in actions if a.action == "iam_delete_login_profile"]
    assert len(deletes) == 1 and deletes[0].evidence_refs == ["E1", "E2"]
    assert "console login from bad ip" in deletes[0].reasoning and "console password" in deletes[0].reasoning


# ---- API gateway: WAF block and the scheduled-export baseline ----------------------------------------------------


def _api(i: int, when: datetime, ip: str, path: str, *, key: str = "AKIAPARTNEREXPORT001", status: int = 200,
         size: int = 70_000) -> dict[str, Any]:
    return {"requestId": f"r-{when:%Y%m%d%H%M%S}-{i}", "time": when.isoformat().replace("+00:00", "Z"), "keyId": key,
            "principal": "arn:aws:iam::123456789012:user/svc-partner-export", "sourceIp": ip, "httpMethod": "GET",
            "path": path, "status": status, "responseBytes": size}


def _nightly(ip: str = "198.51.100.88", nights: int = 4, per_night: int = 100, last_night: int = 120,
             last_ip: str | None = None, last_path: str = "/v2/exports/exp_{night}a1b2c3/parts/{i}",
             start: datetime = datetime(2026, 8, 17, 1, 5, tzinfo=UTC)) -> list[dict[str, Any]]:
    """A partner's nightly export at 01:xx UTC from one IP plus a daytime trickle; the last night is the alert."""
    records = []
    for night in range(nights):
        last = night == nights - 1
        base = start + timedelta(days=night)
        for i in range(last_night if last else per_night):
            path = (last_path if last else "/v2/exports/exp_{night}a1b2c3/parts/{i}").format(night=night, i=i)
            records.append(_api(i, base + timedelta(seconds=20 * i), (last_ip or ip) if last else ip, path))
        if not last:
            for hour in range(12, 22):  # daytime calls: a few an hour
                records += [_api(1000 + hour * 10 + j, base.replace(hour=hour) + timedelta(minutes=j), ip,
                                 "/v2/exports") for j in range(3)]
    return records


def test_waf_block_ip_for_bad_ips_in_api_gateway_records() -> None:
    records = [_api(i, datetime(2026, 8, 21, 9, 0, i, tzinfo=UTC), BAD_IP, "/v1/users") for i in range(3)] + [
        _api(9, datetime(2026, 8, 21, 9, 1, tzinfo=UTC), "2001:db8::66", "/v1/users")]
    assessment, actions = _run(records, _reputation(BAD_IP, 3), _reputation("2001:db8::66", 3, "E8"),
                               tool="splunk_search")
    assert assessment.verdict == "true_positive"
    pairs = _pairs(actions)
    assert ("waf_block_ip", {"ip": f"{BAD_IP}/32"}) in pairs and ("waf_block_ip", {"ip": "2001:db8::66/128"}) in pairs
    assert ("block_ip", {"ip": BAD_IP}) in pairs
    assert ("iam_deactivate_access_key", {"user_name": "svc-partner-export",
                                          "access_key_id": "AKIAPARTNEREXPORT001"}) in pairs
    # a malicious IP seen only in CloudTrail is not a gateway client: no WAF rule
    ct = [_ct("w1", "CreateAccessKey", BAD_IP, MALLORY, userName="mallory")]
    _, actions = _run(ct, _reputation(BAD_IP, 3))
    assert "waf_block_ip" not in [a for a, _ in _pairs(actions)]


def test_api_key_baseline_explains_a_nightly_export() -> None:
    good = _reputation("198.51.100.88", 1)
    assessment, actions = _run(_nightly(), good, tool="splunk_search")
    signals = assessment.summary
    assert "api_volume_anomaly (+1.5" in signals and "api_key_baseline (-2.5: AKIAPARTNEREXPORT001: 120 requests " \
                                                    "at 01:00 UTC from 198.51.100.88, as on 3 earlier days)" in signals
    assert assessment.verdict == "false_positive" and not actions


@pytest.mark.parametrize("variant", ["first_night", "other_ip", "new_paths", "much_bigger", "denied_burst"])
def test_api_key_baseline_must_not_fire(variant: str) -> None:
    if variant == "first_night":  # nothing earlier to compare with
        records = _nightly(nights=1, last_night=150)
    elif variant == "other_ip":  # the same hour, a different source
        records = _nightly(last_ip="192.0.2.44")
    elif variant == "new_paths":  # the same key and hour walking paths it never used
        records = _nightly(last_path="/v2/admin/users/{i}/credentials/dump{night}")
    elif variant == "much_bigger":  # five times the usual night
        records = _nightly(last_night=600)
    else:  # the usual night plus a 401/403 burst
        records = _nightly() + [_api(5000 + i, datetime(2026, 8, 20, 1, 30, i, tzinfo=UTC), "198.51.100.88",
                                     "/v2/exports", status=403) for i in range(40)]
    assessment, _ = _run(records, _reputation("198.51.100.88", 1), tool="splunk_search")
    assert "api_key_baseline" not in assessment.summary
    assert assessment.verdict != "false_positive"


def test_api_key_baseline_abuse_bad_ip_with_a_nightly_pattern_stays_malicious() -> None:
    """An attacker who has exported every night from a bad-reputation IP has a 'schedule' too: the IP's reputation
    keeps it malicious, with the key deactivated and the IP blocked at the WAF."""
    assessment, actions = _run(_nightly(ip=BAD_IP), _reputation(BAD_IP, 3), tool="splunk_search")
    assert "api_key_baseline" not in assessment.summary
    assert assessment.verdict == "true_positive"
    pairs = _pairs(actions)
    assert ("waf_block_ip", {"ip": f"{BAD_IP}/32"}) in pairs
    assert ("iam_deactivate_access_key", {"user_name": "svc-partner-export",
                                          "access_key_id": "AKIAPARTNEREXPORT001"}) in pairs
    # the schedule on a good IP, a second key of the evidence with an unexplained burst: no benign credit at all
    other = [_api(7000 + i, datetime(2026, 8, 20, 3, 0, i % 60, tzinfo=UTC), "192.0.2.44", "/v1/items",
                  key="AKIAOTHERKEYEXAMPLE1") for i in range(150)]
    assessment, _ = _run(_nightly() + other, _reputation("198.51.100.88", 1), tool="splunk_search")
    assert "api_key_baseline" not in assessment.summary


def test_api_record_time_formats() -> None:
    expected = datetime(2026, 8, 20, 1, 21, 52, tzinfo=UTC)
    for rec in ({"time": "2026-08-20T01:21:52Z"}, {"requestTime": "20/Aug/2026:01:21:52 +0000"},
                {"requestTimeEpoch": 1787188912000}, {"_time": "2026-08-20T03:21:52+02:00"}):
        assert _api_record_time(rec) == expected, rec
    assert _api_record_time({"time": "yesterday"}) is None and _api_record_time({}) is None
    assert _api_path_shape("/v2/exports/exp_77810f1f33fe/parts/21?x=1") == "/v2/exports/:id/parts/:id"
    assert _api_host_cidr("not an ip") == ""


# ---- Okta: known device, enrolled factor ------------------------------------------------------------------------


FINGERPRINT = "5be0d7c2a91f4e6c8d3b2a1f0e9d8c7b"


def _okta_flow(day: datetime, ip: str, country: str, *, new_geo: bool, new_device: bool = False,
               velocity: bool = False, fingerprint: str = FINGERPRINT, factor: str = "opfEnrolledPush0001",
               tag: str = "") -> list[dict[str, Any]]:
    """One Okta sign-in: the policy evaluation with Okta's behaviors, the MFA success, the session start."""
    def flag(value: bool) -> str:
        return "POSITIVE" if value else "NEGATIVE"

    def event(offset: int, etype: str, result: str, **extra: Any) -> dict[str, Any]:
        return {"uuid": f"{tag}{day:%m%d%H}-{offset}", "published": (day + timedelta(seconds=offset)).isoformat()
                .replace("+00:00", "Z"), "eventType": etype, "outcome": {"result": result},
                "actor": {"id": "00uTraveller01", "alternateId": "l.moreau@example.com"},
                "client": {"ipAddress": ip, "geographicalContext": {"country": country}}, **extra}
    behaviors = (f"{{New Geo-Location={flag(new_geo)}, New Device={flag(new_device)}, New IP={flag(new_geo)}, "
                 f"New Country={flag(new_geo)}, Velocity={flag(velocity)}}}")
    return [
        event(0, "policy.evaluate_sign_on", "CHALLENGE",
              debugContext={"debugData": {"behaviors": behaviors, "deviceFingerprint": fingerprint}}),
        event(9, "user.authentication.auth_via_mfa", "SUCCESS",
              debugContext={"debugData": {"factor": "OKTA_VERIFY_PUSH", "deviceFingerprint": fingerprint}},
              target=[{"id": factor, "type": "AuthenticatorEnrollment", "displayName": "Okta Verify"}]),
        event(10, "user.session.start", "SUCCESS", debugContext={"debugData": {"deviceFingerprint": fingerprint}}),
    ]


HOME = [*_okta_flow(datetime(2026, 8, 13, 14, 2, tzinfo=UTC), CORP_IP, "United States", new_geo=False),
        *_okta_flow(datetime(2026, 8, 15, 21, 40, tzinfo=UTC), "198.51.100.14", "United States", new_geo=False)]
TRIP = datetime(2026, 8, 17, 17, 55, tzinfo=UTC)
TRIP_IP = "198.51.100.131"


def _okta_run(events: list[dict[str, Any]], *extra: dict[str, Any]) -> tuple[ThreatAssessment, list[ProposedAction]]:
    reputation = [_reputation(ip, 1, f"E{5 + n}") for n, ip in enumerate((CORP_IP, "198.51.100.14", TRIP_IP))]
    return score_evidence([{"tool": "okta_get_logs", "output": events, "evidence_id": "E1"}, *reputation, *extra],
                          {"text": ""})


def test_okta_known_device_explains_a_trip() -> None:
    assessment, actions = _okta_run([*HOME, *_okta_flow(TRIP, TRIP_IP, "Portugal", new_geo=True)])
    assert "okta_new_country (+1" in assessment.summary
    assert ("okta_known_device (-1.5: l.moreau@example.com: new location from 198.51.100.131 on the enrolled "
            "factor and the device seen before") in assessment.summary
    assert assessment.verdict == "false_positive" and not actions


@pytest.mark.parametrize("variant", ["new_device", "velocity", "other_fingerprint", "new_factor", "factor_enrolled",
                                     "no_history", "proxy"])
def test_okta_known_device_must_not_fire(variant: str) -> None:
    kwargs: dict[str, Any] = {"new_device": variant == "new_device", "velocity": variant == "velocity"}
    if variant == "other_fingerprint":
        kwargs["fingerprint"] = "3e1f0a9b000000000000000000000000"
    if variant == "new_factor":
        kwargs["factor"] = "opfAttackerPhone0001"
    trip = _okta_flow(TRIP, TRIP_IP, "Portugal", new_geo=True, **kwargs)
    if variant == "factor_enrolled":  # a factor activated during the trip: how a takeover makes itself at home
        trip.append({**trip[-1], "uuid": "activate-1", "eventType": "user.mfa.factor.activate"})
    if variant == "proxy":
        trip = [{**e, "securityContext": {"isProxy": True}} for e in trip]
    events = trip if variant == "no_history" else [*HOME, *trip]
    assessment, _ = _okta_run(events)
    assert "okta_known_device" not in assessment.summary


def test_okta_known_device_abuse_bad_ip_stays_malicious() -> None:
    """Known device and enrolled factor, but the sign-in came from a malicious IP (a stolen session replayed
    through the victim's own browser profile, a compromised laptop): the account is still taken over."""
    trip = _okta_flow(TRIP, BAD_IP, "Portugal", new_geo=True)
    assessment, actions = _okta_run([*HOME, *trip], _reputation(BAD_IP, 3, "E4"))
    assert "okta_known_device" not in assessment.summary
    assert assessment.verdict == "true_positive"
    pairs = _pairs(actions)
    assert ("okta_suspend_user", {"username": "l.moreau@example.com"}) in pairs
    assert ("okta_clear_user_sessions", {"user_id": "00uTraveller01"}) in pairs


def test_okta_behaviors_parse_strings_and_mappings() -> None:
    text = {"debugContext": {"debugData": {"behaviors": "{New Geo-Location=POSITIVE, New Device=NEGATIVE}"}}}
    mapping = {"debugContext": {"debugData": {"behaviors": {"New Device": "negative", "Velocity": "POSITIVE"}}}}
    assert _okta_behaviors(text) == {"new geo-location": "POSITIVE", "new device": "NEGATIVE"}
    assert _okta_behaviors(mapping) == {"new device": "NEGATIVE", "velocity": "POSITIVE"}
    assert _okta_behaviors({}) == {}


def test_new_weights_and_actions_are_documented() -> None:
    engine = (ROOT / "docs" / "engine.md").read_text()
    for feature in ("api_key_baseline", "okta_known_device"):
        assert f"| {feature} | {WEIGHTS[feature]:+.1f} |" in engine, feature
    for actions in FINDING_ACTIONS.values():
        for action, mapping in actions:
            assert action in SCHEMAS and set(mapping) == set(SCHEMAS[action]["required"]), action
            assert f"`{action}`" in engine, action
