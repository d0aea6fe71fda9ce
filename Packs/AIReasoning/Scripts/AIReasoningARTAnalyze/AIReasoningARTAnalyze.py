import demistomock as demisto  # noqa: F401
from AIReasoningXsoarApiModule import *  # noqa: F401
from CommonServerPython import *  # noqa: F401

"""AIReasoningARTAnalyze: analyse the current incident with ART over the task library.

The closest demonstration programs from the AIReasoningTaskLibrary list guide the model; every tool step of
the program runs as a real command under the policy and its output is spliced back as #i. The war-room note
shows the program with each #i; an analyst can correct it and send it back with AIReasoningFeedback.
"""


def program_entry(deliverable: Any) -> dict[str, Any] | None:
    """The executed program as its own note, so analysts can copy it into AIReasoningFeedback."""
    if not deliverable.program:
        return None
    demos = ", ".join(deliverable.demonstrations) or "none"
    text = (f"### ART program of run {deliverable.run_id}\nDemonstrations used: {demos}\n\n"
            f"```\n{deliverable.program}\n```")
    return {"Type": EntryType.NOTE, "ContentsFormat": EntryFormat.TEXT, "Contents": deliverable.program,
            "HumanReadable": text, "ReadableContentsFormat": EntryFormat.MARKDOWN,
            "Tags": [NOTE_TAG, "ai-reasoning-art"]}


def main() -> None:
    args = demisto.args()
    deliverable, audit, _ = run_reasoner("art", args)
    set_incident_fields(incident_field_args(deliverable))
    results = deliverable_results(deliverable, audit, title_tags=["ai-reasoning-art"])
    program = program_entry(deliverable)
    if program:
        results.append(program)
    return_results(results)


if __name__ in ("__main__", "__builtin__", "builtins"):
    run_main(main)
