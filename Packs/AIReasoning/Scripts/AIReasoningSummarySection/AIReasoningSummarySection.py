import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningSummarySection: dynamic layout section with the latest AI Reasoning result of the incident.

Verdict, threat level, confidence, who reasoned (model or deterministic reasoner), the evidence, the
recommendations with their approval state, and the last steps of the trace. Reads context only.
"""

MAX_TRACE_STEPS = 12
MAX_EXCERPT = 160


def short(text: Any, limit: int = MAX_EXCERPT) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_markdown(run: dict[str, Any]) -> str:
    assessment = run.get("assessment") or {}
    identity = run.get("identity") or {}
    if identity.get("deterministic"):
        reasoner = "deterministic reasoner (no language model)"
    else:
        reasoner = (f"{identity.get('reasoner', run.get('method'))} via "
                    f"{identity.get('provider', '?')}:{identity.get('model', '?')}")
    lines = [
        f"### {str(assessment.get('verdict', 'inconclusive')).replace('_', ' ').title()} - threat level "
        f"**{assessment.get('threat_level', 'none')}**, confidence {float(assessment.get('confidence') or 0):.0%}",
        f"Run `{run.get('run_id')}` ({run.get('method')}, {run.get('status')}) by {reasoner}.",
    ]
    if assessment.get("summary"):
        lines.append(f"\n{short(assessment['summary'], 1200)}")
    if assessment.get("attack_ids"):
        lines.append(f"\nATT&CK: {', '.join(assessment['attack_ids'])}")
    if (run.get("injection") or {}).get("flagged"):
        lines.append("\n**Possible prompt injection in the inputs: autonomy reduced, every action needs approval.**")
    evidence = [{"id": e.get("id"), "tool": e.get("tool"), "excerpt": short(e.get("excerpt"))}
                for e in as_list(run.get("evidence")) if isinstance(e, dict)]
    if evidence:
        lines.append(tableToMarkdown("Evidence", evidence, headers=["id", "tool", "excerpt"]))
    recs = [{"id": r.get("id"), "action": r.get("action"), "target": r.get("target"), "tier": r.get("tier"),
             "status": r.get("status"), "why": short(r.get("reasoning"), 120)}
            for r in as_list(run.get("recommendations")) if isinstance(r, dict)]
    if recs:
        lines.append(tableToMarkdown("Recommendations", recs, headers=["id", "action", "target", "tier", "status",
                                                                      "why"]))
    trace = [{"#": s.get("index"), "kind": s.get("kind"), "text": short(s.get("text"))}
             for s in as_list(run.get("trace"))[-MAX_TRACE_STEPS:] if isinstance(s, dict)]
    if trace:
        lines.append(tableToMarkdown(f"Trace (last {len(trace)} steps)", trace, headers=["#", "kind", "text"]))
    return "\n".join(lines)


def main() -> None:
    runs = stored_runs()
    if not runs:
        markdown = "No AI Reasoning run on this incident yet. Use the Re-run button or the incident's playbook."
    else:
        try:
            run = find_run("")
        except DemistoException:
            run = runs[-1]
        markdown = summary_markdown(run)
    return_results({"Type": EntryType.NOTE, "ContentsFormat": EntryFormat.MARKDOWN, "Contents": markdown})


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
