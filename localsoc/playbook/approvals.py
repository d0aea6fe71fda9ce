"""Who answers the human tasks of a playbook when it runs on a laptop.

On a tenant an analyst completes a manual condition task (picks Yes/No), answers a data-collection form, or
nobody does and the SLA expires. Locally an `ApprovalProvider` plays that analyst. It only *answers* the task
the shipped playbook presents – the decision logic (tiers, dual approval, what a "No" does) stays in the pack's
tasks and scripts, so the local run exercises the real approval path.

Providers: ``all`` approves everything, ``none`` rejects everything, ``timeout`` never answers (the SLA path),
``ask`` prompts the person at the terminal (and behaves like ``timeout`` when stdin is not a terminal, so a
CI job never hangs on a prompt).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

__all__ = [
    "APPROVAL_MODES",
    "ApprovalAnswer",
    "ApprovalProvider",
    "ApprovalRequest",
    "ApproveAll",
    "AskAtTerminal",
    "NobodyAnswers",
    "Question",
    "RejectAll",
    "Reply",
    "make_provider",
]

APPROVAL_MODES = ("ask", "all", "none", "timeout")

_YES = re.compile(r"^\s*(yes|y|approve|approved|accept|accepted|allow|true|ok|confirm(ed)?|grant(ed)?)\s*$", re.I)
_NO = re.compile(r"^\s*(no|n|reject|rejected|deny|denied|decline(d)?|false|block)\s*$", re.I)


@dataclass
class Question:
    """One data-collection question after its label and options were evaluated in the playbook context."""

    id: str
    label: str
    type: str = "shortText"
    options: list[str] = field(default_factory=list)
    required: bool = False
    default: Any = None


@dataclass
class ApprovalRequest:
    """What a human task shows: the resolved texts, the choices or questions, and where the run stands.

    ``context`` and ``inputs`` are read-only snapshots so the terminal prompt can show the recommendation being
    decided (its target, tier, evidence and rollback plan) next to the question the playbook asks.
    """

    kind: str  # "condition" (manual Yes/No) | "collection" (form) | "manual" (complete a manual task)
    playbook: str
    task_id: str
    task_name: str
    description: str = ""
    choices: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    subject: str = ""
    body: str = ""
    replies_needed: int = 1
    assignee: str = ""
    sla: Any = None
    complete_after_sla: bool = False
    context: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Reply:
    """One person's answer to a form: answers in question order."""

    approver: str
    answers: list[Any] = field(default_factory=list)
    email: str = ""


@dataclass
class ApprovalAnswer:
    """A provider's answer. ``timed_out`` means nobody answered before the SLA."""

    timed_out: bool = False
    choice: str | None = None
    replies: list[Reply] = field(default_factory=list)
    approver: str = ""

    @property
    def approvers(self) -> list[str]:
        if self.replies:
            return [r.approver for r in self.replies]
        return [self.approver] if self.approver else []


class ApprovalProvider(Protocol):
    """Answers one human task of a running playbook."""

    name: str

    def answer(self, request: ApprovalRequest) -> ApprovalAnswer: ...


def _pick(choices: list[str], pattern: re.Pattern[str], fallback_first: bool) -> str | None:
    for choice in choices:
        if pattern.match(choice):
            return choice
    real = [c for c in choices if not c.startswith("#")]
    if fallback_first and real:
        return real[0]
    return None


class _ScriptedProvider:
    """Shared by ``all`` and ``none``: deterministic answers, alternating two distinct approver names so a
    dual-approval path (two tasks, or one form needing two replies) sees two different people."""

    name = "scripted"
    approve = True

    def __init__(self, approvers: tuple[str, str] = ("local-approver-1", "local-approver-2")) -> None:
        self._approvers = approvers
        self._next = 0

    def _approver(self) -> str:
        name = self._approvers[self._next % len(self._approvers)]
        self._next += 1
        return name

    def _answer_question(self, q: Question) -> Any:
        if q.type == "multiSelect":
            return list(q.options) if self.approve else []
        if q.options:
            pattern = _YES if self.approve else _NO
            picked = _pick(q.options, pattern, fallback_first=False)
            if picked is None:
                picked = q.options[0] if self.approve else q.options[-1]
            return picked
        if q.type in ("yesno", "boolean", "checkbox"):
            return "Yes" if self.approve else "No"
        if q.type == "number":
            return 1 if self.approve else 0
        verdict = "Approved" if self.approve else "Rejected"
        return f"{verdict} by the local runtime (--approve {'all' if self.approve else 'none'})"

    def answer(self, request: ApprovalRequest) -> ApprovalAnswer:
        if request.kind == "collection":
            replies = [
                Reply(approver=(who := self._approver()), answers=[self._answer_question(q) for q in request.questions],
                      email=f"{who}@localsoc.invalid")
                for _ in range(max(1, request.replies_needed))
            ]
            return ApprovalAnswer(replies=replies, approver=replies[0].approver)
        if request.kind == "manual":
            return ApprovalAnswer(choice=request.choices[0] if request.choices else None, approver=self._approver())
        choices = request.choices
        if self.approve:
            choice = _pick(choices, _YES, fallback_first=True)
        else:
            choice = _pick(choices, _NO, fallback_first=False)
            if choice is None:
                choice = "#default#" if "#default#" in choices else (choices[-1] if choices else None)
        return ApprovalAnswer(choice=choice, approver=self._approver())


class ApproveAll(_ScriptedProvider):
    name = "all"
    approve = True


class RejectAll(_ScriptedProvider):
    name = "none"
    approve = False


class NobodyAnswers:
    """Nobody answers: every human task reaches its SLA (the playbook's expiry path decides what happens)."""

    name = "timeout"

    def answer(self, request: ApprovalRequest) -> ApprovalAnswer:
        return ApprovalAnswer(timed_out=True)


def _excerpt(text: Any, limit: int = 160) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def find_recommendation(request: ApprovalRequest) -> dict[str, Any] | None:
    """Best effort: the recommendation this task decides, from the sub-playbook inputs or the deliverable.

    The approval sub-playbook receives the recommendation (or its id) as an input; the deliverable
    (``AIReasoning.Run``) holds the full record with tier, evidence refs and rollback plan.
    """
    run = request.context.get("AIReasoning", {}) if isinstance(request.context, Mapping) else {}
    run = run.get("Run") if isinstance(run, Mapping) else None
    if isinstance(run, list):
        run = run[-1] if run else None
    recs = [r for r in (run or {}).get("recommendations", []) if isinstance(r, Mapping)]
    wanted: set[str] = set()
    for key, value in request.inputs.items():
        if isinstance(value, Mapping) and "action" in value:
            return dict(value)
        if "id" in key.lower() or "recommendation" in key.lower():
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str):
                    wanted.add(v)
    for rec in recs:
        if rec.get("id") in wanted:
            return dict(rec)
    pending = [r for r in recs if r.get("status") in ("proposed", "pending_approval", "pending")]
    return dict(pending[0]) if len(pending) == 1 else None


def _sla_text(sla: Any) -> str:
    if isinstance(sla, Mapping):
        parts = [f"{sla[k]}{k[0]}" for k in ("weeks", "days", "hours", "minutes") if sla.get(k)]
        return " ".join(parts) or "none"
    return str(sla)


class AskAtTerminal:
    """Prompts the person at the terminal; not a terminal (CI, pipes) -> behaves as a timeout."""

    name = "ask"

    def __init__(
        self,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        *,
        input_fn: Callable[[str], str] | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self._input_fn = input_fn
        self._interactive = interactive
        # approvers already heard per recommendation, so a dual approval (two tasks) suggests a second name
        self._heard: dict[str, list[str]] = {}

    @property
    def interactive(self) -> bool:
        if self._interactive is not None:
            return self._interactive
        try:
            return bool(self.stdin.isatty())
        except (AttributeError, ValueError):
            return False

    def _ask(self, prompt: str) -> str:
        if self._input_fn is not None:
            return self._input_fn(prompt)
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    def _say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _show(self, request: ApprovalRequest) -> None:
        self._say("")
        self._say("=" * 78)
        self._say(f"APPROVAL NEEDED  [{request.playbook} / task {request.task_id}] {request.task_name}")
        rec = find_recommendation(request)
        if rec:
            self._say(f"  Recommendation : {rec.get('action', '?')} -> {rec.get('target', '')}")
            self._say(f"  Tier           : {rec.get('tier', '?')}")
            if rec.get("reasoning"):
                self._say(f"  Why            : {_excerpt(rec['reasoning'], 300)}")
            run = request.context.get("AIReasoning", {}).get("Run") if isinstance(request.context, Mapping) else None
            run = run[-1] if isinstance(run, list) and run else run
            evidence = {e.get("id"): e for e in (run or {}).get("evidence", []) if isinstance(e, Mapping)}
            for ref in rec.get("evidence_refs", [])[:5]:
                ev = evidence.get(ref)
                self._say(f"  Evidence {ref:<5} : {_excerpt(ev.get('excerpt', '')) if ev else '(not in deliverable)'}")
            self._say(f"  Rollback plan  : {rec.get('rollback_plan') or 'none (irreversible)'}")
        if request.description:
            self._say(f"  {_excerpt(request.description, 600)}")
        if request.subject:
            self._say(f"  Subject: {_excerpt(request.subject, 300)}")
        if request.body:
            self._say(f"  {_excerpt(request.body, 600)}")
        if request.sla:
            self._say(f"  SLA: {_sla_text(request.sla)} (no answer = SLA expiry path)")
        self._say("-" * 78)

    def _approver_name(self, taken: list[str]) -> str:
        default = f"local-approver-{len(taken) + 1}"
        while True:
            name = self._ask(f"Approver name [{default}]: ").strip() or default
            if name in taken:
                self._say(f"  {name} already answered; a second approver must be a different person.")
                continue
            return name

    @staticmethod
    def _key(request: ApprovalRequest) -> str:
        rec = find_recommendation(request)
        return str(rec.get("id")) if rec and rec.get("id") else f"{request.playbook}/{request.task_id}"

    def answer(self, request: ApprovalRequest) -> ApprovalAnswer:
        if not self.interactive:
            return ApprovalAnswer(timed_out=True)
        answer = self._answer(request)
        heard = self._heard.setdefault(self._key(request), [])
        heard += [a for a in answer.approvers if a not in heard]
        return answer

    def _answer(self, request: ApprovalRequest) -> ApprovalAnswer:
        earlier = list(self._heard.get(self._key(request), []))
        try:
            self._show(request)
            if earlier:
                self._say(f"  Already approved/answered by: {', '.join(earlier)} (a second approver must differ)")
            if request.kind == "collection":
                replies: list[Reply] = []
                for n in range(max(1, request.replies_needed)):
                    if request.replies_needed > 1:
                        self._say(f"Reply {n + 1} of {request.replies_needed} (distinct approvers required)")
                    answers = [self._ask_question(q) for q in request.questions]
                    who = self._approver_name(earlier + [r.approver for r in replies])
                    replies.append(Reply(approver=who, answers=answers, email=f"{who}@localsoc.invalid"))
                return ApprovalAnswer(replies=replies, approver=replies[0].approver)
            choices = [c for c in request.choices if not c.startswith("#")] or list(request.choices)
            choice = self._choose("Decision", choices)
            who = self._approver_name(earlier)
            return ApprovalAnswer(choice=choice, approver=who)
        except EOFError:
            self._say("  (no answer: treated as SLA expiry)")
            return ApprovalAnswer(timed_out=True)

    def _choose(self, label: str, choices: list[str]) -> str:
        shown = "/".join(choices)
        while True:
            raw = self._ask(f"{label} [{shown}]: ").strip()
            for c in choices:
                if raw.lower() == c.lower() or (len(raw) == 1 and c.lower().startswith(raw.lower())):
                    return c
            self._say(f"  please answer one of: {shown}")

    def _ask_question(self, q: Question) -> Any:
        self._say(f"  Q{q.id}: {q.label}")
        if q.type == "multiSelect" and q.options:
            raw = self._ask(f"    select (comma-separated from {', '.join(q.options)}; empty = none): ")
            picked = [s.strip() for s in raw.split(",") if s.strip()]
            return [p for p in picked if p in q.options]
        if q.options:
            return self._choose("    answer", q.options)
        return self._ask("    answer: ")


def make_provider(mode: str, **kwargs: Any) -> ApprovalProvider:
    """``ask`` | ``all`` | ``none`` | ``timeout`` -> a provider."""
    if mode == "all":
        return ApproveAll()
    if mode == "none":
        return RejectAll()
    if mode == "timeout":
        return NobodyAnswers()
    if mode == "ask":
        return AskAtTerminal(**kwargs)
    raise ValueError(f"unknown approval mode {mode!r}; expected one of {', '.join(APPROVAL_MODES)}")
