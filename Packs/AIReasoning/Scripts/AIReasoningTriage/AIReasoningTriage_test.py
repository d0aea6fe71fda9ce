"""AIReasoningTriage under the platform doubles: close only under the policy's auto-close rule, else route."""

import json

from tests.content.xsoar_harness import Tenant

SCRIPT = "AIReasoningTriage"


def triage(tenant):
    value = tenant.context["AIReasoning"]["Triage"]
    return value if isinstance(value, list) else [value]


def lenient(tenant):
    policy = json.loads(tenant.lists["AIReasoningPolicy"])
    policy["auto_close"].update({"min_confidence": 0.0, "max_severity": 4, "max_threat_level": "critical",
                                 "verdicts": ["false_positive", "suspicious", "inconclusive", "true_positive"]})
    tenant.lists["AIReasoningPolicy"] = json.dumps(policy)


def test_true_positive_is_routed_with_severity_not_closed():
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    result = tenant.run(SCRIPT, {"route_owner": "tier2"}, user="")
    assert result.ok, result.error_messages
    record = triage(tenant)[0]
    assert record["action"] == "routed" and tenant.closed == []
    assert tenant.incident["owner"] == "tier2" and tenant.incident["severity"] >= 3


def test_policy_disabled_auto_close_never_closes():
    tenant = Tenant("iam_anomaly_key_rotation_fp")
    policy = json.loads(tenant.lists["AIReasoningPolicy"])
    policy["auto_close"]["enabled"] = False
    tenant.lists["AIReasoningPolicy"] = json.dumps(policy)
    assert tenant.run(SCRIPT, {}, user="").ok
    assert tenant.closed == [] and "disabled" in triage(tenant)[0]["reason"]


def test_closes_only_when_the_policy_allows():
    tenant = Tenant("iam_anomaly_key_rotation_fp")
    lenient(tenant)
    assert tenant.run(SCRIPT, {}, user="").ok
    record = triage(tenant)[0]
    assert record["action"] == "closed"
    assert tenant.closed[0]["closeReason"] == "False Positive" and record["run_id"] in tenant.closed[0]["closeNotes"]
    assert tenant.incident["status"] == 2


def test_batch_triage_of_other_incidents():
    tenant = Tenant("iam_anomaly_key_rotation_fp")
    other = dict(tenant.incident, id="42", severity=1)
    tenant.other_incidents["42"] = json.loads(json.dumps(other))
    result = tenant.run(SCRIPT, {"incident_ids": "42"}, user="")
    assert result.ok, result.error_messages
    assert triage(tenant)[0]["incident_id"] == "42"
    assert ("getIncidents", {"id": "42"}) in tenant.calls
    assert tenant.other_incidents["42"]["CustomFields"]["aireasoningverdict"]
    assert tenant.incident["CustomFields"].get("aireasoningverdict") is None


def test_unknown_incident_in_batch_is_an_error():
    tenant = Tenant("iam_anomaly_key_rotation_fp")
    result = tenant.run(SCRIPT, {"incident_ids": "404"}, user="")
    assert not result.ok and "404 was not found" in result.error_messages[0]
