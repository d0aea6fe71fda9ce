"""A typical automation: reads args, writes a note with outputs."""

import demistomock as demisto
from CommonServerPython import *
from CommonServerUserPython import *


def main() -> None:
    name = demisto.args().get("name", "world")
    user = demisto.callingContext["context"]["ParentEntry"]["user"]
    return_results(
        CommandResults(
            outputs_prefix="Greeting",
            outputs_key_field="name",
            outputs={"name": name, "by": user},
            readable_output=f"hello {name}",
        )
    )


if __name__ in ("__main__", "__builtin__", "builtins"):
    main()
