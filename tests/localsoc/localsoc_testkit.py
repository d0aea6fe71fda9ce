"""Shared helpers for the local-runtime tests (a unique module name: several test folders have a conftest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from localsoc.playbook.builtins import BuiltinEnv, ListStore, run_builtin

FIXTURES = Path(__file__).resolve().parents[1] / "playbooks_fixture"

Entry = dict[str, Any]


def note(contents: Any = "ok", ec: dict[str, Any] | None = None) -> Entry:
    return {"Type": 1, "ContentsFormat": "text", "Contents": contents, "EntryContext": ec}


def error(message: str) -> Entry:
    return {"Type": 4, "ContentsFormat": "text", "Contents": message, "EntryContext": None}


class FakeDispatcher:
    """Answers commands from a handler table; builtins run for real; anything else is 'Unsupported Command'."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.handlers: dict[str, Callable[[dict[str, Any], Any], list[Entry]]] = {}
        self.lists = ListStore()
        self.unavailable: set[str] = set()

    def on(self, command: str, fn: Callable[[dict[str, Any], Any], list[Entry]] | list[Entry]) -> None:
        self.handlers[command] = fn if callable(fn) else (lambda args, scope, _v=fn: _v)

    def names(self) -> list[str]:
        return [c for c, _ in self.calls]

    def __call__(self, command: str, args: dict[str, Any], scope: Any) -> list[Entry]:
        self.calls.append((command, dict(args)))
        env = BuiltinEnv(scope.context, scope.incident, self.lists, lambda b: b not in self.unavailable)
        builtin = run_builtin(command, args, env)
        if builtin is not None:
            return builtin
        if command in self.handlers and command not in self.unavailable:
            return self.handlers[command](args, scope)
        return [error(f"Unsupported Command : {command}")]

    def is_available(self, command: str, brand: str | None) -> bool:
        return command in self.handlers and command not in self.unavailable and (brand or "") not in self.unavailable
