"""Fixtures for the platform-double tests.

The root conftest / pyproject already put `platform_doubles` on sys.path; doing it again here keeps this
folder runnable on its own and is harmless when both apply.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_DOUBLES = str(Path(__file__).resolve().parents[2] / "platform_doubles")
if _DOUBLES not in sys.path:
    sys.path.insert(0, _DOUBLES)

import xsoar_session  # noqa: E402

TEST_DATA = Path(__file__).resolve().parent / "test_data"


@pytest.fixture(autouse=True)
def session() -> Iterator[xsoar_session.XSOARSession]:
    """Every test runs against its own fresh script session, so war room and context never leak."""
    s = xsoar_session.XSOARSession()
    with xsoar_session.use_session(s):
        yield s


@pytest.fixture
def test_data() -> Path:
    return TEST_DATA
