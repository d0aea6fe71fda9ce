"""AI Reasoning engine - the deterministic reasoner's evidence scoring (rules over tool outputs, no model).

``score_evidence`` recognises vendor records inside tool outputs (CloudTrail, Okta System Log, API gateway
access logs, DBotScore/AbuseIPDB, Exabeam, SIEM notables), turns them into named features with the documented
weights in WEIGHTS, applies the benign-evidence guard (attacker-controllable text needs corroboration; hard
malicious evidence caps what benign context can subtract) and maps findings to response actions with
FINDING_ACTIONS. The ART module star-imports this one; the deterministic ModelClient lives there.

Platform-neutral: nothing here imports demistomock or CommonServerPython.
"""

from AIReasoningProvidersApiModule import *  # noqa: F403

# isort: split

import ipaddress  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Iterable, Iterator  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _scoring_number(value: Any) -> float | None:
    """A finite number from a vendor field: ints, floats and numeric strings (API Gateway's JSON access log writes
    ``"status": "403"``, ``"responseLength": "-"``); booleans, NaN, infinity and anything else give None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and value == value and value not in (float("inf"), float("-inf")):
        return float(value)
    return None


def _scoring_ref_order(ref: str) -> int:
    """Sort key of an evidence id (E1 < E2 < E10); anything else sorts first."""
    return int(ref[1:]) if ref[1:].isdecimal() and ref[1:].isascii() else 0


def one_line(text: str, limit: int) -> str:
    """Whitespace collapsed and cut to ``limit`` characters (trace lines, table cells, error texts)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Deterministic reasoner: features, weight table, findings -> actions
# --------------------------------------------------------------------------------------------

WEIGHTS: dict[str, float] = {
    "ip_malicious": 3.0,
    "ip_suspicious": 1.0,
    "hosting_or_proxy_ip": 0.5,
    "sensitive_call_from_bad_ip": 2.0,
    "iam_persistence": 1.5,
    "iam_admin_escalation": 3.0,
    "iam_policy_change": 1.0,
    "logging_disabled": 3.0,
    "access_denied_burst": 1.5,
    "okta_bruteforce_then_success": 2.5,
    "okta_new_country": 1.0,
    "okta_mfa_reset": 1.5,
    "okta_session_bad_ip": 2.0,
    "api_key_from_bad_ip": 2.0,
    "api_volume_anomaly": 1.5,
    "api_sensitive_paths": 1.0,
    "ueba_high_risk": 1.5,
    "ueba_medium_risk": 0.5,
    "known_good_ips": -1.5,
    "mfa_present": -1.0,
    "change_ticket": -1.5,
    "routine_rotation": -1.5,
    "ueba_low_risk": -0.5,
    "no_sensitive_activity": -1.0,
    "aws_service_principal": -2.0,
    "automation_identity": -1.0,
    "iac_user_agent": -0.5,
    "principal_baseline": -1.0,
    "denied_only_workload": -2.0,
    "ueba_at_baseline": -0.5,
    "prior_alerts_closed_fp": -1.0,
    "api_key_baseline": -2.5,
    "okta_known_device": -1.5,
}
"""Weights of the deterministic reasoner (positive = malicious, negative = benign); each counts once.

| feature | weight | fires when (fields of the real commands' outputs) |
|---|---|---|
| ip_malicious | +3.0 | DBotScore.Score 3 for an IP, IP.Malicious, or AbuseIPDB AbuseConfidenceScore >= 75 |
| ip_suspicious | +1.0 | DBotScore.Score 2 or AbuseConfidenceScore 25-74 (and no malicious IP) |
| hosting_or_proxy_ip | +0.5 | AbuseIPDB UsageType data center/hosting/VPN, or Okta securityContext.isProxy |
| sensitive_call_from_bad_ip | +2.0 | persistence/escalation/evasion CloudTrail event from a malicious IP |
| iam_persistence | +1.5 | CreateAccessKey, CreateLoginProfile, UpdateLoginProfile, CreateUser (not a rotation) |
| iam_admin_escalation | +3.0 | Attach*Policy with AdministratorAccess/IAMFullAccess, inline "*" policy, or |
| | | AddUserToGroup into an admin-like group (name, or an admin policy attached to it in the evidence) |
| iam_policy_change | +1.0 | PutUserPolicy, PutRolePolicy, CreatePolicyVersion, AddUserToGroup, ... (non-admin) |
| logging_disabled | +3.0 | DeleteTrail, StopLogging, UpdateTrail, PutEventSelectors, DeleteFlowLogs, DeleteDetector |
| access_denied_burst | +1.5 | >= 5 CloudTrail events with errorCode AccessDenied / UnauthorizedOperation |
| okta_bruteforce_then_success | +2.5 | >= 3 failed Okta sign-ins then a success for the same user (Okta.Logs.Events) |
| okta_new_country | +1.0 | a user's successful Okta sign-ins come from more than one country |
| okta_mfa_reset | +1.5 | user.mfa.factor.deactivate / reset_all, or DeactivateMFADevice in CloudTrail |
| okta_session_bad_ip | +2.0 | a successful Okta event from a malicious IP |
| api_key_from_bad_ip | +2.0 | API gateway records (Splunk.Result) or CloudTrail calls with a key from a malicious IP |
| api_volume_anomaly | +1.5 | >= 100 requests, >= 20 HTTP 401/403, or >= 50 MB returned for one key |
| api_sensitive_paths | +1.0 | API paths under admin, export, dump, keys, secrets, credentials, users, billing |
| ueba_high_risk | +1.5 | Exabeam.User RiskScore >= 90 (the integration's notable threshold) |
| ueba_medium_risk | +0.5 | RiskScore 50-89 |
| known_good_ips | -1.5 | every IP seen has DBotScore 1 or is private, and none is bad |
| mfa_present | -1.0 | mfaAuthenticated=true / MFAUsed=Yes, or an Okta MFA success, and no MFA reset |
| change_ticket | -1.5 | CHG/RFC/CR number, or a JIRA-style key next to ticket/change/jira (SPOOFABLE) |
| routine_rotation | -1.5 | CreateAccessKey plus Delete/UpdateAccessKey by the same user, no malicious IP |
| ueba_low_risk | -0.5 | RiskScore < 20 |
| no_sensitive_activity | -1.0 | logs were searched and show no sensitive event, failure burst or bad IP |
| aws_service_principal | -2.0 | CloudTrail caller is an AWS service; no human root use, no other sensitive change |
| automation_identity | -1.0 | assumed-role session federated by a CI/CD OIDC provider (recorded by STS) |
| iac_user_agent | -0.5 | Terraform, Pulumi, CloudFormation, CDK, Crossplane, Ansible user agent (SPOOFABLE) |
| principal_baseline | -1.0 | same principal and event names >= 20 h earlier, same IP; no novel sensitive call |
| denied_only_workload | -2.0 | AccessDenied only from assumed-role sessions on private IPs or VPC endpoints, no bad |
| | | IP, no successful persistence, escalation or evasion call by those roles (misconfiguration) |
| ueba_at_baseline | -0.5 | RiskScore 20-49, within 10 points of the user's own AverageRiskScore |
| prior_alerts_closed_fp | -1.0 | >= 2 earlier notables or incidents of the same rule closed FP, none closed TP |
| api_key_baseline | -2.5 | every key with api_volume_anomaly has its peak hour (>= 3x its hourly average) matched |
| | | on >= 2 earlier days at the same time of day from the same source IPs, similar count, bytes, |
| | | paths and 401/403 share, no bad IP (cancels api_volume_anomaly, then counts as principal_baseline) |
| okta_known_device | -1.5 | every new-location Okta sign-in of a user: Okta behaviors New Device=NEGATIVE and |
| | | Velocity not POSITIVE, MFA success with a factor enrollment the user used >= 20 h earlier, |
| | | device fingerprint seen on the user's earlier sign-ins; no factor change, bad or proxy IP |

Where the benign signals come from (fields a tenant's tools return, never the scenario's answer):

- aws_service_principal: ``userIdentity.invokedBy``, ``userIdentity.type`` AWSService, ``eventType``
  AwsServiceEvent, or ``sourceIPAddress`` a service host (elasticloadbalancing.amazonaws.com). CloudTrail writes
  these, the caller cannot; ELB and Auto Scaling act as the account's root with invokedBy set (the CIS root-usage
  filter excludes them). A Root record without invokedBy (a person using root) or another identity's successful
  sensitive change in the same evidence stops it.
- automation_identity: ``sessionContext.webIdFederationData.federatedProvider`` or a WebIdentityUser's
  ``identityProvider`` naming GitHub Actions, GitLab, CircleCI, Bitbucket, Terraform Cloud, Azure DevOps or
  Buildkite. STS records the provider; only workflows the role's trust policy admits can mint the token.
- principal_baseline: history inside the evidence (CloudTrail look-ups return days of events): the same
  principal (the role behind a session, the user, root) made the same calls before, from the same address.
- denied_only_workload: CloudTrail ``errorCode`` AccessDenied, ``userIdentity.type`` AssumedRole,
  ``vpcEndpointId`` or a private ``sourceIPAddress``: a role that is refused and never succeeds at a privilege
  change is misconfigured, not escalating. It offsets access_denied_burst, it does not hide successes.
- ueba_at_baseline: Exabeam's own per-user ``AverageRiskScore``; prior_alerts_closed_fp: Splunk ES notables'
  ``disposition`` / ``status_label`` or XSOAR ``closeReason`` set by analysts.
- api_key_baseline: history inside the API gateway records (``time``/``requestTime``, ``sourceIp``, ``path``,
  ``status``, ``responseBytes``): a key's burst that repeats at the same hour from the same address on earlier
  days is its schedule (a partner's nightly export), not news. The gateway writes the source address; a bad-
  reputation address never qualifies, and the hard-malice cap still applies.
- okta_known_device: Okta's own risk engine (``debugContext.debugData.behaviors`` New Device / Velocity), the
  ``AuthenticatorEnrollment`` target of ``user.authentication.auth_via_mfa`` and ``deviceFingerprint``: a
  traveller approving a push on the factor enrolled long before, from the laptop seen before. A new factor
  (``user.mfa.factor.*``), a bad or proxy IP or a new device stop it.

Benign-evidence guard (``_guarded_weights``), because benign context is the cheapest thing for an attacker to fake:

- SPOOFABLE features (change_ticket, iac_user_agent) come from text the actor controls (user agent, request
  parameters, tags, alert descriptions). They count only when corroborated by a feature the actor cannot
  write: automation_identity, aws_service_principal, principal_baseline, prior_alerts_closed_fp or
  routine_rotation. Uncorroborated they are listed as "not counted" with weight 0, so a typed "CHG0001234"
  plus a Terraform user agent never turns an alert into a false positive on their own.
- When any HARD malicious feature fired (ip_malicious, sensitive_call_from_bad_ip, api_key_from_bad_ip,
  okta_session_bad_ip, okta_bruteforce_then_success, logging_disabled, iam_admin_escalation by an identity
  that is not a corroborated CI/CD automation identity, okta_mfa_reset together with a bad IP or a new
  country), all benign features together subtract at most BENIGN_CAP_WITH_HARD_MALICE (1.0), scaled
  proportionally; a known-good IP or a change ticket cannot cancel a malicious IP or an admin-policy attach.

Verdict: score >= 4 true_positive, >= 2 suspicious, <= -2 false_positive, else inconclusive. Confidence =
min(0.95, 0.35 + 0.1 * |score| + 0.05 * data sources (max 3)), 0.2 without data; below CONFIDENCE_THRESHOLD the
verdict is inconclusive (a human decides). Threat level: score >= 7 critical, >= 4 high, >= 2 medium, > 0 low,
else none (false positives: none).
"""

CONFIDENCE_THRESHOLD = 0.6

ATTACK_IDS: dict[str, list[str]] = {
    "iam_persistence": ["T1098.001"],
    "iam_admin_escalation": ["T1098.003"],
    "iam_policy_change": ["T1098"],
    "logging_disabled": ["T1562.008"],
    "access_denied_burst": ["T1580"],
    "okta_bruteforce_then_success": ["T1110", "T1078.004"],
    "okta_new_country": ["T1078.004"],
    "okta_mfa_reset": ["T1556.006"],
    "okta_session_bad_ip": ["T1078.004"],
    "api_key_from_bad_ip": ["T1078.004", "T1552.001"],
    "sensitive_call_from_bad_ip": ["T1078.004"],
    "api_volume_anomaly": ["T1530"],
    "api_sensitive_paths": ["T1530"],
}

FINDING_ACTIONS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "key_used_from_bad_ip": [("iam_deactivate_access_key", {"user_name": "user", "access_key_id": "key"})],
    "attacker_created_key": [("iam_deactivate_access_key", {"user_name": "user", "access_key_id": "key"})],
    "admin_policy_attached": [("iam_detach_user_policy", {"user_name": "user", "policy_arn": "policy_arn"})],
    "admin_policy_attached_to_role": [("iam_detach_role_policy", {"role_name": "role", "policy_arn": "policy_arn"})],
    "admin_group_membership_added": [("iam_remove_user_from_group", {"user_name": "user", "group_name": "group"})],
    "console_password_set_by_suspect": [("iam_delete_login_profile", {"user_name": "user"})],
    "console_login_from_bad_ip": [("iam_delete_login_profile", {"user_name": "user"})],
    "malicious_ip": [("block_ip", {"ip": "ip"})],
    "api_gateway_bad_ip": [("waf_block_ip", {"ip": "cidr"})],
    "okta_account_compromised": [("okta_suspend_user", {"username": "login"}),
                                 ("okta_clear_user_sessions", {"user_id": "okta_id"})],
}
"""Findings -> response actions of the deterministic reasoner (tiers come from the policy, not from here).

| finding | evidence | action (registry tool) | args from |
|---|---|---|---|
| key_used_from_bad_ip | CloudTrail/API records: key used from a malicious IP | iam_deactivate_access_key | user, key |
| attacker_created_key | CreateAccessKey from a malicious IP | iam_deactivate_access_key | user, new key |
| admin_policy_attached | AttachUserPolicy with an administrator policy | iam_detach_user_policy | user, policy ARN |
| admin_policy_attached_to_role | AttachRolePolicy with an administrator policy | iam_detach_role_policy | role, ARN |
| admin_group_membership_added | AddUserToGroup into an admin-like group by a suspect | iam_remove_user_from_group |
| | principal (see _ct_suspect_principals) | | (user, group) |
| console_password_set_by_suspect | Create/UpdateLoginProfile for another user by a suspect | iam_delete_login_profile |
| | principal | | (target user) |
| console_login_from_bad_ip | successful IAM-user ConsoleLogin from a malicious IP | iam_delete_login_profile | user |
| malicious_ip | an IP with DBotScore 3 involved in the activity | block_ip | ip |
| api_gateway_bad_ip | a malicious IP in API gateway records | waf_block_ip | ip/32 (/128) |
| okta_account_compromised | brute force + success, bad-IP session, MFA reset + country | okta_suspend_user | login |
| okta_account_compromised | (same) | okta_clear_user_sessions | Okta user id |

Actions are proposed only for true_positive and suspicious verdicts; the same action with the same arguments
from two findings is proposed once with both findings' evidence.
"""

PERSISTENCE_EVENTS = frozenset({"CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile", "CreateUser"})
ESCALATION_EVENTS = frozenset({"AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy", "PutUserPolicy",
                               "PutRolePolicy", "PutGroupPolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion",
                               "UpdateAssumeRolePolicy", "AddUserToGroup"})
EVASION_EVENTS = frozenset({"DeleteTrail", "StopLogging", "UpdateTrail", "PutEventSelectors", "DeleteFlowLogs",
                            "DeleteDetector", "DisableSecurityHub"})
MFA_RESET_EVENTS = frozenset({"user.mfa.factor.deactivate", "user.mfa.factor.reset_all", "DeactivateMFADevice",
                              "DeleteVirtualMFADevice"})
ADMIN_POLICY_RE = re.compile(r"AdministratorAccess|IAMFullAccess|:policy/.*admin", re.IGNORECASE)
# IAM group names that say "administrators" (Administrators, ops-admins, SysAdmins, PowerUsers, ...).
ADMIN_GROUP_RE = re.compile(r"admin|power.?users?|super.?users?|full.?access", re.IGNORECASE)
# ServiceNow-style change numbers anywhere; JIRA-style keys (OPS-2291, STD-0042) only next to a ticket word or
# key (``"ticket": "OPS-2291"``, ``{"key": "change-ticket", "value": "OPS-2291"}``, "ticket OPS-2291"), because
# on their own SHA-256 or TLS-1 look the same.
CHANGE_TICKET_RE = re.compile(
    r"\b(?:CHG|CR|RFC)[-_ ]?\d{3,}\b|\bchange (?:ticket|request)\b"
    r"|(?i:ticket|change|jira|issue)[A-Za-z_-]*[\"']?\s*(?:[:=#]|,\s*[\"']?value[\"']?\s*:)?\s*[\"']?\s*"
    r"(?-i:[A-Z][A-Z0-9]{1,9}-\d{1,7})\b", re.IGNORECASE)
# Callers CloudTrail itself names as AWS services (sourceIPAddress of a service call is the service's host name).
AWS_SERVICE_HOST_RE = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.amazonaws\.com$")
# OIDC issuers of CI/CD systems that federate into AWS roles (STS records the provider in the session context).
CI_OIDC_PROVIDER_RE = re.compile(
    r"token\.actions\.githubusercontent\.com|gitlab\.|oidc\.circleci\.com|api\.bitbucket\.org|app\.terraform\.io"
    r"|vstoken\.dev\.azure\.com|agent\.buildkite\.com", re.IGNORECASE)
IAC_AGENT_RE = re.compile(r"\bTerraform/|terraform-provider-|\bPulumi\b|pulumi-aws|\bCloudFormation\b|"
                          r"cloudformation\.amazonaws\.com|aws-cdk|\bcdk/|crossplane|\bansible\b", re.IGNORECASE)
NOTABLE_FP_RE = re.compile(r"false.?positive|benign", re.IGNORECASE)
NOTABLE_TP_RE = re.compile(r"true.?positive|malicious|compromis", re.IGNORECASE)
BASELINE_MIN_HOURS = 20
SPOOFABLE_FEATURES = frozenset({"change_ticket", "iac_user_agent"})
CORROBORATING_FEATURES = frozenset({"automation_identity", "aws_service_principal", "principal_baseline",
                                    "prior_alerts_closed_fp", "routine_rotation", "api_key_baseline"})
HARD_MALICIOUS_FEATURES = frozenset({"ip_malicious", "sensitive_call_from_bad_ip", "api_key_from_bad_ip",
                                     "okta_session_bad_ip", "okta_bruteforce_then_success", "logging_disabled"})
BENIGN_CAP_WITH_HARD_MALICE = 1.0
SENSITIVE_PATH_RE = re.compile(r"/(?:admin|export|dump|keys?|secrets?|credentials?|users|billing)\b", re.IGNORECASE)
HOSTING_RE = re.compile(r"data ?cent|hosting|transit|vpn|proxy|tor\b", re.IGNORECASE)
OKTA_SIGNIN_RE = re.compile(r"^user\.(?:session\.start|authentication\.)")
# Okta risk-engine flags in debugContext.debugData.behaviors: "{New Geo-Location=POSITIVE, New Device=NEGATIVE}".
OKTA_BEHAVIOR_RE = re.compile(r"([A-Za-z][A-Za-z -]*?)\s*=\s*(POSITIVE|NEGATIVE|UNKNOWN|BAD_REQUEST)", re.IGNORECASE)
OKTA_FACTOR_CHANGE_RE = re.compile(r"^(?:user|system)\.mfa\.factor\.")
API_BASELINE_MIN_DAYS = 2


class _Facts:
    """Normalised facts from all observations (deduplicated by vendor event ids)."""

    def __init__(self) -> None:
        self.ip_score: dict[str, int] = {}
        self.ip_usage: dict[str, str] = {}
        self.ip_refs: dict[str, set[str]] = defaultdict(set)
        self.ct: dict[str, dict[str, Any]] = {}
        self.okta: dict[str, dict[str, Any]] = {}
        self.api: dict[str, dict[str, Any]] = {}
        self.ueba: dict[str, tuple[float, str]] = {}
        self.okta_ids: dict[str, str] = {}
        self.texts: list[tuple[str, str]] = []
        self.sources: set[str] = set()
        self.proxy_ips: set[str] = set()
        self.ueba_avg: dict[str, float] = {}
        self.notables: list[dict[str, Any]] = []


def dig(record: dict[str, Any], *path: str) -> Any:
    """Nested lookup that also reads Splunk's flattened keys (``userIdentity.userName``)."""
    value: Any = record
    for position, key in enumerate(path):
        if not isinstance(value, dict):
            return None
        if key not in value:
            return value.get(".".join(path[position:]))
        value = value[key]
    return value


def walk_records(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every dict inside a tool output, JSON strings nested by vendors (CloudTrailEvent, _raw) included."""
    if depth > 12:
        return
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from walk_records(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from walk_records(item, depth + 1)
    elif isinstance(value, str) and value.strip().startswith("{") and len(value) < 200_000:
        try:
            yield from walk_records(json.loads(value), depth + 1)
        except ValueError:
            return


def _ct_record(record: dict[str, Any]) -> dict[str, Any] | None:
    raw = record.get("CloudTrailEvent")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if isinstance(raw, dict) and raw.get("eventName"):
        return raw
    if record.get("eventName") and (record.get("eventSource") or record.get("userIdentity")):
        return record
    if record.get("EventName") and record.get("EventId"):
        return {"eventName": record["EventName"], "eventID": record["EventId"], "eventTime": record.get("EventTime"),
                "userIdentity": {"userName": record.get("Username"), "accessKeyId": record.get("AccessKeyId")}}
    return None


def _collect_record(record: dict[str, Any], evidence_id: str, facts: _Facts) -> None:
    if isinstance(record.get("_raw"), dict):
        return  # a Splunk result: its parsed _raw record is visited next and has the nested fields
    ct = _ct_record(record)
    if ct is not None:
        key = str(ct.get("eventID") or digest(ct))
        facts.ct.setdefault(key, {**ct, "_eid": evidence_id})
        facts.sources.add("cloudtrail")
        return
    if record.get("eventType") and isinstance(record.get("outcome"), dict):
        facts.okta.setdefault(str(record.get("uuid") or digest(record)), {**record, "_eid": evidence_id})
        facts.sources.add("okta")
        return
    if record.get("httpMethod") and record.get("path"):
        facts.api.setdefault(str(record.get("requestId") or digest(record)), {**record, "_eid": evidence_id})
        facts.sources.add("api")
        return
    if (record.get("search_name") or record.get("rule_name") or record.get("closeReason")) and (
            record.get("disposition") or record.get("status_label") or record.get("closeReason")):
        facts.notables.append({**record, "_eid": evidence_id})  # a SIEM notable / incident with its closure
        facts.sources.add("siem")
        return
    _collect_reputation(record, evidence_id, facts)
    risk = _scoring_number(record.get("RiskScore")) if not isinstance(record.get("RiskScore"), str) else None
    if risk is not None:
        user = str(record.get("Username") or record.get("UserName") or "")
        facts.ueba[user] = (risk, evidence_id)
        average = _scoring_number(record.get("AverageRiskScore"))
        if average is not None:
            facts.ueba_avg[user] = average
        facts.sources.add("ueba")
    if record.get("ID") and record.get("Username") and record.get("Type", "Okta") == "Okta":
        facts.okta_ids[str(record["Username"]).lower()] = str(record["ID"])


def _collect_reputation(record: dict[str, Any], evidence_id: str, facts: _Facts) -> None:
    ip = record.get("Indicator") if str(record.get("Type", "")).lower() == "ip" else record.get("Address")
    if not isinstance(ip, str) or not _valid_ip_text(ip):
        return
    score = None
    dbot = _scoring_number(record.get("Score"))
    if dbot is not None and record.get("Indicator"):
        score = int(min(3.0, max(0.0, dbot)))
    if record.get("Malicious"):
        score = 3
    confidence = _scoring_number(record.get("AbuseConfidenceScore"))
    if confidence is not None:
        score = max(score or 0, 3 if confidence >= 75 else 2 if confidence >= 25 else 0)
    if record.get("UsageType"):
        facts.ip_usage[ip] = str(record["UsageType"])
    if score is not None:
        facts.ip_score[ip] = max(facts.ip_score.get(ip, 0), score)
        facts.ip_refs[ip].add(evidence_id)
        facts.sources.add("reputation")


def _collect(observations: list[dict[str, Any]], incident: Any) -> _Facts:
    facts = _Facts()
    for obs in observations or []:
        if not isinstance(obs, dict):
            continue  # not an observation: nothing to score, and no reason to fail the run
        eid = str(obs.get("evidence_id") or "")
        for record in walk_records(obs.get("output")):
            _collect_record(record, eid, facts)
        try:
            text = json.dumps(obs.get("output"), default=str)
        except (TypeError, ValueError):  # non-string keys, cycles: the repr still carries ticket numbers
            text = repr(obs.get("output"))
        facts.texts.append((eid, text[:200_000]))
    if isinstance(incident, dict):
        text = incident.get("text", "")
    else:
        text = f"{getattr(incident, 'name', '') or ''} {getattr(incident, 'details', '') or ''}"
    facts.texts.append(("", str(text)))
    return facts


def _is_internal(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False


class _Scoring:
    """Features found (name -> evidence ids, detail) and findings (name -> bindings) for one evidence set."""

    def __init__(self) -> None:
        self.features: dict[str, tuple[set[str], str]] = {}
        self.findings: list[tuple[str, dict[str, str], set[str]]] = []
        self.users: list[str] = []
        self.keys: list[str] = []
        self.ips: list[str] = []
        self.hard: set[str] = set()  # hard malicious evidence beyond HARD_MALICIOUS_FEATURES (see the guard)

    def fire(self, name: str, refs: Iterable[str], detail: str) -> None:
        current = self.features.setdefault(name, (set(), detail))
        current[0].update(r for r in refs if r)

    def find(self, name: str, binding: dict[str, str], refs: Iterable[str]) -> None:
        if all(binding.values()) and (name, binding) not in [(n, b) for n, b, _ in self.findings]:
            self.findings.append((name, binding, {r for r in refs if r}))

    def affected(self, users: Iterable[str] = (), keys: Iterable[str] = (), ips: Iterable[str] = ()) -> None:
        for bucket, values in ((self.users, users), (self.keys, keys), (self.ips, ips)):
            for value in values:
                if value and value not in bucket:
                    bucket.append(value)


def _ct_fields(ev: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(event name, source ip, acting user, access key, error code) of a CloudTrail record."""
    user = dig(ev, "userIdentity", "userName") or str(dig(ev, "userIdentity", "arn") or "").rsplit("/", 1)[-1]
    return (str(ev.get("eventName") or ""), str(ev.get("sourceIPAddress") or ""), str(user or ""),
            str(dig(ev, "userIdentity", "accessKeyId") or ""), str(ev.get("errorCode") or ""))


def _score_cloudtrail(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    denied = [ev for ev in facts.ct.values() if re.search(r"AccessDenied|Unauthorized", _ct_fields(ev)[4])]
    if len(denied) >= 5:
        s.fire("access_denied_burst", (ev["_eid"] for ev in denied), f"{len(denied)} AccessDenied events")
        s.affected(users=[_ct_fields(ev)[2] for ev in denied])
    names = Counter()
    admin_groups = _ct_admin_groups(facts.ct.values())
    suspects = _ct_suspect_principals(facts.ct.values(), bad)
    for ev in facts.ct.values():
        name, ip, user, key, error = _ct_fields(ev)
        if error:
            continue
        names[(name, user)] += 1
        params = {k: dig(ev, "requestParameters", k) for k in ("userName", "policyArn", "policyDocument",
                                                               "groupName", "roleName")}
        sensitive = name in PERSISTENCE_EVENTS | ESCALATION_EVENTS | EVASION_EVENTS
        suspect = _ct_principal(ev) in suspects
        if name in EVASION_EVENTS:
            s.fire("logging_disabled", [ev["_eid"]], f"{name} by {user} from {ip}")
        if name in ESCALATION_EVENTS:
            policy = str(params.get("policyArn") or params.get("policyDocument") or params.get("groupName") or "")
            admin = bool(ADMIN_POLICY_RE.search(policy)) or '"*"' in policy or (
                name == "AddUserToGroup" and str(params.get("groupName") or "").lower() in admin_groups)
            s.fire("iam_admin_escalation" if admin else "iam_policy_change", [ev["_eid"]], f"{name} {policy[:80]}")
            if admin and not _ct_ci_provider(ev):
                s.hard.add("iam_admin_escalation")
            if admin and name == "AttachUserPolicy":
                s.find("admin_policy_attached", {"user": str(params.get("userName") or user),
                                                 "policy_arn": str(params.get("policyArn") or "")}, [ev["_eid"]])
            if admin and name == "AttachRolePolicy":
                s.find("admin_policy_attached_to_role", {"role": str(params.get("roleName") or ""),
                                                         "policy_arn": str(params.get("policyArn") or "")},
                       [ev["_eid"]])
            if admin and name == "AddUserToGroup" and suspect:
                s.find("admin_group_membership_added", {"user": str(params.get("userName") or ""),
                                                        "group": str(params.get("groupName") or "")}, [ev["_eid"]])
            s.affected(users=[user, str(params.get("userName") or "")])
        if name in ("CreateLoginProfile", "UpdateLoginProfile") and suspect and \
                str(params.get("userName") or user) != user:
            s.find("console_password_set_by_suspect", {"user": str(params.get("userName"))}, [ev["_eid"]])
            s.affected(users=[str(params.get("userName"))])
        if name == "ConsoleLogin" and ip in bad and dig(ev, "userIdentity", "type") == "IAMUser" and \
                dig(ev, "responseElements", "ConsoleLogin") == "Success":
            s.find("console_login_from_bad_ip", {"user": user}, [ev["_eid"]])
        if name in MFA_RESET_EVENTS:
            s.fire("okta_mfa_reset", [ev["_eid"]], f"{name} by {user}")
        if ip in bad:
            s.fire("api_key_from_bad_ip", [ev["_eid"]], f"{name} with {key or user} from {ip}")
            s.find("key_used_from_bad_ip", {"user": user, "key": key}, [ev["_eid"]])
            s.affected(users=[user], keys=[key], ips=[ip])
            if sensitive:
                s.fire("sensitive_call_from_bad_ip", [ev["_eid"]], f"{name} from {ip}")
            new_key = dig(ev, "responseElements", "accessKey", "accessKeyId")
            if name == "CreateAccessKey" and new_key:
                target = str(params.get("userName") or dig(ev, "responseElements", "accessKey", "userName") or user)
                s.find("attacker_created_key", {"user": target, "key": str(new_key)}, [ev["_eid"]])
                s.affected(users=[target], keys=[str(new_key)])
        if dig(ev, "userIdentity", "sessionContext", "attributes", "mfaAuthenticated") == "true" or \
                dig(ev, "additionalEventData", "MFAUsed") == "Yes":
            s.fire("mfa_present", [ev["_eid"]], f"MFA on {name}")
    rotated = {user for (name, user) in names if name == "CreateAccessKey"} & {
        user for (name, user) in names if name in ("DeleteAccessKey", "UpdateAccessKey")}
    persistence = [ev for ev in facts.ct.values() if _ct_fields(ev)[0] in PERSISTENCE_EVENTS
                   and not _ct_fields(ev)[4] and not (_ct_fields(ev)[2] in rotated and _ct_fields(ev)[1] not in bad)]
    if persistence:
        s.fire("iam_persistence", (ev["_eid"] for ev in persistence),
               ", ".join(sorted({_ct_fields(ev)[0] for ev in persistence})))
    if rotated and not any(_ct_fields(ev)[1] in bad for ev in facts.ct.values()):
        s.fire("routine_rotation", (ev["_eid"] for ev in facts.ct.values() if _ct_fields(ev)[2] in rotated),
               f"key rotation by {', '.join(sorted(rotated))}")


def _ct_admin_groups(events: Iterable[dict[str, Any]]) -> set[str]:
    """IAM groups (lower case) that grant administrator rights as far as the evidence shows: the name says so, or
    an administrator policy (managed ARN or an inline "*" document) is attached to the group in these records."""
    groups = set()
    for ev in events:
        group = str(dig(ev, "requestParameters", "groupName") or "")
        if not group:
            continue
        policy = str(dig(ev, "requestParameters", "policyArn") or dig(ev, "requestParameters", "policyDocument")
                     or "")
        if ADMIN_GROUP_RE.search(group) or (
                _ct_fields(ev)[0] in ("AttachGroupPolicy", "PutGroupPolicy") and not _ct_fields(ev)[4]
                and (ADMIN_POLICY_RE.search(policy) or '"*"' in policy)):
            groups.add(group.lower())
    return groups


def _ct_suspect_principals(events: Iterable[dict[str, Any]], bad: set[str]) -> set[str]:
    """Principals whose own records in the evidence look hostile, so that what they granted is to be undone:
    any call from a malicious IP, any attempt to stop or delete logging (even refused), an attempt to give an
    administrator policy that was refused, or a successful administrator grant by a non-CI identity. AWS service
    callers are never suspects. Nothing here is text the actor writes freely except request parameters, which
    only make the actor look worse."""
    suspects = set()
    for ev in events:
        name, ip, _, _, error = _ct_fields(ev)
        if _ct_service_caller(ev):
            continue
        policy = str(dig(ev, "requestParameters", "policyArn") or dig(ev, "requestParameters", "policyDocument")
                     or "")
        admin_grant = name in ESCALATION_EVENTS and (bool(ADMIN_POLICY_RE.search(policy)) or '"*"' in policy)
        if ip in bad or name in EVASION_EVENTS or (admin_grant and (error or not _ct_ci_provider(ev))):
            suspects.add(_ct_principal(ev))
    return suspects


def _ct_principal(ev: dict[str, Any]) -> str:
    """The stable identity behind a CloudTrail record: the role for assumed-role sessions, else user / root."""
    kind = str(dig(ev, "userIdentity", "type") or "")
    if kind == "Root":
        return "root"
    issuer = dig(ev, "userIdentity", "sessionContext", "sessionIssuer", "arn")
    if issuer:
        return str(issuer)
    arn = str(dig(ev, "userIdentity", "arn") or "")
    if ":assumed-role/" in arn:
        return arn.rsplit("/", 1)[0]
    return _ct_fields(ev)[2] or arn


def _ct_service_caller(ev: dict[str, Any]) -> str:
    """The AWS service CloudTrail names as the caller (invokedBy, AWSService, service host as source), or ''."""
    invoked = dig(ev, "userIdentity", "invokedBy")
    if invoked:
        return str(invoked)
    if dig(ev, "userIdentity", "type") == "AWSService" or ev.get("eventType") == "AwsServiceEvent":
        return str(dig(ev, "userIdentity", "invokedBy") or ev.get("sourceIPAddress") or "AWS service")
    source = str(ev.get("sourceIPAddress") or "")
    return source if AWS_SERVICE_HOST_RE.match(source) else ""


def _ct_ci_provider(ev: dict[str, Any]) -> str:
    """The CI/CD OIDC provider STS federated this session through (session context or WebIdentityUser), or ''."""
    provider = str(dig(ev, "userIdentity", "sessionContext", "webIdFederationData", "federatedProvider") or "")
    if not provider and dig(ev, "userIdentity", "type") == "WebIdentityUser":
        provider = str(dig(ev, "userIdentity", "identityProvider") or "")
    return provider if CI_OIDC_PROVIDER_RE.search(provider) else ""


def _ct_time(ev: dict[str, Any]) -> datetime | None:
    """eventTime as aware UTC. The AWS integration's EventTime has no zone (``2024-05-14T02:13:07``) while raw
    records end in Z: both appear in one evidence set, so a naive time is read as UTC (as AWS does)."""
    try:
        when = datetime.fromisoformat(str(ev.get("eventTime") or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _score_cloudtrail_context(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    """Benign context CloudTrail itself records: service callers, CI federation, history, denied-only workloads."""
    events = list(facts.ct.values())
    if not events:
        return
    services = [ev for ev in events if _ct_service_caller(ev)]
    human_root = [ev for ev in events if dig(ev, "userIdentity", "type") == "Root"
                  and not dig(ev, "userIdentity", "invokedBy")]
    others_changed = [ev for ev in events if not _ct_service_caller(ev) and not _ct_fields(ev)[4]
                      and _ct_fields(ev)[0] in PERSISTENCE_EVENTS | ESCALATION_EVENTS | EVASION_EVENTS]
    if services and not human_root and not others_changed:
        s.fire("aws_service_principal", (ev["_eid"] for ev in services),
               f"caller is {', '.join(sorted({_ct_service_caller(ev) for ev in services}))}")
    federated = [ev for ev in events if _ct_ci_provider(ev)]
    if federated:
        roles = sorted({_ct_principal(ev).rsplit("/", 1)[-1] for ev in federated})
        providers = sorted({_ct_ci_provider(ev).rsplit("/", 1)[-1] for ev in federated})
        s.fire("automation_identity", (ev["_eid"] for ev in federated),
               f"{', '.join(roles)} via OIDC {', '.join(providers)}")
    iac = [ev for ev in events if IAC_AGENT_RE.search(str(ev.get("userAgent") or ""))]
    if iac:
        agent = IAC_AGENT_RE.search(str(iac[0].get("userAgent"))).group(0)  # type: ignore[union-attr]
        s.fire("iac_user_agent", (ev["_eid"] for ev in iac), f"{agent.strip('/')} user agent")
    _score_baseline(events, bad, s)
    denied = [ev for ev in events if re.search(r"AccessDenied|Unauthorized", _ct_fields(ev)[4])]
    workload = all(dig(ev, "userIdentity", "type") == "AssumedRole" and (
        _is_internal(_ct_fields(ev)[1]) or ev.get("vpcEndpointId")) for ev in denied)
    principals = {_ct_principal(ev) for ev in denied}
    changed = [ev for ev in events if _ct_principal(ev) in principals and not _ct_fields(ev)[4]
               and _ct_fields(ev)[0] in PERSISTENCE_EVENTS | ESCALATION_EVENTS | EVASION_EVENTS]
    if denied and workload and not changed and not bad:
        s.fire("denied_only_workload", (ev["_eid"] for ev in denied),
               f"{len(denied)} denied calls from workload role(s) {', '.join(sorted(principals))[:120]}, "
               "private source, no successful privilege change")


def _score_baseline(events: list[dict[str, Any]], bad: set[str], s: _Scoring) -> None:
    """Same principal, same event name, >= BASELINE_MIN_HOURS earlier from the same IPs: a routine, not news."""
    seen: dict[tuple[str, str], list[tuple[datetime, str, str]]] = defaultdict(list)
    for ev in events:
        name, ip, _, _, error = _ct_fields(ev)
        when = _ct_time(ev)
        if when is not None and not error:
            seen[(_ct_principal(ev), name)].append((when, ip, ev["_eid"]))
    routine, refs = set(), set()
    for pair, hits in seen.items():
        hits.sort()
        latest = hits[-1]
        earlier = [h for h in hits if (latest[0] - h[0]).total_seconds() >= BASELINE_MIN_HOURS * 3600]
        if earlier and latest[1] in {h[1] for h in earlier} and latest[1] not in bad:
            routine.add(pair)
            refs.update(h[2] for h in hits)
    novel = [ev for ev in events if not _ct_fields(ev)[4] and (_ct_principal(ev), _ct_fields(ev)[0]) not in routine
             and _ct_fields(ev)[0] in PERSISTENCE_EVENTS | ESCALATION_EVENTS | EVASION_EVENTS]
    if routine and not novel:
        names = sorted({name for _, name in routine})
        s.fire("principal_baseline", refs, f"same calls earlier by the same principal: {', '.join(names)[:160]}")


def _score_okta(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ev in sorted(facts.okta.values(), key=lambda e: str(e.get("published") or "")):
        by_user[str(dig(ev, "actor", "alternateId") or "")].append(ev)
        ip = str(dig(ev, "client", "ipAddress") or "")
        if dig(ev, "securityContext", "isProxy"):
            facts.proxy_ips.add(ip)
        if str(ev.get("eventType")) in MFA_RESET_EVENTS:
            s.fire("okta_mfa_reset", [ev["_eid"]], f"{ev.get('eventType')} for {dig(ev, 'actor', 'alternateId')}")
        if str(ev.get("eventType")).startswith("user.authentication.auth_via_mfa") and \
                dig(ev, "outcome", "result") == "SUCCESS":
            s.fire("mfa_present", [ev["_eid"]], "Okta MFA success")
    for login, events in by_user.items():
        failures, compromised, refs = 0, False, []
        countries = Counter()
        for ev in events:
            result = dig(ev, "outcome", "result")
            ip = str(dig(ev, "client", "ipAddress") or "")
            signin = bool(OKTA_SIGNIN_RE.match(str(ev.get("eventType") or "")))
            if signin and result in ("FAILURE", "DENY"):
                failures += 1
                refs.append(ev["_eid"])
            elif result in ("SUCCESS", "ALLOW"):
                if signin and failures >= 3:
                    s.fire("okta_bruteforce_then_success", refs + [ev["_eid"]], f"{failures} failures then success "
                                                                                f"for {login}")
                    compromised = True
                if signin and dig(ev, "client", "geographicalContext", "country"):
                    countries[str(dig(ev, "client", "geographicalContext", "country"))] += 1
                if ip in bad:
                    s.fire("okta_session_bad_ip", [ev["_eid"]], f"{login} from {ip}")
                    compromised = True
                    s.affected(ips=[ip])
        if len(countries) > 1:
            s.fire("okta_new_country", (e["_eid"] for e in events), f"{login}: {', '.join(countries)}")
        mfa_reset = any(str(e.get("eventType")) in MFA_RESET_EVENTS for e in events)
        if compromised or (mfa_reset and len(countries) > 1):
            actor_id = next((str(dig(e, "actor", "id")) for e in events if dig(e, "actor", "id")), "")
            okta_id = facts.okta_ids.get(login.lower(), actor_id)
            s.find("okta_account_compromised", {"login": login, "okta_id": okta_id}, (e["_eid"] for e in events))
            s.affected(users=[login])
        elif not mfa_reset:
            known = _okta_known_device_signin(events, bad | facts.proxy_ips)
            if known is not None:
                s.fire("okta_known_device", known[0], f"{login}: {known[1]}")


def _okta_behaviors(ev: dict[str, Any]) -> dict[str, str]:
    """Okta's risk-engine flags of an event (``debugContext.debugData.behaviors``, a string or a mapping)."""
    raw = dig(ev, "debugContext", "debugData", "behaviors")
    if isinstance(raw, dict):
        return {str(k).strip().lower(): str(v).strip().upper() for k, v in raw.items()}
    return {m.group(1).strip().lower(): m.group(2).upper() for m in OKTA_BEHAVIOR_RE.finditer(str(raw or ""))}


def _okta_when(ev: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(ev.get("published") or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _okta_known_device_signin(events: list[dict[str, Any]], unsafe_ips: set[str]) -> tuple[set[str], str] | None:
    """A user's sign-ins from a new location made on the user's own device with the user's own factor:
    (evidence ids, detail) or None. New location = Okta's behaviors say New Geo-Location / New Country POSITIVE,
    or a successful sign-in from a country none of the user's sign-ins >= BASELINE_MIN_HOURS earlier came from.
    Each such source IP needs: Okta's evaluation New Device=NEGATIVE and Velocity not POSITIVE, an MFA success
    whose AuthenticatorEnrollment the user already used >= BASELINE_MIN_HOURS earlier, device fingerprints all
    seen on the user's earlier successful events, and no malicious or proxy IP. Any factor change
    (user.mfa.factor.*, system.mfa.factor.*) for the user voids it: a new factor is how takeovers stick."""
    if any(OKTA_FACTOR_CHANGE_RE.match(str(e.get("eventType") or "")) for e in events):
        return None
    timed = [(when, e) for e in events if (when := _okta_when(e)) is not None]
    new_ips: dict[str, datetime] = {}
    for when, ev in timed:
        behaviors = _okta_behaviors(ev)
        ip = str(dig(ev, "client", "ipAddress") or "")
        country = dig(ev, "client", "geographicalContext", "country")
        earlier = {dig(e, "client", "geographicalContext", "country") for w, e in timed
                   if (when - w).total_seconds() >= BASELINE_MIN_HOURS * 3600
                   and OKTA_SIGNIN_RE.match(str(e.get("eventType") or ""))
                   and dig(e, "outcome", "result") in ("SUCCESS", "ALLOW")}
        new_country = bool(earlier) and country and country not in earlier and \
            OKTA_SIGNIN_RE.match(str(ev.get("eventType") or "")) and dig(ev, "outcome", "result") in ("SUCCESS",
                                                                                                      "ALLOW")
        if new_country or "POSITIVE" in (behaviors.get("new geo-location"), behaviors.get("new country")):
            new_ips[ip] = min(when, new_ips.get(ip, when))
    if not new_ips:
        return None
    refs: set[str] = set()
    for ip, first in new_ips.items():
        if not ip or ip in unsafe_ips:
            return None
        here = [e for _, e in timed if str(dig(e, "client", "ipAddress") or "") == ip]
        before = [e for w, e in timed if (first - w).total_seconds() >= BASELINE_MIN_HOURS * 3600
                  and dig(e, "outcome", "result") in ("SUCCESS", "ALLOW")]
        rated = [_okta_behaviors(e) for e in here if _okta_behaviors(e)]
        if not rated or any(b.get("new device") != "NEGATIVE" or b.get("velocity") == "POSITIVE" for b in rated):
            return None
        factors = {str(t.get("id")) for e in here if str(e.get("eventType") or "").startswith(
            "user.authentication.auth_via_mfa") and dig(e, "outcome", "result") == "SUCCESS"
            for t in (e.get("target") or []) if isinstance(t, dict) and t.get("type") == "AuthenticatorEnrollment"}
        known_factors = {str(t.get("id")) for e in before if str(e.get("eventType") or "").startswith(
            "user.authentication.auth_via_mfa") for t in (e.get("target") or [])
            if isinstance(t, dict) and t.get("type") == "AuthenticatorEnrollment"}
        prints = {str(dig(e, "debugContext", "debugData", "deviceFingerprint")) for e in here
                  if dig(e, "debugContext", "debugData", "deviceFingerprint")}
        known_prints = {str(dig(e, "debugContext", "debugData", "deviceFingerprint")) for e in before
                        if dig(e, "debugContext", "debugData", "deviceFingerprint")}
        if not factors or not factors <= known_factors or not prints or not prints <= known_prints:
            return None
        refs.update(e["_eid"] for e in here)
    return refs, (f"new location from {', '.join(sorted(new_ips))[:80]} on the enrolled factor and the device "
                  "seen before (Okta: New Device=NEGATIVE)")


def _score_api(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in facts.api.values():
        by_key[str(rec.get("keyId") or "")].append(rec)
    routine: dict[str, tuple[set[str], str]] = {}
    anomalous: list[str] = []
    for key, recs in by_key.items():
        refs = [r["_eid"] for r in recs]
        denied = sum(1 for r in recs if _api_denied(r))
        volume = int(sum(_api_bytes(r) for r in recs))
        if len(recs) >= 100 or denied >= 20 or volume >= 50_000_000:
            s.fire("api_volume_anomaly", refs, f"{len(recs)} requests, {denied} denied, {volume} bytes for {key}")
            anomalous.append(key)
            schedule = _api_schedule_baseline(recs, bad)
            if schedule is not None:
                routine[key] = schedule
        if any(SENSITIVE_PATH_RE.search(str(r.get("path"))) for r in recs):
            s.fire("api_sensitive_paths", refs, f"sensitive paths for {key}")
        for rec in recs:
            ip = str(rec.get("sourceIp") or "")
            if ip in bad:
                s.fire("api_key_from_bad_ip", [rec["_eid"]], f"{key} from {ip}")
                user = str(rec.get("principal") or "").rsplit("/", 1)[-1]
                s.find("key_used_from_bad_ip", {"user": user, "key": key}, [rec["_eid"]])
                s.find("api_gateway_bad_ip", {"cidr": _api_host_cidr(ip)}, [rec["_eid"]])
                s.affected(users=[user], keys=[key], ips=[ip])
    if anomalous and all(key in routine for key in anomalous):
        s.fire("api_key_baseline", (r for key in anomalous for r in routine[key][0]),
               "; ".join(f"{key}: {routine[key][1]}" for key in anomalous))


def _api_denied(rec: dict[str, Any]) -> bool:
    return _scoring_number(rec.get("status")) in (401.0, 403.0)


def _api_bytes(rec: dict[str, Any]) -> float:
    return max(0.0, _scoring_number(rec.get("responseBytes", rec.get("responseLength"))) or 0.0)


def _api_host_cidr(ip: str) -> str:
    """The one-address CIDR a WAF IP set takes (203.0.113.7/32, 2001:db8::1/128)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    return f"{address}/{address.max_prefixlen}"


def _api_record_time(rec: dict[str, Any]) -> datetime | None:
    """When an API gateway request happened: ISO ``time`` / ``timestamp`` / ``_time``, the access log's
    ``requestTime`` (``20/Aug/2026:01:21:52 +0000``) or ``requestTimeEpoch`` (ms); aware UTC, or None."""
    for field in ("time", "requestTime", "timestamp", "_time", "requestTimeEpoch"):
        value = rec.get(field)
        if value in (None, ""):
            continue
        number = _scoring_number(value)
        if number is not None:
            try:
                return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)
            except (OverflowError, OSError, ValueError):
                return None
        text = str(value).strip()
        for pattern in ("iso", "%d/%b/%Y:%H:%M:%S %z"):
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00")) if pattern == "iso" else \
                    datetime.strptime(text, pattern)
            except ValueError:
                continue
            return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def _api_path_shape(path: Any) -> str:
    """A request path with its ids folded (/v2/exports/exp_77810f1f33fe/parts/21 -> /v2/exports/:id/parts/:id)."""
    segments = str(path or "").split("?", 1)[0].split("/")
    return "/".join(":id" if seg.isdigit() or (len(seg) >= 6 and any(c.isdigit() for c in seg)) else seg
                    for seg in segments)


def _api_schedule_baseline(recs: list[dict[str, Any]], bad: set[str]) -> tuple[set[str], str] | None:
    """The key's peak hour is its schedule: (evidence ids, detail) when the busiest hour (>= 3x the key's average
    per active hour) recurs on >= API_BASELINE_MIN_DAYS earlier days (>= BASELINE_MIN_HOURS before) within an
    hour of the same time of day, from the same source IPs, with a comparable count (each earlier day >= 1/3,
    the peak <= 2x the largest), bytes (<= 2x), known path shapes and no larger 401/403 share. None otherwise;
    never when a source IP of the peak is malicious."""
    buckets: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for rec in recs:
        when = _api_record_time(rec)
        if when is not None:
            buckets[when.replace(minute=0, second=0, microsecond=0)].append(rec)
    if len(buckets) < 2:
        return None
    hour = max(buckets, key=lambda h: (len(buckets[h]), h))
    peak = buckets[hour]
    if len(peak) < 3 * sum(len(v) for v in buckets.values()) / len(buckets):
        return None
    peak_ips = {str(r.get("sourceIp") or "") for r in peak}
    if peak_ips & bad or "" in peak_ips:
        return None
    days: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for earlier, rows in buckets.items():
        gap = abs(earlier.hour - hour.hour)
        if (hour - earlier).total_seconds() >= BASELINE_MIN_HOURS * 3600 and min(gap, 24 - gap) <= 1:
            days[earlier.date()].extend(rows)
    similar = [rows for rows in days.values() if len(rows) * 3 >= len(peak)
               and peak_ips <= {str(r.get("sourceIp") or "") for r in rows}]
    if len(similar) < API_BASELINE_MIN_DAYS or len(peak) > 2 * max(len(rows) for rows in similar):
        return None
    if sum(_api_bytes(r) for r in peak) > 2 * max(sum(_api_bytes(r) for r in rows) for rows in similar):
        return None
    shapes = {_api_path_shape(r.get("path")) for rows in similar for r in rows}
    if sum(1 for r in peak if _api_path_shape(r.get("path")) not in shapes) > 0.1 * len(peak):
        return None
    share = max(sum(1 for r in rows if _api_denied(r)) / len(rows) for rows in similar)
    if sum(1 for r in peak if _api_denied(r)) / len(peak) > share + 0.05:
        return None
    refs = {r["_eid"] for r in peak} | {r["_eid"] for rows in similar for r in rows}
    return refs, (f"{len(peak)} requests at {hour:%H}:00 UTC from {', '.join(sorted(peak_ips))[:80]}, as on "
                  f"{len(similar)} earlier days")


def _score_context(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    if bad:
        s.fire("ip_malicious", (r for ip in bad for r in facts.ip_refs[ip]), f"malicious: {', '.join(sorted(bad))}")
        for ip in sorted(bad):
            s.find("malicious_ip", {"ip": ip}, facts.ip_refs[ip])
        s.affected(ips=sorted(bad))
    suspicious = {ip for ip, score in facts.ip_score.items() if score == 2}
    if suspicious and not bad:
        s.fire("ip_suspicious", (r for ip in suspicious for r in facts.ip_refs[ip]), ", ".join(sorted(suspicious)))
    hosting = {ip for ip, usage in facts.ip_usage.items() if HOSTING_RE.search(usage)} | facts.proxy_ips
    if hosting - {""}:
        s.fire("hosting_or_proxy_ip", (r for ip in hosting for r in facts.ip_refs.get(ip, ())),
               ", ".join(sorted(hosting - {""})))
    seen_ips = set(facts.ip_score) | {_ct_fields(ev)[1] for ev in facts.ct.values()} | {
        str(dig(ev, "client", "ipAddress") or "") for ev in facts.okta.values()}
    seen_ips = {ip for ip in seen_ips if ip and _valid_ip_text(ip)}
    if seen_ips and not bad and all(facts.ip_score.get(ip) == 1 or _is_internal(ip) for ip in seen_ips):
        s.fire("known_good_ips", (r for ip in seen_ips for r in facts.ip_refs.get(ip, ())), ", ".join(sorted(seen_ips)))
    for user, (risk, eid) in facts.ueba.items():
        name = "ueba_high_risk" if risk >= 90 else "ueba_medium_risk" if risk >= 50 else \
            "ueba_low_risk" if risk < 20 else ""
        if not name and user in facts.ueba_avg and risk <= facts.ueba_avg[user] + 10:
            name = "ueba_at_baseline"
        if name:
            s.fire(name, [eid], f"{user} risk {risk:g}" + (f" (average {facts.ueba_avg[user]:g})"
                                                            if name == "ueba_at_baseline" else ""))
    _score_notables(facts, s)
    for eid, text in facts.texts:
        match = CHANGE_TICKET_RE.search(text)
        if match:
            s.fire("change_ticket", [eid], match.group(0))
            break
    logs_seen = facts.sources & {"cloudtrail", "okta", "api"}
    malicious = {"logging_disabled", "iam_admin_escalation", "iam_persistence", "access_denied_burst",
                 "okta_bruteforce_then_success", "okta_session_bad_ip", "api_key_from_bad_ip", "api_volume_anomaly",
                 "okta_mfa_reset", "iam_policy_change", "okta_new_country"}
    if logs_seen and not bad and not (malicious & set(s.features)):
        s.fire("no_sensitive_activity", [], f"searched {', '.join(sorted(logs_seen))}: nothing sensitive")
    if "okta_mfa_reset" in s.features:
        s.features.pop("mfa_present", None)
        s.features.pop("okta_known_device", None)


def _score_notables(facts: _Facts, s: _Scoring) -> None:
    """Earlier alerts of the same rule closed by analysts: >= 2 false positives and no true positive."""
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for notable in facts.notables:
        by_rule[str(notable.get("search_name") or notable.get("rule_name") or notable.get("name") or "")].append(
            notable)
    for rule, notables in by_rule.items():
        closures = [" ".join(str(n.get(k) or "") for k in ("disposition", "status_label", "closeReason"))
                    for n in notables]
        benign = [n for n, text in zip(notables, closures, strict=True) if NOTABLE_FP_RE.search(text)]
        if len(benign) >= 2 and not any(NOTABLE_TP_RE.search(text) for text in closures):
            s.fire("prior_alerts_closed_fp", (n["_eid"] for n in benign),
                   f"{len(benign)} earlier '{rule[:80]}' alerts closed as false positive")
            return


def _guarded_weights(s: _Scoring) -> tuple[dict[str, float], list[str]]:
    """Effective weights after the benign-evidence guard (see WEIGHTS): spoofable text needs corroboration,
    and hard malicious evidence caps the total benign contribution at BENIGN_CAP_WITH_HARD_MALICE."""
    weights = {name: WEIGHTS[name] for name in s.features}
    notes = []
    if not CORROBORATING_FEATURES & set(weights):
        for name in sorted(SPOOFABLE_FEATURES & set(weights)):
            weights[name] = 0.0
            notes.append(f"{name} not counted: attacker-controllable text without corroboration")
    hard = set(HARD_MALICIOUS_FEATURES & set(weights)) | s.hard
    if "okta_mfa_reset" in weights and {"ip_malicious", "okta_new_country"} & set(weights):
        hard.add("okta_mfa_reset")
    benign = -sum(w for w in weights.values() if w < 0)
    if hard and benign > BENIGN_CAP_WITH_HARD_MALICE:
        factor = BENIGN_CAP_WITH_HARD_MALICE / benign
        weights = {name: round(w * factor, 2) if w < 0 else w for name, w in weights.items()}
        notes.append(f"benign signals capped at -{BENIGN_CAP_WITH_HARD_MALICE:g} in total: hard malicious "
                     f"evidence ({', '.join(sorted(hard))})")
    return weights, notes


def _valid_ip_text(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _verdict(score: float, sources: int) -> tuple[str, str, float]:
    confidence = 0.2 if sources == 0 else min(0.95, 0.35 + 0.1 * abs(score) + 0.05 * min(sources, 3))
    if score >= 4:
        verdict = "true_positive"
    elif score >= 2:
        verdict = "suspicious"
    elif score <= -2:
        verdict = "false_positive"
    else:
        verdict = "inconclusive"
    if confidence < CONFIDENCE_THRESHOLD:
        verdict = "inconclusive"
    level = ("critical" if score >= 7 else "high" if score >= 4 else "medium" if score >= 2 else
             "low" if score > 0 else "none")
    if verdict == "false_positive":
        level = "none"
    return verdict, level, round(confidence, 2)


def _actions(s: _Scoring, verdict: str) -> list[ProposedAction]:
    if verdict not in ("true_positive", "suspicious"):
        return []
    merged: dict[str, tuple[str, dict[str, str], list[str], set[str]]] = {}
    for finding, binding, refs in s.findings:
        for action, mapping in FINDING_ACTIONS.get(finding, []):
            args = {arg: binding.get(source, "") for arg, source in mapping.items()}
            if not all(args.values()):
                continue
            key = json.dumps([action, args], sort_keys=True)
            entry = merged.setdefault(key, (action, args, [], set()))
            entry[2].append(finding.replace("_", " "))
            entry[3].update(refs)
    return [ProposedAction(action=action, args=args, target=next(iter(args.values())),
                           reasoning=f"deterministic rule: {'; '.join(findings)}",
                           evidence_refs=sorted(refs, key=_scoring_ref_order))
            for action, args, findings, refs in merged.values()]


def score_evidence(observations: list[dict[str, Any]],
                   incident: "IncidentInput | dict[str, Any]") -> tuple[ThreatAssessment, list[ProposedAction]]:
    """Rules over evidence -> (assessment, proposed actions), with the documented WEIGHTS and FINDING_ACTIONS.

    ``observations`` are ``{"tool", "args", "output", "evidence_id"}`` where output is either the command
    executor's ``{"context", "contents", "brands"}`` or a command's plain contents: every nested record is
    recognised by its vendor fields (CloudTrail, Okta System Log, API gateway, DBotScore/AbuseIPDB, Exabeam).
    """
    facts = _collect(observations, incident)
    bad = {ip for ip, score in facts.ip_score.items() if score >= 3}
    scoring = _Scoring()
    _score_cloudtrail(facts, bad, scoring)
    _score_okta(facts, bad, scoring)
    _score_api(facts, bad, scoring)
    _score_cloudtrail_context(facts, bad, scoring)
    _score_context(facts, bad, scoring)
    weights, guard_notes = _guarded_weights(scoring)
    score = round(sum(weights.values()), 2)
    verdict, level, confidence = _verdict(score, len(facts.sources))
    refs = sorted({r for refs, _ in scoring.features.values() for r in refs}, key=_scoring_ref_order)
    signals = "; ".join(f"{name} ({weights[name]:+g}: {detail})" for name, (_, detail) in scoring.features.items())
    signals += "".join(f". Guard: {note}" for note in guard_notes)
    summary = (f"Deterministic reasoner (rules over evidence, no language model): score {score:+g} from "
               f"{len(facts.sources)} data source(s). Signals: {signals or 'none'}.")
    if verdict == "inconclusive":
        summary += " Below the confidence threshold or mixed signals: a person must decide."
    attack = list(dict.fromkeys(a for name in scoring.features for a in ATTACK_IDS.get(name, [])))
    assessment = ThreatAssessment(
        verdict=verdict, threat_level=level, confidence=confidence, summary=one_line(summary, 1800),
        affected_accounts=[u for u in scoring.users if u][:20], affected_keys=[k for k in scoring.keys if k][:20],
        affected_ips=[i for i in scoring.ips if i][:20], attack_ids=attack if verdict != "false_positive" else [],
        exposure=_exposure(scoring, verdict), evidence_refs=refs)
    return assessment, _actions(scoring, verdict)


def _exposure(s: _Scoring, verdict: str) -> str:
    if verdict in ("false_positive", "inconclusive"):
        return ""
    parts = []
    if s.keys:
        parts.append(f"access keys {', '.join(s.keys[:5])}")
    if s.users:
        parts.append(f"accounts {', '.join(s.users[:5])}")
    return "Possibly compromised: " + "; ".join(parts) if parts else ""

