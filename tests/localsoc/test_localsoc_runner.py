"""The runner over the real pack code and the simulated SOC: routing, approvals, rollback, flagship scenarios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from localsoc_testkit import FIXTURES

from localsoc.runner import FLAGSHIP_PLAYBOOKS, LocalRuntime, flagship_for, gateway_params, run_playbook
from localsoc.soc import SimulatedSOC, load_scenario
from localsoc.soc.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "tests" / "scenarios").glob("*.json"))
SMOKE = str(FIXTURES / "runner_smoke.yml")
LEAKED = REPO / "tests" / "scenarios" / "iam_anomaly_leaked_key_tp.json"


@pytest.fixture(scope="module")
def leaked() -> Scenario:
    return load_scenario(LEAKED)


def test_smoke_routes_script_soc_builtin_and_approval(leaked: Scenario) -> None:
    outcome = run_playbook(SMOKE, leaked, approve="all")
    assert outcome.status == "completed", outcome.failure
    routes = {c.command: c.route for c in outcome.commands}
    assert routes["AIReasoningExtractEntities"] == "script"
    assert routes["ip"] == routes["aws-iam-get-user"] == routes["aws-iam-update-access-key"] == "soc"
    assert routes["setIncident"] == "builtin"
    assert outcome.incident["CustomFields"]["aireasoningverdict"] == "suspicious"
    assert [a["command"] for a in outcome.undo_log] == ["aws-iam-update-access-key"]
    assert outcome.approvals[0].approvers == ["local-approver-1"]
    assert any(w["brand"] == "AWS - IAM" for w in outcome.war_room)  # task results reach the war room
    assert "AIReasoning" in outcome.context and "DBotScore" in outcome.context


@pytest.mark.parametrize("mode", ["none", "timeout"])
def test_smoke_rejected_or_timed_out_changes_nothing(leaked: Scenario, mode: str) -> None:
    before = SimulatedSOC(leaked).snapshot()
    outcome = run_playbook(SMOKE, leaked, approve=mode)
    assert outcome.status == "completed"
    assert outcome.undo_log == []
    assert outcome.soc_state == before
    assert outcome.approvals[0].timed_out is (mode == "timeout")


def test_unsupported_feature_is_a_failed_run_naming_the_task(leaked: Scenario) -> None:
    outcome = run_playbook(str(FIXTURES / "unsupported_operator.yml"), leaked)
    assert outcome.status == "failed"
    assert outcome.failure.kind == "unsupported" and outcome.failure.task_id == "7"
    assert "isSameWeekAs" in outcome.failure.message
    assert outcome.commands == []


def test_missing_playbook_is_a_failed_run(leaked: Scenario) -> None:
    outcome = run_playbook("No Such Playbook", leaked)
    assert outcome.status == "failed" and "not found" in outcome.failure.message


def test_is_available_follows_scenario_and_brand(leaked: Scenario) -> None:
    data = json.loads(LEAKED.read_text())
    data["disabled_integrations"] = ["Okta v2"]
    rt = LocalRuntime(Scenario.from_dict(data))
    assert rt.is_available("Set") and rt.is_available("AIReasoningExtractEntities")
    assert rt.is_available("aws-iam-get-user", "AWS - IAM")
    assert not rt.is_available("aws-iam-get-user", "Okta v2")
    assert not rt.is_available("okta-get-user")


def test_gateway_params_from_environment() -> None:
    assert gateway_params("deterministic", {}) == {"provider": "Deterministic"}
    p = gateway_params("openai-compatible", {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k",
                                             "OPENAI_MODEL": "m"})
    assert p["base_url"] == "http://127.0.0.1:9/v1" and p["credentials"]["password"] == "k"
    assert p["model_override"] == "m"
    assert gateway_params("anthropic", {"ANTHROPIC_API_KEY": "sk"})["credentials"]["password"] == "sk"
    with pytest.raises(ValueError):
        gateway_params("nope", {})


def test_flagship_mapping_covers_every_bundled_category() -> None:
    for path in SCENARIOS:
        assert flagship_for(load_scenario(path).category) in FLAGSHIP_PLAYBOOKS.values()


# --- the flagship playbooks on the bundled scenarios (end to end, deterministic reasoner) --------


def _flagship(scenario: Scenario) -> str:
    name = flagship_for(scenario.category)
    rt = LocalRuntime(scenario)
    if name is None or rt.library.find(name) is None:
        pytest.skip(f"flagship playbook for {scenario.category} not shipped yet")
    return name


# Scenarios whose expected verdict the deterministic reasoner does not reach yet (it answers "inconclusive" on
# these false positives). Listed, not hidden: strict xfail turns into a failure the day the engine gets them
# right, so the entry must then be removed. The playbooks themselves complete on all of them.
# Empty since the rules learned the partner's nightly schedule (api_key_baseline: the same key, IP, hour and
# paths on earlier nights) and the traveller's enrolled device (okta_known_device: Okta's New Device=NEGATIVE,
# the factor and fingerprint seen before); see docs/engine.md.
KNOWN_VERDICT_GAPS: set[str] = set()


def _verdict_params() -> list[Any]:
    return [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="deterministic reasoner verdict gap"))
            if p.stem in KNOWN_VERDICT_GAPS else p for p in SCENARIOS]


@pytest.mark.parametrize("path", _verdict_params(), ids=[p.stem for p in SCENARIOS])
def test_flagship_playbook_reaches_the_expected_verdict(path: Path) -> None:
    scenario = load_scenario(path)
    outcome = run_playbook(_flagship(scenario), scenario, approve="all")
    assert outcome.status == "completed", outcome.failure
    assert outcome.deliverable is not None
    assert outcome.deliverable.get("status") in ("complete", "partial")
    if scenario.expect:
        assert outcome.verdict == scenario.expect["verdict"]


def _tp_with_actions() -> list[Path]:
    """True positives whose flagship playbook applies recommendations through the approval sub-playbook."""
    out = []
    for p in SCENARIOS:
        data = json.loads(p.read_text())
        expect = data.get("expect") or {}
        if data["category"] != "alert_triage" and expect.get("verdict") == "true_positive" and \
                expect.get("must_recommend") and p.stem not in KNOWN_VERDICT_GAPS:
            out.append(p)
    return out[:2]


@pytest.mark.parametrize("path", _tp_with_actions(), ids=lambda p: p.stem)
def test_approval_paths_granted_rejected_timed_out(path: Path) -> None:
    scenario = load_scenario(path)
    name = _flagship(scenario)
    pristine = SimulatedSOC(scenario).snapshot()
    statuses: dict[str, Any] = {}
    for mode in ("all", "none", "timeout"):
        outcome = run_playbook(name, scenario, approve=mode)
        assert outcome.status == "completed", (mode, outcome.failure)
        statuses[mode] = [r.get("status") for r in (outcome.deliverable or {}).get("recommendations", [])]
        if mode == "all":
            assert outcome.actions_executed >= 1
            assert outcome.soc_state != pristine
        else:
            assert outcome.actions_executed == 0
            assert outcome.soc_state == pristine
            assert outcome.approvals and all(a.timed_out is (mode == "timeout") for a in outcome.approvals)
    assert "executed" in statuses["all"]
    assert "executed" not in statuses["none"] and "executed" not in statuses["timeout"]


@pytest.mark.parametrize("path", _tp_with_actions()[:1], ids=lambda p: p.stem)
def test_rolled_back_actions_leave_the_state_as_it_was(path: Path) -> None:
    scenario = load_scenario(path)
    name = _flagship(scenario)
    rt = LocalRuntime(scenario, approvals=__import__("localsoc.playbook", fromlist=["ApproveAll"]).ApproveAll())
    pristine = rt.soc.snapshot()
    outcome = rt.run(name)
    assert outcome.actions_executed >= 1 and rt.soc.snapshot() != pristine
    rt.soc.rollback_all()
    assert rt.soc.snapshot() == pristine
