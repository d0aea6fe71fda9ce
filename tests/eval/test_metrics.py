"""Metric functions on hand-made results: each expected number is computed by hand in the comment above it."""

from __future__ import annotations

import pytest

from localsoc.eval import metrics as m
from localsoc.eval.metrics import IncidentResult


def r(expected: str, predicted: str, **kw: object) -> IncidentResult:
    return IncidentResult(scenario=kw.pop("scenario", f"{expected}->{predicted}"),  # type: ignore[arg-type]
                          category=kw.pop("category", "iam_anomaly"),  # type: ignore[arg-type]
                          expected_verdict=expected, predicted_verdict=predicted, **kw)  # type: ignore[arg-type]


VALID = {"T1078", "T1078.004", "T1098", "T1098.001", "T1530"}.__contains__


def test_confusion_matrix_counts_every_pair():
    results = [r("true_positive", "true_positive"), r("true_positive", "inconclusive"),
               r("false_positive", "false_positive"), r("false_positive", "suspicious")]
    matrix = m.confusion_matrix(results)
    assert matrix["true_positive"]["true_positive"] == 1
    assert matrix["true_positive"]["inconclusive"] == 1
    assert matrix["false_positive"]["suspicious"] == 1
    assert sum(sum(row.values()) for row in matrix.values()) == 4


def test_precision_recall_suspicious_is_positive_inconclusive_is_not():
    results = [r("true_positive", "suspicious"), r("true_positive", "inconclusive"),
               r("false_positive", "true_positive"), r("false_positive", "false_positive")]
    # predicted positive: 2 (suspicious, true_positive); correct: 1 -> 0.5; actual positive 2, found 1 -> 0.5
    assert m.precision_recall(results) == (0.5, 0.5)
    # strict: predicted TP only the FP one -> precision 0; recall 0 of 2
    assert m.precision_recall(results, m.STRICT_POSITIVE) == (0.0, 0.0)


def test_undefined_metrics_are_none_not_zero():
    results = [r("false_positive", "inconclusive")]
    assert m.precision_recall(results) == (None, None)
    assert m.auto_close_precision(results) is None
    assert m.human_override_rate(results) is None
    assert m.entity_recall(results) is None
    assert m.attack_id_precision(results, VALID) is None


def test_abstention_and_accuracy():
    results = [r("true_positive", "inconclusive"), r("false_positive", "inconclusive"),
               r("true_positive", "true_positive"), r("false_positive", "true_positive")]
    assert m.abstention_rate(results) == 0.5
    assert m.verdict_accuracy(results) == 0.25


def test_automation_requires_resolution_and_no_human():
    results = [
        r("false_positive", "false_positive", closed=True),  # auto-closed: automated
        r("true_positive", "true_positive", actions_executed=1),  # contained by itself: automated
        r("true_positive", "true_positive", actions_executed=1, human_decisions=1),  # a person approved: not
        r("true_positive", "true_positive"),  # only routed to a queue: not resolved
        r("false_positive", "inconclusive", closed=True, run_ok=False),  # failed run: not
    ]
    assert [x.automated for x in results] == [True, True, False, False, False]
    assert m.automation_rate(results) == 0.4


def test_auto_close_precision_only_counts_closes_without_a_human():
    results = [r("false_positive", "false_positive", closed=True),
               r("true_positive", "false_positive", closed=True),  # a wrongly auto-closed attack
               r("true_positive", "true_positive", closed=True, human_decisions=2)]  # closed by people: ignored
    assert m.auto_close_precision(results) == 0.5


def test_entity_recall_and_precision_normalise_values():
    res = r("true_positive", "true_positive",
            expected_entities={"users": ["CI-Deploy"], "keys": ["akiaxb7k2qz4cideply1", "AKIAOTHER0000000000A"],
                               "ips": ["45.148.10.240"]},
            predicted_entities={"users": ["arn:aws:iam::1:user/ci-deploy", "bob"], "keys": ["AKIAXB7K2QZ4CIDEPLY1"],
                                "ips": ["45.148.10.240", "10.0.0.1"]})
    # expected 4, hit 3 (user, one key, ip) -> 0.75; predicted 5, correct 3 -> 0.6
    assert m.entity_recall([res]) == 0.75
    assert m.entity_precision([res]) == 0.6
    assert m.entity_recall([res], ("keys",)) == 0.5


def test_attack_id_precision_needs_both_attack_data_and_expectation():
    res = r("true_positive", "true_positive", expected_attack_ids=["T1078.004", "T1098"],
            predicted_attack_ids=["T1078.004", "T1098.001", "T1530", "T9999"])
    # exact: only T1078.004 is valid AND expected -> 1/4
    assert m.attack_id_precision([res], VALID) == 0.25
    # lenient: T1098.001 shares the parent of expected T1098 -> 2/4; T9999 is not in ATT&CK
    assert m.attack_id_precision([res], VALID, lenient=True) == 0.5
    assert m.attack_id_validity([res], VALID) == 0.75
    assert m.attack_id_recall([res]) == 0.5


def test_expected_but_invented_id_is_not_precise():
    res = r("true_positive", "true_positive", expected_attack_ids=["T9999"], predicted_attack_ids=["T9999"])
    assert m.attack_id_precision([res], VALID) == 0.0


def test_real_attack_data_validator():
    valid = m.attack_validator()
    assert valid("T1078.004") and valid("T1098.001")
    assert not valid("T9999") and not valid("T1078.999")


def test_actions_map_tools_to_commands_and_score_must_and_must_not():
    commands = m.map_actions_to_commands(["iam_deactivate_access_key", "block_ip", "block_ip", "made_up"],
                                         {"iam_deactivate_access_key": "aws-iam-update-access-key",
                                          "block_ip": "zscaler-blacklist-ip"})
    assert commands == ["aws-iam-update-access-key", "zscaler-blacklist-ip", "made_up"]
    good = r("true_positive", "true_positive", must_recommend=["aws-iam-update-access-key"],
             recommended_commands=commands)
    missing = r("true_positive", "true_positive", must_recommend=["aws-iam-detach-policy",
                                                                   "aws-iam-update-access-key"],
                recommended_commands=commands)
    forbidden = r("false_positive", "suspicious", must_not_recommend=["zscaler-blacklist-ip"],
                  recommended_commands=commands)
    results = [good, missing, forbidden]
    # must: 1 + 2 expected, 1 + 1 found -> 2/3
    assert m.must_recommend_recall(results) == pytest.approx(0.6667)
    assert m.must_not_violations(results) == 1
    assert m.action_correctness(results) == pytest.approx(0.3333)


def test_human_override_rate():
    results = [r("true_positive", "true_positive", recommendations_decided=3, recommendations_rejected=1),
               r("true_positive", "true_positive", recommendations_decided=1)]
    assert m.human_override_rate(results) == 0.25


def test_summarise_and_by_category():
    results = [r("true_positive", "true_positive", category="a", steps=2, tool_calls=4, wall_ms=100.0),
               r("false_positive", "false_positive", category="b", closed=True, steps=4, tool_calls=2, wall_ms=300.0)]
    summary = m.summarise(results, VALID)
    assert summary["incidents"] == 2 and summary["verdict_accuracy"] == 1.0
    assert summary["steps"] == {"mean": 3, "median": 3, "max": 4}
    assert summary["auto_close_precision"] == 1.0 and summary["auto_closed"] == 1
    cats = m.by_category(results, VALID)
    assert set(cats) == {"a", "b"} and cats["a"]["tp_recall"] == 1.0 and cats["b"]["tp_recall"] is None
