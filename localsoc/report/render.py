"""Markdown and self-contained HTML renderings of a run report.

Alert data, tool output and model text are attacker-controlled: every value that reaches the HTML goes through
`esc` (no exceptions, no ``|safe`` shortcuts), and the Markdown escapes HTML and table syntax so a ``<script>``
in an alert field stays text wherever the file is viewed. The HTML page has inline CSS only – no external
assets, no JavaScript – so it can be attached to a ticket or opened offline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from typing import Any

from localsoc.report.model import ReportData, excerpt

__all__ = ["esc", "render_html", "render_index_html", "render_index_markdown", "render_markdown"]


def esc(value: Any) -> str:
    """HTML-escape anything (quotes too: values also land in attributes)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, default=str, sort_keys=True) if isinstance(value, Mapping | list) else str(value)
    return html.escape(value, quote=True)


def _md(value: Any, limit: int | None = 300) -> str:
    """Markdown table cell / inline text: HTML-escaped, pipes and backticks neutralised, one line."""
    text = excerpt(value, limit) if limit else ("" if value is None else str(value))
    return html.escape(text, quote=False).replace("|", "\\|").replace("`", "\\`").replace("\n", " ")


def _approval_summary(rec: Mapping[str, Any], approvals: list[dict[str, Any]]) -> tuple[str, str]:
    """(decision, who) for a recommendation: its own approval records, else the human tasks that named it."""
    own = [a for a in rec.get("approvals") or [] if isinstance(a, Mapping)]
    if own:
        decisions = ", ".join(str(a.get("decision") or "") for a in own)
        who = ", ".join(str(a.get("user") or a.get("approver") or "") for a in own)
        return decisions, who
    rid = str(rec.get("id") or "")
    linked = [a for a in approvals if rid and rid in json.dumps(a.get("inputs") or {}, default=str)]
    if linked:
        return (", ".join(str(a.get("decision")) for a in linked),
                ", ".join(", ".join(a.get("approvers") or []) or "nobody (SLA expired)" for a in linked))
    return "", ""


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------


def _md_table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    rows = list(rows)
    if not rows:
        return "_none_\n"
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def render_markdown(r: ReportData) -> str:
    inc = r.incident
    lines = [f"# {_md(r.title, None)}", ""]
    lines += [
        f"- **Scenario:** {_md(r.scenario)} ({_md(r.category)})",
        f"- **Playbook:** {_md(r.playbook)}",
        f"- **Run status:** {_md(r.status)}" + (f" — {_md(r.failure, 1000)}" if r.failure else ""),
        f"- **Provider / approvals:** {_md(r.provider)} / {_md(r.approve)}",
        f"- **Duration:** {_md(r.timings.get('duration_ms'))} ms",
        "",
        "## Verdict",
        "",
        f"- **Verdict:** {_md(r.verdict)}" + (f" (expected: {_md(r.expected_verdict)})" if r.expected_verdict else ""),
        f"- **Threat level:** {_md(r.threat_level)}",
        f"- **Confidence:** {_md(r.confidence)}",
        f"- **Reasoner:** {_md(r.reasoner)}",
    ]
    if r.attack_ids:
        lines.append(f"- **ATT&CK:** {_md(', '.join(r.attack_ids))}")
    for key, values in r.affected.items():
        if values:
            lines.append(f"- **{key.replace('_', ' ').capitalize()}:** {_md(', '.join(values))}")
    if r.summary:
        lines += ["", _md(r.summary, 3000)]
    lines += ["", "## Incident", ""]
    lines.append(_md_table(["Field", "Value"], [
        ["Name", inc.get("name")], ["Type", inc.get("type")], ["Severity", inc.get("severity")],
        ["Occurred", inc.get("occurred")], ["Details", inc.get("details")],
        *[[f"label: {lab.get('type')}", lab.get("value")] for lab in inc.get("labels") or []
          if isinstance(lab, Mapping)],
        *[[f"field: {k}", v] for k, v in sorted((inc.get("CustomFields") or {}).items())],
    ]))
    lines += ["## Timeline of cited events", ""]
    if not r.timeline_matched and r.timeline:
        lines.append("_No cited record ids matched the scenario datasets; evidence excerpts in order:_\n")
    lines.append(_md_table(["Time", "Source", "Event", "Actor", "Source IP", "Record id", "Cited by"],
                           [[t.time, t.dataset, t.summary, t.actor, t.source_ip, t.record_id, ", ".join(t.cited_by)]
                            for t in r.timeline]))
    lines += ["## Reasoning trace", ""]
    if r.program:
        # <pre> with escaped text rather than a code fence: the program quotes tool output verbatim, and a
        # fence would leave raw markup in the file for any viewer that does not treat it as code.
        lines += ["ART program:", "", "<pre>" + html.escape(r.program, quote=False) + "</pre>", ""]
    if r.demonstrations:
        lines.append(f"Demonstrations: {_md(', '.join(r.demonstrations))}\n")
    lines.append(_md_table(["#", "Kind", "Text"], [[s.get("index"), s.get("kind"), excerpt(s.get("text"), 600)]
                                                   for s in r.trace]))
    lines += ["## Evidence", ""]
    lines.append(_md_table(["Id", "Tool", "Excerpt", "Source"],
                           [[e.get("id"), e.get("tool"), e.get("excerpt"), e.get("source")] for e in r.evidence]))
    lines += ["## Recommendations", ""]
    rows = []
    for rec in r.recommendations:
        decision, who = _approval_summary(rec, r.approvals)
        rows.append([rec.get("action"), rec.get("target"), rec.get("tier"), rec.get("status"), decision, who,
                     ", ".join(rec.get("evidence_refs") or []), rec.get("rollback_plan") or "irreversible",
                     rec.get("reasoning")])
    lines.append(_md_table(["Action", "Target", "Tier", "Status", "Decision", "Who", "Evidence", "Rollback",
                            "Why"], rows))
    lines += ["## Approval tasks", ""]
    lines.append(_md_table(["Playbook", "Task", "Kind", "Decision", "Approvers", "Timed out"],
                           [[a.get("playbook"), f"{a.get('task_id')} {a.get('task_name')}", a.get("kind"),
                             a.get("decision"), ", ".join(a.get("approvers") or []), a.get("timed_out")]
                            for a in r.approvals]))
    lines += ["## Undo log (simulated tenant)", ""]
    lines.append(_md_table(["Action", "Command", "Target", "Time", "Undone", "Changes"],
                           [[u.get("action_id"), u.get("command"), u.get("target"), u.get("time"), u.get("undone"),
                             len(u.get("changes") or [])] for u in r.undo_log]))
    lines += ["## Tool invocations (engine)", ""]
    lines.append(_md_table(["Tool", "Args", "Decision", "OK", "Error"],
                           [[(t.get("call") or {}).get("tool"), (t.get("call") or {}).get("args"),
                             (t.get("decision") or {}).get("decision"), t.get("ok"), t.get("error")]
                            for t in r.tool_log]))
    lines += ["## Commands executed (runtime)", ""]
    lines.append(_md_table(["Command", "Route", "Caller", "OK", "Error"],
                           [[c.get("command"), c.get("route"), c.get("caller"), c.get("ok"), c.get("error")]
                            for c in r.commands]))
    lines += ["## Work plan", ""]
    lines.append(_md_table(["Playbook", "Task", "Type", "Status", "Branch", "Detail"],
                           [[t.get("playbook"), f"{t.get('task_id')} {t.get('name')}", t.get("type"), t.get("status"),
                             t.get("branch"), t.get("message")] for t in r.tasks]))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------

_CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--mute:#5b6475;--line:#e2e5ea;--accent:#2f5fd0}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
header{background:#18213a;color:#fff;padding:22px 32px}header h1{margin:0 0 6px;font-size:21px}
header .meta{color:#c8cfe0;font-size:13px}main{max-width:1180px;margin:0 auto;padding:20px 24px 60px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:16px;margin:0 0 12px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid var(--line)}
th{background:#f0f2f6;font-weight:600;color:#333}td.mono,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:12px;word-break:break-all}pre{background:#10151f;color:#e6e9ef;padding:12px 14px;border-radius:6px;
overflow-x:auto;font-size:12px;line-height:1.5;white-space:pre-wrap}
.badge{display:inline-block;padding:2px 9px;border-radius:11px;font-size:12px;font-weight:600;background:#e8ebf1}
.v-true_positive,.t-critical,.t-high,.s-failed,.s-rejected,.s-denied{background:#fde2e1;color:#a1221b}
.v-suspicious,.t-medium,.s-expired,.s-proposed{background:#fff1d6;color:#8a5a00}
.v-false_positive,.t-none,.t-low,.s-completed,.s-executed,.s-approved,.s-complete{background:#dff3e4;color:#1d6b35}
.v-inconclusive{background:#e8ebf1;color:#444}.grid{display:grid;grid-template-columns:repeat(4,1fr);gap:12px}
.kpi{border:1px solid var(--line);border-radius:6px;padding:10px 12px}.kpi .k{color:var(--mute);font-size:12px}
.kpi .v{font-size:16px;font-weight:600;margin-top:4px}.det{background:#fff7e0;border:1px solid #f0d48a;
padding:8px 12px;border-radius:6px;margin-top:12px}.fail{background:#fde2e1;border:1px solid #f2b8b5;padding:10px 12px;
border-radius:6px;margin-top:10px}.mute{color:var(--mute)}details summary{cursor:pointer;font-weight:600}
.ok{color:#1d6b35}.bad{color:#a1221b}
"""


def _badge(value: Any, prefix: str) -> str:
    v = str(value or "—")
    return f'<span class="badge {esc(prefix)}-{esc(v)}">{esc(v)}</span>'


def _table(headers: list[str], rows: Iterable[list[str]], empty: str = "none") -> str:
    rows = list(rows)
    if not rows:
        return f'<p class="mute">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mono(value: Any) -> str:
    return f"<span class='mono'>{esc(value)}</span>"


def _kpi(label: str, value_html: str, extra_html: str = "") -> str:
    return f"<div class='kpi'><div class='k'>{esc(label)}</div><div class='v'>{value_html}</div>{extra_html}</div>"


def _ok(value: Any) -> str:
    if value is True:
        return '<span class="ok">✔</span>'
    if value is False:
        return '<span class="bad">✘</span>'
    return esc(value)


def render_html(r: ReportData) -> str:
    inc = r.incident
    parts: list[str] = []
    parts.append(
        f"<header><h1>{esc(r.title)}</h1><div class='meta'>scenario <b>{esc(r.scenario)}</b> ({esc(r.category)})"
        f" · playbook <b>{esc(r.playbook)}</b> · provider {esc(r.provider)} · approvals {esc(r.approve)}"
        f" · {esc(r.timings.get('duration_ms'))} ms · {esc(r.timings.get('started_at'))}</div></header><main>")
    match = ""
    if r.expected_verdict:
        same = r.expected_verdict == r.verdict
        match = (f"<div class='k'>expected {esc(r.expected_verdict)} "
                 f"{'<span class=ok>✔ match</span>' if same else '<span class=bad>✘ mismatch</span>'}</div>")
    run_badges = _badge(r.status, "s") + (" " + _badge(r.run_status, "s") if r.run_status else "")
    parts.append("<section><h2>Verdict</h2><div class='grid'>"
                 + _kpi("Verdict", _badge(r.verdict, "v"), match) + _kpi("Threat level", _badge(r.threat_level, "t"))
                 + _kpi("Confidence", esc(r.confidence)) + _kpi("Run", run_badges) + "</div>")
    parts.append(f"<p><b>Reasoner:</b> {esc(r.reasoner)}</p>")
    if r.deterministic:
        parts.append("<div class='det'>Reasoner: <b>deterministic</b> — rules over the evidence, no language model "
                     "was used for this run.</div>")
    if r.failure:
        parts.append(f"<div class='fail'><b>Run failed:</b> {esc(r.failure)}</div>")
    if r.summary:
        parts.append(f"<p>{esc(r.summary)}</p>")
    facts = []
    if r.attack_ids:
        facts.append(["ATT&amp;CK", esc(", ".join(r.attack_ids))])
    for key, values in r.affected.items():
        if values:
            facts.append([esc(key.replace("_", " ").capitalize()), _mono(", ".join(values))])
    if r.errors:
        facts.append(["Engine errors", esc("; ".join(r.errors))])
    if r.injection.get("flagged"):
        facts.append(["Prompt injection", esc("; ".join(r.injection.get("findings") or []))])
    if facts:
        parts.append(_table(["", ""], facts))
    parts.append("</section>")

    labels = [[esc(lab.get("type")), f"<span class='mono'>{esc(lab.get('value'))}</span>"]
              for lab in inc.get("labels") or [] if isinstance(lab, Mapping)]
    custom = [[esc(k), _mono(v)] for k, v in sorted((inc.get("CustomFields") or {}).items())]
    parts.append("<section><h2>Incident</h2>" + _table(["Field", "Value"], [
        ["Name", esc(inc.get("name"))], ["Type", esc(inc.get("type"))], ["Severity", esc(inc.get("severity"))],
        ["Occurred", esc(inc.get("occurred"))], ["Details", esc(inc.get("details"))],
    ]) + (f"<p class='mute'>{esc(r.description)}</p>" if r.description else "")
        + "<details><summary>Labels and custom fields</summary>" + _table(["Label", "Value"], labels)
        + _table(["Custom field", "Value"], custom) + "</details></section>")

    note = "" if r.timeline_matched or not r.timeline else \
        "<p class='mute'>No cited record id matched the scenario datasets; evidence excerpts in order.</p>"
    parts.append("<section><h2>Timeline of cited events</h2>" + note + _table(
        ["Time", "Source", "Event", "Actor", "Source IP", "Record id", "Cited by"],
        [[f"<span class='mono'>{esc(t.time)}</span>", esc(t.dataset),
          esc(t.summary) + (f"<div class='mute'>{esc(t.detail)}</div>" if t.detail else ""), esc(t.actor),
          f"<span class='mono'>{esc(t.source_ip)}</span>", f"<span class='mono'>{esc(t.record_id)}</span>",
          esc(", ".join(t.cited_by))] for t in r.timeline], "no events cited") + "</section>")

    trace_parts = ["<section><h2>Reasoning trace</h2>"]
    if r.program:
        trace_parts.append("<p><b>ART program</b> (each <span class='mono'>#i</span> is a tool step whose output was "
                           f"spliced back in)</p><pre>{esc(r.program)}</pre>")
    if r.demonstrations:
        trace_parts.append(f"<p class='mute'>Demonstrations selected: {esc(', '.join(r.demonstrations))}</p>")
    trace_parts.append(_table(["#", "Kind", "Text"], [[esc(s.get("index")), _badge(s.get("kind"), "k"),
                                                        esc(excerpt(s.get("text"), 1200))] for s in r.trace],
                              "no trace recorded"))
    trace_parts.append("</section>")
    parts.append("".join(trace_parts))

    parts.append("<section><h2>Evidence</h2>" + _table(
        ["Id", "Tool", "Excerpt", "Source"],
        [[f"<b>{esc(e.get('id'))}</b>", esc(e.get("tool")), f"<span class='mono'>{esc(excerpt(e.get('excerpt'), 600))}"
          "</span>", esc(e.get("source"))] for e in r.evidence], "no evidence") + "</section>")

    rec_rows = []
    for rec in r.recommendations:
        decision, who = _approval_summary(rec, r.approvals)
        rec_rows.append([f"<b>{esc(rec.get('action'))}</b>", f"<span class='mono'>{esc(rec.get('target'))}</span>",
                         esc(rec.get("tier")), _badge(rec.get("status"), "s"), esc(decision), esc(who),
                         esc(", ".join(rec.get("evidence_refs") or [])),
                         esc(rec.get("rollback_plan") or "irreversible"), esc(excerpt(rec.get("reasoning"), 500))])
    parts.append("<section><h2>Recommendations</h2>" + _table(
        ["Action", "Target", "Tier", "Status", "Decision", "Who", "Evidence", "Rollback plan", "Why"], rec_rows,
        "no recommendations") + "<h2 style='margin-top:16px'>Approval tasks</h2>" + _table(
        ["Playbook", "Task", "Kind", "Decision", "Approvers", "Timed out"],
        [[esc(a.get("playbook")), esc(f"{a.get('task_id')} {a.get('task_name')}"), esc(a.get("kind")),
          esc(a.get("decision")), esc(", ".join(a.get("approvers") or []) or "nobody"), _ok(a.get("timed_out"))]
         for a in r.approvals], "no human tasks ran") + "</section>")

    parts.append("<section><h2>Undo log (simulated tenant)</h2>" + _table(
        ["Action", "Command", "Target", "Time", "Undone", "Changes", "Undo on a tenant"],
        [[esc(u.get("action_id")), f"<span class='mono'>{esc(u.get('command'))}</span>",
          f"<span class='mono'>{esc(u.get('target'))}</span>", esc(u.get("time")), _ok(u.get("undone")),
          esc(len(u.get("changes") or [])), f"<span class='mono'>{esc(excerpt(u.get('rollback'), 300))}</span>"]
         for u in r.undo_log], "no response action changed the simulated tenant") + "</section>")

    parts.append("<section><h2>Tool invocations</h2>" + _table(
        ["Tool", "Args", "Policy", "OK", "Error"],
        [[esc((t.get("call") or {}).get("tool")), _mono(excerpt((t.get("call") or {}).get("args"))),
          esc((t.get("decision") or {}).get("decision")), _ok(t.get("ok")), esc(excerpt(t.get("error")))]
         for t in r.tool_log], "the engine recorded no tool calls")
        + "<details><summary>Every command the run executed (" + esc(len(r.commands)) + ")</summary>" + _table(
        ["Command", "Route", "Caller", "OK", "Error", "ms"],
        [[f"<span class='mono'>{esc(c.get('command'))}</span>", esc(c.get("route")), esc(c.get("caller")),
          _ok(c.get("ok")), esc(excerpt(c.get("error"))), esc(round(float(c.get("duration_ms") or 0), 1))]
         for c in r.commands]) + "</details>"
        + "<details><summary>Work plan (" + esc(len(r.tasks)) + " task executions)</summary>" + _table(
        ["Playbook", "Task", "Type", "Status", "Branch", "Detail"],
        [[esc(t.get("playbook")), esc(f"{t.get('task_id')} {t.get('name')}"), esc(t.get("type")),
          _badge(t.get("status"), "s"), esc(t.get("branch")), esc(excerpt(t.get("message")))] for t in r.tasks])
        + "</details></section>")
    usage = r.usage
    if usage:
        parts.append(f"<p class='mute'>Model calls {esc(usage.get('model_calls'))} · input tokens "
                     f"{esc(usage.get('input_tokens'))} · output tokens {esc(usage.get('output_tokens'))} · cost "
                     f"${esc(usage.get('cost_usd'))}</p>")
    parts.append("</main>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(r.scenario)} — {esc(r.verdict)}</title><style>{_CSS}</style></head><body>"
            + "".join(parts) + "</body></html>\n")


# --------------------------------------------------------------------------------------------------
# Index over several runs
# --------------------------------------------------------------------------------------------------


def render_index_markdown(rows: list[dict[str, Any]]) -> str:
    out = ["# Local runs", "", _md_table(
        ["Scenario", "Playbook", "Status", "Verdict", "Expected", "Threat", "Executed", "Rejected", "Report"],
        [[r["scenario"], r["playbook"], r["status"], r["verdict"], r["expected"], r["threat"], r["executed"],
          r["rejected"], r.get("report_md", "")] for r in rows])]
    return "\n".join(out)


def render_index_html(rows: list[dict[str, Any]]) -> str:
    body = _table(
        ["Scenario", "Playbook", "Status", "Verdict", "Expected", "Threat", "Executed", "Rejected"],
        [[f"<a href='{esc(r.get('report_html', ''))}'>{esc(r['scenario'])}</a>", esc(r["playbook"]),
          _badge(r["status"], "s"), _badge(r["verdict"], "v"), esc(r["expected"]), _badge(r["threat"], "t"),
          esc(r["executed"]), esc(r["rejected"])] for r in rows])
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Local runs</title>"
            f"<style>{_CSS}</style></head><body><header><h1>Local runs</h1><div class='meta'>{esc(len(rows))} runs"
            f"</div></header><main><section>{body}</section></main></body></html>\n")
