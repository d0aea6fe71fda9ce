"""A minimal integration: test-module and one command over BaseClient-free logic."""

import demistomock as demisto
from CommonServerPython import *


def main() -> None:
    command = demisto.command()
    params = demisto.params()
    try:
        if command == "test-module":
            return_results("ok")
        elif command == "echo-say":
            text = demisto.args()["text"]
            ctx = demisto.getIntegrationContext()
            ctx["calls"] = ctx.get("calls", 0) + 1
            demisto.setIntegrationContext(ctx)
            return_results(CommandResults(outputs_prefix="Echo", outputs={"text": text, "prefix": params["prefix"]}))
        elif command == "echo-run-command":
            execute_command("ip", {"ip": "1.1.1.1"})
        else:
            raise NotImplementedError(f"Command {command} is not implemented")
    except Exception as e:
        return_error(f"Failed to execute {command} command.\nError:\n{e}")


if __name__ in ("__main__", "__builtin__", "builtins"):
    main()
