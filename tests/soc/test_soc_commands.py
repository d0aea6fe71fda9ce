"""Every simulated command answers with the real integration's argument names and context paths."""

from __future__ import annotations

import json

from soc_helpers import FP, make_soc, one

from localsoc.soc import COMMANDS, SimulatedSOC

ATTACKER = "45.148.10.240"
CI_KEY, NEW_KEY = "AKIAXB7K2QZ4CIDEPLY1", "AKIAXB7K2QZ4R7V9HW3M"
ATTACHED_KEY = ("AWS.IAM.AttachedUserPolicies(val.PolicyArn && val.UserName && val.PolicyArn === obj.PolicyArn && "
                "val.UserName === obj.UserName)")


def test_entry_shape_matches_command_results(tp_soc: SimulatedSOC) -> None:
    entry = one(tp_soc.dispatch("aws-iam-get-user", {"userName": "ci-deploy"}))
    for key in ("Type", "ContentsFormat", "Contents", "HumanReadable", "EntryContext", "Brand", "ModuleName"):
        assert key in entry
    assert entry["Type"] == 1 and entry["Brand"] == "AWS - IAM" and entry["ModuleName"] == "AWS - IAM_instance_1"
    assert entry["HumanReadable"].startswith("### AWS IAM Users")


def test_generic_ip_one_entry_per_ip_with_dbot_and_abuseipdb_paths(tp_soc: SimulatedSOC) -> None:
    entries = tp_soc.dispatch("ip", {"ip": f"{ATTACKER},198.51.100.23"})
    assert entries is not None and len(entries) == 2
    bad, good = entries
    ctx = bad["EntryContext"]
    assert ctx["DBotScore"] == [{"Indicator": ATTACKER, "Type": "ip", "Vendor": "AbuseIPDB", "Score": 3,
                                 "Reliability": "C - Fairly reliable"}]
    abuse = ctx["AbuseIPDB(val.IP.Address && val.IP.Address == obj.IP.Address)"][0]["IP"]
    assert abuse["Address"] == ATTACKER and abuse["AbuseConfidenceScore"] >= 80 and abuse["Malicious"]["Vendor"]
    assert ctx["IP(val.Address && val.Address == obj.Address)"][0]["Geo"]["Country"] == "Netherlands"
    assert good["EntryContext"]["DBotScore"][0]["Score"] == 1  # known-good override
    assert bad["Brand"] == "AbuseIPDB"


def test_ip_rejects_non_ip_with_error_entry(tp_soc: SimulatedSOC) -> None:
    assert one(tp_soc.dispatch("ip", {"ip": "not-an-ip"}))["Type"] == 4


def test_iam_get_user_found_and_not_found(tp_soc: SimulatedSOC) -> None:
    ctx = one(tp_soc.dispatch("aws-iam-get-user", {"userName": "ci-deploy"}))["EntryContext"]
    assert set(ctx["AWS.IAM.Users"]) == {"UserName", "UserId", "Arn", "CreateDate", "Path"}
    assert ctx["AWS.IAM.Users"]["Arn"] == "arn:aws:iam::482916374051:user/ci-deploy"
    missing = one(tp_soc.dispatch("aws-iam-get-user", {"userName": "ghost"}))
    assert missing["Type"] == 1 and missing["Contents"] == "User ghost was not found." and not missing["EntryContext"]


def test_iam_list_users(tp_soc: SimulatedSOC) -> None:
    users = one(tp_soc.dispatch("aws-iam-list-users", {}))["EntryContext"]["AWS.IAM.Users"]
    assert {u["UserName"] for u in users} == {"ci-deploy", "m.okafor"}


def test_iam_access_keys_include_key_created_in_records(tp_soc: SimulatedSOC) -> None:
    ctx = one(tp_soc.dispatch("aws-iam-list-access-keys-for-user", {"userName": "ci-deploy"}))["EntryContext"]
    keys = ctx["AWS.IAM.Users(val.UserName === obj.UserName).AccessKeys"]
    assert [k["AccessKeyId"] for k in keys] == [CI_KEY, NEW_KEY]
    assert all(set(k) == {"UserName", "AccessKeyId", "Status", "CreateDate"} for k in keys)
    assert keys[1]["CreateDate"] == "2026-08-20T02:15:11"


def test_iam_attached_policies_include_admin_grant_and_paging(tp_soc: SimulatedSOC) -> None:
    ctx = one(tp_soc.dispatch("aws-iam-list-attached-user-policies", {"userName": "ci-deploy"}))["EntryContext"]
    arns = [p["PolicyArn"] for p in ctx[ATTACHED_KEY]]
    assert "arn:aws:iam::aws:policy/AdministratorAccess" in arns
    assert "AWS.IAM.Users(val.UserName === 'ci-deploy').AttachedPoliciesMarker" in ctx
    page = one(tp_soc.dispatch("aws-iam-list-attached-user-policies",
                               {"userName": "ci-deploy", "page": "2", "page_size": "1"}))["EntryContext"]
    assert [p["PolicyName"] for p in page[ATTACHED_KEY]] == ["IAMFullAccess"]


def test_iam_unknown_user_is_an_aws_error(tp_soc: SimulatedSOC) -> None:
    entry = one(tp_soc.dispatch("aws-iam-list-access-keys-for-user", {"userName": "ghost"}))
    assert entry["Type"] == 4 and "NoSuchEntity" in entry["Contents"] and "ghost" in entry["Contents"]


def test_iam_user_inline_policies_and_groups(ct_soc: SimulatedSOC) -> None:
    ctx = one(ct_soc.dispatch("aws-iam-list-user-policies", {"userName": "a.chen"}))["EntryContext"]
    key = ("AWS.IAM.UserPolicies(val.PolicyName && val.UserName && val.PolicyName === obj.PolicyName && "
           "val.UserName === obj.UserName)")
    assert ctx[key] == [{"UserName": "a.chen", "PolicyName": "ops-debug"}]
    groups = one(ct_soc.dispatch("aws-iam-list-groups-for-user", {"userName": "svc-metrics-exporter"}))
    rows = groups["EntryContext"]["AWS.IAM.Users(val.UserName === obj.UserName).Groups"]
    assert [g["GroupName"] for g in rows] == ["Administrators"]
    assert set(rows[0]) == {"UserName", "GroupName", "GroupId", "Arn", "CreateDate", "Path"}


def test_access_key_last_used(tp_soc: SimulatedSOC) -> None:
    ctx = one(tp_soc.dispatch("aws-iam-get-access-key-last-used", {"accessKeyId": NEW_KEY}))["EntryContext"]
    data = ctx["AWS.IAM.AccessKey(val.ID && val.ID == obj.ID)"]
    assert data == {"ID": NEW_KEY, "UserName": "ci-deploy", "LastUsedServiceName": "s3",
                    "LastUsedRegion": "us-east-1", "LastUsedDate": "2026-08-20T02:21:29"}
    assert one(tp_soc.dispatch("aws-iam-get-access-key-last-used", {"accessKeyId": "AKIANOPE"}))["Type"] == 4


def test_cloudtrail_lookup_by_access_key_newest_first_with_real_keys(tp_soc: SimulatedSOC) -> None:
    entry = one(tp_soc.dispatch("aws-cloudtrail-lookup-events", {"attributeKey": "AccessKeyId",
                                                                 "attributeValue": NEW_KEY}))
    events = entry["EntryContext"]["AWS.CloudTrail.Events(val.EventId == obj.EventId)"]
    assert [e["EventName"] for e in events] == ["ListBuckets", "GetSecretValue", "ListSecrets", "GetCallerIdentity"]
    first = events[0]
    assert set(first) >= {"EventId", "EventName", "EventTime", "EventSource", "ResourceName", "ResourceType",
                          "CloudTrailEvent", "Username"}
    assert json.loads(first["CloudTrailEvent"])["userIdentity"]["accessKeyId"] == NEW_KEY
    assert first["EventTime"] == "2026-08-20T02:21:29"


def test_cloudtrail_lookup_other_attributes_time_window_and_max_results(tp_soc: SimulatedSOC) -> None:
    def names(args: dict) -> list[str]:
        entry = one(tp_soc.dispatch("aws-cloudtrail-lookup-events", args))
        return [e["EventName"] for e in entry["EntryContext"]["AWS.CloudTrail.Events(val.EventId == obj.EventId)"]]

    assert names({"attributeKey": "EventName", "attributeValue": "AttachUserPolicy"}) == ["AttachUserPolicy"]
    assert names({"attributeKey": "ResourceName", "attributeValue": "arn:aws:iam::aws:policy/AdministratorAccess"}) \
        == ["AttachUserPolicy"]
    assert names({"attributeKey": "EventSource", "attributeValue": "ecr.amazonaws.com"}) == ["GetAuthorizationToken"]
    assert len(names({"attributeKey": "Username", "attributeValue": "ci-deploy"})) == 11
    window = names({"attributeKey": "Username", "attributeValue": "ci-deploy",
                    "startTime": "2026-08-20T02:15:00", "endTime": "2026-08-20T02:21:00"})
    assert window == ["GetSecretValue", "ListSecrets", "GetCallerIdentity", "AttachUserPolicy", "CreateAccessKey"]
    assert names({"attributeKey": "Username", "attributeValue": "ci-deploy", "maxResults": "2"}) \
        == ["ListBuckets", "GetSecretValue"]
    bad = one(tp_soc.dispatch("aws-cloudtrail-lookup-events", {"attributeKey": "SourceIp", "attributeValue": "x"}))
    assert bad["Type"] == 4 and "InvalidLookupAttributesException" in bad["Contents"]


def test_okta_get_user_by_login_id_and_email(fp_soc: SimulatedSOC) -> None:
    for args in ({"username": "m.okafor@example.com"}, {"userId": "00u8q2k4hXwZr1abc357"},
                 {"userEmail": "m.okafor@example.com"}):
        entry = one(fp_soc.dispatch("okta-get-user", args))
        account = entry["EntryContext"]["Account(val.ID && val.ID === obj.ID)"][0]
        assert account["ID"] == "00u8q2k4hXwZr1abc357" and account["Type"] == "Okta"
        assert account["Status"] == "ACTIVE" and account["Username"] == "m.okafor@example.com"
        assert "Okta.Metadata(true)" in entry["EntryContext"]
    missing = one(fp_soc.dispatch("okta-get-user", {"username": "nobody@example.com"}))
    assert "was not found" in missing["HumanReadable"]
    assert one(fp_soc.dispatch("okta-get-user", {}))["Type"] == 4


def test_okta_get_logs_filter_query_time_and_limit(fp_soc: SimulatedSOC) -> None:
    key = "Okta.Logs.Events(val.uuid && val.uuid === obj.uuid)"
    entry = one(fp_soc.dispatch("okta-get-logs", {"filter": 'eventType eq "user.session.start"'}))
    assert [e["eventType"] for e in entry["EntryContext"][key]] == ["user.session.start"]
    both = one(fp_soc.dispatch("okta-get-logs", {
        "filter": 'actor.alternateId eq "m.okafor@example.com" and target.type eq "AppInstance"'}))
    assert [e["eventType"] for e in both["EntryContext"][key]] == ["user.authentication.sso"]
    query = one(fp_soc.dispatch("okta-get-logs", {"query": "Okta Verify"}))
    assert [e["eventType"] for e in query["EntryContext"][key]] == ["user.authentication.auth_via_mfa"]
    window = one(fp_soc.dispatch("okta-get-logs", {"since": "2026-08-18T15:01:00Z", "sortOrder": "DESCENDING",
                                                   "limit": "1"}))
    assert [e["eventType"] for e in window["EntryContext"][key]] == ["user.authentication.sso"]
    assert "Chrome" not in window["HumanReadable"] or "CHROME" in window["HumanReadable"]
    bad = one(fp_soc.dispatch("okta-get-logs", {"filter": 'eventType eq "a" or eventType eq "b"'}))
    assert bad["Type"] == 4 and "'and'" in bad["Contents"]


def test_okta_failed_logins_and_groups(fp_soc: SimulatedSOC) -> None:
    assert one(fp_soc.dispatch("okta-get-failed-logins", {}))["HumanReadable"] == "No logs found"
    entry = one(fp_soc.dispatch("okta-get-groups", {"username": "m.okafor@example.com"}))
    account = entry["EntryContext"]["Account(val.ID && val.ID === obj.ID)"]
    assert account["ID"] == "00u8q2k4hXwZr1abc357" and account["Type"] == "Okta"
    assert [g["Name"] for g in account["Group"]] == ["cloud-admins"]
    assert one(fp_soc.dispatch("okta-get-groups", {"username": "ghost@example.com"}))["Type"] == 4


def test_exabeam_user_info_context_paths(tp_soc: SimulatedSOC) -> None:
    entry = one(tp_soc.dispatch("exabeam-get-user-info", {"username": "ci-deploy"}))
    user = entry["EntryContext"]["Exabeam.User(val.UserName && val.UserName === obj.UserName)"]
    assert user["Username"] == "ci-deploy" and user["RiskScore"] >= 90
    assert set(user) <= {"Username", "RiskScore", "AverageRiskScore", "LastSessionID", "FirstSeen", "LastSeen",
                         "LastActivityType", "Label", "AccountNames", "PeerGroupFieldName", "PeerGroupFieldValue",
                         "PeerGroupDisplayName", "PeerGroupType"}
    assert entry["Contents"]["riskReasons"] and "Risk reasons" in entry["HumanReadable"]
    assert "not found" in one(tp_soc.dispatch("exabeam-get-user-info", {"username": "ghost"}))["HumanReadable"]


def test_waf_ip_set_get_and_list(tp_soc: SimulatedSOC) -> None:
    key = "AWS.Waf.IpSet(val.Id && val.Id == obj.Id)"
    ip_set = one(tp_soc.dispatch("aws-waf-ip-set-list", {}))["EntryContext"][key]
    assert ip_set[0]["Name"] == "localsoc-blocklist"
    got = one(tp_soc.dispatch("aws-waf-ip-set-get", {"name": "localsoc-blocklist", "id": ip_set[0]["Id"]}))
    assert got["EntryContext"][key]["Addresses"] == []
    assert one(tp_soc.dispatch("aws-waf-ip-set-get", {"name": "other", "id": ip_set[0]["Id"]}))["Type"] == 4


def test_missing_required_argument_is_an_error_entry(tp_soc: SimulatedSOC) -> None:
    entry = one(tp_soc.dispatch("aws-iam-update-access-key", {"userName": "ci-deploy", "status": "Inactive"}))
    assert entry["Type"] == 4 and "accessKeyId" in entry["Contents"]


def test_unknown_command_and_using_brand(tp_soc: SimulatedSOC) -> None:
    assert tp_soc.dispatch("aws-iam-get-userx", {"userName": "a"}) is None
    assert tp_soc.dispatch("ip", {"ip": ATTACKER, "using-brand": "VirusTotal"}) is None
    assert tp_soc.dispatch("ip", {"ip": ATTACKER, "using-brand": "AbuseIPDB"}) is not None
    assert tp_soc.dispatch("ip", {"ip": ATTACKER, "using": "AbuseIPDB_instance_1"}) is not None


def test_every_registered_command_has_a_handler() -> None:
    soc = make_soc(FP)
    for spec in COMMANDS.values():
        assert callable(getattr(soc, spec.handler)), spec.name
