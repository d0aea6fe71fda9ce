#!/usr/bin/env python3
"""Tokens: billed-equivalent input tokens per investigation, engine (prompt caching + observation compaction)
against a naive ReAct baseline (full history, raw tool outputs, no caching), on the same scripted runs.

How: each bundled scenario is investigated with ReAct by the deterministic reasoner paced as a multi-turn model
(at most ``--calls-per-turn`` parallel calls a turn; it is not a language model) over the simulated SOC. Every
model request the engine built is recorded, with each tool's raw output. For each request we price:

* engine: the request exactly as the Anthropic provider would send it (``AnthropicModelClient.build_params``:
  the real cache breakpoints - tool definitions and system prompt, plus the first user message when an ART
  run marks it). The prefix up to the last breakpoint is a cache write (1.25x input price) the first time and a
  cache read (0.1x) when the previous request of the run had the identical prefix; the rest is plain input
  (1x). Prefixes shorter than ``--min-cacheable`` tokens are not cached (Anthropic's minimum: 1024 tokens for
  Sonnet/Opus, 2048 for Haiku).
* naive: the same conversation with every tool_result replaced by the raw tool output as JSON (no fences, no
  compaction), every token at 1x.

Tokens are approximated as characters / 4 of the JSON the API would receive (tools, system, messages); the
same approximation on both sides, so the ratio is meaningful even where absolute counts are off by ~20 %.
Also reported: the two effects separately (compaction only, caching only).

    .venv/bin/python scripts/bench_tokens.py          # prints one JSON line
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from typing import Any

import _bench_common as bc
from AIReasoningApiModule import (
    AnthropicModelClient,
    DeterministicModelClient,
    IncidentInput,
    ListAuditSink,
    RunConfig,
    run_art,
    run_react,
)

from localsoc.soc import SimulatedSOC, load_scenario

QUESTION = "Investigate this incident: what happened, how bad is it, what should we do?"
CACHE_WRITE = 1.25
CACHE_READ = 0.1


def approx_tokens(value: Any) -> int:
    """chars / 4 of the JSON text (the documented approximation)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (len(text) + 3) // 4


def split_prefix(params: dict[str, Any]) -> tuple[int, int]:
    """(cacheable prefix tokens, remaining tokens) of Messages-API params, in the API's order tools -> system ->
    messages; the prefix ends at the last block carrying cache_control."""
    parts: list[tuple[Any, bool]] = []
    for tool in params.get("tools") or []:
        parts.append((tool, "cache_control" in tool))
    for block in params.get("system") or []:
        parts.append((block, "cache_control" in block))
    for message in params.get("messages") or []:
        for block in message.get("content") or []:
            parts.append((block, isinstance(block, dict) and "cache_control" in block))
    last = max((i for i, (_, marked) in enumerate(parts) if marked), default=-1)
    def strip(v: Any) -> Any:
        return {k: x for k, x in v.items() if k != "cache_control"} if isinstance(v, dict) else v
    prefix = sum(approx_tokens(strip(v)) for v, _ in parts[: last + 1])
    rest = sum(approx_tokens(strip(v)) for v, _ in parts[last + 1:])
    return prefix, rest


def price_run(param_list: list[dict[str, Any]], *, cache: bool, min_cacheable: int) -> dict[str, float]:
    out = {"input": 0.0, "cache_write": 0.0, "cache_read": 0.0, "raw_tokens": 0.0}
    previous = None
    for params in param_list:
        prefix, rest = split_prefix(params)
        out["raw_tokens"] += prefix + rest
        signature = json.dumps([params.get("tools"), params.get("system")], sort_keys=True)
        if cache and prefix >= min_cacheable:
            if signature == previous:
                out["cache_read"] += prefix
            else:
                out["cache_write"] += prefix
            previous = signature
            out["input"] += rest
        else:
            out["input"] += prefix + rest
    out["billed_equivalent"] = out["input"] + CACHE_WRITE * out["cache_write"] + CACHE_READ * out["cache_read"]
    return out


def naive_params(params: dict[str, Any], raw: dict[str, Any], keep_cache: bool = False) -> dict[str, Any]:
    """The same request with raw tool outputs in place of the engine's fenced, compacted observations
    (cache breakpoints kept only for the caching-only variant)."""
    naive = copy.deepcopy(params)
    blocks = [*(naive.get("tools") or []), *(naive.get("system") or []),
              *(b for m in naive.get("messages") or [] for b in m.get("content") or [])]
    for block in blocks:
        if not keep_cache:
            block.pop("cache_control", None)
    for message in naive.get("messages") or []:
        for block in message.get("content") or []:
            if block.get("type") == "tool_result" and block.get("tool_use_id") in raw:
                block["content"] = json.dumps(raw[block["tool_use_id"]], ensure_ascii=False, default=str)
    return naive


def investigate(path: Any, cfg: bc.PackConfig, method: str, calls_per_turn: int) -> tuple[list[Any], dict, Any]:
    scenario = load_scenario(path)
    executor = bc.SocExecutor(SimulatedSOC(scenario))
    model = bc.PacedModel(DeterministicModelClient(cfg.registry), max_calls_per_turn=calls_per_turn)
    common = {"model": model, "executor": executor, "registry": cfg.registry, "policy": cfg.policy(),
              "clock": bc.SystemClock(), "audit": ListAuditSink(), "library": cfg.library,
              "config": RunConfig(category=scenario.category, provider="scripted", model="deterministic-paced")}
    incident = IncidentInput.from_xsoar(scenario.incident)
    if method == "art":
        deliverable = run_art(incident, incident.task_text(), **common)
    else:
        deliverable = run_react(incident, QUESTION, **common)
    return [t.request for t in model.turns], {e.call_id: e.output for e in executor.events}, deliverable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls-per-turn", type=int, default=1, help="parallel tool calls per turn (default 1: "
                        "the longest history, where a naive loop hurts most)")
    parser.add_argument("--min-cacheable", type=int, default=1024)
    parser.add_argument("--method", choices=("react", "art"), default="react")
    args = parser.parse_args()
    started = time.perf_counter()
    cfg = bc.load_pack_config()
    client = AnthropicModelClient(api_key="bench-no-network", model="claude-sonnet-4-5")  # only build_params
    rows = []
    for path in bc.scenario_paths():
        requests, raw, deliverable = investigate(path, cfg, args.method, args.calls_per_turn)
        engine = [client.build_params(r) for r in requests]
        naive = [naive_params(p, raw) for p in engine]
        row = {
            "scenario": path.stem,
            "turns": len(requests),
            "verdict": deliverable.assessment.verdict,
            "engine": price_run(engine, cache=True, min_cacheable=args.min_cacheable),
            "compaction_only": price_run(engine, cache=False, min_cacheable=args.min_cacheable),
            "caching_only": price_run([naive_params(p, raw, keep_cache=True) for p in engine], cache=True,
                                      min_cacheable=args.min_cacheable),
            "naive": price_run(naive, cache=False, min_cacheable=args.min_cacheable),
        }
        rows.append(row)
        bc.note(f"{path.stem}: {row['turns']} turns, engine {row['engine']['billed_equivalent']:.0f}, naive "
                f"{row['naive']['billed_equivalent']:.0f} billed-equivalent input tokens")

    def mean(kind: str) -> float:
        return round(statistics.mean(r[kind]["billed_equivalent"] for r in rows), 1)

    result = {
        "bench": "tokens",
        "method": f"{args.method} (deterministic reasoner paced as a multi-turn model; not a language model)",
        "investigations": len(rows),
        "calls_per_turn": args.calls_per_turn,
        "token_approximation": "chars/4 of the API JSON",
        "pricing": {"input": 1.0, "cache_write": CACHE_WRITE, "cache_read": CACHE_READ,
                    "min_cacheable_tokens": args.min_cacheable},
        "turns_mean": round(statistics.mean(r["turns"] for r in rows), 2),
        "billed_input_tokens_per_investigation": {"engine": mean("engine"), "compaction_only": mean("compaction_only"),
                                                  "caching_only": mean("caching_only"), "naive": mean("naive")},
        "engine_vs_naive_ratio": round(mean("engine") / mean("naive"), 3),
        "per_scenario": {r["scenario"]: {"turns": r["turns"], "engine": round(r["engine"]["billed_equivalent"]),
                                         "naive": round(r["naive"]["billed_equivalent"]),
                                         "cache_read_tokens": round(r["engine"]["cache_read"]),
                                         "raw_naive_tokens": round(r["naive"]["raw_tokens"])} for r in rows},
        "bench_wall_s": round(time.perf_counter() - started, 2),
    }
    bc.emit(result)


if __name__ == "__main__":
    main()
