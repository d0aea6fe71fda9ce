"""The UEBA risk score follows the documented formula and separates the bundled TP from the FP."""

from __future__ import annotations

from soc_helpers import CT_ONLY, make_soc, one

from localsoc.soc import SimulatedSOC

KEY = "Exabeam.User(val.UserName && val.UserName === obj.UserName)"


def _risk(soc: SimulatedSOC, user: str) -> tuple[int, dict[str, int]]:
    entry = one(soc.dispatch("exabeam-get-user-info", {"username": user}))
    rules = {c["rule"]: c["points"] for c in entry["Contents"]["riskReasons"]}
    return entry["EntryContext"][KEY]["RiskScore"], rules


def test_true_positive_is_notable_with_baseline_components(tp_soc: SimulatedSOC) -> None:
    score, rules = _risk(tp_soc, "ci-deploy")
    assert score >= 90
    assert rules["new_country"] == 50 and rules["off_hours"] == 15 and rules["admin_grant"] == 20
    assert rules["bad_ip_reputation"] == 25 and rules["failures"] == 5
    assert score == sum(rules.values())


def test_false_positive_stays_below_threshold(fp_soc: SimulatedSOC) -> None:
    score, rules = _risk(fp_soc, "m.okafor")
    assert score < 90
    assert "new_country" not in rules and "bad_ip_reputation" not in rules
    assert rules["sensitive_change"] == 10


def test_api_key_volume_spike(api_soc: SimulatedSOC) -> None:
    score, rules = _risk(api_soc, "svc-partner-sync")
    assert rules["volume_spike"] == 40 and score >= 90


def test_no_baseline_uses_only_evidence_components() -> None:
    soc = make_soc(CT_ONLY)
    entry = one(soc.dispatch("exabeam-get-user-info", {"username": "a.chen"}))
    assert entry["Contents"]["baselineFound"] is False
    rules = {c["rule"] for c in entry["Contents"]["riskReasons"]}
    assert rules <= {"sensitive_change", "admin_grant", "failures", "bad_ip_reputation"}
    assert "sensitive_change" in rules and "failures" in rules
