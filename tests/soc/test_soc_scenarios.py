"""Scenario loading: bundled files are valid, and a broken file is reported with file name and JSON path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from soc_helpers import API, CT_ONLY, FP, SCENARIOS, TP

from localsoc.soc import Scenario, ScenarioError, load_scenario


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
