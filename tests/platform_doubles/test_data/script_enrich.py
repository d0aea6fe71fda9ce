"""An automation that calls another command and summarises it."""

import demistomock as demisto
from CommonServerPython import *


def main() -> None:
    try:
        res = execute_command("ip", {"ip": demisto.args()["ip"]})
        return_results(f"score={res['score']}")
    except DemistoException as e:
        return_error(str(e))


if __name__ in ("__main__", "__builtin__", "builtins"):
    main()
