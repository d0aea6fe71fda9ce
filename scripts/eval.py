#!/usr/bin/env python3
"""Evaluate the AI Reasoning playbooks on scenario files with ``expect`` blocks.

Each scenario runs through the local runtime (localsoc.runner.run_playbook: the real playbooks, pack scripts
and gateway on the simulated SOC) with the chosen playbook (default: the flagship playbook of the scenario's
category, from the runner's own mapping) and provider, then is scored against its ``expect`` block:
verdict confusion matrix, true-positive precision / recall, auto-close precision, automation and abstention
rates, attacker-entity recall, ATT&CK id precision (against the ATT&CK data and the expectation),
must / must-not recommended commands, steps, tool calls, tokens and wall time per incident, human override.
Definitions: localsoc/eval/metrics.py and docs/evaluation.md.

    .venv/bin/python scripts/eval.py                                   # bundled scenarios, deterministic
    .venv/bin/python scripts/eval.py --out build/eval.json tests/scenarios
    ANTHROPIC_API_KEY=... .venv/bin/python scripts/eval.py --provider anthropic
    OPENAI_BASE_URL=... OPENAI_API_KEY=... OPENAI_MODEL=... \
        .venv/bin/python scripts/eval.py --provider openai-compatible

Prints a Markdown table on stdout (progress on stderr); ``--out`` writes the full JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from localsoc.eval.harness import render_markdown, run_eval, scenario_files  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", default=[str(REPO_ROOT / "tests" / "scenarios")],
                        help="scenario folders or files (default: tests/scenarios)")
    parser.add_argument("--playbook", help="playbook name, id or .yml path for every scenario (default: flagship)")
    parser.add_argument("--provider", default="deterministic",
                        choices=("deterministic", "anthropic", "openai-compatible"))
    parser.add_argument("--approve", default="all", help="approval answers for manual / collection tasks "
                        "(the runner's providers; default all)")
    parser.add_argument("--out", help="write the full JSON report here")
    parser.add_argument("--limit", type=int, help="only the first N scenarios")
    args = parser.parse_args(argv)
    if args.provider == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
        parser.error("--provider anthropic needs ANTHROPIC_API_KEY in the environment")
    if args.provider == "openai-compatible" and not os.environ.get("OPENAI_BASE_URL"):
        parser.error("--provider openai-compatible needs OPENAI_BASE_URL (and OPENAI_API_KEY, OPENAI_MODEL)")
    paths: list[Path] = []
    for item in args.paths:
        p = Path(item)
        paths.extend(scenario_files(p) if p.is_dir() else [p])
    if args.limit:
        paths = paths[: args.limit]
    if not paths:
        parser.error("no scenario files with an expect block")
    report = run_eval(paths, playbook=args.playbook, provider=args.provider, approve=args.approve,
                      progress=lambda line: print(line, file=sys.stderr, flush=True))
    report.meta["command"] = " ".join(["scripts/eval.py", *(argv if argv is not None else sys.argv[1:])])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report.as_json(), indent=2, default=str), encoding="utf-8")
    print(render_markdown(report))
    return 0 if report.results else 1


if __name__ == "__main__":
    raise SystemExit(main())
