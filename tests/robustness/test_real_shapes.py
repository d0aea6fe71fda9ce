"""Real vendor record shapes through every layer: scenario load, simulated SOC, entities, scoring, envelope.

The records in test_data/ are written from the vendors' documented formats (AWS CloudTrail userIdentity and
record-contents reference, Okta System Log API, API Gateway JSON access logs, XSOAR incidents as fetching
integrations create them). The point is not a verdict per record but that nothing breaks: every shape the vendors
document loads (Insights events, anonymous and AWS-internal identities, API Gateway's quoted $context values, Okta's
nullable fields), the simulator answers from it without inventing users, a genuinely malformed record gives a
ScenarioError naming the JSON path, entities are sane and the scorer, injection detector, redactor and compactor
handle all of it.
Each "regression" test pins one bug these shapes found.
"""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from AIReasoningApiModule import *  # noqa: F403

from localsoc.soc import Scenario, ScenarioError, SimulatedSOC
from localsoc.soc.scenario import record_time
from localsoc.soc.simulator import INTEGRATION_CRASH
from localsoc.soc.timeutil import parse_time

DATA = Path(__file__).resolve().parent / "test_data"
CLOUDTRAIL = json.loads((DATA / "cloudtrail_records.json").read_text())
OKTA = json.loads((DATA / "okta_events.json").read_text())
API = json.loads((DATA / "api_gateway_records.json").read_text())
INCIDENTS = {str(i["id"]): i for i in json.loads((DATA / "xsoar_incidents.json").read_text())["incidents"]}
BAD_IP = "203.0.113.7"
PLACEHOLDER_USERS = {"", "null", "none", "unknown", "-", "n/a", "(null)", "undefined", "nil",
                     "hidden_due_to_security_reasons", "anonymous_principal"}
KEY_RE = re.compile(r"^(?:AKIA|ASIA)[A-Z0-9]{16}$")


def scenario_incident(source: dict[str, Any]) -> dict[str, Any]:
    incident = {k: source[k] for k in ("id", "name", "type", "severity", "labels", "CustomFields", "rawJSON")}
    incident["occurred"] = "2024-05-14T02:13:07Z"
    return incident


def scenario_dict(datasets: dict[str, list[Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "real_shapes", "description": "real vendor shapes", "category": "iam_anomaly",
            "incident": scenario_incident(INCIDENTS["106"]), "datasets": datasets, **extra}


API_LOADABLE = API["raw_json_format"][:2] + API["documented_format"]  # API Gateway's own quoted-string lines


def full_datasets() -> dict[str, list[Any]]:
    return {"cloudtrail": copy.deepcopy(CLOUDTRAIL["valid"] + CLOUDTRAIL["edge_shapes"]),
            "okta": copy.deepcopy(OKTA["valid"] + OKTA["edge_shapes"]),
            "api_access": copy.deepcopy(API["valid"] + API_LOADABLE),
            "apigw_raw": copy.deepcopy(API["raw_json_format"])}


def make_soc(datasets: dict[str, list[Any]] | None = None, **extra: Any) -> SimulatedSOC:
    data = scenario_dict(full_datasets() if datasets is None else datasets, **extra)
    return SimulatedSOC(Scenario.from_dict(data), reputation_feed=False)


@pytest.fixture(scope="module")
def soc() -> SimulatedSOC:
    return make_soc(reputation={BAD_IP: 5, "192.0.2.44": {"known_good": True, "country": "US"}})


def entities_of_dataset() -> tuple[list[str], list[str], list[str]]:
    found = extract_entities([CLOUDTRAIL["valid"], OKTA["valid"], API["valid"]])
    return found.users, found.access_keys, found.ips


USERS, KEYS, IPS = entities_of_dataset()
READ_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("aws-iam-list-users", {}), ("okta-get-logs", {}), ("okta-get-failed-logins", {}),
    ("okta-get-logs", {"filter": 'actor.alternateId eq "dana@example.com" and outcome.result eq "SUCCESS"'}),
    ("okta-get-logs", {"filter": 'client.geographicalContext.country eq "Germany"'}),
    ("okta-get-logs", {"filter": 'request.ipChain.ip eq "198.51.100.10"'}),
    ("okta-get-logs", {"query": "dana", "since": "2024-05-01T00:00:00Z", "sortOrder": "DESCENDING"}),
    ("aws-waf-ip-set-list", {}),
    *[(c, {"userName": u}) for u in [*USERS, "root", "bob"] for c in (
        "aws-iam-get-user", "aws-iam-list-access-keys-for-user", "aws-iam-list-attached-user-policies",
        "aws-iam-list-user-policies", "aws-iam-list-groups-for-user")],
    *[("aws-cloudtrail-lookup-events", {"attributeKey": "Username", "attributeValue": u})
      for u in [*USERS, "root", "i-0abcd1234ef567890", "HIDDEN_DUE_TO_SECURITY_REASONS"]],
    *[("aws-cloudtrail-lookup-events", {"attributeKey": k, "attributeValue": v}) for k, v in (
        ("EventName", "GetObject"), ("ResourceType", "AWS::S3::Object"), ("EventSource", "kms.amazonaws.com"),
        ("ReadOnly", "true"), ("EventId", "c1f0a8f2-1111-4a7e-9a3c-000000000008"),
        ("ResourceName", "arn:aws:s3:::prod-reports"))],
    *[(c, {"username": u}) for u in [*USERS, "dana@example.com", "admin@example.com"]
      for c in ("okta-get-user", "okta-get-groups", "exabeam-get-user-info")],
    *[(c, {"accessKeyId": k}) for k in KEYS for c in ("aws-iam-get-access-key-last-used",)],
    *[("aws-cloudtrail-lookup-events", {"attributeKey": "AccessKeyId", "attributeValue": k}) for k in KEYS],
    *[("ip", {"ip": ip}) for ip in [*IPS, "2001:db8::1", "kms.amazonaws.com"]],
    *[("splunk-search", {"query": q, "earliest_time": "-30d"}) for q in (
        "index=cloudtrail", "index=okta", "index=api_access", "index=apigw_raw", "index=*",
        "index=apigw_raw status=403", "index=cloudtrail userIdentity.type=AssumedRole",
        "index=okta target{}.alternateId=dana*", "index=* \"GetObject\" | head 3")],
]


def test_dataset_entities_are_what_the_records_name() -> None:
    assert {"alice", "carol", "app-worker", "bob", "root", "SamlExample"} <= set(USERS)
    assert {"AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE", "ASIAEXAMPLETEMPKEY01"} <= set(KEYS)
    assert BAD_IP in IPS and "2001:db8::1" in IPS  # IPv6 from IP-named keys (Okta client.ipAddress)


# --------------------------------------------------------------------------------------------
# Scenario load and state derivation
# --------------------------------------------------------------------------------------------


def test_real_records_load_and_derive_state(soc: SimulatedSOC) -> None:
    iam = soc.state["iam"]
    # IAM users come only from IAMUser identities and successful user-creating calls: never a None name
    assert set(iam["users"]) == {"alice", "carol"}
    assert all(isinstance(name, str) and name for name in iam["users"])
    assert set(iam["users"]["alice"]["AccessKeys"]) == {"AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"}
    assert iam["users"]["alice"]["IsAdmin"] is True
    assert {"app-worker", "github-deploy"} <= set(iam["roles"])
    assert "arn:aws:iam::aws:policy/ReadOnlyAccess" in iam["roles"]["app-worker"]["AttachedPolicies"]
    changes = {c["eventID"]: c for c in soc.permission_changes()}
    assert changes["c1f0a8f2-1111-4a7e-9a3c-000000000010"]["applied"] is False  # EntityAlreadyExists
    okta = soc.state["okta"]["users"]
    assert okta["00u1abcdEXAMPLE0001"]["profile"]["login"] == "dana@example.com"
    assert okta["00u1abcdEXAMPLE0001"]["status"] == "ACTIVE"  # the SKIPPED suspend changed nothing
    assert "unknown" not in okta  # a failed sign-in of an unknown user (alternateId null) makes no user
    json.dumps(soc.snapshot())


@pytest.mark.parametrize(("command", "args"), READ_CALLS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(READ_CALLS)])
def test_every_read_command_answers_real_shapes(soc: SimulatedSOC, command: str, args: dict[str, Any]) -> None:
    entries = soc.dispatch(command, args)
    assert isinstance(entries, list) and entries, f"{command} returned {entries!r}"
    json.dumps(entries)  # what executeCommand returns is JSON
    for entry in entries:
        assert INTEGRATION_CRASH not in str(entry.get("Contents")), entry["Contents"]
    result = entries_to_result(entries)
    assert isinstance(result, ToolResult)


def test_splunk_search_reads_raw_api_gateway_lines(soc: SimulatedSOC) -> None:
    entries = soc.dispatch("splunk-search", {"query": "index=apigw_raw", "earliest_time": "-30d"})
    results = entries[0]["EntryContext"]["Splunk.Result"]
    # the epoch-seconds and epoch-milliseconds lines are in the window, unparsable times are kept undated
    assert len(results) == len(API["raw_json_format"])
    dated = {r["requestId"]: r.get("_time") for r in results}
    assert dated["a1b2c3d4-0103"].startswith("2024-05-14T02:10:07")
    assert dated["a1b2c3d4-0104"].startswith("2024-05-14T02:10:08.123")
    assert dated["a1b2c3d4-0105"] is None


# --------------------------------------------------------------------------------------------
# Real shapes an earlier schema rejected: they load, and the simulator handles them
# --------------------------------------------------------------------------------------------

CT_EDGE = CLOUDTRAIL["edge_shapes"]
INSIGHTS = [r for r in CT_EDGE if r["eventType"] == "AwsCloudTrailInsight"]
NOBODY = [CT_EDGE[1], CT_EDGE[2], CT_EDGE[7], CT_EDGE[8]]  # anonymous S3 read, AWS Internal, AWSService, VPCe denial
LATER = "2024-05-15T00:00:00Z"  # a fixed 'now' after every record, so scenarios with and without a record compare
EDGE_SHAPES = [
    *[(f"cloudtrail {i} {r['eventType']} {r.get('eventName') or r['insightDetails']['eventName']}", {"cloudtrail": [r]})
      for i, r in enumerate(CT_EDGE)],
    *[(f"okta {i} {e['eventType']}", {"okta": [e]}) for i, e in enumerate(OKTA["edge_shapes"])],
    *[(f"api gateway line {r['requestId']}", {"api_access": [r]}) for r in API_LOADABLE],
]


def lookup(soc: SimulatedSOC, key: str, value: str) -> list[dict[str, Any]]:
    entries = soc.dispatch("aws-cloudtrail-lookup-events", {"attributeKey": key, "attributeValue": value})
    assert entries and entries[0]["Type"] == 1, entries
    return entries[0]["EntryContext"]["AWS.CloudTrail.Events(val.EventId == obj.EventId)"]


def exabeam(soc: SimulatedSOC, username: str) -> dict[str, Any]:
    entries = soc.dispatch("exabeam-get-user-info", {"username": username})
    assert entries and entries[0]["Type"] == 1, entries
    return entries[0]["Contents"]


@pytest.mark.parametrize(("label", "datasets"), EDGE_SHAPES, ids=[e[0] for e in EDGE_SHAPES])
def test_real_shapes_load_and_every_read_command_answers(label: str, datasets: dict[str, Any]) -> None:
    soc = SimulatedSOC(Scenario.from_dict(scenario_dict(copy.deepcopy(datasets)), source=label),
                       reputation_feed=False)
    assert soc.state["iam"]["users"] == {}  # none of these records is an IAM user's call
    assert set(soc.state["okta"]["users"]) <= {"00u1abcdEXAMPLE0001"}  # only a User actor with a login is a user
    assert soc.permission_changes() == []
    for command, args in READ_CALLS:
        entries = soc.dispatch(command, args)
        assert isinstance(entries, list) and entries, f"{command} returned {entries!r}"
        for entry in entries:
            assert INTEGRATION_CRASH not in str(entry.get("Contents")), entry["Contents"]
    json.dumps(soc.snapshot())


def test_an_insight_event_is_not_a_user_action() -> None:
    plain = make_soc({"cloudtrail": copy.deepcopy(CLOUDTRAIL["valid"])}, now=LATER, reputation={BAD_IP: 5})
    with_insights = make_soc({"cloudtrail": copy.deepcopy(CLOUDTRAIL["valid"] + INSIGHTS)}, now=LATER,
                             reputation={BAD_IP: 5})
    # insightDetails names CreateAccessKey and alice's ARN: still no user, key, role or permission change
    assert with_insights.state == plain.state
    for key, value in (("EventName", "CreateAccessKey"), ("EventName", "GetObject"), ("Username", "alice"),
                       ("EventSource", "iam.amazonaws.com"), ("ReadOnly", "false"),
                       ("EventId", INSIGHTS[0]["eventID"])):
        assert lookup(with_insights, key, value) == lookup(plain, key, value), (key, value)
    assert exabeam(with_insights, "alice") == exabeam(plain, "alice")  # no activity, no volume spike
    # ... but it is a record a SOC searches: Splunk finds it by its insight fields
    found = with_insights.dispatch("splunk-search", {"query": "index=cloudtrail eventType=AwsCloudTrailInsight",
                                                     "earliest_time": "-30d"})[0]["Contents"]
    assert {r["eventID"] for r in found} == {r["eventID"] for r in INSIGHTS}
    rate = with_insights.dispatch("splunk-search", {"query": "index=cloudtrail insightDetails.state=Start "
                                                             "insightDetails.insightType=ApiCallRateInsight",
                                                    "earliest_time": "-30d"})[0]["Contents"]
    assert [r["insightDetails.eventName"] for r in rate] == ["CreateAccessKey"]


def test_anonymous_and_aws_internal_callers_are_nobody() -> None:
    soc = make_soc({"cloudtrail": copy.deepcopy(NOBODY)}, now=LATER)
    assert soc.state["iam"]["users"] == {} and soc.state["iam"]["roles"] == {}
    assert soc.dispatch("aws-iam-list-users", {})[0]["EntryContext"]["AWS.IAM.Users"] == []
    for name in ("ANONYMOUS_PRINCIPAL", "AWS Internal", "123456789012", "secretsmanager.amazonaws.com"):
        assert lookup(soc, "Username", name) == [], name
        assert exabeam(soc, name) == {}, name  # 'not found', not a user with activity
    for key, value, event in (("EventName", "GetObject", CT_EDGE[1]), ("EventSource", "kms.amazonaws.com", CT_EDGE[2]),
                              ("EventName", "RotationSucceeded", CT_EDGE[7]), ("EventName", "ListBuckets", CT_EDGE[8])):
        rows = lookup(soc, key, value)
        assert [r["EventId"] for r in rows] == [event["eventID"]]
        assert "Username" not in rows[0]  # LookupEvents has no user name for these callers
    assert {r["EventId"] for r in lookup(soc, "ReadOnly", "false")} == {CT_EDGE[2]["eventID"], CT_EDGE[7]["eventID"]}


def test_federated_and_role_sessions_make_no_iam_user() -> None:
    soc = make_soc({"cloudtrail": copy.deepcopy([CT_EDGE[5], CT_EDGE[6]])}, now=LATER)
    assert soc.state["iam"]["users"] == {}
    assert set(soc.state["iam"]["roles"]) == {"ops-readonly"}  # from the session issuer, basic-notation creationDate
    assert [r["Username"] for r in lookup(soc, "Username", "user-id")] == ["user-id"]  # web identity user name
    assert [r["Username"] for r in lookup(soc, "Username", "ops-session")] == ["ops-session"]
    assert lookup(soc, "EventName", "DescribeInstances")[0]["EventId"] == CT_EDGE[6]["eventID"]


ALICE_KEY = {"users": [{"name": "alice", "access_keys": [
    {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Active", "CreateDate": "2024-01-01T00:00:00Z"}]}]}


def test_api_gateway_quoted_values_and_context_names_are_read() -> None:
    soc = make_soc({"api_access": copy.deepcopy(API["valid"] + API_LOADABLE)}, directory=ALICE_KEY)
    # the record time (scenario 'now', Splunk _time) reads API Gateway's requestTime (CLF) and requestTimeEpoch (ms)
    assert record_time("api_access", API["documented_format"][0]) == parse_time("2024-05-14T02:11:05Z")
    assert record_time("api_access", API["documented_format"][1]) == parse_time("2024-05-14T02:12:06Z")
    used = soc.dispatch("aws-iam-get-access-key-last-used", {"accessKeyId": "AKIAIOSFODNN7EXAMPLE"})
    assert used[0]["Contents"]["AccessKeyLastUsed"] == {"LastUsedDate": "2024-05-14T02:12:06",
                                                        "ServiceName": "execute-api", "Region": "us-east-1"}
    risk = exabeam(soc, "alice")
    failures = [c for c in risk["riskReasons"] if c["rule"] == "failures"]
    assert failures and failures[0]["reason"].startswith("1 failed")  # status "403" is a denial like 403
    assert exabeam(soc, "-") == {}  # API Gateway's '-' (no caller, no key) is nobody
    denied = soc.dispatch("splunk-search", {"query": "index=api_access status=403", "earliest_time": "-30d"})
    assert {r["requestId"] for r in denied[0]["Contents"]} == {"a1b2c3d4-0002", "a1b2c3d4-0101", "a1b2c3d4-0201"}
    clf = [r for r in denied[0]["Contents"] if r["requestId"] == "a1b2c3d4-0201"]
    assert clf[0]["_time"].startswith("2024-05-14T02:11:05")  # requestTime in Common Log Format


def test_okta_events_without_outcome_or_client() -> None:
    soc = make_soc({"okta": copy.deepcopy(OKTA["edge_shapes"])})
    users = soc.state["okta"]["users"]
    assert set(users) == {"00u1abcdEXAMPLE0001"}  # the app actor with a null alternateId is no user
    assert users["00u1abcdEXAMPLE0001"]["sessions"] == 0  # no outcome is not a successful sign-in
    assert users["00u1abcdEXAMPLE0001"]["lastLogin"] is None
    entries = soc.dispatch("okta-get-logs", {})
    assert [e["uuid"] for e in entries[0]["Contents"]] == [e["uuid"] for e in OKTA["edge_shapes"]]
    failed = soc.dispatch("okta-get-failed-logins", {})[0]["Contents"]
    assert [e["uuid"] for e in failed] == [OKTA["edge_shapes"][3]["uuid"]]
    ok = soc.dispatch("okta-get-logs", {"filter": 'outcome.result eq "SUCCESS"'})[0]["Contents"]
    assert [e["uuid"] for e in ok] == [OKTA["edge_shapes"][2]["uuid"]]
    risk = exabeam(soc, "dana@example.com")
    assert [c["reason"] for c in risk["riskReasons"] if c["rule"] == "failures"] == ["1 failed/denied action(s)"]


# --------------------------------------------------------------------------------------------
# Genuinely malformed records are still rejected, naming the JSON path
# --------------------------------------------------------------------------------------------


def without(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in copy.deepcopy(record).items() if k not in keys}


def changed(record: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {**copy.deepcopy(record), **values}


CT0 = CLOUDTRAIL["valid"][0]
MALFORMED = [
    ("CloudTrail record that is not an object", {"cloudtrail": ["CreateAccessKey by alice"]},
     "$.datasets.cloudtrail[0]"),
    ("CloudTrail log file pasted whole", {"cloudtrail": {"Records": [CT0]}}, "$.datasets.cloudtrail"),
    ("management event without eventTime", {"cloudtrail": [without(CT0, "eventTime")]}, "$.datasets.cloudtrail[0]"),
    ("data event without eventID", {"cloudtrail": [without(CT_EDGE[1], "eventID")]}, "$.datasets.cloudtrail[0]"),
    ("API call without userIdentity", {"cloudtrail": [without(CT0, "userIdentity")]}, "$.datasets.cloudtrail[0]"),
    ("API call without eventName", {"cloudtrail": [without(CT0, "eventName")]}, "$.datasets.cloudtrail[0]"),
    ("API call without sourceIPAddress", {"cloudtrail": [without(CT0, "sourceIPAddress")]}, "$.datasets.cloudtrail[0]"),
    ("Insights event without insightDetails", {"cloudtrail": [without(CT_EDGE[0], "insightDetails")]},
     "$.datasets.cloudtrail[0]"),
    ("Insights event with an unknown state",
     {"cloudtrail": [changed(CT_EDGE[0], insightDetails={**CT_EDGE[0]["insightDetails"], "state": "Begin"})]},
     "$.datasets.cloudtrail[0].insightDetails.state"),
    ("API call labelled an Insight", {"cloudtrail": [changed(CT0, eventCategory="Insight")]},
     "$.datasets.cloudtrail[0].eventCategory"),
    ("CloudTrail eventTime with millis", {"cloudtrail": [changed(CT0, eventTime="2024-05-14T02:13:07.123Z")]},
     "$.datasets.cloudtrail[0].eventTime"),
    ("account id that is no account and not ANONYMOUS_PRINCIPAL",
     {"cloudtrail": [changed(CT_EDGE[1], userIdentity={"type": "AWSAccount", "accountId": "anonymous"})]},
     "$.datasets.cloudtrail[0].userIdentity.accountId"),
    ("Okta event without actor", {"okta": [without(OKTA["valid"][0], "actor")]}, "$.datasets.okta[0]"),
    ("Okta outcome without result", {"okta": [changed(OKTA["valid"][0], outcome={"reason": "x"})]},
     "$.datasets.okta[0].outcome"),
    ("Okta event that is not an object", {"okta": [None]}, "$.datasets.okta[0]"),
    ("API line with status null", {"api_access": [API["raw_json_format"][2]]}, "$.datasets.api_access[0]"),
    ("API line without a time", {"api_access": [API["raw_json_format"][3]]}, "$.datasets.api_access[0]"),
    ("API line with an unparsable time", {"api_access": [API["raw_json_format"][4]]}, "$.datasets.api_access[0].time"),
    ("API line with a negative size", {"api_access": [changed(API["raw_json_format"][1], responseBytes=-1)]},
     "$.datasets.api_access[0].responseBytes"),
    ("datasets that is a list", [CT0], "$.datasets"),
]


@pytest.mark.parametrize(("label", "datasets", "path"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_records_give_a_scenario_error(label: str, datasets: Any, path: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(scenario_dict(copy.deepcopy(datasets)), source=label)
    assert info.value.json_path.startswith(path), info.value
    assert label in str(info.value) and "invalid scenario at $.datasets" in str(info.value)


def test_huge_record_and_huge_raw_json_load_quickly() -> None:
    big = copy.deepcopy(CLOUDTRAIL["valid"][0])
    big["eventName"] = "RunInstances"
    big["responseElements"] = {"instancesSet": {"items": [
        {"instanceId": f"i-{n:017x}", "privateIpAddress": f"10.1.{n // 250}.{n % 250}", "tagSet": {"items": [
            {"key": "Name", "value": "worker " * 20}]}} for n in range(2500)]}}
    data = scenario_dict({"cloudtrail": [big]})
    data["incident"]["rawJSON"] = json.dumps({"Records": [big] * 3})
    started = time.monotonic()
    soc = SimulatedSOC(Scenario.from_dict(data), reputation_feed=False)
    entries = soc.dispatch("aws-cloudtrail-lookup-events",
                           {"attributeKey": "EventName", "attributeValue": "RunInstances"})
    assert len(entries[0]["EntryContext"]["AWS.CloudTrail.Events(val.EventId == obj.EventId)"]) == 1
    incident = IncidentInput.from_xsoar(data["incident"])
    assert "alice" in incident.entities.users
    assert time.monotonic() - started < 15


# --------------------------------------------------------------------------------------------
# Simulator regressions (one per bug found with these shapes)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_field", [{"ipChain": None}, {"ipChain": ["198.51.100.10", None]}, {}, None])
def test_regression_okta_logs_with_null_or_odd_ip_chain(request_field: Any) -> None:
    event = copy.deepcopy(OKTA["valid"][0])
    event["request"] = request_field
    entries = make_soc({"okta": [event]}).dispatch("okta-get-logs", {})
    assert entries[0]["Type"] == 1 and entries[0]["Contents"][0]["uuid"] == event["uuid"]


@pytest.mark.parametrize("stamp", [1e20, -1e20, "NaN", True, {"epoch": 1}, 10**40])
def test_regression_unparsable_generic_time_is_ignored_not_fatal(stamp: Any) -> None:
    soc = make_soc({"custom_logs": [{"time": stamp, "message": "x"}]})
    entries = soc.dispatch("splunk-search", {"query": "index=custom_logs"})
    assert entries[0]["Type"] == 1 and len(entries[0]["Contents"]) == 1


def test_regression_epoch_times_seconds_and_milliseconds() -> None:
    assert parse_time(1715652608123) == parse_time("2024-05-14T02:10:08.123Z")
    assert parse_time("1715652608123") == parse_time(1715652608.123)
    for bad in (1e20, float("inf"), float("nan"), True):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_regression_create_user_without_a_name_creates_no_user() -> None:
    soc = make_soc({"cloudtrail": [CLOUDTRAIL["valid"][16]]})  # CreateUser, parameters and response null
    assert None not in soc.state["iam"]["users"]
    rows = soc.dispatch("aws-iam-list-users", {})[0]["EntryContext"]["AWS.IAM.Users"]
    assert all(isinstance(row["UserName"], str) for row in rows)


@pytest.mark.parametrize(("params", "response"), [
    ({"userName": "alice", "policyArn": 5}, None),
    ({"userName": ["alice", "bob"]}, None),
    ({"userName": "alice"}, {"accessKey": "AKIAI44QH8DHBEXAMPLE"}),
    ({"userName": {"nested": True}}, {"accessKey": {"accessKeyId": 7, "userName": None}}),
])
def test_regression_free_form_parameters_never_break_replay(params: dict[str, Any], response: Any) -> None:
    records = []
    for index, name in enumerate(("AttachUserPolicy", "CreateAccessKey", "CreateUser", "AddUserToGroup")):
        rec = copy.deepcopy(CLOUDTRAIL["valid"][0])
        rec.update(eventName=name, requestParameters=params, responseElements=response,
                   eventID=f"c1f0a8f2-3333-4a7e-9a3c-{index:012d}")
        records.append(rec)
    soc = make_soc({"cloudtrail": records})
    assert all(isinstance(name, str) for name in soc.state["iam"]["users"])
    for key in ("ResourceName", "ResourceType", "Username"):
        entries = soc.dispatch("aws-cloudtrail-lookup-events", {"attributeKey": key, "attributeValue": "alice"})
        assert entries[0]["Type"] == 1


def test_regression_a_crashing_simulated_integration_gives_an_error_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    soc = make_soc()

    def boom(args: dict[str, Any]) -> list[dict[str, Any]]:
        raise KeyError("eventTime")

    monkeypatch.setattr(soc, "_cmd_aws_iam_list_users", boom)
    entries = soc.dispatch("aws-iam-list-users", {})
    assert entries[0]["Type"] == 4 and INTEGRATION_CRASH in entries[0]["Contents"]
    assert "aws-iam-list-users" in entries[0]["Contents"] and "KeyError" in entries[0]["Contents"]
    assert entries_to_result(entries).ok is False


# --------------------------------------------------------------------------------------------
# XSOAR incidents -> IncidentInput and entities
# --------------------------------------------------------------------------------------------


def assert_sane_entities(found: Entities) -> None:
    for user in found.users:
        assert user == user.strip() and user.lower() not in PLACEHOLDER_USERS, user
        assert not user.startswith("arn:") and not user.endswith((".", ",")), user
        assert not re.fullmatch(r"\d{12}", user), f"account id taken for a user: {user}"
    for key in found.access_keys:
        assert KEY_RE.match(key), key
    for kind in Entities.model_fields:
        values = found.of(kind)
        assert len(values) == len(set(values)), f"duplicate {kind}: {values}"


@pytest.mark.parametrize("incident_id", sorted(INCIDENTS))
def test_fetched_incidents_normalise(incident_id: str) -> None:
    source = copy.deepcopy(INCIDENTS[incident_id])
    item = IncidentInput.from_xsoar(source)
    assert 0 <= item.severity <= 4
    assert_sane_entities(item.entities)
    json.dumps(item.model_dump(mode="json"))
    assert isinstance(item.task_text(), str)
    assert source == INCIDENTS[incident_id]  # the platform's object is not modified


@pytest.mark.parametrize(("incident_id", "users", "keys", "severity"), [
    ("101", ["app-worker"], ["ASIAEXAMPLETEMPKEY01"], 3),
    ("102", [], [], 1),  # actor.alternateId null, labels with None / False / [] values
    ("103", [], [], 3),  # cut rawJSON, "None"/"null"/"-" users
    ("104", [], ["AKIAIOSFODNN7EXAMPLE"], 0),  # rawJSON is plain text
    ("105", [], [], 3),  # severity "high"
    ("106", ["alice"], ["AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"], 2),
    ("107", ["root"], [], 4),  # root ARN names the root identity
    ("108", [], [], 0),  # service event: placeholders only
    ("109", ["app-worker", "i-0abcd1234ef567890", "carol"], [], 4),  # assumed-role principal ARN
    ("111", ["erin"], [], 4),  # rawJSON already an object, severity "4.0"
])
def test_incident_entities_per_real_shape(incident_id: str, users: list[str], keys: list[str], severity: int) -> None:
    item = IncidentInput.from_xsoar(INCIDENTS[incident_id])
    assert item.entities.users == users
    assert item.entities.access_keys == keys
    assert item.severity == severity


def test_regression_repeated_label_types_all_count() -> None:
    incident = {"rawJSON": "{}", "labels": [{"type": "user", "value": "alice"}, {"type": "user", "value": "bob"},
                                            {"type": ["odd"], "value": "carol"}, {"type": None, "value": None}]}
    assert IncidentInput.from_xsoar(incident).entities.users == ["alice", "bob"]


@pytest.mark.parametrize(("severity", "expected"), [
    ("Critical", 4), ("informational", 0), (float("inf"), 4), (float("-inf"), 0), (float("nan"), 0), ("4.0", 4),
    (0.5, 0), (-3, 0), (7, 4), ("", 0), (None, 0), ([3], 0)])
def test_regression_severity_names_and_overflow(severity: Any, expected: int) -> None:
    assert IncidentInput.from_xsoar({"severity": severity}).severity == expected


def test_regression_nested_raw_json_keeps_the_text() -> None:
    raw = "[" * 100_000 + "]" * 100_000
    item = IncidentInput.from_xsoar({"rawJSON": raw, "labels": [{"type": "user", "value": raw}]})
    assert item.raw_alert == raw and item.entities.users == []


@pytest.mark.parametrize(("record", "users"), [
    (CLOUDTRAIL["valid"][2], ["bob", "federation-broker"]),  # FederatedUser: the federated name is the user
    (CLOUDTRAIL["valid"][5], ["root"]),
    (CLOUDTRAIL["valid"][13], []),  # HIDDEN_DUE_TO_SECURITY_REASONS
    (CLOUDTRAIL["edge_shapes"][1], []),  # ANONYMOUS_PRINCIPAL has no userName, and no account-id user
    ({"account": "123456789012", "user": "arn:aws:iam::123456789012:user/dave.", "text":
      "changed by arn:aws:iam::123456789012:user/erin."}, ["dave", "erin"]),
])
def test_regression_cloudtrail_identity_users(record: dict[str, Any], users: list[str]) -> None:
    found = extract_entities(record)
    assert found.users == users
    assert_sane_entities(found)


@pytest.mark.parametrize("record", CLOUDTRAIL["valid"] + CLOUDTRAIL["edge_shapes"] + OKTA["valid"]
                         + OKTA["edge_shapes"] + API["valid"] + API["raw_json_format"] + API["documented_format"])
def test_record_entities_are_sane(record: dict[str, Any]) -> None:
    found = extract_entities(record)
    assert_sane_entities(found)
    assert extract_entities(record) == found


# --------------------------------------------------------------------------------------------
# Deterministic scoring over the simulator's outputs
# --------------------------------------------------------------------------------------------


def simulator_observations(soc: SimulatedSOC) -> list[dict[str, Any]]:
    observations = []
    for command, args in READ_CALLS:
        result = entries_to_result(soc.dispatch(command, args))
        if result.ok:
            observations.append({"tool": command, "args": args, "output": result.output,
                                 "evidence_id": f"E{len(observations) + 1}"})
    return observations


def test_scoring_over_every_simulator_output(soc: SimulatedSOC) -> None:
    observations = simulator_observations(soc)
    assert len(observations) > 50
    incident = IncidentInput.from_xsoar(INCIDENTS["106"])
    assessment, actions = score_evidence(observations, incident)
    ThreatAssessment.model_validate(assessment.model_dump())
    # alice's key created and AdministratorAccess attached from a bad IP: a true positive with its actions
    assert assessment.verdict == "true_positive", assessment.summary
    proposed = {(a.action, tuple(sorted(a.args.items()))) for a in actions}
    assert ("iam_detach_user_policy", (("policy_arn", "arn:aws:iam::aws:policy/AdministratorAccess"),
                                       ("user_name", "alice"))) in proposed
    assert ("block_ip", (("ip", BAD_IP),)) in proposed
    for observation in observations:  # one output at a time, as an early ReAct step sees it
        single, _ = score_evidence([observation], incident)
        assert single.verdict in ("true_positive", "false_positive", "suspicious", "inconclusive")


def api_observation(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"tool": "splunk_search", "args": {}, "output": {"Splunk.Result": records}, "evidence_id": "E1"}]


def test_regression_api_gateway_strings_are_numbers() -> None:
    denied = [dict(API["raw_json_format"][0], requestId=f"r{n}") for n in range(20)]  # status "403", length "-"
    assessment, _ = score_evidence(api_observation(denied), {"text": ""})
    assert "api_volume_anomaly" in assessment.summary and "20 denied" in assessment.summary
    big = [dict(API["raw_json_format"][1], requestId="big", responseBytes="60000000.0")]
    assessment, _ = score_evidence(api_observation(big + API["raw_json_format"]), {"text": ""})
    assert "api_volume_anomaly" in assessment.summary


def test_regression_api_gateway_splunk_results_from_the_simulator(soc: SimulatedSOC) -> None:
    entries = soc.dispatch("splunk-search", {"query": "index=apigw_raw", "earliest_time": "-30d"})
    output = entries_to_result(entries).output
    assessment, _ = score_evidence([{"tool": "splunk_search", "args": {}, "output": output, "evidence_id": "E1"}],
                                   {"text": ""})
    assert "api_sensitive_paths" in assessment.summary


def test_regression_mixed_naive_and_aware_event_times() -> None:
    rows = [{"EventName": "ListUsers", "EventId": "e1", "EventTime": "2024-05-13T02:13:07", "Username": "bob"},
            dict(CLOUDTRAIL["valid"][0], eventName="ListUsers", eventID="e2", errorCode=None)]
    assessment, _ = score_evidence([{"tool": "t", "args": {}, "output": rows, "evidence_id": "E1"}], {"text": ""})
    # (documentation addresses count as private in ipaddress, hence known_good_ips; the point is: no TypeError)
    assert "cloudtrail" in assessment.summary and assessment.verdict != "true_positive"


@pytest.mark.parametrize("score", [float("nan"), float("inf"), -1e308, True, "3", "high", None, [3]])
def test_regression_odd_reputation_numbers(score: Any) -> None:
    output = {"DBotScore": [{"Indicator": "198.51.100.9", "Type": "ip", "Score": score}],
              "AbuseIPDB": {"IP": {"Address": "198.51.100.9", "AbuseConfidenceScore": score}},
              "Exabeam": {"User": {"Username": "bob", "RiskScore": score, "AverageRiskScore": score}}}
    assessment, _ = score_evidence([{"tool": "t", "args": {}, "output": output, "evidence_id": "E1"}], {"text": ""})
    malicious = "ip_malicious" in assessment.summary
    assert malicious == (score == "3")  # a numeric string is a number, everything odd is no evidence


@pytest.mark.parametrize("incident", [None, "text", 5, {"text": None}, IncidentInput()])
def test_regression_odd_observations_and_incident(incident: Any) -> None:
    observations = ["x", None, 3, {"evidence_id": "E²", "output": {"DBotScore": [
        {"Indicator": BAD_IP, "Type": "ip", "Score": 3}]}}, {"output": {(1, 2): "tuple key"}}]
    assessment, actions = score_evidence(observations, incident)
    assert assessment.verdict in ("suspicious", "inconclusive", "true_positive")
    assert all(a.evidence_refs == ["E²"] for a in actions)


# --------------------------------------------------------------------------------------------
# Envelope over real shapes: no false positives, secrets still go
# --------------------------------------------------------------------------------------------


def benign_values(soc: SimulatedSOC) -> list[Any]:
    values: list[Any] = [*CLOUDTRAIL["valid"], *CLOUDTRAIL["edge_shapes"], *OKTA["valid"], *OKTA["edge_shapes"],
                         *API["valid"], *API["raw_json_format"], *API["documented_format"], *INCIDENTS.values()]
    values += [o["output"] for o in simulator_observations(soc)]
    return values


def test_no_injection_findings_on_benign_real_shapes(soc: SimulatedSOC) -> None:
    for value in benign_values(soc):
        assert detect_injection(value) == [], json.dumps(value)[:300]


def test_redactor_leaves_benign_real_shapes_alone(soc: SimulatedSOC) -> None:
    redactor = Redactor()
    for value in benign_values(soc):
        assert redactor.redact(value) == json.loads(json.dumps(value)), json.dumps(value)[:300]


def test_regression_redactor_keeps_json_text_parseable() -> None:
    record = {"eventName": "GetSessionToken", "responseElements": {"credentials": {
        "accessKeyId": "ASIAEXAMPLESESSION01", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLETOKENVALUE0123456789", "expiration": "May 14, 2024, 3:00:00 AM"}}}
    text = json.dumps(record)
    redacted = Redactor().redact_text(text)
    parsed = json.loads(redacted)
    creds = parsed["responseElements"]["credentials"]
    assert creds["secretAccessKey"] == REDACTED and creds["sessionToken"] == REDACTED
    assert creds["accessKeyId"] == "ASIAEXAMPLESESSION01" and creds["expiration"].startswith("May")


@pytest.mark.parametrize("max_chars", [200, 1000, 4000])
def test_compaction_fits_real_shapes(soc: SimulatedSOC, max_chars: int) -> None:
    for value in benign_values(soc):
        compacted, dropped = compact(value, max_chars=max_chars)
        assert len(json.dumps(compacted, ensure_ascii=False, default=str)) <= max_chars
        assert all(isinstance(line, str) for line in dropped)
