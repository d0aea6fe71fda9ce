"""An automation that fails the way content does: return_error in an except block."""

import demistomock as demisto
from CommonServerPython import *


def main() -> None:
    try:
        raise ValueError("upstream said no")
    except Exception as e:
        return_error(f"Failed to execute script. Error: {e}")
    demisto.results("never reached")


if __name__ in ("__main__", "__builtin__", "builtins"):
    main()
