#!/usr/bin/env python3
"""Engine overhead: milliseconds per ReAct step spent in the engine itself.

Question answered: how much does the engine add on top of the model and the tools (policy decisions,
envelope fences, injection detection, redaction, compaction, evidence, audit, deliverable validation)?
One true-positive scenario per category (``--all``: every bundled one) is first investigated once
for real (deterministic reasoner over the simulated SOC) to *record* the model's responses and the tools'
outputs; then the same investigation is replayed N times with a scripted model that returns the recorded
responses instantly and an executor that returns the recorded outputs instantly. All remaining wall time
is the engine's. A step is one model turn.

The recorded tool outputs are the simulated SOC's real-size outputs (one Splunk search returns thousands of
records), so the envelope's per-record work shows; ``--small`` replaces every output with a 1-record stub to
show the fixed per-step cost.

    .venv/bin/python scripts/bench_engine_overhead.py          # prints one JSON line
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import _bench_common as bc
from AIReasoningApiModule import (
    DeterministicModelClient,
    IncidentInput,
    ListAuditSink,
    RunConfig,
    run_react,
    run_triage,
)

from localsoc.soc import SimulatedSOC, load_scenario

QUESTION = "Investigate this incident: what happened, how bad is it, what should we do?"


def record(path: Any, cfg: bc.PackConfig, method: str) -> tuple[Any, list[Any], dict[str, Any]]:
    """One real run: the incident, the model responses in order, the tool outputs by (tool, args)."""
    scenario = load_scenario(path)
    executor = bc.SocExecutor(SimulatedSOC(scenario))
    model = bc.PacedModel(DeterministicModelClient(cfg.registry))
    incident = IncidentInput.from_xsoar(scenario.incident)
    run(method, incident, model, executor, cfg, scenario.category)
    outputs = {bc.ReplayExecutor.key(e.tool, e.args): e.output for e in executor.events}
    return incident, [t.response for t in model.turns], outputs


def run(method: str, incident: Any, model: Any, executor: Any, cfg: bc.PackConfig, category: str) -> Any:
    common = {"model": model, "executor": executor, "registry": cfg.registry, "policy": cfg.policy(),
              "clock": bc.SystemClock(), "audit": ListAuditSink(), "library": cfg.library,
              "config": RunConfig(category=category, provider="scripted", model="replay")}
    if method == "triage":
        return run_triage(incident, **common)
    return run_react(incident, QUESTION, **common)


def stub(output: Any) -> Any:
    return {"context": {"Stub": [{"id": 1, "value": "ok"}]}, "contents": ["ok"], "brands": ["stub"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="replays of each scenario per method")
    parser.add_argument("--methods", default="react,triage")
    parser.add_argument("--small", action="store_true", help="1-record stub outputs instead of the recorded ones")
    parser.add_argument("--all", action="store_true", help="every bundled scenario, not one flagship per category")
    args = parser.parse_args()
    cfg = bc.load_pack_config()
    started = time.perf_counter()
    per_step: dict[str, list[float]] = {}
    steps_total = 0
    by_scenario: dict[str, float] = {}
    for method in args.methods.split(","):
        for path in bc.scenario_paths() if args.all else bc.flagship_scenarios():
            incident, responses, outputs = record(path, cfg, method)
            if args.small:
                outputs = {k: stub(v) for k, v in outputs.items()}
            model = bc.ReplayModel(responses)
            executor = bc.ReplayExecutor(outputs)
            run(method, incident, model, executor, cfg, "")  # warm-up
            samples = []
            for _ in range(args.runs):
                model.reset()
                t0 = time.perf_counter()
                deliverable = run(method, incident, model, executor, cfg, "")
                elapsed = time.perf_counter() - t0
                steps = max(1, deliverable.usage.model_calls)
                steps_total += steps
                samples.append(elapsed * 1000 / steps)
            per_step.setdefault(method, []).extend(samples)
            by_scenario[f"{method}:{path.stem}"] = round(statistics.median(samples), 2)
    every = [s for values in per_step.values() for s in values]
    ordered = sorted(every)
    result = {
        "bench": "engine_overhead",
        "outputs": "stub (1 record)" if args.small else "recorded simulated-SOC outputs (real size)",
        "runs": len(every),
        "steps": steps_total,
        "ms_per_step_median": round(statistics.median(every), 2),
        "ms_per_step_mean": round(statistics.mean(every), 2),
        "ms_per_step_p95": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
        "ms_per_step_by_method": {m: round(statistics.median(v), 2) for m, v in per_step.items()},
        "ms_per_step_by_scenario_median": by_scenario,
        "peak_mem_mb": bc.peak_mem_mb(),
        "bench_wall_s": round(time.perf_counter() - started, 2),
    }
    bc.emit(result)


if __name__ == "__main__":
    main()
