"""AI Reasoning engine - ART task library, program grammar, demonstration selection, deterministic reasoner.

ART (Paranjape et al. 2023) reasons with *programs*: a library of demonstration programs written in a small
grammar, the closest demonstrations for a new task in the prompt, and generation that pauses at every tool
step so the engine (under the policy) can run the tool and splice its output in. This module holds the parts
that need no run state: the grammar (parse, render, validate, extend with model output), the task library
(YAML in and out, analyst feedback with provenance), lexical selection, binding a demonstration's tool steps
to a new incident's entities, and the deterministic reasoner that follows those steps and scores the evidence
with a documented weight table (WEIGHTS, FINDING_ACTIONS). The loops that talk to the model and the tools live
in AIReasoningApiModule, which star-imports this module.

Grammar (close to the paper's)::

    Q1: [ip_reputation] Is the source IP known to be malicious?
      args: {"ip": "203.0.113.7"}
    #1: {"DBotScore": {"Score": 3}}
    Q2: [think] Does the key activity come from that IP?
    #2: Yes: every CreateAccessKey call came from 203.0.113.7.
    Q3: [EOQ]
    Ans: {"assessment": {...}, "recommendations": [...]}

``[tool]`` is a registered enrichment tool name, ``[think]`` a reasoning step answered by the model itself,
``[EOQ]`` the end of questions; ``Ans:`` carries a FinalAnswer as JSON.

Platform-neutral: nothing here imports demistomock or CommonServerPython.
"""

from AIReasoningProvidersApiModule import *  # noqa: F403

# isort: split

import ipaddress  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Iterable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any, Protocol  # noqa: E402

import yaml  # noqa: E402
from pydantic import BaseModel, Field, ValidationError  # noqa: E402

ART_CATEGORIES: tuple[str, ...] = ("iam_anomaly", "unauthorized_access", "privilege_escalation", "api_key_abuse",
                                   "alert_triage", "threat_modelling")
THINK = "think"
EOQ = "EOQ"
MAX_BOUND_CALLS_PER_STEP = 3
EVIDENCE_REF_RE = re.compile(r"^\[(E\d+)\]")
DETERMINISTIC_MODEL = "rules-v1"

# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def one_line(text: str, limit: int) -> str:
    """Whitespace collapsed and cut to ``limit`` characters (trace lines, table cells, error texts)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Program model
# --------------------------------------------------------------------------------------------


class ProgramSyntaxError(ValueError):
    """A program line that does not fit the grammar; ``line`` is 1-based (0 when not tied to a line)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


class ProgramStep(BaseModel):
    index: int
    tool: str  # a tool name, "think" or "EOQ"
    question: str = ""
    args: dict[str, Any] | None = None
    result: str | None = None
    line: int = 0

    @property
    def is_tool(self) -> bool:
        return self.tool not in (THINK, EOQ)

    @property
    def is_think(self) -> bool:
        return self.tool == THINK

    @property
    def is_eoq(self) -> bool:
        return self.tool == EOQ

    def render(self) -> list[str]:
        head = f"Q{self.index}: [{self.tool}]"
        lines = [f"{head} {self.question}".rstrip()]
        if self.args is not None:
            lines.append("  args: " + json.dumps(self.args, ensure_ascii=False, sort_keys=True))
        if self.result is not None:
            lines.append(f"#{self.index}: {self.result}")
        return lines


class Program(BaseModel):
    """A parsed program: the steps in order and the raw text after ``Ans:`` (validated separately)."""

    steps: list[ProgramStep] = Field(default_factory=list)
    answer: str | None = None

    @property
    def ended(self) -> bool:
        return any(step.is_eoq for step in self.steps)

    @property
    def next_index(self) -> int:
        return len(self.steps) + 1

    def tool_steps(self) -> list[ProgramStep]:
        return [s for s in self.steps if s.is_tool]

    def pending_tool_steps(self) -> list[ProgramStep]:
        return [s for s in self.steps if s.is_tool and s.result is None]

    def open_think_step(self) -> ProgramStep | None:
        return next((s for s in self.steps if s.is_think and s.result is None), None)

    def render(self) -> str:
        lines: list[str] = []
        for step in self.steps:
            lines.extend(step.render())
        if self.answer is not None:
            lines.append(f"Ans: {self.answer}")
        return "\n".join(lines)


_Q_RE = re.compile(r"^Q(\d+)\s*:\s*\[\s*([^\]]*?)\s*\]\s*(.*)$")
_RESULT_RE = re.compile(r"^#(\d+)\s*:\s?(.*)$")
_ARGS_RE = re.compile(r"^args\s*:\s*(.*)$", re.IGNORECASE)
_ANS_RE = re.compile(r"^Ans\s*:\s*(.*)$")


@dataclass
class _Item:
    kind: str  # q | args | result | ans | cont
    line: int
    index: int = 0
    tool: str = ""
    text: str = ""


def _items(text: str) -> list[_Item]:
    """Classify each non-blank line; blank lines inside an ``Ans:`` block are kept (multi-line JSON)."""
    items: list[_Item] = []
    for lineno, raw in enumerate((text or "").splitlines(), 1):
        stripped = raw.strip()
        if not stripped:
            continue
        match = _Q_RE.match(stripped)
        if match:
            items.append(_Item("q", lineno, int(match.group(1)), match.group(2), match.group(3).strip()))
            continue
        match = _RESULT_RE.match(stripped)
        if match:
            items.append(_Item("result", lineno, int(match.group(1)), text=match.group(2).strip()))
            continue
        match = _ARGS_RE.match(stripped)
        if match:
            items.append(_Item("args", lineno, text=match.group(1).strip()))
            continue
        match = _ANS_RE.match(stripped)
        if match:
            items.append(_Item("ans", lineno, text=match.group(1).strip()))
            continue
        items.append(_Item("cont", lineno, text=stripped))
    return items


def _norm_tool(name: str) -> str:
    name = name.strip()
    if name.lower() == "eoq":
        return EOQ
    if name.lower() == THINK:
        return THINK
    return name


def _parse_args(text: str, line: int) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ProgramSyntaxError(f"args is not valid JSON ({error.msg} at column {error.colno})", line) from error
    if not isinstance(value, dict):
        raise ProgramSyntaxError(f"args must be a JSON object, got {type(value).__name__}", line)
    return value


def parse_program(text: str) -> Program:
    """Parse a complete program strictly; raises ProgramSyntaxError naming the offending line.

    Strict because library programs are demonstrations: a sloppy demonstration teaches the model sloppy
    programs. Model output during generation goes through the lenient ``extend_program`` instead.
    """
    program = Program()
    last: _Item | None = None
    for item in _items(text):
        _apply_strict(program, item, last)
        if item.kind != "cont":
            last = item
    return program


def _apply_strict(program: Program, item: _Item, last: _Item | None) -> None:
    steps = program.steps
    if item.kind == "q":
        if program.answer is not None:
            raise ProgramSyntaxError(f"Q{item.index} after Ans:", item.line)
        if program.ended:
            raise ProgramSyntaxError(f"Q{item.index} after [EOQ]", item.line)
        if item.index != program.next_index:
            raise ProgramSyntaxError(f"expected Q{program.next_index}, found Q{item.index}", item.line)
        tool = _norm_tool(item.tool)
        if not tool:
            raise ProgramSyntaxError(f"Q{item.index} has an empty [tool]", item.line)
        steps.append(ProgramStep(index=item.index, tool=tool, question=item.text, line=item.line))
    elif item.kind == "args":
        if not steps or not steps[-1].is_tool or steps[-1].args is not None or steps[-1].result is not None:
            raise ProgramSyntaxError("args: must directly follow a [tool] question", item.line)
        steps[-1].args = _parse_args(item.text, item.line)
    elif item.kind == "result":
        if not steps:
            raise ProgramSyntaxError(f"#{item.index} before any question", item.line)
        step = steps[-1]
        if item.index != step.index:
            raise ProgramSyntaxError(f"#{item.index} does not answer Q{step.index}", item.line)
        if step.is_eoq:
            raise ProgramSyntaxError("[EOQ] takes no #result", item.line)
        if step.result is not None:
            raise ProgramSyntaxError(f"duplicate #{item.index}", item.line)
        step.result = item.text
    elif item.kind == "ans":
        if not program.ended:
            raise ProgramSyntaxError("Ans: before Qn: [EOQ]", item.line)
        if program.answer is not None:
            raise ProgramSyntaxError("duplicate Ans:", item.line)
        program.answer = item.text
    else:
        _append_continuation(program, item, last)


def _append_continuation(program: Program, item: _Item, last: _Item | None) -> None:
    """Multi-line results and answers continue on the following lines; anything else is an error."""
    if last is not None and last.kind == "ans" and program.answer is not None:
        program.answer = f"{program.answer}\n{item.text}"
    elif last is not None and last.kind == "result" and program.steps and program.steps[-1].result is not None:
        program.steps[-1].result = f"{program.steps[-1].result} {item.text}"
    else:
        raise ProgramSyntaxError(f"unrecognised line '{item.text[:60]}' (expected Qn:, args:, #n: or Ans:)",
                                 item.line)


def extend_program(program: Program, text: str) -> list[str]:
    """Apply model-generated lines to a program under construction, leniently; returns notes.

    Lenient because a model's numbering slips are harmless (we renumber), but two things are never
    accepted: a ``#n`` the model writes for a *tool* step (tool results come from the tool, not from the
    model's imagination) and questions after ``[EOQ]``. Raises ProgramSyntaxError when nothing usable came.
    """
    notes: list[str] = []
    applied = 0
    last: _Item | None = None
    for item in _items(text):
        if item.kind == "q":
            applied += _extend_question(program, item, notes)
        elif item.kind == "args":
            applied += _extend_args(program, item, notes)
        elif item.kind == "result":
            applied += _extend_result(program, item, notes)
        elif item.kind == "ans":
            if not program.ended:
                program.steps.append(ProgramStep(index=program.next_index, tool=EOQ))
            program.answer = item.text
            applied += 1
        elif last is not None and last.kind in ("ans", "result"):
            try:
                _append_continuation(program, item, last)
            except ProgramSyntaxError:
                notes.append(f"ignored text: {item.text[:60]}")
            continue
        else:
            notes.append(f"ignored text: {item.text[:60]}")
            continue
        last = item
    if not applied:
        raise ProgramSyntaxError("no program lines (Qn: [tool] ..., #n: ..., Qn: [EOQ], Ans: {...}) in the output")
    return notes


def _extend_question(program: Program, item: _Item, notes: list[str]) -> int:
    if program.ended or program.answer is not None:
        notes.append(f"ignored Q{item.index} after [EOQ]")
        return 0
    tool = _norm_tool(item.tool)
    if not tool:
        notes.append(f"ignored Q{item.index} with an empty [tool]")
        return 0
    expected = program.next_index
    if item.index != expected:
        notes.append(f"renumbered Q{item.index} as Q{expected}")
    program.steps.append(ProgramStep(index=expected, tool=tool, question=item.text))
    return 1


def _extend_args(program: Program, item: _Item, notes: list[str]) -> int:
    step = program.steps[-1] if program.steps else None
    if step is None or not step.is_tool or step.args is not None or step.result is not None:
        notes.append("ignored args: line that does not follow a [tool] question")
        return 0
    try:
        step.args = _parse_args(item.text, item.line)
    except ProgramSyntaxError as error:
        # Kept (not dropped) so the tool call fails validation and the model sees why.
        step.args = {UNPARSABLE_ARGUMENTS_KEY: item.text}
        notes.append(f"Q{step.index}: {error.message}")
    return 1


def _extend_result(program: Program, item: _Item, notes: list[str]) -> int:
    step = next((s for s in program.steps if s.index == item.index), None)
    if step is None and program.steps:
        step = program.steps[-1]
    if step is None:
        notes.append(f"ignored #{item.index} before any question")
        return 0
    if step.is_tool:
        notes.append(f"discarded a #{step.index} written by the model for tool step Q{step.index}: "
                     "tool results come from the tool")
        return 0
    if step.is_eoq or step.result is not None:
        notes.append(f"ignored #{item.index}: Q{step.index} needs no (further) result")
        return 0
    step.result = item.text
    return 1


def answer_json(answer: str | None) -> Any:
    """The JSON value after ``Ans:`` (fences and surrounding prose tolerated), or None."""
    if answer is None:
        return None
    return extract_json_value(answer)


def validate_program(program: "Program | str", registry: Any) -> list[str]:
    """Everything wrong with a program as a library demonstration; [] when it is usable.

    Used before an analyst's corrected program enters the library, and as feedback text: each problem
    names the step so the analyst (or the model) can fix it.
    """
    if isinstance(program, str):
        try:
            program = parse_program(program)
        except ProgramSyntaxError as error:
            return [str(error)]
    problems: list[str] = []
    if not program.steps:
        return ["empty program: no Qn: lines"]
    for step in program.steps:
        problems.extend(_step_problems(step, registry))
    if not program.steps[-1].is_eoq:
        problems.append("program does not end with Qn: [EOQ]")
    if program.answer is None:
        problems.append("missing Ans: {final answer JSON}")
    else:
        value = answer_json(program.answer)
        if not isinstance(value, dict):
            problems.append("Ans: is not a JSON object")
        else:
            try:
                FinalAnswer.model_validate(value)
            except ValidationError as error:
                problems.append(f"Ans: {validation_message(error)}")
    return problems


def _step_problems(step: ProgramStep, registry: Any) -> list[str]:
    where = f"Q{step.index}"
    if step.is_eoq:
        return []
    if step.is_think:
        return [] if step.result is not None else [f"{where}: [think] step has no #{step.index} answer"]
    spec = registry.get(step.tool)
    if spec is None:
        return [f"{where}: unknown tool '{step.tool}'"]
    problems: list[str] = []
    if spec.kind == "action":
        problems.append(f"{where}: '{step.tool}' is a response action; propose it in Ans recommendations instead")
    if step.args is None:
        problems.append(f"{where}: [{step.tool}] step has no args: line")
    else:
        problems.extend(f"{where}: {err}" for err in registry.validate_args(step.tool, step.args))
    if step.result is None:
        problems.append(f"{where}: missing #{step.index} result")
    return problems


# --------------------------------------------------------------------------------------------
# Task library
# --------------------------------------------------------------------------------------------

ENTRY_ID_RE = r"^[a-z0-9][a-z0-9_.-]{0,79}$"


class Provenance(BaseModel):
    author: str = ""
    created: str = ""
    source_run: str | None = None
    corrected_from: str | None = None


class ProgramEntry(BaseModel):
    """One demonstration: the task it solves, how to find it, the program, and where it came from."""

    id: str = Field(pattern=ENTRY_ID_RE)
    category: str = Field(min_length=1)
    task: str = Field(min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    program: str = Field(min_length=1)
    provenance: Provenance = Field(default_factory=Provenance)

    def parsed(self) -> Program:
        return parse_program(self.program)

    def search_text(self) -> str:
        return " ".join([self.task, self.description, " ".join(self.tags), self.category.replace("_", " ")])


class Selector(Protocol):
    """Ranks library entries for a task; the default is lexical (BM25), an embedding ranker can replace it."""

    def rank(self, query: str, entries: list[ProgramEntry]) -> list[tuple[ProgramEntry, float]]: ...


_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the this to was were with "
    "which who what when where why how does did do not no".split()
)
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_TOKEN_RE = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; CamelCase split (CreateAccessKey -> create access key), light plural folding."""
    words = _TOKEN_RE.findall(_CAMEL_RE.sub(" ", text or "").lower())
    out = []
    for word in words:
        if len(word) < 2 or word in _STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


class Bm25Selector:
    """Okapi BM25 over task + description + tags + category, in pure Python (no index to ship)."""

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b

    def rank(self, query: str, entries: list[ProgramEntry]) -> list[tuple[ProgramEntry, float]]:
        docs = [Counter(tokenize(e.search_text())) for e in entries]
        if not docs:
            return []
        n_docs = len(docs)
        avg_len = sum(sum(d.values()) for d in docs) / n_docs or 1.0
        doc_freq: Counter[str] = Counter()
        for doc in docs:
            doc_freq.update(doc.keys())
        terms = set(tokenize(query))
        scored = []
        for position, (entry, doc) in enumerate(zip(entries, docs, strict=True)):
            length = sum(doc.values())
            score = 0.0
            for term in terms:
                freq = doc.get(term, 0)
                if not freq:
                    continue
                idf = math.log((n_docs - doc_freq[term] + 0.5) / (doc_freq[term] + 0.5) + 1.0)
                score += idf * freq * (self.k1 + 1) / (freq + self.k1 * (1 - self.b + self.b * length / avg_len))
            scored.append((entry, round(score, 6), position))
        scored.sort(key=lambda item: (-item[1], item[2]))
        return [(entry, score) for entry, score, _ in scored]


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings (programs) as YAML literal blocks so the List stays hand-editable."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> Any:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_LiteralDumper.add_representer(str, _str_representer)


class TaskLibrary:
    """The demonstration programs (the XSOAR List ``AIReasoningTaskLibrary``), with selection and feedback."""

    def __init__(self, entries: Iterable[ProgramEntry] = (), version: int = 1,
                 selector: Selector | None = None) -> None:
        self.version = version
        self.selector: Selector = selector or Bm25Selector()
        self._entries: dict[str, ProgramEntry] = {}
        for entry in entries:
            self.add(entry)

    @classmethod
    def from_yaml(cls, text: str, selector: Selector | None = None) -> "TaskLibrary":
        """Load ``{version, programs: [...]}``; every program must parse (errors name entry and line)."""
        try:
            data = yaml.safe_load(text or "") or {}
        except yaml.YAMLError as error:
            raise ValueError(f"Invalid task library: not YAML ({error})") from error
        if isinstance(data, list):
            data = {"programs": data}
        if not isinstance(data, dict) or not isinstance(data.get("programs", []), list):
            raise ValueError("Invalid task library: expected a mapping with a 'programs' list")
        entries = []
        for position, item in enumerate(data.get("programs") or []):
            label = item.get("id", f"#{position}") if isinstance(item, dict) else f"#{position}"
            try:
                entry = ProgramEntry.model_validate(item)
                entry.parsed()
            except ValidationError as error:
                raise ValueError(f"Invalid task library: program '{label}': {validation_message(error)}") from error
            except ProgramSyntaxError as error:
                raise ValueError(f"Invalid task library: program '{label}': {error}") from error
            entries.append(entry)
        try:
            version = int(data.get("version") or 1)
        except (TypeError, ValueError):
            version = 1
        return cls(entries, version=version, selector=selector)

    def to_yaml(self) -> str:
        data = {"version": self.version,
                "programs": [e.model_dump(mode="json", exclude_none=True) for e in self._entries.values()]}
        return yaml.dump(data, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True, width=120)

    @property
    def entries(self) -> list[ProgramEntry]:
        return list(self._entries.values())

    def get(self, entry_id: str) -> ProgramEntry | None:
        return self._entries.get(entry_id)

    def add(self, entry: ProgramEntry) -> None:
        if entry.id in self._entries:
            raise ValueError(f"Invalid task library: duplicate program id '{entry.id}'")
        self._entries[entry.id] = entry

    def categories(self) -> list[str]:
        return sorted({e.category for e in self._entries.values()})

    def select(self, task_text: str, k: int = 3, category: str | None = None) -> list[ProgramEntry]:
        """The k closest demonstrations; a category restricts the pool when it has any entries."""
        pool = self.entries
        if category:
            in_category = [e for e in pool if e.category == category]
            pool = in_category or pool
        return [entry for entry, _ in self.selector.rank(task_text, pool)[:max(0, k)]]

    def validate(self, registry: Any) -> dict[str, list[str]]:
        """Problems per entry id (only entries with problems) against a tool registry."""
        problems = {e.id: validate_program(e.program, registry) for e in self._entries.values()}
        return {key: value for key, value in problems.items() if value}

    def add_feedback(self, program_text: str, who: str, run_id: str, task: str, category: str, registry: Any,
                     *, corrected_from: str | None = None, clock: Any = None, description: str = "",
                     tags: list[str] | None = None) -> ProgramEntry:
        """Store an analyst's corrected program with provenance; refuse it (ValueError) unless it validates.

        Validation first, because a library entry becomes a demonstration for every later run: one broken
        program would teach the model (and the deterministic reasoner) a broken investigation.
        """
        if not (who or "").strip():
            raise ValueError("Feedback needs the analyst's name (who)")
        if not re.match(r"^[a-z][a-z0-9_]*$", category or ""):
            raise ValueError(f"Invalid category '{category}'")
        problems = validate_program(program_text, registry)
        if problems:
            raise ValueError("Corrected program is not valid: " + "; ".join(problems))
        if corrected_from and corrected_from not in self._entries:
            raise ValueError(f"Unknown library program '{corrected_from}' (corrected_from)")
        canonical = parse_program(program_text).render()
        for entry in self._entries.values():
            if parse_program(entry.program).render() == canonical:
                raise ValueError(f"An identical program is already in the library as '{entry.id}'")
        created = clock.now() if clock is not None else datetime.now(UTC)
        entry = ProgramEntry(
            id=f"{category}-fb-{digest(canonical)[7:17]}".replace("_", "-"),
            category=category,
            task=task.strip() or category,
            description=description,
            tags=list(tags or []) + ["feedback"],
            program=canonical,
            provenance=Provenance(author=who.strip(), created=created.isoformat(), source_run=run_id or None,
                                  corrected_from=corrected_from),
        )
        self.add(entry)
        return entry


# --------------------------------------------------------------------------------------------
# Binding a demonstration to a new incident
# --------------------------------------------------------------------------------------------

_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("arns", ARN_RE), ("access_keys", ACCESS_KEY_RE), ("emails", EMAIL_RE), ("ips", IPV4_RE),
)


def _embedded_entity(value: str) -> tuple[str, str] | None:
    """(substring, kind) of the first entity a demonstration wrote into an argument value."""
    for kind, pattern in _KIND_PATTERNS:
        match = pattern.search(value)
        if match:
            return match.group(0), kind
    return None


def _values_of(entities: Entities, kind: str) -> list[str]:
    values = entities.of(kind)
    if not values and kind == "users":
        values = entities.of("emails")  # an Okta login is an e-mail address
    return values


# A demonstration value written like an API event name (ConsoleLogin, AttachUserPolicy) is a constant of the
# investigation, not an entity: `attribute_key: EventName, attribute_value: ConsoleLogin` keeps its value.
_CONSTANT_RE = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$")


@dataclass
class _Slot:
    arg: str
    kind: str
    demo_value: str | None  # the entity text inside the demo value; None = replace the whole value


def _slots(demo_args: dict[str, Any], spec: ToolSpec) -> list[_Slot]:
    slots: list[_Slot] = []
    for arg, value in demo_args.items():
        if not isinstance(value, str):
            continue
        found = _embedded_entity(value)
        if found and found[0] != value:
            slots.append(_Slot(arg, found[1], found[0]))
        elif found:
            slots.append(_Slot(arg, found[1], None))
        elif arg in spec.entity_args and not _CONSTANT_RE.match(value):
            slots.append(_Slot(arg, spec.entity_args[arg], None))
    for arg, kind in spec.entity_args.items():
        if arg not in demo_args:
            slots.append(_Slot(arg, kind, None))
    return slots


def _bind(args: dict[str, Any], slot: _Slot, value: str) -> None:
    if slot.demo_value is None:
        args[slot.arg] = value
    else:
        args[slot.arg] = str(args[slot.arg]).replace(slot.demo_value, value)


def plan_from_demonstration(program: "Program | str", incident_entities: Entities, registry: Any,
                            cap: int = MAX_BOUND_CALLS_PER_STEP) -> list[dict[str, Any]]:
    """The demonstration's tool steps as concrete calls for this incident: [{tool, args, question}, ...].

    Each step's arguments are re-bound to the incident's entities: a value the demonstration wrote that is
    recognisably an entity (an IP, access key, ARN or e-mail, also inside a filter or SPL string) is
    replaced by the incident's entity of the same kind; otherwise ToolSpec.entity_args says which kind an
    argument takes (values written like API event names, e.g. ConsoleLogin, stay as written). One call per
    entity of the first bindable argument (at most ``cap``); a step whose
    entities the incident does not have is skipped rather than run with the demonstration's example values.
    """
    if isinstance(program, str):
        program = parse_program(program)
    plan: list[dict[str, Any]] = []
    seen: set[str] = set()
    for step in program.tool_steps():
        spec = registry.get(step.tool)
        if spec is None or spec.kind != "enrichment":
            continue
        demo_args = dict(step.args or {})
        slots = _slots(demo_args, spec)
        required = set((spec.args_schema or {}).get("required") or [])
        if not slots:
            candidates = [demo_args]
        else:
            candidates = _bound_candidates(demo_args, slots, incident_entities, required, cap)
        for args in candidates:
            key = digest({"tool": step.tool, "args": args})
            if key in seen or registry.validate_args(step.tool, args):
                continue
            seen.add(key)
            plan.append({"tool": step.tool, "args": args, "question": step.question})
    return plan


def _bound_candidates(demo_args: dict[str, Any], slots: list[_Slot], entities: Entities, required: set[str],
                      cap: int) -> list[dict[str, Any]]:
    primary, others = slots[0], slots[1:]
    out: list[dict[str, Any]] = []
    for value in _values_of(entities, primary.kind)[:cap]:
        args = dict(demo_args)
        _bind(args, primary, value)
        complete = True
        for slot in others:
            if slot.arg == primary.arg and slot.demo_value is None:
                continue
            values = _values_of(entities, slot.kind)
            if values:
                _bind(args, slot, values[0])
            elif slot.arg in required:
                complete = False
            else:
                args.pop(slot.arg, None)
        if complete:
            out.append(args)
    return out


# --------------------------------------------------------------------------------------------
# Deterministic reasoner: features, weight table, findings -> actions
# --------------------------------------------------------------------------------------------

WEIGHTS: dict[str, float] = {
    "ip_malicious": 3.0,
    "ip_suspicious": 1.0,
    "hosting_or_proxy_ip": 0.5,
    "sensitive_call_from_bad_ip": 2.0,
    "iam_persistence": 1.5,
    "iam_admin_escalation": 3.0,
    "iam_policy_change": 1.0,
    "logging_disabled": 3.0,
    "access_denied_burst": 1.5,
    "okta_bruteforce_then_success": 2.5,
    "okta_new_country": 1.0,
    "okta_mfa_reset": 1.5,
    "okta_session_bad_ip": 2.0,
    "api_key_from_bad_ip": 2.0,
    "api_volume_anomaly": 1.5,
    "api_sensitive_paths": 1.0,
    "ueba_high_risk": 1.5,
    "ueba_medium_risk": 0.5,
    "known_good_ips": -1.5,
    "mfa_present": -1.0,
    "change_ticket": -2.0,
    "routine_rotation": -1.5,
    "ueba_low_risk": -0.5,
    "no_sensitive_activity": -1.0,
}
"""Weights of the deterministic reasoner (positive = malicious, negative = benign); each counts once.

| feature | weight | fires when (fields of the real commands' outputs) |
|---|---|---|
| ip_malicious | +3.0 | DBotScore.Score 3 for an IP, IP.Malicious, or AbuseIPDB AbuseConfidenceScore >= 75 |
| ip_suspicious | +1.0 | DBotScore.Score 2 or AbuseConfidenceScore 25-74 (and no malicious IP) |
| hosting_or_proxy_ip | +0.5 | AbuseIPDB UsageType data center/hosting/VPN, or Okta securityContext.isProxy |
| sensitive_call_from_bad_ip | +2.0 | persistence/escalation/evasion CloudTrail event from a malicious IP |
| iam_persistence | +1.5 | CreateAccessKey, CreateLoginProfile, UpdateLoginProfile, CreateUser (not a rotation) |
| iam_admin_escalation | +3.0 | Attach*Policy with AdministratorAccess/IAMFullAccess, inline "*" policy |
| iam_policy_change | +1.0 | PutUserPolicy, PutRolePolicy, CreatePolicyVersion, AddUserToGroup, ... (non-admin) |
| logging_disabled | +3.0 | DeleteTrail, StopLogging, UpdateTrail, PutEventSelectors, DeleteFlowLogs, DeleteDetector |
| access_denied_burst | +1.5 | >= 5 CloudTrail events with errorCode AccessDenied / UnauthorizedOperation |
| okta_bruteforce_then_success | +2.5 | >= 3 failed Okta sign-ins then a success for the same user (Okta.Logs.Events) |
| okta_new_country | +1.0 | a user's successful Okta sign-ins come from more than one country |
| okta_mfa_reset | +1.5 | user.mfa.factor.deactivate / reset_all, or DeactivateMFADevice in CloudTrail |
| okta_session_bad_ip | +2.0 | a successful Okta event from a malicious IP |
| api_key_from_bad_ip | +2.0 | API gateway records (Splunk.Result) or CloudTrail calls with a key from a malicious IP |
| api_volume_anomaly | +1.5 | >= 100 requests, >= 20 HTTP 401/403, or >= 50 MB returned for one key |
| api_sensitive_paths | +1.0 | API paths under admin, export, dump, keys, secrets, credentials, users, billing |
| ueba_high_risk | +1.5 | Exabeam.User RiskScore >= 90 (the integration's notable threshold) |
| ueba_medium_risk | +0.5 | RiskScore 50-89 |
| known_good_ips | -1.5 | every IP seen has DBotScore 1 or is private, and none is bad |
| mfa_present | -1.0 | mfaAuthenticated=true / MFAUsed=Yes, or an Okta MFA success, and no MFA reset |
| change_ticket | -2.0 | a change ticket (CHG/CR/RFC number, "change request") in the incident or the records |
| routine_rotation | -1.5 | CreateAccessKey plus Delete/UpdateAccessKey by the same user, no malicious IP |
| ueba_low_risk | -0.5 | RiskScore < 20 |
| no_sensitive_activity | -1.0 | logs were searched and show no sensitive event, failure burst or bad IP |

Verdict: score >= 4 true_positive, >= 2 suspicious, <= -2 false_positive, else inconclusive. Confidence =
min(0.95, 0.35 + 0.1 * |score| + 0.05 * data sources (max 3)), 0.2 without data; below CONFIDENCE_THRESHOLD the
verdict is inconclusive (a human decides). Threat level: score >= 7 critical, >= 4 high, >= 2 medium, > 0 low,
else none (false positives: none).
"""

CONFIDENCE_THRESHOLD = 0.6

ATTACK_IDS: dict[str, list[str]] = {
    "iam_persistence": ["T1098.001"],
    "iam_admin_escalation": ["T1098.003"],
    "iam_policy_change": ["T1098"],
    "logging_disabled": ["T1562.008"],
    "access_denied_burst": ["T1580"],
    "okta_bruteforce_then_success": ["T1110", "T1078.004"],
    "okta_new_country": ["T1078.004"],
    "okta_mfa_reset": ["T1556.006"],
    "okta_session_bad_ip": ["T1078.004"],
    "api_key_from_bad_ip": ["T1078.004", "T1552.001"],
    "sensitive_call_from_bad_ip": ["T1078.004"],
    "api_volume_anomaly": ["T1530"],
    "api_sensitive_paths": ["T1530"],
}

FINDING_ACTIONS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "key_used_from_bad_ip": [("iam_deactivate_access_key", {"user_name": "user", "access_key_id": "key"})],
    "attacker_created_key": [("iam_deactivate_access_key", {"user_name": "user", "access_key_id": "key"})],
    "admin_policy_attached": [("iam_detach_user_policy", {"user_name": "user", "policy_arn": "policy_arn"})],
    "malicious_ip": [("block_ip", {"ip": "ip"})],
    "okta_account_compromised": [("okta_suspend_user", {"username": "login"}),
                                 ("okta_clear_user_sessions", {"user_id": "okta_id"})],
}
"""Findings -> response actions of the deterministic reasoner (tiers come from the policy, not from here).

| finding | evidence | action (registry tool) | args from |
|---|---|---|---|
| key_used_from_bad_ip | CloudTrail/API records: key used from a malicious IP | iam_deactivate_access_key | user, key |
| attacker_created_key | CreateAccessKey from a malicious IP | iam_deactivate_access_key | user, new key |
| admin_policy_attached | AttachUserPolicy with an administrator policy | iam_detach_user_policy | user, policy ARN |
| malicious_ip | an IP with DBotScore 3 involved in the activity | block_ip | ip |
| okta_account_compromised | brute force + success, bad-IP session, MFA reset + country | okta_suspend_user | login |
| okta_account_compromised | (same) | okta_clear_user_sessions | Okta user id |

Actions are proposed only for true_positive and suspicious verdicts.
"""

PERSISTENCE_EVENTS = frozenset({"CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile", "CreateUser"})
ESCALATION_EVENTS = frozenset({"AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy", "PutUserPolicy",
                               "PutRolePolicy", "PutGroupPolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion",
                               "UpdateAssumeRolePolicy", "AddUserToGroup"})
EVASION_EVENTS = frozenset({"DeleteTrail", "StopLogging", "UpdateTrail", "PutEventSelectors", "DeleteFlowLogs",
                            "DeleteDetector", "DisableSecurityHub"})
MFA_RESET_EVENTS = frozenset({"user.mfa.factor.deactivate", "user.mfa.factor.reset_all", "DeactivateMFADevice",
                              "DeleteVirtualMFADevice"})
ADMIN_POLICY_RE = re.compile(r"AdministratorAccess|IAMFullAccess|:policy/.*admin", re.IGNORECASE)
CHANGE_TICKET_RE = re.compile(r"\b(?:CHG|CR|RFC)[-_ ]?\d{3,}\b|\bchange (?:ticket|request)\b", re.IGNORECASE)
SENSITIVE_PATH_RE = re.compile(r"/(?:admin|export|dump|keys?|secrets?|credentials?|users|billing)\b", re.IGNORECASE)
HOSTING_RE = re.compile(r"data ?cent|hosting|transit|vpn|proxy|tor\b", re.IGNORECASE)
OKTA_SIGNIN_RE = re.compile(r"^user\.(?:session\.start|authentication\.)")


class _Facts:
    """Normalised facts from all observations (deduplicated by vendor event ids)."""

    def __init__(self) -> None:
        self.ip_score: dict[str, int] = {}
        self.ip_usage: dict[str, str] = {}
        self.ip_refs: dict[str, set[str]] = defaultdict(set)
        self.ct: dict[str, dict[str, Any]] = {}
        self.okta: dict[str, dict[str, Any]] = {}
        self.api: dict[str, dict[str, Any]] = {}
        self.ueba: dict[str, tuple[float, str]] = {}
        self.okta_ids: dict[str, str] = {}
        self.texts: list[tuple[str, str]] = []
        self.sources: set[str] = set()
        self.proxy_ips: set[str] = set()


def _get(record: dict[str, Any], *path: str) -> Any:
    """Nested lookup that also reads Splunk's flattened keys (``userIdentity.userName``)."""
    value: Any = record
    for position, key in enumerate(path):
        if not isinstance(value, dict):
            return None
        if key not in value:
            return value.get(".".join(path[position:]))
        value = value[key]
    return value


def _walk(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 12:
        return
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, depth + 1)
    elif isinstance(value, str) and value.strip().startswith("{") and len(value) < 200_000:
        try:
            yield from _walk(json.loads(value), depth + 1)
        except ValueError:
            return


def _ct_record(record: dict[str, Any]) -> dict[str, Any] | None:
    raw = record.get("CloudTrailEvent")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if isinstance(raw, dict) and raw.get("eventName"):
        return raw
    if record.get("eventName") and (record.get("eventSource") or record.get("userIdentity")):
        return record
    if record.get("EventName") and record.get("EventId"):
        return {"eventName": record["EventName"], "eventID": record["EventId"], "eventTime": record.get("EventTime"),
                "userIdentity": {"userName": record.get("Username"), "accessKeyId": record.get("AccessKeyId")}}
    return None


def _collect_record(record: dict[str, Any], evidence_id: str, facts: _Facts) -> None:
    if isinstance(record.get("_raw"), dict):
        return  # a Splunk result: its parsed _raw record is visited next and has the nested fields
    ct = _ct_record(record)
    if ct is not None:
        key = str(ct.get("eventID") or digest(ct))
        facts.ct.setdefault(key, {**ct, "_eid": evidence_id})
        facts.sources.add("cloudtrail")
        return
    if record.get("eventType") and isinstance(record.get("outcome"), dict):
        facts.okta.setdefault(str(record.get("uuid") or digest(record)), {**record, "_eid": evidence_id})
        facts.sources.add("okta")
        return
    if record.get("httpMethod") and record.get("path"):
        facts.api.setdefault(str(record.get("requestId") or digest(record)), {**record, "_eid": evidence_id})
        facts.sources.add("api")
        return
    _collect_reputation(record, evidence_id, facts)
    if isinstance(record.get("RiskScore"), (int, float)):
        user = str(record.get("Username") or record.get("UserName") or "")
        facts.ueba[user] = (float(record["RiskScore"]), evidence_id)
        facts.sources.add("ueba")
    if record.get("ID") and record.get("Username") and record.get("Type", "Okta") == "Okta":
        facts.okta_ids[str(record["Username"]).lower()] = str(record["ID"])


def _collect_reputation(record: dict[str, Any], evidence_id: str, facts: _Facts) -> None:
    ip = record.get("Indicator") if str(record.get("Type", "")).lower() == "ip" else record.get("Address")
    if not isinstance(ip, str) or not _valid_ip_text(ip):
        return
    score = None
    if isinstance(record.get("Score"), (int, float)) and record.get("Indicator"):
        score = int(record["Score"])
    if record.get("Malicious"):
        score = 3
    confidence = record.get("AbuseConfidenceScore")
    if isinstance(confidence, (int, float)):
        score = max(score or 0, 3 if confidence >= 75 else 2 if confidence >= 25 else 0)
    if record.get("UsageType"):
        facts.ip_usage[ip] = str(record["UsageType"])
    if score is not None:
        facts.ip_score[ip] = max(facts.ip_score.get(ip, 0), score)
        facts.ip_refs[ip].add(evidence_id)
        facts.sources.add("reputation")


def _collect(observations: list[dict[str, Any]], incident: Any) -> _Facts:
    facts = _Facts()
    for obs in observations:
        eid = str(obs.get("evidence_id") or "")
        for record in _walk(obs.get("output")):
            _collect_record(record, eid, facts)
        facts.texts.append((eid, json.dumps(obs.get("output"), default=str)[:200_000]))
    text = incident.get("text", "") if isinstance(incident, dict) else f"{incident.name} {incident.details}"
    facts.texts.append(("", str(text)))
    return facts


def _is_internal(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False


class _Scoring:
    """Features found (name -> evidence ids, detail) and findings (name -> bindings) for one evidence set."""

    def __init__(self) -> None:
        self.features: dict[str, tuple[set[str], str]] = {}
        self.findings: list[tuple[str, dict[str, str], set[str]]] = []
        self.users: list[str] = []
        self.keys: list[str] = []
        self.ips: list[str] = []

    def fire(self, name: str, refs: Iterable[str], detail: str) -> None:
        current = self.features.setdefault(name, (set(), detail))
        current[0].update(r for r in refs if r)

    def find(self, name: str, binding: dict[str, str], refs: Iterable[str]) -> None:
        if all(binding.values()) and (name, binding) not in [(n, b) for n, b, _ in self.findings]:
            self.findings.append((name, binding, {r for r in refs if r}))

    def affected(self, users: Iterable[str] = (), keys: Iterable[str] = (), ips: Iterable[str] = ()) -> None:
        for bucket, values in ((self.users, users), (self.keys, keys), (self.ips, ips)):
            for value in values:
                if value and value not in bucket:
                    bucket.append(value)


def _ct_fields(ev: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(event name, source ip, acting user, access key, error code) of a CloudTrail record."""
    user = _get(ev, "userIdentity", "userName") or str(_get(ev, "userIdentity", "arn") or "").rsplit("/", 1)[-1]
    return (str(ev.get("eventName") or ""), str(ev.get("sourceIPAddress") or ""), str(user or ""),
            str(_get(ev, "userIdentity", "accessKeyId") or ""), str(ev.get("errorCode") or ""))


def _score_cloudtrail(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    denied = [ev for ev in facts.ct.values() if re.search(r"AccessDenied|Unauthorized", _ct_fields(ev)[4])]
    if len(denied) >= 5:
        s.fire("access_denied_burst", (ev["_eid"] for ev in denied), f"{len(denied)} AccessDenied events")
        s.affected(users=[_ct_fields(ev)[2] for ev in denied])
    names = Counter()
    for ev in facts.ct.values():
        name, ip, user, key, error = _ct_fields(ev)
        if error:
            continue
        names[(name, user)] += 1
        params = {k: _get(ev, "requestParameters", k) for k in ("userName", "policyArn", "policyDocument",
                                                               "groupName")}
        sensitive = name in PERSISTENCE_EVENTS | ESCALATION_EVENTS | EVASION_EVENTS
        if name in EVASION_EVENTS:
            s.fire("logging_disabled", [ev["_eid"]], f"{name} by {user} from {ip}")
        if name in ESCALATION_EVENTS:
            policy = str(params.get("policyArn") or params.get("policyDocument") or params.get("groupName") or "")
            admin = bool(ADMIN_POLICY_RE.search(policy)) or '"*"' in policy
            s.fire("iam_admin_escalation" if admin else "iam_policy_change", [ev["_eid"]], f"{name} {policy[:80]}")
            if admin and name == "AttachUserPolicy":
                s.find("admin_policy_attached", {"user": str(params.get("userName") or user),
                                                 "policy_arn": str(params.get("policyArn") or "")}, [ev["_eid"]])
            s.affected(users=[user, str(params.get("userName") or "")])
        if name in MFA_RESET_EVENTS:
            s.fire("okta_mfa_reset", [ev["_eid"]], f"{name} by {user}")
        if ip in bad:
            s.fire("api_key_from_bad_ip", [ev["_eid"]], f"{name} with {key or user} from {ip}")
            s.find("key_used_from_bad_ip", {"user": user, "key": key}, [ev["_eid"]])
            s.affected(users=[user], keys=[key], ips=[ip])
            if sensitive:
                s.fire("sensitive_call_from_bad_ip", [ev["_eid"]], f"{name} from {ip}")
            new_key = _get(ev, "responseElements", "accessKey", "accessKeyId")
            if name == "CreateAccessKey" and new_key:
                target = str(params.get("userName") or _get(ev, "responseElements", "accessKey", "userName") or user)
                s.find("attacker_created_key", {"user": target, "key": str(new_key)}, [ev["_eid"]])
                s.affected(users=[target], keys=[str(new_key)])
        if _get(ev, "userIdentity", "sessionContext", "attributes", "mfaAuthenticated") == "true" or \
                _get(ev, "additionalEventData", "MFAUsed") == "Yes":
            s.fire("mfa_present", [ev["_eid"]], f"MFA on {name}")
    rotated = {user for (name, user) in names if name == "CreateAccessKey"} & {
        user for (name, user) in names if name in ("DeleteAccessKey", "UpdateAccessKey")}
    persistence = [ev for ev in facts.ct.values() if _ct_fields(ev)[0] in PERSISTENCE_EVENTS
                   and not _ct_fields(ev)[4] and not (_ct_fields(ev)[2] in rotated and _ct_fields(ev)[1] not in bad)]
    if persistence:
        s.fire("iam_persistence", (ev["_eid"] for ev in persistence),
               ", ".join(sorted({_ct_fields(ev)[0] for ev in persistence})))
    if rotated and not any(_ct_fields(ev)[1] in bad for ev in facts.ct.values()):
        s.fire("routine_rotation", (ev["_eid"] for ev in facts.ct.values() if _ct_fields(ev)[2] in rotated),
               f"key rotation by {', '.join(sorted(rotated))}")


def _score_okta(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ev in sorted(facts.okta.values(), key=lambda e: str(e.get("published") or "")):
        by_user[str(_get(ev, "actor", "alternateId") or "")].append(ev)
        ip = str(_get(ev, "client", "ipAddress") or "")
        if _get(ev, "securityContext", "isProxy"):
            facts.proxy_ips.add(ip)
        if str(ev.get("eventType")) in MFA_RESET_EVENTS:
            s.fire("okta_mfa_reset", [ev["_eid"]], f"{ev.get('eventType')} for {_get(ev, 'actor', 'alternateId')}")
        if str(ev.get("eventType")).startswith("user.authentication.auth_via_mfa") and \
                _get(ev, "outcome", "result") == "SUCCESS":
            s.fire("mfa_present", [ev["_eid"]], "Okta MFA success")
    for login, events in by_user.items():
        failures, compromised, refs = 0, False, []
        countries = Counter()
        for ev in events:
            result = _get(ev, "outcome", "result")
            ip = str(_get(ev, "client", "ipAddress") or "")
            signin = bool(OKTA_SIGNIN_RE.match(str(ev.get("eventType") or "")))
            if signin and result in ("FAILURE", "DENY"):
                failures += 1
                refs.append(ev["_eid"])
            elif result in ("SUCCESS", "ALLOW"):
                if signin and failures >= 3:
                    s.fire("okta_bruteforce_then_success", refs + [ev["_eid"]], f"{failures} failures then success "
                                                                                f"for {login}")
                    compromised = True
                if signin and _get(ev, "client", "geographicalContext", "country"):
                    countries[str(_get(ev, "client", "geographicalContext", "country"))] += 1
                if ip in bad:
                    s.fire("okta_session_bad_ip", [ev["_eid"]], f"{login} from {ip}")
                    compromised = True
                    s.affected(ips=[ip])
        if len(countries) > 1:
            s.fire("okta_new_country", (e["_eid"] for e in events), f"{login}: {', '.join(countries)}")
        mfa_reset = any(str(e.get("eventType")) in MFA_RESET_EVENTS for e in events)
        if compromised or (mfa_reset and len(countries) > 1):
            actor_id = next((str(_get(e, "actor", "id")) for e in events if _get(e, "actor", "id")), "")
            okta_id = facts.okta_ids.get(login.lower(), actor_id)
            s.find("okta_account_compromised", {"login": login, "okta_id": okta_id}, (e["_eid"] for e in events))
            s.affected(users=[login])


def _score_api(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in facts.api.values():
        by_key[str(rec.get("keyId") or "")].append(rec)
    for key, recs in by_key.items():
        refs = [r["_eid"] for r in recs]
        denied = sum(1 for r in recs if r.get("status") in (401, 403))
        volume = sum(int(r.get("responseBytes") or 0) for r in recs)
        if len(recs) >= 100 or denied >= 20 or volume >= 50_000_000:
            s.fire("api_volume_anomaly", refs, f"{len(recs)} requests, {denied} denied, {volume} bytes for {key}")
        if any(SENSITIVE_PATH_RE.search(str(r.get("path"))) for r in recs):
            s.fire("api_sensitive_paths", refs, f"sensitive paths for {key}")
        for rec in recs:
            if rec.get("sourceIp") in bad:
                s.fire("api_key_from_bad_ip", [rec["_eid"]], f"{key} from {rec.get('sourceIp')}")
                user = str(rec.get("principal") or "").rsplit("/", 1)[-1]
                s.find("key_used_from_bad_ip", {"user": user, "key": key}, [rec["_eid"]])
                s.affected(users=[user], keys=[key], ips=[str(rec["sourceIp"])])


def _score_context(facts: _Facts, bad: set[str], s: _Scoring) -> None:
    if bad:
        s.fire("ip_malicious", (r for ip in bad for r in facts.ip_refs[ip]), f"malicious: {', '.join(sorted(bad))}")
        for ip in sorted(bad):
            s.find("malicious_ip", {"ip": ip}, facts.ip_refs[ip])
        s.affected(ips=sorted(bad))
    suspicious = {ip for ip, score in facts.ip_score.items() if score == 2}
    if suspicious and not bad:
        s.fire("ip_suspicious", (r for ip in suspicious for r in facts.ip_refs[ip]), ", ".join(sorted(suspicious)))
    hosting = {ip for ip, usage in facts.ip_usage.items() if HOSTING_RE.search(usage)} | facts.proxy_ips
    if hosting - {""}:
        s.fire("hosting_or_proxy_ip", (r for ip in hosting for r in facts.ip_refs.get(ip, ())),
               ", ".join(sorted(hosting - {""})))
    seen_ips = set(facts.ip_score) | {_ct_fields(ev)[1] for ev in facts.ct.values()} | {
        str(_get(ev, "client", "ipAddress") or "") for ev in facts.okta.values()}
    seen_ips = {ip for ip in seen_ips if ip and _valid_ip_text(ip)}
    if seen_ips and not bad and all(facts.ip_score.get(ip) == 1 or _is_internal(ip) for ip in seen_ips):
        s.fire("known_good_ips", (r for ip in seen_ips for r in facts.ip_refs.get(ip, ())), ", ".join(sorted(seen_ips)))
    for user, (risk, eid) in facts.ueba.items():
        name = "ueba_high_risk" if risk >= 90 else "ueba_medium_risk" if risk >= 50 else \
            "ueba_low_risk" if risk < 20 else ""
        if name:
            s.fire(name, [eid], f"{user} risk {risk:g}")
    for eid, text in facts.texts:
        match = CHANGE_TICKET_RE.search(text)
        if match:
            s.fire("change_ticket", [eid], match.group(0))
            break
    logs_seen = facts.sources & {"cloudtrail", "okta", "api"}
    malicious = {"logging_disabled", "iam_admin_escalation", "iam_persistence", "access_denied_burst",
                 "okta_bruteforce_then_success", "okta_session_bad_ip", "api_key_from_bad_ip", "api_volume_anomaly",
                 "okta_mfa_reset", "iam_policy_change", "okta_new_country"}
    if logs_seen and not bad and not (malicious & set(s.features)):
        s.fire("no_sensitive_activity", [], f"searched {', '.join(sorted(logs_seen))}: nothing sensitive")
    if "okta_mfa_reset" in s.features:
        s.features.pop("mfa_present", None)


def _valid_ip_text(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _verdict(score: float, sources: int) -> tuple[str, str, float]:
    confidence = 0.2 if sources == 0 else min(0.95, 0.35 + 0.1 * abs(score) + 0.05 * min(sources, 3))
    if score >= 4:
        verdict = "true_positive"
    elif score >= 2:
        verdict = "suspicious"
    elif score <= -2:
        verdict = "false_positive"
    else:
        verdict = "inconclusive"
    if confidence < CONFIDENCE_THRESHOLD:
        verdict = "inconclusive"
    level = ("critical" if score >= 7 else "high" if score >= 4 else "medium" if score >= 2 else
             "low" if score > 0 else "none")
    if verdict == "false_positive":
        level = "none"
    return verdict, level, round(confidence, 2)


def _actions(s: _Scoring, verdict: str) -> list[ProposedAction]:
    if verdict not in ("true_positive", "suspicious"):
        return []
    out: list[ProposedAction] = []
    for finding, binding, refs in s.findings:
        for action, mapping in FINDING_ACTIONS.get(finding, []):
            args = {arg: binding.get(source, "") for arg, source in mapping.items()}
            if not all(args.values()):
                continue
            out.append(ProposedAction(action=action, args=args, target=next(iter(args.values())),
                                      reasoning=f"deterministic rule: {finding.replace('_', ' ')}",
                                      evidence_refs=sorted(refs, key=lambda r: int(r[1:]) if r[1:].isdigit() else 0)))
    return out


def score_evidence(observations: list[dict[str, Any]],
                   incident: "IncidentInput | dict[str, Any]") -> tuple[ThreatAssessment, list[ProposedAction]]:
    """Rules over evidence -> (assessment, proposed actions), with the documented WEIGHTS and FINDING_ACTIONS.

    ``observations`` are ``{"tool", "args", "output", "evidence_id"}`` where output is either the command
    executor's ``{"context", "contents", "brands"}`` or a command's plain contents: every nested record is
    recognised by its vendor fields (CloudTrail, Okta System Log, API gateway, DBotScore/AbuseIPDB, Exabeam).
    """
    facts = _collect(observations, incident)
    bad = {ip for ip, score in facts.ip_score.items() if score >= 3}
    scoring = _Scoring()
    _score_cloudtrail(facts, bad, scoring)
    _score_okta(facts, bad, scoring)
    _score_api(facts, bad, scoring)
    _score_context(facts, bad, scoring)
    score = round(sum(WEIGHTS[name] for name in scoring.features), 2)
    verdict, level, confidence = _verdict(score, len(facts.sources))
    refs = sorted({r for refs, _ in scoring.features.values() for r in refs},
                  key=lambda r: int(r[1:]) if r[1:].isdigit() else 0)
    signals = "; ".join(f"{name} ({WEIGHTS[name]:+g}: {detail})" for name, (_, detail) in scoring.features.items())
    summary = (f"Deterministic reasoner (rules over evidence, no language model): score {score:+g} from "
               f"{len(facts.sources)} data source(s). Signals: {signals or 'none'}.")
    if verdict == "inconclusive":
        summary += " Below the confidence threshold or mixed signals: a person must decide."
    attack = list(dict.fromkeys(a for name in scoring.features for a in ATTACK_IDS.get(name, [])))
    assessment = ThreatAssessment(
        verdict=verdict, threat_level=level, confidence=confidence, summary=one_line(summary, 1800),
        affected_accounts=[u for u in scoring.users if u][:20], affected_keys=[k for k in scoring.keys if k][:20],
        affected_ips=[i for i in scoring.ips if i][:20], attack_ids=attack if verdict != "false_positive" else [],
        exposure=_exposure(scoring, verdict), evidence_refs=refs)
    return assessment, _actions(scoring, verdict)


def _exposure(s: _Scoring, verdict: str) -> str:
    if verdict in ("false_positive", "inconclusive"):
        return ""
    parts = []
    if s.keys:
        parts.append(f"access keys {', '.join(s.keys[:5])}")
    if s.users:
        parts.append(f"accounts {', '.join(s.users[:5])}")
    return "Possibly compromised: " + "; ".join(parts) if parts else ""


def _observations_from_messages(messages: list[Message]) -> tuple[set[str], list[dict[str, Any]]]:
    """(answered call keys, observations) from the tool_use / tool_result pairs in a conversation."""
    uses: dict[str, tuple[str, Any]] = {}
    answered: set[str] = set()
    observations = []
    for message in messages:
        for block in message.content:
            if block.type == "tool_use" and block.id:
                uses[block.id] = (str(block.name), block.input or {})
            elif block.type == "tool_result" and block.tool_use_id in uses:
                name, args = uses[block.tool_use_id]
                answered.add(digest({"tool": name, "args": args}))
                if not block.is_error:
                    observations.append(_observation_from_text(name, args, block.content or ""))
    return answered, observations


def _observation_from_text(tool: str, args: Any, text: str) -> dict[str, Any]:
    match = EVIDENCE_REF_RE.match(text.strip())
    start = text.find("{", text.find("\n") + 1 if match else 0)
    output: Any = None
    while start >= 0 and output is None:
        try:
            output, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            start = text.find("{", start + 1)
    return {"tool": tool, "args": args, "output": output, "evidence_id": match.group(1) if match else ""}


def _program_observations(program_text: str) -> tuple[Program, list[dict[str, Any]]]:
    try:
        program = parse_program(program_text or "")
    except ProgramSyntaxError:
        program = Program()
        try:
            extend_program(program, program_text or "")
        except ProgramSyntaxError:
            pass
    observations = []
    for step in program.tool_steps():
        if step.result and not step.result.startswith("ERROR"):
            observations.append(_observation_from_text(step.tool, step.args or {}, step.result))
    return program, observations


class DeterministicModelClient:
    """A ModelClient with no model: follows the plan in the request metadata, then answers by the rules.

    Stateless per turn - everything it needs is in the request: ``metadata["deterministic"]`` (method, plan,
    incident facts; for ART also the program so far) and the tool results already in the messages. So it can
    take over in the middle of a run (model failure) and it behaves identically behind the LLM gateway.
    """

    provider = "deterministic"
    model = DETERMINISTIC_MODEL

    def __init__(self, registry: "ToolRegistry | None" = None) -> None:
        self.registry = registry

    def turn(self, request: ModelRequest) -> ModelResponse:
        meta = request.metadata.get("deterministic") or {}
        if meta.get("method") == "art":
            text = self._art_text(meta)
            return self._response([ContentBlock(type="text", text=text)], "end_turn")
        offered = {str(t.get("name")) for t in request.tools}
        answered, observations = _observations_from_messages(request.messages)
        if isinstance(meta.get("observations"), list):
            observations = meta["observations"]
        pending = [p for p in meta.get("plan") or [] if p.get("tool") in offered
                   and digest({"tool": p["tool"], "args": p.get("args") or {}}) not in answered]
        if pending:
            blocks = [ContentBlock(type="tool_use", id=new_id("toolu"), name=p["tool"], input=p.get("args") or {})
                      for p in pending]
            return self._response(blocks, "tool_use")
        return self._response([ContentBlock(type="text", text=self.final_json(observations, meta))], "end_turn")

    def _response(self, content: list[ContentBlock], stop: str) -> ModelResponse:
        return ModelResponse(content=content, stop_reason=stop, usage=Usage(model_calls=1), model=self.model,
                             provider=self.provider)

    def final_json(self, observations: list[dict[str, Any]], meta: dict[str, Any]) -> str:
        incident = meta.get("incident") or {}
        assessment, actions = score_evidence(observations, incident)
        if self.registry is not None:
            actions = [a for a in actions if self.registry.get(a.action) is not None]
        return FinalAnswer(assessment=assessment, recommendations=actions).model_dump_json()

    def _art_text(self, meta: dict[str, Any]) -> str:
        program, observations = _program_observations(str(meta.get("program") or ""))
        if isinstance(meta.get("observations"), list):
            observations = meta["observations"]
        expect = meta.get("expect", "question")
        index = int(meta.get("next_index") or program.next_index)
        if expect == "answer":
            return f"#{index}: Deterministic reasoner: no free-text reasoning; the evidence is scored by rules."
        if expect == "ans":
            return f"Ans: {self.final_json(observations, meta)}"
        done = {digest({"tool": s.tool, "args": s.args or {}}) for s in program.tool_steps()}
        lines = []
        for step in meta.get("plan") or []:
            if digest({"tool": step["tool"], "args": step.get("args") or {}}) in done:
                continue
            question = step.get("question") or f"What does {step['tool']} show?"
            lines.append(f"Q{index + len(lines) // 2}: [{step['tool']}] {question}")
            lines.append("  args: " + json.dumps(step.get("args") or {}, sort_keys=True))
        if lines:
            return "\n".join(lines)
        return f"Q{index}: [EOQ]\nAns: {self.final_json(observations, meta)}"


def default_plan(entities: Entities, registry: "ToolRegistry", policy: "Policy | None" = None,
                 limit: int = 8) -> list[dict[str, Any]]:
    """Without a demonstration: every allowed enrichment tool bound to the incident's entities."""
    steps = []
    for spec in registry.specs("enrichment"):
        if policy is not None and not policy.is_allowed(spec.name):
            continue
        if spec.entity_args:
            steps.append(ProgramStep(index=len(steps) + 1, tool=spec.name, args={}))
    return plan_from_demonstration(Program(steps=steps), entities, registry)[:limit]
