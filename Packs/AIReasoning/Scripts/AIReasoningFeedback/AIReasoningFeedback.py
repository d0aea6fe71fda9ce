import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningFeedback: put an analyst's corrected ART program back into the task library.

The program is validated (grammar, registered tools, arguments) before anything is written; a valid one is
appended to the AIReasoningTaskLibrary list with provenance (who, when, which run and task). An invalid
one is refused with the reason, and the list is left untouched.
"""


def main() -> None:
    args = demisto.args()
    program = str(args.get("program") or "").strip()
    task = str(args.get("task") or "").strip()
    if not program or not task:
        raise DemistoException("Both program (the corrected ART program) and task (what it solves) are required")
    who = calling_user() or str(args.get("analyst") or "").strip() or "playbook"
    run_id = str(args.get("run_id") or "")
    category = str(args.get("category") or "analyst_correction")
    setup = load_setup()
    try:
        entry = setup.library.add_feedback(program, who, run_id, task, category, setup.registry)
    except ValueError as error:
        raise DemistoException(f"The corrected program was not added to the task library: {error}") from error
    set_list_text(LIST_TASK_LIBRARY, setup.library.to_yaml())
    record = {"id": entry.id, "task": task, "category": category, "run_id": run_id, "analyst": who,
              "at": utc_now_iso(), "status": "added", "library_size": len(setup.library.entries)}
    audit = XsoarAuditSink()
    audit.write(audit_record(run_id or "feedback", "feedback", who, {"task": task, "category": category}))
    return_results([CommandResults(outputs_prefix="AIReasoning.Feedback", outputs=record, mark_as_note=True,
                                   tags=[NOTE_TAG, "ai-reasoning-feedback"],
                                   readable_output=f"Corrected program for '{task}' added to "
                                                   f"{LIST_TASK_LIBRARY} by {who}."),
                    *audit.entries()])


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
