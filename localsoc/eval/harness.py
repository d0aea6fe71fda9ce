"""Evaluation harness: run scenarios with ``expect`` through the local runner and score them.

Why a package module rather than code in scripts/eval.py: the smoke test and other tooling import it, and the
reduction of a runner outcome to an `IncidentResult` (what counts as a human decision, a tool call, a closed
incident) is a definition the numbers depend on; it belongs next to the metrics, under test.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localsoc.eval.metrics import (
    AttackValidator,
    IncidentResult,
    attack_validator,
    by_category,
    map_actions_to_commands,
    summarise,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_REGISTRY_LIST = "AIReasoningToolRegistry"
DECIDED = frozenset({"approved", "executed", "failed", "rolled_back", "rejected"})


def tool_commands(lists: Mapping[str, str]) -> dict[str, str]:
    """Registry tool name -> command, from the tool registry List text the run used."""
    text = lists.get(TOOL_REGISTRY_LIST) or ""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        import yaml

        data = yaml.safe_load(text) or {}
    tools = data.get("tools", []) if isinstance(data, dict) else data
    return {str(t["name"]): str(t.get("command") or t["name"]) for t in tools if isinstance(t, dict) and t.get("name")}


def shipped_tool_commands(repo_root: Path = REPO_ROOT) -> dict[str, str]:
    from localsoc.playbook.builtins import ListStore

    return tool_commands(ListStore.from_packs(repo_root))


def _runs(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every AIReasoning.Run deliverable in the context (a playbook may run the reasoner more than once)."""
    node = context.get("AIReasoning") if isinstance(context, Mapping) else None
    runs = node.get("Run") if isinstance(node, Mapping) else None
    if isinstance(runs, Mapping):
        return [dict(runs)]
    return [dict(r) for r in runs or [] if isinstance(r, Mapping)]


def result_from_outcome(outcome: Any, commands: Mapping[str, str]) -> IncidentResult:
    """Reduce a runner ``RunOutcome`` to what the metrics need (definitions in localsoc.eval.metrics)."""
    expect = outcome.expect or {}
    deliverable = outcome.deliverable or {}
    assessment = deliverable.get("assessment") or {}
    recommendations = [r for r in deliverable.get("recommendations") or [] if isinstance(r, Mapping)]
    runs = _runs(outcome.context) or ([deliverable] if deliverable else [])
    usage = [r.get("usage") or {} for r in runs]
    identity = deliverable.get("identity") or {}
    reasoner = ":".join(str(identity.get(k) or "") for k in ("reasoner", "provider", "model"))
    failure = outcome.failure
    return IncidentResult(
        scenario=outcome.scenario,
        category=outcome.category,
        expected_verdict=str(expect.get("verdict") or ""),
        predicted_verdict=outcome.verdict or "inconclusive",
        run_ok=outcome.ok and bool(deliverable) and deliverable.get("status") != "failed",
        expected_entities={"users": list(expect.get("attacker_users") or []),
                           "keys": list(expect.get("attacker_keys") or []),
                           "ips": list(expect.get("attacker_ips") or [])},
        predicted_entities={"users": list(assessment.get("affected_accounts") or []),
                            "keys": list(assessment.get("affected_keys") or []),
                            "ips": list(assessment.get("affected_ips") or [])},
        expected_attack_ids=list(expect.get("attack_ids") or []),
        predicted_attack_ids=list(assessment.get("attack_ids") or []),
        must_recommend=list(expect.get("must_recommend") or []),
        must_not_recommend=list(expect.get("must_not_recommend") or []),
        recommended_commands=map_actions_to_commands([str(r.get("action") or "") for r in recommendations],
                                                     dict(commands)),
        human_decisions=len(outcome.approvals),
        recommendations_decided=sum(1 for r in recommendations if r.get("status") in DECIDED),
        recommendations_rejected=sum(1 for r in recommendations if r.get("status") == "rejected"),
        actions_executed=outcome.actions_executed,
        closed=outcome.incident.get("status") == 2 or bool(outcome.incident.get("closed")),
        steps=sum(int(u.get("model_calls") or 0) for u in usage),
        tool_calls=sum(1 for c in outcome.commands if c.route == "soc"),
        tokens=sum(int(u.get("input_tokens") or 0) + int(u.get("output_tokens") or 0)
                   + int(u.get("cache_read_input_tokens") or 0) + int(u.get("cache_creation_input_tokens") or 0)
                   for u in usage),
        wall_ms=float((outcome.timings or {}).get("duration_ms") or 0.0),
        playbook=outcome.playbook,
        reasoner=reasoner,
        error=(f"{failure.kind}: {failure.message}"[:300] if failure is not None else ""),
    )


@dataclass
class EvalReport:
    meta: dict[str, Any]
    results: list[IncidentResult]
    skipped: list[dict[str, str]] = field(default_factory=list)
    overall: dict[str, Any] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "overall": self.overall, "by_category": self.categories,
                "incidents": [asdict(r) | {"automated": r.automated, "auto_closed": r.auto_closed}
                              for r in self.results],
                "skipped": self.skipped}


def _git_commit(repo_root: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo_root, capture_output=True,
                              text=True, check=False, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def scenario_files(folder: Path) -> list[Path]:
    """Scenario files with an ``expect`` block (others cannot be scored)."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("expect"), dict) and "incident" in data:
            out.append(path)
    return out


def run_eval(paths: Sequence[Path], *, playbook: str | None = None, provider: str = "deterministic",
             approve: str = "all", valid: AttackValidator | None = None,
             progress: Callable[[str], None] | None = None, repo_root: Path = REPO_ROOT) -> EvalReport:
    """Run each scenario through ``playbook`` (default: the runner's flagship for its category) and score it."""
    from localsoc.runner import flagship_for, run_playbook
    from localsoc.soc import load_scenario

    valid = valid or attack_validator()
    commands = shipped_tool_commands(repo_root)
    results: list[IncidentResult] = []
    skipped: list[dict[str, str]] = []
    started = time.perf_counter()
    for path in paths:
        scenario = load_scenario(path)
        chosen = playbook or flagship_for(scenario.category)
        if not chosen:
            skipped.append({"scenario": scenario.name, "reason": f"no flagship playbook for '{scenario.category}'"})
            continue
        outcome = run_playbook(chosen, scenario, provider=provider, approve=approve, repo_root=repo_root)
        result = result_from_outcome(outcome, commands)
        results.append(result)
        if progress:
            progress(f"{scenario.name}: expected {result.expected_verdict}, got {result.predicted_verdict} "
                     f"({outcome.status}, {result.wall_ms:.0f} ms)")
    meta = {"provider": provider, "playbook": playbook or "flagship per category (localsoc.runner.flagship_for)",
            "approve": approve, "scenarios": len(paths), "git_commit": _git_commit(repo_root),
            "eval_wall_s": round(time.perf_counter() - started, 1),
            "reasoners": sorted({r.reasoner for r in results}),
            "note": ("the deterministic reasoner is rules over evidence, not a language model"
                     if provider == "deterministic" else f"model via the {provider} provider")}
    report = EvalReport(meta=meta, results=results, skipped=skipped)
    report.overall = summarise(results, valid)
    report.categories = by_category(results, valid)
    return report


# ---- Markdown ------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict) and "mean" in value:
        return f"{value['mean']:g}"
    return str(value)


COLUMNS: list[tuple[str, str]] = [
    ("incidents", "n"), ("verdict_accuracy", "acc"), ("tp_precision", "TP prec"), ("tp_recall", "TP rec"),
    ("auto_close_precision", "auto-close prec"), ("automation_rate", "automation"),
    ("abstention_rate", "abstain"), ("entity_recall", "entity rec"), ("attack_id_precision", "ATT&CK prec"),
    ("must_recommend_recall", "must rec"), ("must_not_violations", "must-not viol"),
    ("action_correctness", "actions ok"), ("human_override_rate", "override"), ("steps", "steps"),
    ("tool_calls", "tool calls"), ("tokens", "tokens"), ("wall_ms", "wall ms"),
]


def render_markdown(report: EvalReport) -> str:
    lines = [f"Eval: provider={report.meta['provider']}, approve={report.meta['approve']}, "
             f"playbook={report.meta['playbook']} ({report.meta['note']})", ""]
    lines.append("| category | " + " | ".join(label for _, label in COLUMNS) + " |")
    lines.append("|---" * (len(COLUMNS) + 1) + "|")
    rows = list(report.categories.items()) + [("**overall**", report.overall)]
    for name, summary in rows:
        lines.append(f"| {name} | " + " | ".join(_fmt(summary.get(key)) for key, _ in COLUMNS) + " |")
    lines += ["", "Confusion matrix (rows expected, columns predicted):", ""]
    matrix = report.overall.get("confusion_matrix") or {}
    verdicts = list(next(iter(matrix.values()), {}).keys()) if matrix else []
    lines.append("| expected \\ predicted | " + " | ".join(verdicts) + " |")
    lines.append("|---" * (len(verdicts) + 1) + "|")
    for expected, row in matrix.items():
        lines.append(f"| {expected} | " + " | ".join(str(row.get(v, 0)) for v in verdicts) + " |")
    lines += ["", "| scenario | expected | predicted | closed | human decisions | entities hit | ATT&CK ok/pred "
                  "| missing must | must-not hit | steps | tools | wall ms |", "|---" * 12 + "|"]
    for r in report.results:
        hit = sum(len({v.lower() for v in r.expected_entities.get(k, [])} &
                      {v.lower() for v in r.predicted_entities.get(k, [])}) for k in ("users", "keys", "ips"))
        total = sum(len(r.expected_entities.get(k, [])) for k in ("users", "keys", "ips"))
        ok_ids = len(set(r.predicted_attack_ids) & set(r.expected_attack_ids))
        missing = sorted(set(r.must_recommend) - set(r.recommended_commands))
        bad = sorted(set(r.must_not_recommend) & set(r.recommended_commands))
        failed = "" if r.run_ok else " (run failed)"
        lines.append(f"| {r.scenario} | {r.expected_verdict} | {r.predicted_verdict}{failed}"
                     f" | {'yes' if r.closed else 'no'} | {r.human_decisions} | {hit}/{total} | "
                     f"{ok_ids}/{len(r.predicted_attack_ids)} | {', '.join(missing) or '–'} | "
                     f"{', '.join(bad) or '–'} | {r.steps} | {r.tool_calls} | {r.wall_ms:.0f} |")
    for item in report.skipped:
        lines.append(f"\nskipped {item['scenario']}: {item['reason']}")
    return "\n".join(lines)
