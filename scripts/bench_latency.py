#!/usr/bin/env python3
"""Investigation latency: flagship ReAct investigations with simulated model and tool latency.

Question answered: does the engine keep an investigation on its critical path? A ReAct investigation is a
chain of dependent model turns; within a turn the tool calls are independent and the engine runs them in
parallel. So the best possible wall time is

    lower bound = sum over turns of (model latency of the turn + slowest tool call of the turn)

and a serial engine would take sum(model) + sum(all tools). We run one true-positive scenario per
category (``--all``: every bundled scenario) with the deterministic reasoner split into turns of at most
``--calls-per-turn`` parallel calls (a stand-in for a model, not a language model), sleep the simulated
latencies for real (scaled by ``--scale`` to stay fast: 1.5 s a model turn and 0.2-2 s a tool become 0.75 s
and 0.1-1 s at the default 0.5), and report actual / lower bound for the parallel engine and, for contrast,
for the same runs with ``max_parallel_tools=1``.
The engine's own CPU time (and the simulated SOC's) is measured by the same runs at zero latency and reported
separately; ``ratio_actual_to_lower_bound_plus_cpu`` compares with bound + CPU (can dip below 1: the SOC's CPU
inside a tool call overlaps the other tools' waits).

Tool latencies are drawn from a seeded RNG per (tool, args), so both modes see the same latencies.

    .venv/bin/python scripts/bench_latency.py            # prints one JSON line
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from typing import Any

import _bench_common as bc
from AIReasoningApiModule import DeterministicModelClient, IncidentInput, ListAuditSink, RunConfig, ToolCall, run_react

from localsoc.soc import SimulatedSOC, load_scenario

QUESTION = "Investigate this incident: what happened, how bad is it, what should we do?"


def tool_latency(call: ToolCall, scale: float, lo: float, hi: float, seed: int) -> float:
    """Seeded, per (tool, args) latency in [lo, hi] seconds, times scale (same value in every mode)."""
    text = f"{seed}:{call.tool}:{sorted(call.args.items())}"
    fraction = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return (lo + (hi - lo) * fraction) * scale


def one_run(path: Any, cfg: bc.PackConfig, *, parallel: bool, args: argparse.Namespace) -> dict[str, Any]:
    scenario = load_scenario(path)
    soc = SimulatedSOC(scenario)
    executor = bc.SocExecutor(soc, lambda c: tool_latency(c, args.scale, args.tool_min, args.tool_max, args.seed))
    model = bc.PacedModel(DeterministicModelClient(cfg.registry), max_calls_per_turn=args.calls_per_turn,
                          latency_s=args.model_latency * args.scale)
    config = RunConfig(category=scenario.category, max_parallel_tools=8 if parallel else 1,
                       provider="scripted", model="deterministic-paced")
    started = time.perf_counter()
    deliverable = run_react(IncidentInput.from_xsoar(scenario.incident), QUESTION, model=model, executor=executor,
                            registry=cfg.registry, policy=cfg.policy(), clock=bc.SystemClock(), audit=ListAuditSink(),
                            library=cfg.library, config=config)
    wall = time.perf_counter() - started
    # Attribute each tool event to the model turn that requested it (the last turn that ended before it started).
    ends = [t.ended for t in model.turns]
    per_turn: dict[int, list[float]] = {}
    for event in executor.events:
        index = max((i for i, end in enumerate(ends) if end <= event.started), default=0)
        per_turn.setdefault(index, []).append(event.simulated_s)
    lower = sum(t.simulated_s for t in model.turns) + sum(max(v) for v in per_turn.values())
    serial = sum(t.simulated_s for t in model.turns) + sum(e.simulated_s for e in executor.events)
    return {"scenario": scenario.name, "verdict": deliverable.assessment.verdict, "status": deliverable.status,
            "turns": len(model.turns), "tool_calls": len(executor.events),
            "max_parallel_in_a_turn": max((len(v) for v in per_turn.values()), default=0),
            "wall_s": wall, "lower_bound_s": lower, "serial_sum_s": serial}


def summarise(runs: list[dict[str, Any]], overhead: dict[str, float]) -> dict[str, Any]:
    wall = sum(r["wall_s"] for r in runs)
    lower = sum(r["lower_bound_s"] for r in runs)
    serial = sum(r["serial_sum_s"] for r in runs)
    cpu = sum(overhead[r["scenario"]] for r in runs)
    return {"wall_s": round(wall, 3), "lower_bound_s": round(lower, 3), "serial_sum_s": round(serial, 3),
            "engine_and_soc_cpu_s": round(cpu, 3),
            "ratio_actual_to_lower_bound": round(wall / lower, 3),
            "ratio_actual_to_lower_bound_plus_cpu": round(wall / (lower + cpu), 3),
            "ratio_serial_sum_to_lower_bound": round(serial / lower, 3),
            "per_scenario_ratio": {r["scenario"]: round(r["wall_s"] / r["lower_bound_s"], 3) for r in runs}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.5, help="multiply every simulated latency (default 0.5)")
    parser.add_argument("--model-latency", type=float, default=1.5, help="seconds per model turn before scaling")
    parser.add_argument("--tool-min", type=float, default=0.2, help="min tool latency, seconds before scaling")
    parser.add_argument("--tool-max", type=float, default=2.0, help="max tool latency, seconds before scaling")
    parser.add_argument("--calls-per-turn", type=int, default=3, help="max parallel tool calls per model turn")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario per mode")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--all", action="store_true", help="every bundled scenario, not one flagship per category")
    args = parser.parse_args()
    cfg = bc.load_pack_config()
    paths = bc.scenario_paths() if args.all else bc.flagship_scenarios()
    started = time.perf_counter()
    zero = argparse.Namespace(**{**vars(args), "scale": 0.0})
    one_run(paths[0], cfg, parallel=True, args=zero)  # warm-up: imports, reputation feed, regex caches
    # The same runs with every latency at 0: what the engine + simulated SOC cost in CPU on this machine.
    # Subtracting it separates "are the waits on the critical path?" from "how fast is this CPU?".
    overhead = {r["scenario"]: r["wall_s"] for r in (one_run(p, cfg, parallel=True, args=zero) for p in paths)}
    parallel = [one_run(p, cfg, parallel=True, args=args) for _ in range(args.repeat) for p in paths]
    serial = [one_run(p, cfg, parallel=False, args=args) for _ in range(args.repeat) for p in paths]
    for r in parallel:
        bc.note(f"{r['scenario']}: {r['turns']} turns, {r['tool_calls']} tools, wall {r['wall_s']:.3f}s, "
                f"cpu {overhead[r['scenario']]:.3f}s, bound {r['lower_bound_s']:.3f}s, serial {r['serial_sum_s']:.3f}s")
    result = {
        "bench": "latency",
        "investigations": len(parallel),
        "method": "react (deterministic reasoner paced as a multi-turn model; not a language model)",
        "scale": args.scale,
        "model_latency_s_unscaled": args.model_latency,
        "tool_latency_s_unscaled": [args.tool_min, args.tool_max],
        "calls_per_turn_max": args.calls_per_turn,
        "turns_mean": round(statistics.mean(r["turns"] for r in parallel), 2),
        "tool_calls_mean": round(statistics.mean(r["tool_calls"] for r in parallel), 2),
        "max_parallel_in_a_turn": max(r["max_parallel_in_a_turn"] for r in parallel),
        "parallel": summarise(parallel, overhead),
        "serial_engine": summarise(serial, overhead),
        "bench_wall_s": round(time.perf_counter() - started, 2),
    }
    par, ser = result["parallel"], result["serial_engine"]
    assert par["wall_s"] < ser["wall_s"], "the parallel engine was not faster than max_parallel_tools=1"
    assert par["ratio_actual_to_lower_bound_plus_cpu"] < ser["ratio_actual_to_lower_bound_plus_cpu"], "no parallelism"
    bc.emit(result)


if __name__ == "__main__":
    main()
