import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningTriage: triage the current incident (or a batch of incidents) as it is created.

The triage reasoner gives a verdict, threat level and confidence. Closing is not the reasoner's call: an
incident is closed as a false positive only when the policy's auto-close rule (Policy.may_auto_close) says
so; every other incident is routed with a severity that matches the threat level.
"""

SEVERITY_FOR_THREAT = {"none": 1, "low": 1, "medium": 2, "high": 3, "critical": 4}


def fetch_incidents(ids: list[str]) -> list[dict[str, Any]]:
    """The incidents to triage: the current one, or each id via the getIncidents builtin."""
    if not ids:
        return [current_incident()]
    found: list[dict[str, Any]] = []
    for incident_id in ids:
        entries = run_command("getIncidents", {"id": incident_id})
        contents = first_contents(entries) or {}
        data = contents.get("data") if isinstance(contents, dict) else None
        if not data:
            raise DemistoException(f"Incident {incident_id} was not found: {error_text(entries) or 'no data'}")
        found.extend(data)
    return found


def decide(setup: ReasoningSetup, deliverable: Any, incident: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Close (policy allows) or route (everything else); returns the triage record."""
    incident_id = str(incident.get("id") or "")
    severity = int(float(incident.get("severity") or 0))
    decision = getattr(deliverable, "auto_close", None)  # the run asked Policy.may_auto_close already
    if decision is not None:
        may_close, reason = decision.allowed, decision.reason
    else:
        may_close, reason = setup.policy().may_auto_close(deliverable.assessment, severity,
                                                          deliverable.injection.flagged)
    may_close = may_close and deliverable.status != "failed"
    record = {"incident_id": incident_id, "run_id": deliverable.run_id, "verdict": deliverable.assessment.verdict,
              "threat_level": deliverable.assessment.threat_level, "confidence": deliverable.assessment.confidence,
              "reason": reason, "severity": severity}
    set_incident_fields(incident_field_args(deliverable), incident_id or None)
    if may_close:
        notes = f"Closed by AI Reasoning triage (run {deliverable.run_id}): {reason}"
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
    setup = load_setup()
    results: list[Any] = []
    records: list[dict[str, Any]] = []
    for incident in incidents:
        deliverable, audit, setup = run_reasoner("triage", args, incident=incident, setup=setup)
        results.extend(deliverable_results(deliverable, audit, set_latest=len(incidents) == 1,
                                           title_tags=["ai-reasoning-triage"]))
        records.append(decide(setup, deliverable, incident, args))
    results.append(CommandResults(
        outputs_prefix="AIReasoning.Triage", outputs_key_field="run_id", outputs=records,
        readable_output=tableToMarkdown("AI Reasoning triage", records,
                                        headers=["incident_id", "action", "verdict", "threat_level", "confidence",
                                                 "severity", "reason", "run_id"]),
    ))
    return_results(results)


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
