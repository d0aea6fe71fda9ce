"""Generate an integration README with real command examples, offline.

`demisto-sdk generate-docs -e command_examples` runs every example on an XSOAR server (playground search,
``POST /entry/execute/sync``, ``POST /investigation/<id>/context``) and pastes the War Room output and the
context into the README. This module serves those three endpoints on 127.0.0.1 and runs each command in the
platform doubles, so the examples in the README are what the integration really prints - against the scripted
model server (tests/fakes/anthropic_server.py) instead of a billed model.

Usage (from the repository root; the runtime venv runs the server, the tools venv runs demisto-sdk):
    .venv/bin/python -m tests.fakes.xsoar_docs_server Packs/AIReasoning/Integrations/AIReasoningGateway
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PLAYGROUND_ID = "playground-1"


def parse_command_line(line: str) -> tuple[str, dict[str, str]]:
    """``!cmd a="x y" b=`{"json": 1}` c=z`` -> ("cmd", {...}) the way the War Room reads it."""
    line = line.strip()
    if not line.startswith("!"):
        raise ValueError(f"not a command: {line!r}")
    name, _, rest = line[1:].partition(" ")
    args: dict[str, str] = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] == " ":
            i += 1
        if i >= len(rest):
            break
        eq = rest.index("=", i)
        key = rest[i:eq].strip()
        i = eq + 1
        if i < len(rest) and rest[i] in "`\"'":
            quote = rest[i]
            end = rest.index(quote, i + 1)
            value = rest[i + 1:end]
            i = end + 1
        else:
            end = rest.find(" ", i)
            end = len(rest) if end < 0 else end
            value = rest[i:end]
            i = end
        args[key] = value
    return name, args


class FakeXsoarApi:
    """The slice of the XSOAR REST API that generate-docs uses; commands run through `execute`."""

    def __init__(self, execute: Callable[[str, dict[str, str]], list[dict[str, Any]]]) -> None:
        self.execute = execute
        self.context: dict[str, Any] = {}
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, payload = api.route(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    def route(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path.startswith("/investigations/search"):
            return 200, {"total": 1, "data": [{"id": PLAYGROUND_ID, "type": 9, "creatingUserId": "admin"}]}
        if path.startswith("/user"):
            return 200, {"username": "admin"}
        if path.startswith("/entry/execute/sync"):
            line = str(body.get("data") or "")
            name, args = parse_command_line(line)
            if name == "DeleteContext":
                self.context = {}
                return 200, [{"id": "1", "type": 1, "contents": "Context cleared", "format": "text"}]
            entries = self.execute(name, args)
            out = []
            for n, entry in enumerate(entries, start=1):
                for key, value in (entry.get("EntryContext") or {}).items():
                    self.context[key] = value
                out.append({"id": str(n), "type": entry.get("Type", 1), "format": "markdown",
                            "contents": entry.get("HumanReadable") or entry.get("Contents")})
            return 200, out
        if path.startswith(f"/investigation/{PLAYGROUND_ID}/context"):
            return 200, self.context
        return 404, {"error": f"not faked: {path}"}


def gateway_examples(integration_dir: Path) -> None:
    """Run generate-docs for the AI Reasoning Gateway with its examples answered by scripted model replies."""
    sys.path[:0] = [str(REPO), str(REPO / "platform_doubles"), str(integration_dir),
                    *map(str, sorted((REPO / "Packs/ApiModules/Scripts").glob("*ApiModule")))]
    import AIReasoningGateway as gw  # noqa: PLC0415 - needs the paths above
    from xsoar_session import XSOARSession, use_session  # noqa: PLC0415

    from tests.fakes.anthropic_server import ScriptedAPIServer, anthropic_message, text_block  # noqa: PLC0415

    model = ScriptedAPIServer().start()
    model.script(
        anthropic_message([text_block(
            "Likely suspicious. A service account creating its own access key at 03:12 UTC from an address outside "
            "its usual range matches credential persistence (T1098.001). Check who holds svc-backup's console "
            "access, whether 203.0.113.7 appears elsewhere in CloudTrail, and disable the new key if the change "
            "was not planned.")], input_tokens=212, output_tokens=74, cache_read=0, cache_creation=0),
        anthropic_message([text_block("Incident 42: an unplanned access key was created for svc-backup from "
                                      "203.0.113.7 at 03:12 UTC; the source IP is new for this account.")],
                          input_tokens=38, output_tokens=29),
        path="/v1/messages")
    params = {"provider": "Anthropic", "credentials": {"identifier": "", "password": "sk-ant-docs-example-key"},
              "model": "claude-sonnet-4-6", "base_url": model.url, "max_tokens": "4096", "timeout": "30",
              "max_retries": "0", "prompt_caching": True}

    def execute(command: str, args: dict[str, str]) -> list[dict[str, Any]]:
        session = XSOARSession(kind="integration", brand=gw.BRAND, command=command, params=params, args=args)
        with use_session(session):
            try:
                gw.main()
            except SystemExit:
                pass
        return session.entries()

    api = FakeXsoarApi(execute)
    url = api.start()
    env = dict(os.environ, DEMISTO_BASE_URL=url, DEMISTO_API_KEY="local-docs", DEMISTO_VERIFY_SSL="false",
               DEMISTO_SDK_IGNORE_CONTENT_WARNING="1", CI="true")
    yml = integration_dir / f"{integration_dir.name}.yml"
    cmd = [str(REPO / ".venv-tools/bin/demisto-sdk"), "generate-docs", "-i", str(yml), "-e",
           str(integration_dir / "command_examples"), "--insecure"]
    print("running:", shlex.join(cmd))
    try:
        subprocess.run(cmd, cwd=REPO, env=env, check=True)
    finally:
        api.stop()
        model.stop()


if __name__ == "__main__":
    gateway_examples((REPO / (sys.argv[1] if len(sys.argv) > 1 else
                              "Packs/AIReasoning/Integrations/AIReasoningGateway")).resolve())
