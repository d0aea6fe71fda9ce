import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningExtractEntities: the users, access keys, IPs, hosts, ARNs and e-mails an incident names.

Uses the engine's entity extraction over labels, custom fields and the raw alert, adds any values the
playbook passes, and writes AIReasoning.Entities (replaced on each run) for the enrichment tasks.
"""

KINDS = ("users", "access_keys", "ips", "hosts", "arns", "emails")


def main() -> None:
    args = demisto.args()
    entities = IncidentInput.from_xsoar(current_incident()).entities
    for kind in KINDS:
        for value in argToList(args.get(kind)):
            entities.add(kind, str(value))
    data: dict[str, Any] = {kind: entities.of(kind) for kind in KINDS}
    for kind, key in (("users", "user"), ("access_keys", "access_key"), ("ips", "ip"), ("emails", "email")):
        data[f"primary_{key}"] = data[kind][0] if data[kind] else ""
    demisto.setContext("AIReasoning.Entities", data)
    rows = [{"kind": kind, "values": ", ".join(data[kind])} for kind in KINDS if data[kind]]
    return_results(CommandResults(readable_output=tableToMarkdown("Entities in this incident", rows,
                                                                  headers=["kind", "values"])))


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
