"""Smoke test: the eval harness runs two bundled scenarios through the real runner and reports every metric."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

try:
    import localsoc.runner  # noqa: F401

    RUNNER_ERROR = ""
except ImportError as error:  # the runner lands separately; the metric tests do not need it
    RUNNER_ERROR = f"localsoc.runner is not importable yet: {error}"


@pytest.mark.skipif(bool(RUNNER_ERROR), reason=RUNNER_ERROR or "runner available")
def test_eval_runs_two_bundled_scenarios(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import eval as eval_script  # scripts/eval.py
    finally:
        sys.path.remove(str(REPO / "scripts"))
    scenarios = REPO / "tests" / "scenarios"
    picks = [scenarios / "iam_anomaly_leaked_key_tp.json", scenarios / "iam_anomaly_key_rotation_fp.json"]
    out = tmp_path / "eval.json"
    assert eval_script.main([*map(str, picks), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| **overall** |" in table and "Confusion matrix" in table
    report = json.loads(out.read_text())
    assert report["overall"]["incidents"] == 2
    assert {i["scenario"] for i in report["incidents"]} == {"iam_anomaly_leaked_key_tp", "iam_anomaly_key_rotation_fp"}
    for key in ("tp_precision", "automation_rate", "entity_recall", "attack_id_precision", "must_recommend_recall",
                "steps", "tool_calls", "tokens", "wall_ms"):
        assert key in report["overall"]
    assert all(i["run_ok"] for i in report["incidents"]), report["incidents"]
    assert report["meta"]["provider"] == "deterministic" and "not a language model" in report["meta"]["note"]
