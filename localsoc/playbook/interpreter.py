"""Run an XSOAR playbook YAML, task by task, the way the server does.

The interpreter walks the task graph from ``starttaskid``. A task runs once every parent that *can still run*
has finished: parallel branches join, while branches a condition did not take never block (XSOAR's join
rule). Commands and scripts are not executed here: they go through a ``dispatch(command, args, scope)``
callable the caller provides (the local runtime routes builtins, pack scripts, the LLM gateway and the
simulated SOC behind it; tests pass fakes). Human tasks – manual conditions, data-collection forms – are
answered by an `ApprovalProvider`.

What it does not implement fails loudly with `PlaybookUnsupported` naming the task id and the feature, and the
whole playbook (and every sub-playbook) is checked for such features *before* the first task runs, so an
unsupported construct never leaves a half-executed response behind.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xsoar_session import merge_entry_context, set_context_path  # noqa: E402

from localsoc.playbook.approvals import ApprovalAnswer, ApprovalProvider, ApprovalRequest, Question
from localsoc.playbook.errors import PlaybookError, PlaybookUnsupported, Unsupported
from localsoc.playbook.loader import Playbook, PlaybookLibrary, load_playbook
from localsoc.playbook.values import (
    OPERATORS,
    TRANSFORMERS,
    Resolver,
    check_operand_form,
    split_path,
    to_text,
    walk,
)

__all__ = [
    "ENTRY_ERROR",
    "Event",
    "Failure",
    "PlaybookInterpreter",
    "PlaybookResult",
    "Scope",
    "TaskRecord",
    "ApprovalRecord",
    "check_playbook",
    "SUPPORTED_TASK_TYPES",
]

ENTRY_ERROR = 4
SUPPORTED_TASK_TYPES = ("start", "title", "regular", "condition", "playbook", "collection")

# Task keys with no effect on a local run (layout, UI, quiet mode, timers that only measure SLAs) or that the
# interpreter implements. Anything else is refused: an unknown key may change what the task does.
_KNOWN_TASK_KEYS = {
    "id", "taskid", "type", "task", "nexttasks", "scriptarguments", "conditions", "separatecontext", "loop",
    "skipunavailable", "continueonerror", "continueonerrortype", "timertriggers", "form", "message",
    "defaultassigneecomplex", "defaultassignee", "sla", "slareminder", "restrictedcompletion", "view", "note",
    "ignoreworker", "quietmode", "isoversize", "isautoswitchedtoquietmode", "results", "reputationcalc",
    "fieldMapping", "description", "evidencedata_notused",
}
_KNOWN_LOOP_KEYS = {"iscommand", "exitCondition", "wait", "max", "forEach", "builtincondition", "scriptArguments",
                    "brand"}
_KNOWN_QUESTION_TYPES = {"shortText", "longText", "singleSelect", "multiSelect", "number", "date", "yesno",
                         "boolean", "checkbox"}
# scriptarguments the server itself consumes rather than passing to the command.
_IGNORED_ARGS = {"execution-timeout"}
_UNSUPPORTED_ARGS = {"extend-context", "ignore-outputs", "retry-count", "retry-interval"}
_DEFAULT_LOOP_MAX = 100

Entry = dict[str, Any]


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------


@dataclass
class Event:
    """A progress event for the CLI: task started/finished/skipped/error, waiting for/answered approval."""

    kind: str
    playbook: str
    task_id: str = ""
    task_name: str = ""
    task_type: str = ""
    depth: int = 0
    detail: str = ""


@dataclass
class TaskRecord:
    """One task execution in the work plan (what the report's task log shows)."""

    playbook: str
    task_id: str
    name: str
    type: str
    status: str  # completed | skipped | error | error-continued
    depth: int = 0
    branch: str = ""
    command: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    duration_ms: float = 0.0
    message: str = ""


@dataclass
class ApprovalRecord:
    """One human task and how it was answered (or that nobody answered)."""

    playbook: str
    task_id: str
    task_name: str
    kind: str
    decision: str
    approvers: list[str] = field(default_factory=list)
    timed_out: bool = False
    answers: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    at: str = ""


@dataclass
class Failure:
    """Where and why a run stopped. ``kind``: error (a task failed) | unsupported | invalid (bad playbook)."""

    task_id: str
    message: str
    playbook: str = ""
    task_name: str = ""
    kind: str = "error"
    inner: Failure | None = None  # the sub-playbook task that failed first, when a sub-playbook failed

    @property
    def innermost(self) -> Failure:
        return self.inner.innermost if self.inner is not None else self


@dataclass
class PlaybookResult:
    """The end of one top-level run."""

    status: str  # completed | failed
    playbook: str
    context: dict[str, Any]
    failure: Failure | None = None
    tasks: list[TaskRecord] = field(default_factory=list)
    approvals: list[ApprovalRecord] = field(default_factory=list)
    duration_ms: float = 0.0


@dataclass
class Scope:
    """One running (sub-)playbook: the context its tasks read and write, its inputs, the shared incident.

    The dispatcher receives it so a pack script runs against the right context (a sub-playbook with
    ``separatecontext: true`` has its own).
    """

    playbook: Playbook
    context: dict[str, Any]
    incident: dict[str, Any]
    inputs: dict[str, Any]
    depth: int = 0
    parent: Scope | None = None
    task_id: str = ""
    task_name: str = ""
    brand: str | None = None

    def resolver(self, lists: Mapping[str, Any] | None = None) -> Resolver:
        return Resolver(self.context, inputs=self.inputs, incident=self.incident, lists=lists)


class _TaskError(Exception):
    """A task ended in error (error entry, missing sub-playbook, unanswered human task)."""

    def __init__(self, message: str, inner: Failure | None = None) -> None:
        self.inner = inner
        super().__init__(message)


class _RunFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        super().__init__(failure.message)


@dataclass
class _Done:
    labels: list[str]
    status: str = "completed"
    branch: str = ""
    command: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    detail: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


# --------------------------------------------------------------------------------------------------
# Static check: refuse unsupported features before anything runs
# --------------------------------------------------------------------------------------------------


def _check_value(spec: Any) -> None:
    if spec is None or spec == {}:
        return
    if not isinstance(spec, Mapping):
        raise Unsupported(f"argument form {spec!r}")
    keys = set(spec) - {"iscontext"}
    if keys == {"simple"}:
        raw = spec["simple"]
        if isinstance(raw, str) and "${" in raw:
            Resolver({}).interpolate(raw)  # parses every ${path}; raises on DT expressions
        return
    if keys == {"complex"}:
        _check_complex(spec["complex"])
        return
    if not keys:
        return
    raise Unsupported(f"argument form with keys {sorted(keys)}")


def _check_complex(spec: Any) -> None:
    if not isinstance(spec, Mapping):
        raise Unsupported(f"complex value form {spec!r}")
    extra = set(spec) - {"root", "accessor", "filters", "transformers"}
    if extra:
        raise Unsupported(f"complex value keys {sorted(extra)}")
    if spec.get("root"):
        split_path(str(spec["root"]).replace("${", "").replace("}", ""))
    if spec.get("accessor"):
        split_path(str(spec["accessor"]))
    _check_condition_groups(spec.get("filters") or [])
    for t in spec.get("transformers") or []:
        if not isinstance(t, Mapping) or t.get("operator") not in TRANSFORMERS:
            raise Unsupported(f"transformer {t.get('operator') if isinstance(t, Mapping) else t!r}")
        for arg in (t.get("args") or {}).values():
            if isinstance(arg, Mapping) and arg:
                _check_operand(arg)


def _check_operand(operand: Any) -> None:
    if operand is None:
        return
    check_operand_form(operand)
    value = operand.get("value")
    if isinstance(value, Mapping) and "simple" in value and operand.get("iscontext"):
        if isinstance(value["simple"], str) and value["simple"].strip():
            split_path(value["simple"].strip().removeprefix("${").removesuffix("}"))
        return
    _check_value(value)


def _check_condition(cond: Any) -> None:
    if not isinstance(cond, Mapping) or cond.get("operator") not in OPERATORS:
        name = cond.get("operator") if isinstance(cond, Mapping) else cond
        raise Unsupported(f"condition operator {name!r}")
    extra = set(cond) - {"operator", "left", "right", "ignorecase"}
    if extra:
        raise Unsupported(f"condition keys {sorted(extra)}")
    _check_operand(cond.get("left"))
    _check_operand(cond.get("right"))


def _check_condition_groups(groups: Any) -> None:
    if not isinstance(groups, list):
        raise Unsupported(f"condition list form {groups!r}")
    for group in groups:
        for cond in group if isinstance(group, list) else [group]:
            _check_condition(cond)


def _check_task(task: dict[str, Any]) -> None:
    ttype = task.get("type")
    if ttype not in SUPPORTED_TASK_TYPES:
        raise Unsupported(f"task type {ttype!r}")
    unknown = set(task) - _KNOWN_TASK_KEYS
    if unknown:
        raise Unsupported(f"task keys {sorted(unknown)}")
    for name, spec in (task.get("scriptarguments") or {}).items():
        if name in _UNSUPPORTED_ARGS and spec not in (None, {}, {"simple": ""}, {"simple": "0"}):
            raise Unsupported(f"task argument {name!r}")
        _check_value(spec)
    for cond in task.get("conditions") or []:
        if not isinstance(cond, Mapping) or "label" not in cond:
            raise Unsupported(f"condition entry form {cond!r}")
        _check_condition_groups(cond.get("condition") or [])
    loop = task.get("loop")
    if loop:
        unknown = set(loop) - _KNOWN_LOOP_KEYS
        if unknown:
            raise Unsupported(f"loop keys {sorted(unknown)}")
        if ttype != "playbook" and (loop.get("forEach") or loop.get("exitCondition") or loop.get("builtincondition")):
            raise Unsupported(f"loop on a {ttype} task")
        _check_condition_groups(loop.get("builtincondition") or [])
        for spec in (loop.get("scriptArguments") or {}).values():
            _check_value(spec)
    for mapping in task.get("fieldMapping") or []:
        if not isinstance(mapping, Mapping) or "incidentfield" not in mapping:
            raise Unsupported(f"fieldMapping entry {mapping!r}")
        _check_value(mapping.get("output"))
    if ttype == "collection":
        form = task.get("form") or {}
        for q in form.get("questions") or []:
            qtype = q.get("type", "shortText")
            if qtype not in _KNOWN_QUESTION_TYPES:
                raise Unsupported(f"form question type {qtype!r}")
            _check_value(q.get("labelarg"))
            for opt in q.get("optionsarg") or []:
                _check_value(opt)
    inner = task.get("task") or {}
    if ttype == "playbook" and not (inner.get("playbookName") or inner.get("playbookId")):
        raise Unsupported("playbook task without playbookName/playbookId")


def check_playbook(playbook: Playbook) -> None:
    """Raise `PlaybookUnsupported` for the first task using a feature the interpreter does not implement."""
    for tid, task in playbook.tasks.items():
        try:
            _check_task(task)
        except Unsupported as exc:
            raise PlaybookUnsupported.at(tid, exc.feature, playbook.name) from exc


# --------------------------------------------------------------------------------------------------
# The interpreter
# --------------------------------------------------------------------------------------------------

Dispatch = Callable[..., list[Entry] | None]


class PlaybookInterpreter:
    """Runs playbooks. One instance can run several playbooks; records are per `run` call.

    ``dispatch(command, args, scope)`` (or ``dispatch(command, args)``) returns the entries a command returns
    on the platform; the interpreter merges their ``EntryContext`` into the scope's context (DT semantics),
    so a dispatcher must *not* merge them itself. ``is_available(command, brand)`` tells ``skipunavailable``
    tasks whether an integration provides the command.
    """

    def __init__(
        self,
        dispatch: Dispatch,
        *,
        library: PlaybookLibrary | None = None,
        approvals: ApprovalProvider | None = None,
        on_event: Callable[[Event], None] | None = None,
        is_available: Callable[[str, str | None], bool] | None = None,
        lists: Mapping[str, Any] | None = None,
        max_task_runs: int = 10_000,
        max_depth: int = 16,
    ) -> None:
        self._dispatch_fn = dispatch
        self._dispatch_takes_scope = self._accepts_scope(dispatch)
        self.library = library or PlaybookLibrary()
        self.approvals = approvals
        self.on_event = on_event
        self.is_available = is_available
        self.lists = lists if lists is not None else {}
        self.max_task_runs = max_task_runs
        self.max_depth = max_depth
        self.tasks: list[TaskRecord] = []
        self.approval_log: list[ApprovalRecord] = []
        self._checked: set[int] = set()
        self._runs = 0

    @staticmethod
    def _accepts_scope(fn: Callable[..., Any]) -> bool:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return True
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params)

    # --- public -----------------------------------------------------------------------------------

    def load(self, playbook: Playbook | str | Path) -> Playbook:
        if isinstance(playbook, Playbook):
            return playbook
        key = str(playbook)
        if Path(key).suffix in (".yml", ".yaml") and Path(key).is_file():
            return load_playbook(key)
        return self.library.get(key)

    def check(self, playbook: Playbook, _seen: set[str] | None = None) -> None:
        """Check a playbook and every sub-playbook it can reach (those that exist) for unsupported features."""
        seen = _seen if _seen is not None else set()
        if playbook.id in seen:
            return
        seen.add(playbook.id)
        if id(playbook) not in self._checked:
            check_playbook(playbook)
            self._checked.add(id(playbook))
        for task in playbook.tasks.values():
            if task.get("type") == "playbook":
                inner = task.get("task") or {}
                child = self.library.find(str(inner.get("playbookName") or inner.get("playbookId")))
                if child is not None:
                    self.check(child, seen)

    def run(
        self,
        playbook: Playbook | str | Path,
        *,
        context: dict[str, Any] | None = None,
        incident: dict[str, Any] | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> PlaybookResult:
        """Run a playbook to its end. ``context``/``incident`` are used (and mutated) in place.

        Raises `PlaybookUnsupported` (before running anything when the static check finds it, or at the task
        that reaches an unsupported value form at run time).
        """
        pb = self.load(playbook)
        self.check(pb)
        self.tasks = []
        self.approval_log = []
        self._runs = 0
        ctx = context if context is not None else {}
        inc = incident if incident is not None else {"id": "1", "CustomFields": {}}
        scope = Scope(pb, ctx, inc, {})
        try:
            scope.inputs = self._top_inputs(scope, inputs or {})
        except Unsupported as exc:
            raise PlaybookUnsupported.at("inputs", exc.feature, pb.name) from exc
        started = time.perf_counter()
        self._emit("playbook_started", scope, detail=pb.name)
        try:
            self._run_graph(scope)
        except _RunFailed as failed:
            self._emit("playbook_failed", scope, detail=failed.failure.message)
            return PlaybookResult("failed", pb.name, ctx, failed.failure, list(self.tasks), list(self.approval_log),
                                  (time.perf_counter() - started) * 1000)
        self._emit("playbook_finished", scope, detail=pb.name)
        return PlaybookResult("completed", pb.name, ctx, None, list(self.tasks), list(self.approval_log),
                              (time.perf_counter() - started) * 1000)

    # --- plumbing ---------------------------------------------------------------------------------

    def _emit(self, kind: str, scope: Scope, task_id: str = "", task: dict[str, Any] | None = None,
              detail: str = "") -> None:
        if self.on_event is None:
            return
        inner = (task or {}).get("task") or {}
        self.on_event(Event(kind, scope.playbook.name, task_id, str(inner.get("name") or ""),
                            str((task or {}).get("type") or ""), scope.depth, detail))

    def _resolver(self, scope: Scope) -> Resolver:
        return scope.resolver(self.lists)

    def _top_inputs(self, scope: Scope, given: Mapping[str, Any]) -> dict[str, Any]:
        resolver = self._resolver(scope)
        out: dict[str, Any] = {}
        for decl in scope.playbook.inputs:
            key = str(decl.get("key", ""))
            if not key:
                continue
            out[key] = given[key] if key in given else resolver.value(decl.get("value"))
        for key, value in given.items():
            out.setdefault(key, value)
        return out

    def _dispatch(self, command: str, args: dict[str, Any], scope: Scope, brand: str | None) -> list[Entry]:
        scope.brand = brand
        if self._dispatch_takes_scope:
            raw = self._dispatch_fn(command, args, scope)
        else:
            raw = self._dispatch_fn(command, args)
        if raw is None:
            return []
        return [e if isinstance(e, dict) else {"Type": 1, "Contents": e} for e in (raw if isinstance(raw, list)
                                                                                    else [raw])]

    # --- graph walk -------------------------------------------------------------------------------

    def _run_graph(self, scope: Scope) -> None:
        pb = scope.playbook
        parents = pb.parents()
        children = {tid: {str(t) for ts in (task.get("nexttasks") or {}).values() for t in (ts or [])}
                    for tid, task in pb.tasks.items()}
        activations: dict[str, set[str]] = {pb.starttaskid: {"<start>"}}
        pending: list[str] = [pb.starttaskid]
        while pending:
            tid = self._pick_ready(pending, activations, parents, children)
            pending.remove(tid)
            activations.pop(tid, None)
            self._runs += 1
            if self._runs > self.max_task_runs:
                raise _RunFailed(Failure(tid, f"more than {self.max_task_runs} task executions: runaway loop",
                                         pb.name, kind="invalid"))
            labels = self._run_task(scope, tid)
            nexttasks = pb.tasks[tid].get("nexttasks") or {}
            for label in labels:
                for target in nexttasks.get(label) or []:
                    target = str(target)
                    if target not in activations:
                        activations[target] = set()
                        pending.append(target)
                    activations[target].add(tid)

    @staticmethod
    def _pick_ready(pending: list[str], activations: dict[str, set[str]], parents: dict[str, set[str]],
                    children: dict[str, set[str]]) -> str:
        """The first pending task none of whose not-yet-arrived parents can still be reached (XSOAR join)."""
        for cand in pending:
            waiting_for = parents.get(cand, set()) - activations.get(cand, set()) - {cand}
            if not waiting_for:
                return cand
            reach: set[str] = set()
            queue = deque(t for t in pending if t != cand)
            while queue:
                node = queue.popleft()
                if node in reach or node == cand:
                    continue
                reach.add(node)
                queue.extend(children.get(node, ()))
            if not (waiting_for & reach):
                return cand
        return pending[0]  # only a cycle can get here: break it in arrival order

    # --- one task ---------------------------------------------------------------------------------

    def _run_task(self, scope: Scope, tid: str) -> list[str]:
        pb = scope.playbook
        task = pb.tasks[tid]
        ttype = str(task.get("type"))
        inner = task.get("task") or {}
        name = str(inner.get("name") or "")
        scope.task_id, scope.task_name = tid, name
        self._emit("task_started", scope, tid, task)
        record = TaskRecord(pb.name, tid, name, ttype, "completed", depth=scope.depth, started_at=_now())
        started = time.perf_counter()
        handler = {
            "start": self._task_passthrough,
            "title": self._task_passthrough,
            "regular": self._task_regular,
            "condition": self._task_condition,
            "playbook": self._task_playbook,
            "collection": self._task_collection,
        }.get(ttype)
        try:
            if handler is None:
                raise Unsupported(f"task type {ttype!r}")
            done = handler(scope, tid, task)
        except Unsupported as exc:
            raise PlaybookUnsupported.at(tid, exc.feature, pb.name) from exc
        except _TaskError as exc:
            record.duration_ms = (time.perf_counter() - started) * 1000
            record.message = str(exc)
            nexttasks = task.get("nexttasks") or {}
            if _truthy(task.get("continueonerror")):
                record.status = "error-continued"
                label = "#error#" if "#error#" in nexttasks else "#none#"
                record.branch = label
                self.tasks.append(record)
                self._emit("task_error", scope, tid, task, f"{exc} (continueonerror -> {label})")
                return [label]
            record.status = "error"
            self.tasks.append(record)
            self._emit("task_error", scope, tid, task, str(exc))
            raise _RunFailed(Failure(tid, str(exc), pb.name, name, inner=exc.inner)) from None
        record.duration_ms = (time.perf_counter() - started) * 1000
        record.status, record.branch = done.status, done.branch
        record.command, record.args, record.message = done.command, done.args, done.detail
        self.tasks.append(record)
        if done.status == "skipped":
            self._emit("task_skipped", scope, tid, task, done.detail)
        else:
            detail = done.detail or (f"-> {done.branch}" if done.branch else "")
            self._emit("task_finished", scope, tid, task, detail)
        return done.labels

    def _task_passthrough(self, scope: Scope, tid: str, task: dict[str, Any]) -> _Done:
        return _Done(["#none#"])

    @staticmethod
    def _command_of(task: dict[str, Any]) -> tuple[str | None, str | None]:
        inner = task.get("task") or {}
        script = inner.get("script")
        if script:
            text = str(script)
            if "|||" in text:
                brand, _, command = text.partition("|||")
                return command, (brand or None)
            return text, None
        if inner.get("scriptName"):
            return str(inner["scriptName"]), None
        return None, None

    def _args(self, scope: Scope, specs: Mapping[str, Any] | None) -> dict[str, Any]:
        resolver = self._resolver(scope)
        args: dict[str, Any] = {}
        for name, spec in (specs or {}).items():
            if name in _IGNORED_ARGS:
                continue
            value = resolver.value(spec)
            if name in _UNSUPPORTED_ARGS:
                if value in (None, "", "0", 0):
                    continue
                raise Unsupported(f"task argument {name!r}")
            if value is not None:
                args[str(name)] = value
        return args

    def _execute(self, scope: Scope, task: dict[str, Any], command: str, brand: str | None,
                 args: dict[str, Any]) -> tuple[list[Entry] | None, str]:
        """Run a command; (entries, '') on success, (None, reason) when skipped as unavailable."""
        skip = _truthy(task.get("skipunavailable"))
        if skip and self.is_available is not None and not self.is_available(command, brand):
            return None, f"{command} is unavailable (skipunavailable)"
        entries = self._dispatch(command, args, scope, brand)
        errors = [e for e in entries if e.get("Type") == ENTRY_ERROR]
        if errors:
            message = "; ".join(to_text(e.get("Contents")) for e in errors)
            if skip and "unsupported command" in message.lower():
                return None, f"{command} is unavailable (skipunavailable)"
            raise _TaskError(f"{command}: {message}")
        for entry in entries:
            ec = entry.get("EntryContext")
            if isinstance(ec, Mapping) and ec:
                merge_entry_context(scope.context, ec)
        return entries, ""

    def _field_mapping(self, scope: Scope, task: dict[str, Any]) -> None:
        fields: dict[str, Any] = {}
        resolver = self._resolver(scope)
        for mapping in task.get("fieldMapping") or []:
            value = resolver.value(mapping.get("output"))
            if value is not None:
                fields[str(mapping["incidentfield"])] = value
        if fields:
            self._execute(scope, {}, "setIncident", "Builtin", fields)

    def _task_regular(self, scope: Scope, tid: str, task: dict[str, Any]) -> _Done:
        command, brand = self._command_of(task)
        if command is None:
            return self._manual_task(scope, tid, task)
        args = self._args(scope, task.get("scriptarguments"))
        entries, skipped = self._execute(scope, task, command, brand, args)
        if entries is None:
            return _Done(["#none#"], "skipped", command=command, args=args, detail=skipped)
        self._field_mapping(scope, task)
        noun = "entry" if len(entries) == 1 else "entries"
        return _Done(["#none#"], command=command, args=args, detail=f"{len(entries)} {noun}")

    # --- conditions -------------------------------------------------------------------------------

    def _task_condition(self, scope: Scope, tid: str, task: dict[str, Any]) -> _Done:
        nexttasks = task.get("nexttasks") or {}
        conditions = task.get("conditions") or []
        command, brand = self._command_of(task)
        if conditions:
            resolver = self._resolver(scope)
            for cond in conditions:
                if resolver.conditions_hold(cond.get("condition") or []):
                    label = str(cond["label"])
                    return _Done([label], branch=label)
            return _Done(["#default#"], branch="#default#")
        if command is not None:
            args = self._args(scope, task.get("scriptarguments"))
            entries, skipped = self._execute(scope, task, command, brand, args)
            if entries is None:
                return _Done(["#default#"], "skipped", branch="#default#", command=command, args=args, detail=skipped)
            result = ""
            for entry in entries:
                contents = entry.get("Contents")
                if isinstance(contents, bool):
                    result = "yes" if contents else "no"
                elif contents is not None and not isinstance(contents, Mapping | list):
                    result = str(contents).strip()
                if result:
                    break
            label = next((k for k in nexttasks if k == result), None) or next(
                (k for k in nexttasks if k.lower() == result.lower() and not k.startswith("#")), "#default#")
            return _Done([label], branch=label, command=command, args=args, detail=f"script answered {result!r}")
        return self._manual_condition(scope, tid, task)

    def _message(self, scope: Scope, task: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        message = task.get("message") or {}
        resolver = self._resolver(scope)
        subject = to_text(resolver.value(message.get("subject"))) if message.get("subject") else ""
        body = to_text(resolver.value(message.get("body"))) if message.get("body") else ""
        return subject, body, dict(message.get("timings") or {})

    def _request(self, scope: Scope, tid: str, task: dict[str, Any], kind: str, **kw: Any) -> ApprovalRequest:
        inner = task.get("task") or {}
        resolver = self._resolver(scope)
        subject, body, timings = self._message(scope, task)
        assignee = resolver.value(task.get("defaultassigneecomplex")) if task.get("defaultassigneecomplex") else ""
        return ApprovalRequest(
            kind=kind,
            playbook=scope.playbook.name,
            task_id=tid,
            task_name=str(inner.get("name") or ""),
            description=to_text(resolver.interpolate(str(inner.get("description") or ""))),
            subject=subject,
            body=body,
            assignee=to_text(assignee),
            sla=task.get("sla"),
            complete_after_sla=_truthy(timings.get("completeaftersla")),
            context=copy.deepcopy(scope.context),
            inputs=copy.deepcopy(scope.inputs),
            **kw,
        )

    def _ask(self, scope: Scope, tid: str, task: dict[str, Any], request: ApprovalRequest) -> ApprovalAnswer:
        if self.approvals is None:
            raise _TaskError("a human task needs an answer but no approval provider is configured")
        self._emit("waiting_approval", scope, tid, task, f"{request.kind} ({getattr(self.approvals, 'name', '?')})")
        answer = self.approvals.answer(request)
        return answer

    def _log_approval(self, scope: Scope, tid: str, task: dict[str, Any], request: ApprovalRequest,
                      answer: ApprovalAnswer, decision: str, answers: list[dict[str, Any]] | None = None) -> None:
        self.approval_log.append(ApprovalRecord(
            playbook=scope.playbook.name, task_id=tid, task_name=request.task_name, kind=request.kind,
            decision=decision, approvers=answer.approvers, timed_out=answer.timed_out, answers=answers or [],
            description=request.description, inputs=copy.deepcopy(dict(scope.inputs)), at=_now(),
        ))
        who = ", ".join(answer.approvers) or "nobody"
        self._emit("approval_answered", scope, tid, task, f"{decision} by {who}")

    def _manual_condition(self, scope: Scope, tid: str, task: dict[str, Any]) -> _Done:
        nexttasks = task.get("nexttasks") or {}
        choices = [k for k in nexttasks if k not in ("#error#",)]
        request = self._request(scope, tid, task, "condition", choices=choices)
        answer = self._ask(scope, tid, task, request)
        if answer.timed_out:
            if not request.complete_after_sla:
                self._log_approval(scope, tid, task, request, answer, "timeout")
                raise _TaskError("no answer before the SLA and the task does not complete after its SLA "
                                 "(message.timings.completeaftersla is not true): on a tenant it would wait forever")
            if "#default#" not in nexttasks:
                self._log_approval(scope, tid, task, request, answer, "timeout")
                raise _TaskError("SLA expired but the condition has no '#default#' branch to continue on")
            self._log_approval(scope, tid, task, request, answer, "timeout")
            return _Done(["#default#"], branch="#default#", detail="SLA expired -> #default#")
        choice = answer.choice
        if choice not in choices:
            raise PlaybookError(f"approval provider answered {choice!r}; the task offers {choices}", task_id=tid)
        self._log_approval(scope, tid, task, request, answer, str(choice))
        return _Done([str(choice)], branch=str(choice), detail=f"{choice} by {', '.join(answer.approvers)}")

    def _manual_task(self, scope: Scope, tid: str, task: dict[str, Any]) -> _Done:
        """A regular task without a script: somebody marks it complete."""
        request = self._request(scope, tid, task, "manual", choices=["Complete"])
        answer = self._ask(scope, tid, task, request)
        if answer.timed_out:
            self._log_approval(scope, tid, task, request, answer, "timeout")
            raise _TaskError("manual task never completed (nobody answered): on a tenant it would wait forever")
        self._log_approval(scope, tid, task, request, answer, "completed")
        return _Done(["#none#"], detail=f"completed by {', '.join(answer.approvers)}")

    # --- data collection --------------------------------------------------------------------------

    def _task_collection(self, scope: Scope, tid: str, task: dict[str, Any]) -> _Done:
        inner = task.get("task") or {}
        form = task.get("form") or {}
        title = str(form.get("title") or inner.get("name") or f"Task {tid}")
        resolver = self._resolver(scope)
        questions: list[Question] = []
        for i, q in enumerate(form.get("questions") or []):
            label = to_text(resolver.value(q.get("labelarg"))) if q.get("labelarg") else ""
            options: list[str] = [to_text(o) for o in (q.get("options") or []) if o not in (None, "")]
            for spec in q.get("optionsarg") or []:
                value = resolver.value(spec)
                for v in value if isinstance(value, list) else [value]:
                    if v not in (None, ""):
                        options.append(to_text(v))
            questions.append(Question(id=str(q.get("id", i)), label=label or str(q.get("label") or ""),
                                      type=str(q.get("type") or "shortText"), options=options,
                                      required=bool(q.get("required"))))
        _, _, timings = self._message(scope, task)
        needed = int(timings.get("completeafterreplies") or 1)
        request = self._request(scope, tid, task, "collection", questions=questions, replies_needed=needed)
        answer = self._ask(scope, tid, task, request)
        if answer.timed_out or not answer.replies:
            self._log_approval(scope, tid, task, request, answer, "timeout")
            if request.complete_after_sla:
                return _Done(["#none#"], detail="SLA expired: completed without answers")
            raise _TaskError("no answers before the SLA and the form does not complete after its SLA "
                             "(message.timings.completeaftersla is not true): on a tenant it would wait forever")
        if len(answer.replies) < needed:
            raise PlaybookError(f"form needs {needed} replies, the provider gave {len(answer.replies)}", task_id=tid)
        stored: list[dict[str, Any]] = []
        for reply in answer.replies:
            item: dict[str, Any] = {str(i): a for i, a in enumerate(reply.answers)}
            item["name"] = reply.approver
            item["email"] = reply.email
            stored.append(item)
        set_context_path(scope.context, f"{title}.Answers", stored[0] if len(stored) == 1 else stored)
        summary = "; ".join(f"{q.label or q.id}={to_text(a)}" for q, a in zip(questions, answer.replies[0].answers,
                                                                               strict=False))
        self._log_approval(scope, tid, task, request, answer, summary or "answered", stored)
        return _Done(["#none#"], detail=f"answered by {', '.join(answer.approvers)}")

    # --- sub-playbooks ----------------------------------------------------------------------------

    def _task_playbook(self, scope: Scope, tid: str, task: dict[str, Any]) -> _Done:
        inner = task.get("task") or {}
        key = str(inner.get("playbookName") or inner.get("playbookId"))
        child = self.library.find(key)
        if child is None and inner.get("playbookId"):
            child = self.library.find(str(inner["playbookId"]))
        if child is None:
            if _truthy(task.get("skipunavailable")):
                return _Done(["#none#"], "skipped", detail=f"sub-playbook {key!r} not found (skipunavailable)")
            raise _TaskError(f"sub-playbook {key!r} not found")
        if scope.depth + 1 > self.max_depth:
            raise PlaybookError(f"sub-playbooks nested deeper than {self.max_depth}", task_id=tid)
        self.check(child)
        resolver = self._resolver(scope)
        given = task.get("scriptarguments") or {}
        inputs: dict[str, Any] = {}
        for decl in child.inputs:
            k = str(decl.get("key", ""))
            if k:
                inputs[k] = resolver.value(given[k]) if k in given else resolver.value(decl.get("value"))
        for k, spec in given.items():
            if k not in inputs:
                inputs[str(k)] = resolver.value(spec)
        loop = task.get("loop") or {}
        separate = _truthy(task.get("separatecontext"))
        iterations = self._iterations(loop, inputs)
        limit = int(loop.get("max") or 0) or _DEFAULT_LOOP_MAX
        exit_defined = bool(loop.get("builtincondition") or loop.get("exitCondition"))
        child_ctx: dict[str, Any] = copy.deepcopy(scope.context) if separate else scope.context
        runs = 0

        def run_once(it_inputs: dict[str, Any], ctx: dict[str, Any]) -> Scope:
            child_scope = Scope(child, ctx, scope.incident, it_inputs, scope.depth + 1, scope)
            self._emit("playbook_started", child_scope, detail=child.name)
            try:
                self._run_graph(child_scope)
            except _RunFailed as failed:
                f = failed.failure
                raise _TaskError(f"sub-playbook {child.name!r} failed at task {f.task_id} "
                                 f"({f.task_name}): {f.message}", inner=f) from None
            finally:
                scope.task_id, scope.task_name = tid, str(inner.get("name") or "")
            if separate:
                self._copy_outputs(child, ctx, scope.context)
            self._emit("playbook_finished", child_scope, detail=child.name)
            return child_scope

        if loop.get("forEach"):
            for it_inputs in iterations:
                ctx = copy.deepcopy(scope.context) if separate else scope.context
                child_scope = run_once(it_inputs, ctx)
                runs += 1
                if exit_defined and self._loop_exit(child_scope, loop):
                    break
        else:
            while True:
                child_scope = run_once(inputs, child_ctx)
                runs += 1
                if not exit_defined or runs >= limit or self._loop_exit(child_scope, loop):
                    break
        detail = f"{runs} iteration{'s' if runs != 1 else ''}" if loop.get("forEach") or exit_defined else ""
        return _Done(["#none#"], detail=detail, command=f"playbook:{child.name}",
                     args={k: v for k, v in inputs.items() if v is not None})

    @staticmethod
    def _iterations(loop: Mapping[str, Any], inputs: dict[str, Any]) -> list[dict[str, Any]]:
        """forEach: one run per element of the list inputs (zipped by index); else one run."""
        if not loop.get("forEach"):
            return [inputs]
        lists = {k: v for k, v in inputs.items() if isinstance(v, list)}
        if not lists:
            return [inputs]
        count = max(len(v) for v in lists.values())
        limit = int(loop.get("max") or 0)
        if limit > 0:
            count = min(count, limit)
        return [{k: (v[i] if i < len(v) else None) if k in lists else v for k, v in inputs.items()}
                for i in range(count)]

    def _loop_exit(self, child_scope: Scope, loop: Mapping[str, Any]) -> bool:
        if loop.get("builtincondition"):
            return self._resolver(child_scope).conditions_hold(loop["builtincondition"])
        script = loop.get("exitCondition")
        if script:
            args = self._args(child_scope, loop.get("scriptArguments"))
            entries = self._dispatch(str(script), args, child_scope, loop.get("brand") or None)
            errors = [e for e in entries if e.get("Type") == ENTRY_ERROR]
            if errors:
                raise _TaskError(f"loop exit condition {script}: {to_text(errors[0].get('Contents'))}")
            return any(str(e.get("Contents")).strip().lower() == "yes" for e in entries)
        return True

    @staticmethod
    def _copy_outputs(child: Playbook, child_ctx: dict[str, Any], parent_ctx: dict[str, Any]) -> None:
        """Private sub-playbook context: only the declared outputs reach the parent."""
        paths = sorted({str(o.get("contextPath")) for o in child.outputs if o.get("contextPath")}, key=len)
        kept: list[str] = []
        for path in paths:
            if any(path == k or path.startswith(k + ".") for k in kept):
                continue
            kept.append(path)
        for path in kept:
            value = walk(child_ctx, split_path(path))
            if value is not None:
                set_context_path(parent_ctx, path, value)


def run_playbook_file(path: str | Path, dispatch: Dispatch, *, library_dirs: Iterable[str | Path] = (),
                      **kwargs: Any) -> PlaybookResult:
    """Convenience for tests: run one YAML file with a library over some folders."""
    interp = PlaybookInterpreter(dispatch, library=PlaybookLibrary(library_dirs), **kwargs)
    return interp.run(path)
