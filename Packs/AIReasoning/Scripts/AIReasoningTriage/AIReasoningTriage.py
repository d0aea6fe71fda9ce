import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningTriage: triage the current incident (or a batch of incidents) as it is created.

The triage reasoner gives a verdict, threat level and confidence. Closing is not the reasoner's call: an
incident is closed as a false positive only when the policy's auto-close rule (Policy.may_auto_close) says
so; every other incident is routed with a severity that matches the threat level.

A batch (an alert storm) is grouped by situation first (AIReasoningBatchApiModule: rule, category, users,
access keys, attacker-side IPs). The reasoner runs once per situation, on its most severe incident, and the
verdict is fanned out to every member; each member is still closed or routed on its own: the policy rule is
evaluated with that member's severity, and a member whose own text carries a prompt-injection finding is
never auto-closed.
"""

SEVERITY_FOR_THREAT = {"none": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}


def fetch_incidents(ids: list[str]) -> list[dict[str, Any]]:
    """The incidents to triage: the current one, or each id (once) via the getIncidents builtin."""
    if not ids:
        return [current_incident()]
    found: list[dict[str, Any]] = []
    for incident_id in dict.fromkeys(ids):
        entries = run_command("getIncidents", {"id": incident_id})
        contents = first_contents(entries) or {}
        data = contents.get("data") if isinstance(contents, dict) else None
        if not data:
            raise DemistoException(f"Incident {incident_id} was not found: {error_text(entries) or 'no data'}")
        found.extend(data)
    return found


def decide(setup: ReasoningSetup, deliverable: Any, incident: dict[str, Any], group: Any,
           args: dict[str, Any]) -> dict[str, Any]:
    """Close (policy allows, for this member) or route (everything else); returns the member's triage record."""
    incident_id = str(incident.get("id") or "")
    severity = incident_severity(incident)
    flagged = deliverable.injection.flagged or bool(incident_injection_findings(incident))
    may_close, reason = setup.policy().may_auto_close(deliverable.assessment, severity, flagged)
    if deliverable.status == "failed":
        may_close, reason = False, "the run failed"
    record = {"incident_id": incident_id, "run_id": deliverable.run_id, "verdict": deliverable.assessment.verdict,
              "threat_level": deliverable.assessment.threat_level, "confidence": deliverable.assessment.confidence,
              "reason": reason, "severity": severity, "situation_key": group.key,
              "group_size": len(group.member_ids), "representative_id": group.representative_id,
              "injection_flagged": flagged}
    set_incident_fields(incident_field_args(deliverable), incident_id or None)
    if may_close:
        notes = (f"Closed by AI Reasoning triage (run {deliverable.run_id}, situation {group.key} of "
                 f"{len(group.member_ids)} incident(s)): {reason}")
        entries = run_command("closeInvestigation", assign_params(id=incident_id, closeReason=args.get("close_reason")
                                                                  or "False Positive", closeNotes=notes))
        if entries and is_error(entries):
            raise DemistoException(f"Could not close incident {incident_id}: {error_text(entries)}")
        record["action"] = "closed"
        return record
    new_severity = max(severity, SEVERITY_FOR_THREAT.get(deliverable.assessment.threat_level, 2))
    route = assign_params(id=incident_id, severity=new_severity, owner=args.get("route_owner"))
    entries = run_command("setIncident", route)
    if entries and is_error(entries):
        demisto.debug(f"routing incident {incident_id} failed: {error_text(entries)}")
    record.update({"action": "routed", "severity": new_severity, "owner": args.get("route_owner") or ""})
    return record


def main() -> None:
    args = demisto.args()
    incidents = fetch_incidents([str(i) for i in argToList(args.get("incident_ids"))])
    by_id = {alert_id(incident): incident for incident in incidents}
    groups = group_alerts(incidents)  # one group per distinct situation; every incident in exactly one
    setup = load_setup()
    results: list[Any] = []
    records: list[dict[str, Any]] = []
    runs: dict[str, Any] = {}
    for group in groups:
        deliverable, audit, setup = run_reasoner("triage", args, incident=group.representative, setup=setup)
        runs[group.key] = deliverable
        results.extend(deliverable_results(deliverable, audit, set_latest=len(incidents) == 1,
                                           title_tags=["ai-reasoning-triage"]))
        for member in fan_out(group, verdict_summary(deliverable)):
            records.append(decide(setup, deliverable, by_id[member.alert_id], group, args))
    readable = tableToMarkdown("AI Reasoning triage", records,
                               headers=["incident_id", "action", "verdict", "threat_level", "confidence", "severity",
                                        "reason", "group_size", "situation_key", "run_id"])
    if len(incidents) > 1:
        readable = triage_batch_markdown(groups, runs, len(incidents)) + "\n" + readable
    results.append(CommandResults(outputs_prefix="AIReasoning.Triage", outputs_key_field=["run_id", "incident_id"],
                                  outputs=records, readable_output=readable))
    return_results(results)


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
