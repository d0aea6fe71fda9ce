"""Run reports: a Markdown file and a self-contained HTML page per run, plus an index over several runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from localsoc.report.model import ReportData, build_report_data, reasoner_label
from localsoc.report.render import esc, render_html, render_index_html, render_index_markdown, render_markdown

__all__ = [
    "ReportData",
    "build_report_data",
    "esc",
    "reasoner_label",
    "render_html",
    "render_markdown",
    "report_stem",
    "summary_row",
    "write_index",
    "write_reports",
]


def report_stem(outcome: Any) -> str:
    """``<scenario>__<playbook-slug>``: stable, filesystem-safe, one file pair per scenario × playbook."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(outcome.playbook).lower()).strip("-") or "playbook"
    scen = re.sub(r"[^a-z0-9_.-]+", "-", str(outcome.scenario).lower()).strip("-") or "scenario"
    return f"{scen}__{slug}"


def write_reports(outcome: Any, report_dir: str | Path) -> list[Path]:
    """Write ``<stem>.md`` and ``<stem>.html`` into ``report_dir``; returns both paths."""
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = build_report_data(outcome)
    stem = report_stem(outcome)
    md = out / f"{stem}.md"
    page = out / f"{stem}.html"
    md.write_text(render_markdown(data), encoding="utf-8")
    page.write_text(render_html(data), encoding="utf-8")
    return [md, page]


def summary_row(outcome: Any) -> dict[str, Any]:
    """One line of the verdict summary (CLI table and the index page)."""
    stem = report_stem(outcome)
    return {
        "scenario": outcome.scenario,
        "playbook": outcome.playbook,
        "status": outcome.status,
        "verdict": outcome.verdict or "—",
        "expected": outcome.expected_verdict or "",
        "threat": outcome.threat_level or "—",
        "executed": outcome.actions_executed,
        "rejected": outcome.actions_rejected,
        "report_md": f"{stem}.md",
        "report_html": f"{stem}.html",
    }


def write_index(outcomes: list[Any], report_dir: str | Path) -> list[Path]:
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [summary_row(o) for o in outcomes]
    md, page = out / "index.md", out / "index.html"
    md.write_text(render_index_markdown(rows), encoding="utf-8")
    page.write_text(render_index_html(rows), encoding="utf-8")
    return [md, page]
