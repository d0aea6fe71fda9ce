"""Scenario loading: bundled files are valid, and a broken file is reported with file name and JSON path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from soc_helpers import API, CT_ONLY, FP, SCENARIOS, TP

from localsoc.soc import Scenario, ScenarioError, SimulatedSOC, load_scenario
from localsoc.soc.scenario import scenario_schema


def _write(tmp_path: Path, data: object, name: str = "broken.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def _tp_data() -> dict:
    return json.loads(TP.read_text())


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.json")), ids=lambda p: p.name)
def test_bundled_scenarios_are_valid_and_have_expectations(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.expect and scenario.expect["verdict"] in {"true_positive", "false_positive", "suspicious",
                                                              "inconclusive"}
    json.loads(scenario.incident["rawJSON"])


def test_at_least_the_four_required_scenarios_exist() -> None:
    for path in (TP, FP, API, CT_ONLY):
        assert path.is_file(), path


def test_cloudtrail_only_scenario_has_nothing_but_incident_and_records() -> None:
    data = json.loads(CT_ONLY.read_text())
    assert set(data) == {"name", "description", "category", "incident", "datasets", "expect"}
    assert set(data["datasets"]) == {"cloudtrail"}


def test_missing_required_field_names_file_and_root_path(tmp_path: Path) -> None:
    data = _tp_data()
    del data["category"]
    path = _write(tmp_path, data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(path) in str(err.value)
    assert err.value.json_path == "$"
    assert "'category' is a required property" in str(err.value)


def test_bad_cloudtrail_time_points_at_the_record(tmp_path: Path) -> None:
    data = _tp_data()
    data["datasets"]["cloudtrail"][3]["eventTime"] = "2026-08-20 02:13:07"
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, data))
    assert err.value.json_path == "$.datasets.cloudtrail[3].eventTime"
    assert "2026-08-20 02:13:07" in str(err.value)


def test_wrong_enum_in_nested_identity(tmp_path: Path) -> None:
    data = _tp_data()
    data["datasets"]["cloudtrail"][0]["userIdentity"]["type"] = "IamUser"
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, data))
    assert err.value.json_path == "$.datasets.cloudtrail[0].userIdentity.type"


def test_unknown_disabled_integration_is_rejected(tmp_path: Path) -> None:
    data = _tp_data()
    data["disabled_integrations"] = ["Okta"]
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, data))
    assert err.value.json_path == "$.disabled_integrations[0]"


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"name": "x",\n  "category": }')
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "line 2" in str(err.value) and str(path) in str(err.value)


def test_raw_json_must_be_a_json_string(tmp_path: Path) -> None:
    data = _tp_data()
    data["incident"]["rawJSON"] = "{not json"
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, data))
    assert err.value.json_path == "$.incident.rawJSON"


def test_duplicate_event_ids_are_rejected(tmp_path: Path) -> None:
    data = _tp_data()
    data["datasets"]["cloudtrail"][1]["eventID"] = data["datasets"]["cloudtrail"][0]["eventID"]
    with pytest.raises(ScenarioError) as err:
        load_scenario(_write(tmp_path, data))
    assert err.value.json_path == "$.datasets.cloudtrail[1].eventID"


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read file"):
        load_scenario(tmp_path / "nope.json")


def test_from_dict_validates_and_now_defaults_after_last_event() -> None:
    data = _tp_data()
    scenario = Scenario.from_dict(data)
    assert scenario.now.isoformat() == "2026-08-20T02:31:29+00:00"
    data["now"] = "2026-08-21T00:00:00Z"
    assert Scenario.from_dict(data).now.isoformat() == "2026-08-21T00:00:00+00:00"
    data["category"] = "phishing"
    with pytest.raises(ScenarioError):
        Scenario.from_dict(data)


def test_vendor_record_definitions_are_documented() -> None:
    """The record definitions say which vendor shapes they admit (schema descriptions are the scenario docs)."""
    defs = scenario_schema()["$defs"]
    for name in ("cloudtrailRecord", "cloudtrailUserIdentity", "cloudtrailInsightDetails", "oktaEvent", "oktaActor",
                 "apiAccessRecord", "apiByteCount"):
        assert len(defs[name].get("description", "")) > 40, name
    assert "AwsCloudTrailInsight" in defs["cloudtrailRecord"]["description"]
    assert "ANONYMOUS_PRINCIPAL" in defs["cloudtrailUserIdentity"]["properties"]["accountId"]["description"]


def test_real_cloudtrail_shapes_in_a_bundled_scenario_load(tmp_path: Path) -> None:
    """An Insights event and an anonymous read added to a bundled scenario load and leave its IAM state alone."""
    data = _tp_data()
    base = load_scenario(TP)
    template = data["datasets"]["cloudtrail"][0]
    account = template.get("recipientAccountId", "123456789012")
    data["datasets"]["cloudtrail"] += [
        {"eventVersion": "1.08", "eventTime": template["eventTime"], "awsRegion": "us-east-1",
         "eventID": "0e1d2c3b-4a59-4876-9a3c-00000000ab01", "eventType": "AwsCloudTrailInsight",
         "recipientAccountId": account, "sharedEventID": "0e1d2c3b-4a59-4876-9a3c-00000000ab02",
         "eventCategory": "Insight",
         "insightDetails": {"state": "Start", "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
                            "insightType": "ApiCallRateInsight", "insightContext": {"statistics": {}}}},
        {"eventVersion": "1.09", "userIdentity": {"type": "AWSAccount", "principalId": "",
                                                  "accountId": "ANONYMOUS_PRINCIPAL"},
         "eventTime": template["eventTime"], "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
         "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.200",
         "eventID": "0e1d2c3b-4a59-4876-9a3c-00000000ab03",
         "eventType": "AwsApiCall", "managementEvent": False, "eventCategory": "Data", "readOnly": True,
         "recipientAccountId": account},
    ]
    path = _write(tmp_path, data, "with_real_shapes.json")
    extended = SimulatedSOC(load_scenario(path), reputation_feed=False)
    original = SimulatedSOC(base, reputation_feed=False)
    assert extended.state["iam"] == original.state["iam"]
    assert extended.permission_changes() == original.permission_changes()
