"""AI Reasoning engine - ART task library, program grammar, demonstration selection, deterministic reasoner.

ART (Paranjape et al. 2023) reasons with *programs*: a library of demonstration programs written in a small
grammar, the closest demonstrations for a new task in the prompt, and generation that pauses at every tool
step so the engine (under the policy) can run the tool and splice its output in. This module holds the parts
that need no run state: the grammar (parse, render, validate, extend with model output), the task library
(YAML in and out, analyst feedback with provenance), lexical selection, binding a demonstration's tool steps
to a new incident's entities, and the deterministic reasoner that follows those steps; the evidence scoring
it answers with (score_evidence, the documented WEIGHTS and FINDING_ACTIONS) lives in AIReasoningScoringApiModule,
which this module star-imports. The loops that talk to the model and the tools live in AIReasoningApiModule,
which star-imports this module.

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

from AIReasoningScoringApiModule import *  # noqa: F403

# isort: split

import ipaddress  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterable  # noqa: E402
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


# --------------------------------------------------------------------------------------------
# Deterministic follow-up round: entities the evidence names that the plan did not cover
# --------------------------------------------------------------------------------------------

FOLLOWUP_MAX_CALLS = 4
FOLLOWUP_LABEL = "Follow-up:"
# Successful IAM calls that create or change another user: the target becomes a principal of the incident.
FOLLOWUP_USER_CHANGE_EVENTS = frozenset({
    "CreateUser", "CreateLoginProfile", "UpdateLoginProfile", "CreateAccessKey", "UpdateAccessKey",
    "AttachUserPolicy", "PutUserPolicy", "AddUserToGroup", "DeactivateMFADevice", "EnableMFADevice",
    "UpdateUser", "ChangePassword",
})
_FOLLOWUP_LONG_TERM_KEY_RE = re.compile(r"^AKIA[A-Z0-9]{16}$")
# (tool, argument builder) per lead kind, in preference order; the shipped registry's names come first, a
# tenant registry's tool that takes exactly that entity kind is the fallback (_followup_registry_tool).
_FOLLOWUP_TOOLS: dict[str, tuple[tuple[str, Any], ...]] = {
    "ip": (("ip_reputation", lambda v: {"ip": v}),),
    "user_activity": (("cloudtrail_lookup_events", lambda v: {"attribute_key": "Username", "attribute_value": v}),),
    "key_activity": (("cloudtrail_lookup_events", lambda v: {"attribute_key": "AccessKeyId", "attribute_value": v}),
                     ("iam_get_access_key_last_used", lambda v: {"access_key_id": v})),
    "user_keys": (("iam_list_access_keys", lambda v: {"user_name": v}),),
}
_FOLLOWUP_KIND_ENTITY = {"ip": "ips", "user_activity": "users", "key_activity": "access_keys", "user_keys": "users"}


def _followup_public_ip(text: str) -> bool:
    """A globally routable address: private, loopback, link-local, CGNAT, documentation and other reserved
    ranges are skipped (nothing to look up, and never a block target)."""
    try:
        return ipaddress.ip_address(text.strip()).is_global
    except ValueError:
        return False


def _followup_identity_names(event: dict[str, Any]) -> list[str]:
    """Names a CloudTrail caller goes by: user name, the ARN's last part, and for an assumed-role session both
    the role and the session name (the CloudTrail Username of a session), the session issuer's name."""
    names = [str(dig(event, "userIdentity", "userName") or "")]
    arn = str(dig(event, "userIdentity", "arn") or "")
    parts = arn.split(":", 5)[-1].split("/") if arn else []
    if len(parts) >= 3 and parts[0] == "assumed-role":
        names.extend([parts[1], parts[-1]])
    elif len(parts) >= 2:
        names.append(parts[-1])
    names.append(str(dig(event, "userIdentity", "sessionContext", "sessionIssuer", "userName") or ""))
    return [n for n in dict.fromkeys(names) if n]


@dataclass
class _FollowupLead:
    kind: str  # ip | user_activity | key_activity | user_keys
    value: str
    question: str
    rank: tuple[int, int] = (0, 0)


class _FollowupEvidence:
    """What the observations say about the incident's principals, read once (no tool runs here).

    Principals start with the incident's users, e-mail logins and access keys and grow, to a fixed point
    inside the evidence, with the users they created or changed and the keys they created: an attacker's
    second identity is the incident's too. Source IPs are collected only from records of those principals
    (CloudTrail, Okta System Log, API gateway access logs), so an unrelated tenant's traffic never leads.
    """

    def __init__(self, observations: list[dict[str, Any]], entities: dict[str, Any]) -> None:
        self.users: dict[str, str] = {}  # lower-case name -> name as written
        for kind in ("users", "emails"):
            for value in entities.get(kind) or []:
                self.users.setdefault(str(value).lower(), str(value))
        self.keys: set[str] = {str(k) for k in entities.get("access_keys") or []}
        self.incident_users = set(self.users)
        self.incident_keys = set(self.keys)
        self.new_users: dict[str, str] = {}  # name -> why (who created or changed it)
        self.new_keys: dict[str, str] = {}  # key -> owner
        self.keys_in_use: set[str] = set()
        self.ips: dict[str, list[Any]] = {}  # ip -> [count, first position, who]
        self.reputation_ips: set[str] = set()
        self.ct: list[dict[str, Any]] = []
        self.okta: list[dict[str, Any]] = []
        self.api: list[dict[str, Any]] = []
        self._read(observations)
        self._grow_principals()
        self._collect_ips()

    def _read(self, observations: list[dict[str, Any]]) -> None:
        seen: set[str] = set()
        for obs in observations or []:
            if not isinstance(obs, dict):
                continue
            for record in walk_records(obs.get("output")):
                if record.get("eventName") and (record.get("userIdentity") or record.get("eventSource")):
                    key = str(record.get("eventID") or digest(record))
                    if key not in seen:
                        seen.add(key)
                        self.ct.append(record)
                elif record.get("eventType") and isinstance(record.get("outcome"), dict):
                    self.okta.append(record)
                elif record.get("httpMethod") and record.get("path") and record.get("sourceIp"):
                    self.api.append(record)
                else:
                    self._read_reputation(record)

    def _read_reputation(self, record: dict[str, Any]) -> None:
        indicator = record.get("Indicator")
        if isinstance(indicator, str) and "Score" in record:
            self.reputation_ips.add(indicator.strip())
        address = record.get("Address")
        if isinstance(address, str) and any(k in record for k in ("AbuseConfidenceScore", "Malicious", "Score")):
            self.reputation_ips.add(address.strip())

    def principal(self, names: Iterable[str], key: str = "") -> str:
        """The first of ``names`` that is a principal (as written), or the key's owner; "" when unrelated."""
        for name in names:
            if name.lower() in self.users:
                return name
        if key and key in self.keys:
            return self.new_keys.get(key) or key
        return ""

    def _grow_principals(self) -> None:
        for _ in range(8):  # each pass adds an identity or stops; 8 hops is far beyond any real chain
            grown = False
            for event in self.ct:
                actor = self.principal(_followup_identity_names(event),
                                       str(dig(event, "userIdentity", "accessKeyId") or ""))
                if not actor or event.get("errorCode") or event.get("eventName") not in FOLLOWUP_USER_CHANGE_EVENTS:
                    continue
                target = str(dig(event, "requestParameters", "userName")
                             or dig(event, "responseElements", "accessKey", "userName") or "")
                if target and target.lower() not in self.users:
                    self.users[target.lower()] = target
                    self.new_users[target] = f"{event['eventName']} by {actor}"
                    grown = True
                new_key = str(dig(event, "responseElements", "accessKey", "accessKeyId") or "")
                if new_key and new_key not in self.keys:
                    self.keys.add(new_key)
                    self.new_keys[new_key] = target or actor
                    grown = True
            if not grown:
                return

    def _add_ip(self, ip: Any, who: str) -> None:
        text = str(ip or "").strip()
        if not text or not _followup_public_ip(text):
            return
        entry = self.ips.setdefault(text, [0, len(self.ips), who])
        entry[0] += 1

    def _collect_ips(self) -> None:
        for event in self.ct:
            key = str(dig(event, "userIdentity", "accessKeyId") or "")
            who = self.principal(_followup_identity_names(event), key)
            if not who:
                continue
            self._add_ip(event.get("sourceIPAddress"), who)
            if key in self.new_keys or (_FOLLOWUP_LONG_TERM_KEY_RE.match(key) and key not in self.incident_keys):
                self.keys_in_use.add(key)
                self.new_keys.setdefault(key, str(dig(event, "userIdentity", "userName") or who))
        for event in self.okta:
            who = self.principal([str(dig(event, "actor", "alternateId") or "")])
            if who:
                self._add_ip(dig(event, "client", "ipAddress"), who)
        for record in self.api:
            principal = str(record.get("principal") or "").rsplit("/", 1)[-1]
            who = self.principal([principal] if principal else [], str(record.get("keyId") or ""))
            if who:
                self._add_ip(record.get("sourceIp"), who)

    def leads(self, enriched_ips: set[str]) -> list[_FollowupLead]:
        """Follow-up leads, most telling first: new public IPs (busiest first), then what new users and unseen
        new keys did, then the new users' keys and the activity of new keys already seen in use."""
        out: list[_FollowupLead] = []
        for ip, (count, first, who) in self.ips.items():
            if ip in enriched_ips or ip in self.reputation_ips:
                continue
            out.append(_FollowupLead("ip", ip, f"{FOLLOWUP_LABEL} {ip} is the source of {count} record(s) of {who} "
                                               "in the evidence - is it malicious?", (0, -count * 10_000 + first)))
        for position, (user, why) in enumerate(self.new_users.items()):
            out.append(_FollowupLead("user_activity", user, f"{FOLLOWUP_LABEL} what did {user} ({why}) do?",
                                     (1, position)))
            out.append(_FollowupLead("user_keys", user, f"{FOLLOWUP_LABEL} which access keys does {user} have?",
                                     (2, position)))
        for position, (key, owner) in enumerate(sorted(self.new_keys.items())):
            if not _FOLLOWUP_LONG_TERM_KEY_RE.match(key) or key in self.incident_keys:
                continue  # session keys (ASIA...) expire and have no IAM record to look up
            seen = key in self.keys_in_use
            out.append(_FollowupLead("key_activity", key, f"{FOLLOWUP_LABEL} where and how was access key {key} "
                                                          f"of {owner} used?", (2 if seen else 1, 1000 + position)))
        return sorted(out, key=lambda lead: lead.rank)


def _followup_registry_tool(kind: str, allowed: set[str], registry: Any) -> tuple[str, Any] | None:
    """A tenant registry's enrichment tool that takes exactly one entity of the lead's kind (sorted by name)."""
    if registry is None:
        return None
    entity = _FOLLOWUP_KIND_ENTITY[kind]
    for spec in sorted(registry.specs("enrichment"), key=lambda s: s.name):
        args = [arg for arg, of in spec.entity_args.items() if of == entity]
        required = set((spec.args_schema or {}).get("required") or [])
        if spec.name in allowed and len(args) == 1 and required <= set(args):
            return spec.name, (lambda v, arg=args[0]: {arg: v})
    return None


def _followup_call(lead: _FollowupLead, allowed: set[str], registry: Any) -> dict[str, Any] | None:
    options = [option for option in _FOLLOWUP_TOOLS[lead.kind] if option[0] in allowed]
    if lead.kind in ("ip", "user_keys"):
        fallback = _followup_registry_tool(lead.kind, allowed, registry)
        options += [fallback] if fallback else []
    for tool, build in options:
        args = build(lead.value)
        if registry is not None:
            spec = registry.get(tool)
            if spec is None or spec.kind != "enrichment" or registry.validate_args(tool, args):
                continue
        return {"tool": tool, "args": args, "question": lead.question, "followup": True}
    return None


def _followup_arg_values(args: Any) -> set[str]:
    if isinstance(args, dict):
        return {str(v).strip() for v in args.values() if isinstance(v, (str, int, float))}
    return set()


def plan_followup(observations: list[dict[str, Any]], entities: "Entities | dict[str, Any] | None",
                  done: Iterable[tuple[str, Any]], allowed: Iterable[str], registry: Any = None,
                  limit: int = FOLLOWUP_MAX_CALLS) -> list[dict[str, Any]]:
    """One bounded round of enrichment for entities the evidence names that nothing looked up yet.

    A real analyst follows the evidence: the incident names one IP, CloudTrail shows the leaked key's second
    key used from another. From ``observations`` (tool outputs) this reads the records of the incident's
    principals (grown by the users they created or changed and the keys they created) and proposes, in a
    stable order, ip_reputation for their public source IPs that no call or reputation record covered yet,
    CloudTrail look-ups for new users and new long-term keys, and the new users' key lists. ``done`` are the
    ``(tool, args)`` already requested (answered or refused): never asked again, so the policy's loop rule is
    never hit. Only ``allowed`` tools (offered to the model / on the allowlist) that the registry (when given)
    knows as enrichment with valid arguments; at most ``limit`` calls, and when other leads exist at least one
    call goes to them rather than all to IPs. The caller makes it a single round (see FOLLOWUP_LABEL).
    """
    if limit <= 0:
        return []
    if isinstance(entities, Entities):
        entities = entities.model_dump()
    done_keys = {digest({"tool": tool, "args": args or {}}) for tool, args in done}
    enriched = set().union(*(_followup_arg_values(args) for _, args in done)) if done_keys else set()
    evidence = _FollowupEvidence(observations, entities or {})
    allowed_set = {str(a) for a in allowed}
    ip_calls: list[dict[str, Any]] = []
    other_calls: list[dict[str, Any]] = []
    chosen: set[str] = set()
    for lead in evidence.leads(enriched):
        call = _followup_call(lead, allowed_set, registry)
        if call is None:
            continue
        key = digest({"tool": call["tool"], "args": call["args"]})
        if key in done_keys or key in chosen:
            continue
        chosen.add(key)
        (ip_calls if lead.kind == "ip" else other_calls).append(call)
    ip_slots = limit - 1 if other_calls and limit > 1 else limit
    picked = ip_calls[:ip_slots] + other_calls
    picked = picked[:limit]
    picked += ip_calls[ip_slots:][: limit - len(picked)]
    return picked


def _followup_requested_react(messages: list[Message]) -> list[tuple[str, Any]]:
    """(tool, args) of every tool call already requested in the conversation, answered or not."""
    return [(str(block.name), block.input or {}) for message in messages for block in message.content
            if block.type == "tool_use"]


def _followup_issued_react(messages: list[Message]) -> bool:
    """Was the follow-up round already asked for in this conversation (stateless: read from the messages)?"""
    return any(message.role == "assistant" and block.type == "text" and (block.text or "").startswith(FOLLOWUP_LABEL)
               for message in messages for block in message.content)


class DeterministicModelClient:
    """A ModelClient with no model: follows the plan in the request metadata, then answers by the rules.

    Stateless per turn - everything it needs is in the request: ``metadata["deterministic"]`` (method, plan,
    incident facts; for ART also the program so far) and the tool results already in the messages. So it can
    take over in the middle of a run (model failure) and it behaves identically behind the LLM gateway.
    When the plan is answered it asks once more, for what the evidence names and nothing looked up yet
    (plan_followup, at most ``followup_limit`` calls, labelled FOLLOWUP_LABEL so the round is never repeated),
    and then answers.
    """

    provider = "deterministic"
    model = DETERMINISTIC_MODEL

    def __init__(self, registry: "ToolRegistry | None" = None, followup_limit: int = FOLLOWUP_MAX_CALLS) -> None:
        self.registry = registry
        self.followup_limit = followup_limit

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
        followup = [] if _followup_issued_react(request.messages) else self.followup(
            observations, meta, _followup_requested_react(request.messages), offered)
        if followup:
            text = f"{FOLLOWUP_LABEL} the evidence names entities the plan did not cover; one more round " + \
                "of enrichment, then the answer. " + " ".join(p["question"][len(FOLLOWUP_LABEL):].strip()
                                                             for p in followup)
            blocks = [ContentBlock(type="text", text=text)] + [
                ContentBlock(type="tool_use", id=new_id("toolu"), name=p["tool"], input=p["args"]) for p in followup]
            return self._response(blocks, "tool_use")
        return self._response([ContentBlock(type="text", text=self.final_json(observations, meta))], "end_turn")

    def followup(self, observations: list[dict[str, Any]], meta: dict[str, Any], done: list[tuple[str, Any]],
                 allowed: Iterable[str]) -> list[dict[str, Any]]:
        """The single follow-up round (plan_followup) for this request; [] when nothing new is named."""
        entities = (meta.get("incident") or {}).get("entities") or {}
        plan_calls = [(str(p.get("tool")), p.get("args") or {}) for p in meta.get("plan") or [] if p.get("tool")]
        return plan_followup(observations, entities, done + plan_calls, allowed, self.registry,
                             self.followup_limit)

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
        if not lines and not any(s.question.startswith(FOLLOWUP_LABEL) for s in program.tool_steps()):
            # Without tools in the request, what may run is what the engine says (allowed_tools), else the
            # tools the plan and the program already use; the policy still decides every step.
            allowed = meta.get("allowed_tools")
            if not isinstance(allowed, list):
                allowed = [str(p.get("tool")) for p in meta.get("plan") or []] + [s.tool for s in program.tool_steps()]
            done_calls = [(s.tool, s.args or {}) for s in program.tool_steps()]
            for step in self.followup(observations, meta, done_calls, allowed):
                lines.append(f"Q{index + len(lines) // 2}: [{step['tool']}] {step['question']}")
                lines.append("  args: " + json.dumps(step["args"], sort_keys=True))
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
