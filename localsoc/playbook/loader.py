"""Loading playbook YAMLs as shipped, and finding sub-playbooks by name or id.

The files are read unchanged (the same bytes demisto-sdk uploads); nothing is normalised beyond what the
server itself does when it reads them (task keys are strings).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from localsoc.playbook.errors import PlaybookError

__all__ = ["Playbook", "PlaybookLibrary", "load_playbook", "read_yaml"]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_CACHE: dict[tuple[str, int, int], Any] = {}


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file (libyaml when available), cached by path, size and mtime.

    The runtime builds a playbook library and a script index per run; the demo does that for every scenario,
    and the pure-Python parser would spend seconds re-reading the same unchanged files. Callers get a deep
    copy, so nobody can change the cached document.
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _YAML_CACHE:
        _YAML_CACHE[key] = yaml.load(p.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - safe loader
    return copy.deepcopy(_YAML_CACHE[key])


@dataclass
class Playbook:
    """A parsed playbook. ``tasks`` keys are the YAML's string task ids."""

    id: str
    name: str
    starttaskid: str
    tasks: dict[str, dict[str, Any]]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Playbook:
        where = str(path) if path else "<playbook>"
        if not isinstance(data, dict):
            raise PlaybookError(f"{where}: a playbook YAML must be a mapping")
        for key in ("id", "name", "starttaskid", "tasks"):
            if key not in data:
                raise PlaybookError(f"{where}: missing top-level key {key!r}")
        tasks = {str(k): v for k, v in (data.get("tasks") or {}).items()}
        start = str(data["starttaskid"])
        if start not in tasks:
            raise PlaybookError(f"{where}: starttaskid {start!r} is not a task")
        for tid, task in tasks.items():
            if not isinstance(task, dict):
                raise PlaybookError(f"{where}: task {tid} is not a mapping")
            for label, targets in (task.get("nexttasks") or {}).items():
                for target in targets or []:
                    if str(target) not in tasks:
                        raise PlaybookError(f"{where}: task {tid} branch {label!r} points to missing task {target}")
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            starttaskid=start,
            tasks=tasks,
            inputs=list(data.get("inputs") or []),
            outputs=list(data.get("outputs") or []),
            path=path,
            raw=data,
        )

    def parents(self) -> dict[str, set[str]]:
        """task id -> the ids of tasks with an edge (any label) into it."""
        out: dict[str, set[str]] = {tid: set() for tid in self.tasks}
        for tid, task in self.tasks.items():
            for targets in (task.get("nexttasks") or {}).values():
                for target in targets or []:
                    out[str(target)].add(tid)
        return out


def load_playbook(path: str | Path) -> Playbook:
    """Read one playbook YAML file."""
    p = Path(path)
    try:
        data = read_yaml(p)
    except OSError as exc:
        raise PlaybookError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{p}: not valid YAML: {exc}") from exc
    return Playbook.from_dict(data, p)


class PlaybookLibrary:
    """Playbooks found in some folders, addressable by id, name or file path.

    Sub-playbook tasks name their child by ``playbookName`` or ``playbookId``, so both index the same file.
    Files are parsed lazily: a library over all of ``Packs/`` stays cheap until a playbook is asked for.
    """

    def __init__(self, dirs: Iterable[str | Path] = (), files: Iterable[str | Path] = ()) -> None:
        self._files: list[Path] = []
        for d in dirs:
            dp = Path(d)
            if dp.is_dir():
                self._files += sorted(dp.glob("*.yml")) + sorted(dp.glob("*.yaml"))
        self._files += [Path(f) for f in files]
        self._by_key: dict[str, Playbook] | None = None
        self._extra: dict[str, Playbook] = {}

    @classmethod
    def for_repo(cls, repo_root: str | Path, extra_dirs: Iterable[str | Path] = ()) -> PlaybookLibrary:
        """Every ``Packs/*/Playbooks`` and ``Packs/*/TestPlaybooks`` folder, plus extra folders."""
        root = Path(repo_root)
        dirs = sorted(root.glob("Packs/*/Playbooks")) + sorted(root.glob("Packs/*/TestPlaybooks"))
        return cls([*dirs, *extra_dirs])

    def add(self, playbook: Playbook) -> None:
        self._extra[playbook.id] = playbook
        self._extra[playbook.name] = playbook

    def _index(self) -> dict[str, Playbook]:
        if self._by_key is None:
            index: dict[str, Playbook] = {}
            for f in self._files:
                try:
                    data = read_yaml(f)
                except (OSError, yaml.YAMLError):
                    continue
                if not isinstance(data, dict) or "tasks" not in data or "starttaskid" not in data:
                    continue
                pb = Playbook.from_dict(data, f)
                index.setdefault(pb.id, pb)
                index.setdefault(pb.name, pb)
            self._by_key = index
        return self._by_key

    def find(self, key: str) -> Playbook | None:
        """By id or name; a path to an existing file is loaded directly."""
        if key in self._extra:
            return self._extra[key]
        hit = self._index().get(key)
        if hit is not None:
            return hit
        p = Path(key)
        if p.suffix in (".yml", ".yaml") and p.is_file():
            return load_playbook(p)
        return None

    def get(self, key: str) -> Playbook:
        pb = self.find(key)
        if pb is None:
            raise PlaybookError(f"playbook {key!r} not found (searched {len(self._files)} playbook files)")
        return pb

    def all(self) -> list[Playbook]:
        seen: dict[int, Playbook] = {}
        for pb in [*self._index().values(), *self._extra.values()]:
            seen.setdefault(id(pb), pb)
        return sorted(seen.values(), key=lambda p: p.name)
