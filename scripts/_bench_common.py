"""Shared plumbing for the scripts/bench_*.py benchmarks (not a test module, not pack code).

Why a module: every benchmark needs the same four things - the engine on ``sys.path`` exactly as the
platform imports it, the pack's shipped tool registry / policy / task library (the XSOAR Lists, one copy),
a tool executor over the simulated SOC, and a model wrapper that can add latency, split a turn's tool calls
and record what was sent. Keeping them here means the benchmarks measure the same engine the pack ships.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LISTS = REPO_ROOT / "Packs" / "AIReasoning" / "Lists"
SCENARIOS = REPO_ROOT / "tests" / "scenarios"


def setup_paths() -> None:
    """Import paths as on the platform: the repo root (localsoc), the platform doubles, every ApiModule folder."""
    for path in [str(REPO_ROOT), str(REPO_ROOT / "platform_doubles"),
                 *sorted(glob.glob(str(REPO_ROOT / "Packs" / "ApiModules" / "Scripts" / "*ApiModule")))]:
        if path not in sys.path:
            sys.path.append(path)


setup_paths()

from AIReasoningApiModule import (  # noqa: E402
    CommandToolExecutor,
    ContentBlock,
    ModelRequest,
    ModelResponse,
    Policy,
    PolicyConfig,
    SystemClock,
    TaskLibrary,
    ToolCall,
    ToolRegistry,
    ToolResult,
    ToolSpec,
)


def list_data(name: str) -> str:
    """The shipped data file of an XSOAR List (``Packs/AIReasoning/Lists/<name>/<name>_data.*``)."""
    files = sorted((LISTS / name).glob(f"{name}_data.*"))
    if not files:
        raise FileNotFoundError(f"no data file for the List {name} under {LISTS / name}")
    return files[0].read_text(encoding="utf-8")


@dataclass
class PackConfig:
    registry: ToolRegistry
    policy_config: PolicyConfig
    library: TaskLibrary

    def policy(self, clock: Any | None = None) -> Policy:
        """A fresh Policy per run (budgets are per run), as the scripts build one per execution."""
        return Policy(self.registry, self.policy_config, clock or SystemClock())


def load_pack_config() -> PackConfig:
    return PackConfig(registry=ToolRegistry.from_config(list_data("AIReasoningToolRegistry")),
                      policy_config=PolicyConfig.from_config(list_data("AIReasoningPolicy")),
                      library=TaskLibrary.from_yaml(list_data("AIReasoningTaskLibrary")))


def scenario_paths() -> list[Path]:
    return sorted(SCENARIOS.glob("*.json"))


def flagship_scenarios() -> list[Path]:
    """One investigation per category: the first true-positive scenario (by file name) of each category.

    The timed benchmarks use these so they stay under two minutes on two cores as more scenarios are bundled;
    ``--all`` on a benchmark uses every scenario.
    """
    chosen: dict[str, Path] = {}
    for path in scenario_paths():
        data = json.loads(path.read_text(encoding="utf-8"))
        if (data.get("expect") or {}).get("verdict") == "true_positive":
            chosen.setdefault(str(data.get("category")), path)
    return [chosen[c] for c in sorted(chosen)]


@dataclass
class ToolEvent:
    tool: str
    args: dict[str, Any]
    started: float
    ended: float
    simulated_s: float
    output: Any = None
    call_id: str = ""


class SocExecutor:
    """ToolExecutor over the simulated SOC (the real commands, via CommandToolExecutor), with optional latency.

    ``latency(call) -> seconds`` is slept inside ``execute`` so the engine's parallel tool calls overlap as they
    would against real integrations. Thread-safe: the engine runs a turn's calls on a thread pool.
    """

    def __init__(self, soc: Any, latency: Callable[[ToolCall], float] | None = None) -> None:
        self.soc = soc
        self.latency = latency
        self.events: list[ToolEvent] = []
        self._lock = threading.Lock()
        self._inner = CommandToolExecutor(self._dispatch)

    def _dispatch(self, command: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:  # the SOC simulator is not written for concurrent mutation
            return self.soc.dispatch(command, args) or []

    def execute(self, call: ToolCall, spec: ToolSpec) -> ToolResult:
        started = time.perf_counter()
        delay = self.latency(call) if self.latency else 0.0
        if delay > 0:
            time.sleep(delay)
        result = self._inner.execute(call, spec)
        ended = time.perf_counter()
        with self._lock:
            self.events.append(ToolEvent(call.tool, dict(call.args), started, ended, delay, result.output, call.id))
        return result


class ReplayExecutor:
    """Instant tools: returns recorded outputs by (tool, args) - the engine-overhead benchmark's executor."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self.outputs = outputs

    @staticmethod
    def key(tool: str, args: dict[str, Any]) -> str:
        return json.dumps([tool, args], sort_keys=True, default=str)

    def execute(self, call: ToolCall, spec: ToolSpec) -> ToolResult:
        output = self.outputs.get(self.key(call.tool, call.args))
        if output is None:
            return ToolResult(ok=False, error="no recorded output")
        return ToolResult(ok=True, output=output)


@dataclass
class Turn:
    request: ModelRequest
    response: ModelResponse
    started: float
    ended: float
    simulated_s: float


@dataclass
class PacedModel:
    """Wraps a ModelClient: optional simulated latency per turn, at most N tool calls per turn, a record of turns.

    Splitting the deterministic reasoner's plan into turns of ``max_calls_per_turn`` parallel calls makes it
    behave like a ReAct model that investigates over several dependent turns (the reasoner is stateless per turn
    and simply asks for the still-unanswered plan steps next time).
    """

    inner: Any
    max_calls_per_turn: int | None = None
    latency_s: float = 0.0
    turns: list[Turn] = field(default_factory=list)

    @property
    def provider(self) -> str:
        return getattr(self.inner, "provider", "scripted")

    @property
    def model(self) -> str:
        return getattr(self.inner, "model", "scripted")

    def turn(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        if self.latency_s > 0:
            time.sleep(self.latency_s)
        response = self.inner.turn(request)
        uses = [b for b in response.content if b.type == "tool_use"]
        if self.max_calls_per_turn and len(uses) > self.max_calls_per_turn:
            keep = uses[: self.max_calls_per_turn]
            response = response.model_copy(update={"content": keep})
        self.turns.append(Turn(request, response, started, time.perf_counter(), self.latency_s))
        return response


class ReplayModel:
    """A scripted model: returns recorded responses in order (tool-use ids re-issued so each run is fresh)."""

    provider = "scripted"
    model = "replay"

    def __init__(self, responses: list[ModelResponse]) -> None:
        self.responses = responses
        self.index = 0
        self.calls = 0

    def reset(self) -> None:
        self.index = 0

    def turn(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        response = self.responses[min(self.index, len(self.responses) - 1)]
        self.index += 1
        content = [ContentBlock(**{**b.model_dump(), "id": f"{b.id}-{self.calls}"}) if b.type == "tool_use" else b
                   for b in response.content]
        return response.model_copy(update={"content": content})


def peak_mem_mb() -> float:
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def emit(result: dict[str, Any]) -> None:
    """The benchmark's one JSON line on stdout (everything else goes to stderr)."""
    result.setdefault("cpus", os.cpu_count())
    result.setdefault("python", sys.version.split()[0])
    print(json.dumps(result, sort_keys=False, default=str), flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
