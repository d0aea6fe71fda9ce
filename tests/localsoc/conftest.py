"""Fixtures for the local-runtime tests: fixture playbooks and a fake dispatcher that records every call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from localsoc_testkit import FIXTURES, FakeDispatcher

from localsoc.playbook import PlaybookInterpreter, PlaybookLibrary


@pytest.fixture
def fake() -> FakeDispatcher:
    return FakeDispatcher()


@pytest.fixture
def make_interpreter(fake: FakeDispatcher) -> Callable[..., PlaybookInterpreter]:
    def make(**kwargs: Any) -> PlaybookInterpreter:
        kwargs.setdefault("library", PlaybookLibrary([FIXTURES]))
        kwargs.setdefault("is_available", fake.is_available)
        kwargs.setdefault("lists", fake.lists)
        return PlaybookInterpreter(fake, **kwargs)

    return make
