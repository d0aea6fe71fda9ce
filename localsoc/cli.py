"""``python -m localsoc``: run the shipped playbooks on simulated incidents and write reports.

    python -m localsoc demo                         # flagship playbooks x bundled scenarios, approvals granted
    python -m localsoc run --flagship --scenario tests/scenarios/ --approve ask
    python -m localsoc run --playbook "AI Reasoning - Alert Triage" --scenario s.json --provider anthropic
    python -m localsoc list

Exit code 0 only when every run completed (a verdict that differs from a scenario's ``expect`` is shown, not
failed: the scenario tests judge verdicts; the CLI judges that the playbooks ran).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from localsoc.playbook import APPROVAL_MODES, Event, make_provider
from localsoc.playbook.errors import PlaybookError
from localsoc.runner import FLAGSHIP_PLAYBOOKS, PROVIDERS, REPO_ROOT, RunOutcome, flagship_for, run_playbook
from localsoc.soc import ScenarioError, load_scenario
from localsoc.soc.scenario import Scenario

__all__ = ["main"]

DEFAULT_SCENARIOS = REPO_ROOT / "tests" / "scenarios"
DEFAULT_REPORTS = REPO_ROOT / "reports"


class _Out:
    """Printing with optional colour (only on a terminal, never with NO_COLOR)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.color = tty and not os.environ.get("NO_COLOR")

    def c(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _scenario_files(path: str | Path) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        return sorted(p.glob("*.json"))
    return [p]


def _progress(out: _Out, label: str) -> Any:
    marks = {"task_finished": out.c("✓", "32"), "task_skipped": out.c("↷", "33"), "task_error": out.c("✗", "31"),
             "approval_answered": out.c("☑", "36")}

    def on_event(e: Event) -> None:
        if e.kind not in marks or (e.kind == "task_finished" and e.task_type in ("start", "title") and not e.detail):
            return
        indent = "  " * (e.depth + 1)
        name = e.task_name or e.task_type
        detail = f"  {out.c(e.detail, '2')}" if e.detail else ""
        if e.kind == "approval_answered":
            out.line(f"{indent}{marks[e.kind]} approval: {name} — {e.detail}")
            return
        out.line(f"{indent}{marks[e.kind]} [{label}] {e.playbook} › {e.task_id} {name}{detail}")

    return on_event


def _run_many(pairs: list[tuple[Scenario, str | None, str]], args: argparse.Namespace, out: _Out) -> int:
    outcomes: list[RunOutcome] = []
    problems: list[str] = []
    provider_name = args.approve
    for scenario, playbook, why in pairs:
        out.line(out.c(f"▶ {scenario.name}", "1") + f"  ({scenario.category}) → {playbook or '—'}")
        if playbook is None:
            msg = f"{scenario.name}: {why}"
            out.line("  " + out.c("✗ " + why, "31"))
            problems.append(msg)
            continue
        approvals = make_provider(provider_name)
        try:
            progress = None if args.quiet else _progress(out, scenario.name)
            outcome = run_playbook(playbook, scenario, provider=args.provider, approve=approvals,
                                   reputation_feed=args.feed, on_event=progress, report_dir=args.report_dir,
                                   packed=args.packed)
        except (PlaybookError, ScenarioError, OSError) as exc:
            out.line("  " + out.c(f"✗ {exc}", "31"))
            problems.append(f"{scenario.name}: {exc}")
            continue
        outcome.approve = provider_name
        outcomes.append(outcome)
        if outcome.ok:
            out.line(f"  {out.c('completed', '32')} verdict {outcome.verdict or '—'} · threat "
                     f"{outcome.threat_level or '—'} · {outcome.timings.get('duration_ms')} ms")
        else:
            f = outcome.failure
            kind = "UNSUPPORTED" if f and f.kind == "unsupported" else "FAILED"
            where = f" at task {f.task_id} in {f.playbook!r}" if f else ""
            out.line("  " + out.c(f"{kind}{where}: {f.message if f else ''}", "31"))
            problems.append(f"{scenario.name}: {kind.lower()}{where}")
        for report in outcome.reports:
            out.line(f"  report: {report}")
    if args.report_dir and outcomes:
        from localsoc.report import write_index

        index = write_index(outcomes, args.report_dir)
        out.line(f"\nindex: {index[1]}")
    _summary(outcomes, out)
    if problems:
        out.line(out.c(f"\n{len(problems)} run(s) did not complete:", "31"))
        for p in problems:
            out.line(f"  - {p}")
        return 1
    if not outcomes:
        out.line(out.c("nothing ran", "31"))
        return 1
    return 0


def _summary(outcomes: list[RunOutcome], out: _Out) -> None:
    if not outcomes:
        return
    headers = ["scenario", "playbook", "status", "verdict", "expected", "threat", "executed", "rejected"]
    rows = []
    for o in outcomes:
        expected = o.expected_verdict
        if expected:
            expected += " ✓" if expected == o.verdict else " ✗"
        rows.append([o.scenario, o.playbook, o.status, o.verdict or "—", expected, o.threat_level or "—",
                     str(o.actions_executed), str(o.actions_rejected)])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out.line("")
    out.line("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    out.line("  ".join("-" * w for w in widths))
    for r in rows:
        out.line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def _load_scenarios(path: str | Path, out: _Out) -> list[Scenario] | None:
    files = _scenario_files(path)
    if not files:
        out.line(out.c(f"no scenario files in {path}", "31"))
        return None
    scenarios = []
    for f in files:
        try:
            scenarios.append(load_scenario(f))
        except ScenarioError as exc:
            out.line(out.c(str(exc), "31"))
            return None
    return scenarios


def _flagship_pairs(scenarios: list[Scenario]) -> list[tuple[Scenario, str | None, str]]:
    from localsoc.playbook import PlaybookLibrary

    library = PlaybookLibrary.for_repo(REPO_ROOT)
    pairs: list[tuple[Scenario, str | None, str]] = []
    for s in scenarios:
        name = flagship_for(s.category)
        if name is None:
            pairs.append((s, None, f"no flagship playbook for category {s.category!r} "
                                   f"(known: {', '.join(sorted(FLAGSHIP_PLAYBOOKS))})"))
        elif library.find(name) is None:
            pairs.append((s, None, f"flagship playbook {name!r} is missing from Packs/*/Playbooks "
                                   "(not shipped yet?)"))
        else:
            pairs.append((s, name, ""))
    return pairs


def cmd_run(args: argparse.Namespace, out: _Out) -> int:
    scenarios = _load_scenarios(args.scenario, out)
    if scenarios is None:
        return 2
    if args.flagship:
        pairs = _flagship_pairs(scenarios)
    else:
        pairs = [(s, args.playbook, "") for s in scenarios]
    return _run_many(pairs, args, out)


def cmd_demo(args: argparse.Namespace, out: _Out) -> int:
    scenarios = _load_scenarios(args.scenario or DEFAULT_SCENARIOS, out)
    if scenarios is None:
        return 2
    out.line(f"Local SOC demo: {len(scenarios)} scenarios · provider {args.provider} · approvals {args.approve}"
             f" · reports in {args.report_dir}")
    return _run_many(_flagship_pairs(scenarios), args, out)


def cmd_list(args: argparse.Namespace, out: _Out) -> int:
    from localsoc.playbook import PlaybookLibrary

    library = PlaybookLibrary.for_repo(REPO_ROOT)
    out.line("Playbooks:")
    for pb in library.all():
        rel = pb.path.relative_to(REPO_ROOT) if pb.path and pb.path.is_relative_to(REPO_ROOT) else pb.path
        out.line(f"  {pb.name}   ({rel})")
    out.line("\nFlagship playbooks by scenario category:")
    for category, name in FLAGSHIP_PLAYBOOKS.items():
        state = "ok" if library.find(name) else out.c("MISSING", "31")
        out.line(f"  {category:<22} {name}  [{state}]")
    out.line(f"\nScenarios ({args.scenario or DEFAULT_SCENARIOS}):")
    for f in _scenario_files(args.scenario or DEFAULT_SCENARIOS):
        try:
            s = load_scenario(f)
        except ScenarioError as exc:
            out.line(out.c(f"  {f.name}: {exc}", "31"))
            continue
        expect = (s.expect or {}).get("verdict", "")
        out.line(f"  {s.name:<40} {s.category:<22} expect {expect or '—'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localsoc", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, demo: bool) -> None:
        p.add_argument("--provider", choices=PROVIDERS, default="deterministic",
                       help="model provider for the gateway (keys/URLs from ANTHROPIC_API_KEY, OPENAI_BASE_URL, "
                            "OPENAI_API_KEY, OPENAI_MODEL)")
        p.add_argument("--approve", choices=APPROVAL_MODES, default="all",
                       help="who answers approval tasks: ask (terminal), all, none, timeout (SLA expiry)")
        p.add_argument("--report-dir", default=str(DEFAULT_REPORTS), help="where reports go (default: reports/)")
        p.add_argument("--feed", default=None, help="IPsum-format reputation feed (default: the bundled one)")
        p.add_argument("--quiet", action="store_true", help="no per-task progress lines")
        p.add_argument("--packed", default=None, metavar="ZIP",
                       help="run scripts and the gateway from the uploadable pack zip (demisto-sdk zip-packs output) "
                            "instead of the source tree")
        if demo:
            p.add_argument("--scenario", default=None, help="scenario file or folder (default: tests/scenarios/)")

    run = sub.add_parser("run", help="run a playbook (or the flagship set) on a scenario or a folder of them")
    target = run.add_mutually_exclusive_group(required=True)
    target.add_argument("--playbook", help="playbook name, id or path to a .yml")
    target.add_argument("--flagship", action="store_true", help="the flagship playbook for each scenario's category")
    run.add_argument("--scenario", required=True, help="scenario .json file or a folder of them")
    common(run, demo=False)
    demo = sub.add_parser("demo", help="flagship playbooks on the bundled scenarios (deterministic, approvals granted)")
    common(demo, demo=True)
    lst = sub.add_parser("list", help="list playbooks and scenarios")
    lst.add_argument("--scenario", default=None, help="scenario folder (default: tests/scenarios/)")
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = _Out(stdout or sys.stdout)
    if args.command == "run":
        return cmd_run(args, out)
    if args.command == "demo":
        return cmd_demo(args, out)
    return cmd_list(args, out)


if __name__ == "__main__":
    raise SystemExit(main())
