"""CLI: exit codes, progress, summary, reports, missing flagship playbooks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from localsoc_testkit import FIXTURES

import localsoc.cli as cli

REPO = Path(__file__).resolve().parents[2]
LEAKED = str(REPO / "tests" / "scenarios" / "iam_anomaly_leaked_key_tp.json")


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), stdout=out)
    return code, out.getvalue()


def test_run_completed_exits_zero_and_writes_reports(tmp_path: Path) -> None:
    code, text = run_cli("run", "--playbook", str(FIXTURES / "runner_smoke.yml"), "--scenario", LEAKED,
                         "--report-dir", str(tmp_path))
    assert code == 0, text
    assert "Deactivate key" in text  # one progress line per task
    assert "iam_anomaly_leaked_key_tp" in text and "expected" in text  # summary table
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "index.html" in names and "index.md" in names
    assert any(n.endswith("__fixture-runner-smoke.html") for n in names)
    assert any(n.endswith("__fixture-runner-smoke.md") for n in names)


def test_run_failed_exits_nonzero_and_names_the_task(tmp_path: Path) -> None:
    code, text = run_cli("run", "--playbook", str(FIXTURES / "unsupported_transformer.yml"), "--scenario", LEAKED,
                         "--report-dir", str(tmp_path), "--quiet")
    assert code == 1
    assert "UNSUPPORTED at task 7" in text and "DecodeBase64Magic" in text


def test_unknown_playbook_exits_nonzero(tmp_path: Path) -> None:
    code, text = run_cli("run", "--playbook", "No Such Playbook", "--scenario", LEAKED, "--report-dir",
                         str(tmp_path), "--quiet")
    assert code == 1 and "not found" in text


def test_missing_flagship_is_reported_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.FLAGSHIP_PLAYBOOKS, "iam_anomaly", "AI Reasoning - Not Shipped")
    code, text = run_cli("run", "--flagship", "--scenario", LEAKED, "--report-dir", str(tmp_path), "--quiet")
    assert code == 1
    assert "flagship playbook 'AI Reasoning - Not Shipped' is missing" in text


def test_bad_scenario_exits_two(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code, text = run_cli("run", "--playbook", "x", "--scenario", str(bad), "--report-dir", str(tmp_path))
    assert code == 2 and "invalid scenario" in text


def test_list_shows_playbooks_scenarios_and_flagships() -> None:
    code, text = run_cli("list")
    assert code == 0
    assert "Flagship playbooks by scenario category" in text and "iam_anomaly" in text


def test_demo_runs_the_flagship_set(tmp_path: Path) -> None:
    scen = tmp_path / "scen"
    scen.mkdir()
    (scen / "one.json").write_text(Path(LEAKED).read_text())
    code, text = run_cli("demo", "--scenario", str(scen), "--report-dir", str(tmp_path / "rep"), "--quiet")
    if "is missing" in text:
        pytest.skip("flagship playbook not shipped")
    assert code == 0, text
    assert "AI Reasoning - IAM Anomaly ART Analysis" in text
    assert (tmp_path / "rep" / "index.html").is_file()
