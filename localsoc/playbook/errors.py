"""Errors the playbook interpreter raises.

Two kinds, kept apart on purpose: `PlaybookUnsupported` means *the interpreter* cannot faithfully run
something the YAML asks for (a task type, operator, transformer or argument form it does not implement) –
running on would give a result the platform would not give, so it stops and names the task and feature.
`PlaybookError` means the playbook itself is broken (missing start task, unknown sub-playbook, a cycle that
never ends): the platform would refuse it too.
"""

from __future__ import annotations


class Unsupported(Exception):
    """Raised deep inside value/condition evaluation, before the task id is known; re-raised with it."""

    def __init__(self, feature: str) -> None:
        self.feature = feature
        super().__init__(feature)


class PlaybookUnsupported(Exception):
    """A feature of the playbook YAML the local interpreter does not implement (never skipped silently)."""

    def __init__(self, message: str, *, task_id: str = "", feature: str = "", playbook: str = "") -> None:
        self.task_id = task_id
        self.feature = feature or message
        self.playbook = playbook
        super().__init__(message)

    @classmethod
    def at(cls, task_id: str, feature: str, playbook: str = "") -> PlaybookUnsupported:
        where = f"playbook {playbook!r} " if playbook else ""
        return cls(f"{where}task {task_id}: {feature}", task_id=task_id, feature=feature, playbook=playbook)


class PlaybookError(Exception):
    """The playbook cannot run as written (bad structure, missing sub-playbook, runaway loop)."""

    def __init__(self, message: str, *, task_id: str = "", playbook: str = "") -> None:
        self.task_id = task_id
        self.playbook = playbook
        super().__init__(message)
