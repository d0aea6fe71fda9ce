"""Fixtures for the simulated-SOC tests: bundled scenarios loaded without the shared IPsum feed, so results do
not depend on whether ../shared exists (feed behaviour has its own tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from soc_helpers import API, CT_ONLY, FP, TP, make_soc  # noqa: E402

from localsoc.soc import SimulatedSOC  # noqa: E402


@pytest.fixture
def tp_soc() -> SimulatedSOC:
    return make_soc(TP)


@pytest.fixture
def fp_soc() -> SimulatedSOC:
    return make_soc(FP)


@pytest.fixture
def api_soc() -> SimulatedSOC:
    return make_soc(API)


@pytest.fixture
def ct_soc() -> SimulatedSOC:
    return make_soc(CT_ONLY)
