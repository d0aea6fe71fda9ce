"""Shared helpers for the simulated-SOC tests (a plain module: ``conftest`` is ambiguous with the root one)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # the root conftest does this too; keep these tests runnable alone
    sys.path.insert(0, str(REPO_ROOT))

from localsoc.soc import Scenario, SimulatedSOC, load_scenario  # noqa: E402

SCENARIOS = REPO_ROOT / "tests" / "scenarios"
TP = SCENARIOS / "iam_anomaly_leaked_key_tp.json"
FP = SCENARIOS / "iam_anomaly_key_rotation_fp.json"
API = SCENARIOS / "api_key_abuse_scraping_tp.json"
CT_ONLY = SCENARIOS / "privilege_escalation_cloudtrail_only.json"


def make_soc(path: Path, **overrides: Any) -> SimulatedSOC:
    """A SimulatedSOC over a bundled scenario, optionally with top-level keys replaced (no feed)."""
    if not overrides:
        return SimulatedSOC(load_scenario(path), reputation_feed=False)
    data = json.loads(path.read_text())
    data.update(copy.deepcopy(overrides))
    return SimulatedSOC(Scenario.from_dict(data, source=str(path)), reputation_feed=False)


def one(entries: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The single entry a command returned (fails loudly otherwise)."""
    assert entries is not None, "command was not available"
    assert len(entries) == 1, entries
    return entries[0]
