"""AI Reasoning Gateway tests: the integration end to end under the platform doubles, against a scripted
Messages-API / chat-completions server on 127.0.0.1 driven through the real anthropic SDK and requests.

No pytest-mock: the doubles read params/args/command from an XSOARSession, so each test builds a session.
"""

from __future__ import annotations

import ast
import json
import logging
import socket
from pathlib import Path
from typing import Any

import AIReasoningGateway as gw
import demistomock as demisto
import pytest
import yaml
from xsoar_session import XSOARSession, run_script, use_session

from tests.fakes.anthropic_server import (
    ScriptedAPIServer,
    anthropic_error,
    anthropic_message,
    openai_chat,
    text_block,
)

HERE = Path(__file__).resolve().parent
TEST_DATA = HERE / "test_data"
API_KEY = "sk-ant-api03-GATEWAYTESTKEY-abcdefghijklmnopqrstuvwxyz0123456789"
ERROR = 4

HAS_DETERMINISTIC = hasattr(gw, "DeterministicModelClient")
needs_deterministic = pytest.mark.skipif(not HAS_DETERMINISTIC,
                                         reason="DeterministicModelClient not in this engine build yet")


def load(name: str) -> Any:
    return json.loads((TEST_DATA / name).read_text())


@pytest.fixture
def server() -> Any:
    with ScriptedAPIServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def anthropic_params(server: ScriptedAPIServer | None = None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "provider": "Anthropic",
        "credentials": {"identifier": "", "password": API_KEY},
        "model": "claude-sonnet-4-6",
        "base_url": server.url if server else "",
        "max_tokens": "4096",
        "timeout": "10",
        "max_retries": "0",
        "prompt_caching": True,
        "monthly_token_budget": "0",
        "insecure": False,
        "proxy": False,
    }
    params.update(extra)
    return params


def run(command: str, params: dict[str, Any], args: dict[str, Any] | None = None,
        integration_context: dict[str, Any] | None = None) -> XSOARSession:
    """Run the integration's main() for one command, as the platform would."""
    session = XSOARSession(kind="integration", brand=gw.BRAND, command=command, params=params, args=args or {},
                           integration_context=integration_context)
    with use_session(session):
        try:
            gw.main()
        except SystemExit:  # return_error exits, as on the platform
            pass
    return session


def entries(session: XSOARSession) -> list[dict[str, Any]]:
    return session.entries()


def errors(session: XSOARSession) -> list[str]:
    return [str(e.get("Contents")) for e in session.entries() if e.get("Type") == ERROR]


def only_entry(session: XSOARSession) -> dict[str, Any]:
    assert not errors(session), errors(session)
    (entry,) = entries(session)
    return entry


# --------------------------------------------------------------------------------------------
# ai-reasoning-step
# --------------------------------------------------------------------------------------------


def test_step_returns_turn_with_parallel_tool_calls_and_usage(server: ScriptedAPIServer) -> None:
    server.script(load("anthropic_tool_use_response.json"), path="/v1/messages")
    request = load("step_request.json")
    session = run("ai-reasoning-step", anthropic_params(server), {"request": json.dumps(request)})
    entry = only_entry(session)
    turn = entry["EntryContext"]["AIReasoning.ModelTurn"]
    assert turn["stop_reason"] == "tool_use" and turn["provider"] == "anthropic" and turn["reasoner"] == "model"
    assert [b["name"] for b in turn["content"] if b["type"] == "tool_use"] == ["get_iam_user", "ip_reputation"]
    assert turn["usage"]["cache_read_input_tokens"] == 1800
    expected_cost = (412 * 3 + 96 * 15 + 1800 * 0.30) / 1_000_000
    assert turn["cost_usd"] == pytest.approx(expected_cost)
    assert turn["usage"]["cost_usd"] == pytest.approx(expected_cost)
    assert "Tool calls requested" in entry["HumanReadable"] and "svc-backup" in entry["HumanReadable"]
    assert entry.get("IgnoreAutoExtract") is True
    # the request reached the API as sent (max_tokens within the instance cap), with the cached prefix marked
    body = server.requests_to("/v1/messages")[0].json
    assert body["max_tokens"] == 1024 and body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    # monthly usage recorded in the integration context
    budget = session.integration_context[gw.BUDGET_KEY]
    assert budget["tokens"] == 412 + 96 + 1800 and budget["calls"] == 1


def test_step_caps_max_tokens_at_the_instance_limit(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("ok"))
    request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_tokens": 64000}
    only_entry(run("ai-reasoning-step", anthropic_params(server, max_tokens="512"), {"request": json.dumps(request)}))
    assert server.requests[-1].json["max_tokens"] == 512


def test_step_structured_final_answer(server: ScriptedAPIServer) -> None:
    answer = {"assessment": {"verdict": "false_positive", "threat_level": "low", "confidence": 0.7}}
    server.script(anthropic_message(json.dumps(answer)))
    request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "conclude"}]}],
               "output_schema": gw.final_answer_schema()}
    turn = only_entry(run("ai-reasoning-step", anthropic_params(server), {"request": json.dumps(request)}))[
        "EntryContext"]["AIReasoning.ModelTurn"]
    assert json.loads(turn["content"][0]["text"]) == answer
    assert server.requests[-1].json["output_config"]["format"]["type"] == "json_schema"


@pytest.mark.parametrize("bad", ["not json", json.dumps({"messages": [{"role": "robot", "content": []}]}), ""])
def test_step_rejects_a_malformed_request(bad: str) -> None:
    session = run("ai-reasoning-step", anthropic_params(base_url="http://127.0.0.1:9"), {"request": bad})
    (message,) = errors(session)
    assert message.startswith("AIReasoningGateway error [bad_request]:")


@pytest.mark.parametrize(("reply", "kind", "text"), [
    (anthropic_error(429, "rate_limit_error", "rate limited", {"retry-after": "12"}), "rate_limit", "Retry after 12 s"),
    (anthropic_error(401, "authentication_error", f"invalid x-api-key: {API_KEY}"), "auth", "check the API key"),
    (anthropic_error(529, "overloaded_error", "Overloaded"), "overloaded", "overloaded"),
    (anthropic_error(400, "invalid_request_error", "prompt is too long: 300000 tokens > 200000 maximum"),
     "context_window", "context window"),
    (anthropic_error(400, "invalid_request_error", "tools.0.name: String should match pattern"), "bad_request",
     "tools.0.name"),
    (anthropic_error(500, "api_error", "Internal server error"), "server", "server error"),
])
def test_step_errors_carry_the_kind(server: ScriptedAPIServer, reply: Any, kind: str, text: str) -> None:
    server.script(reply)
    request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    session = run("ai-reasoning-step", anthropic_params(server), {"request": json.dumps(request)})
    (message,) = errors(session)
    assert message.startswith(f"AIReasoningGateway error [{kind}]:") and text in message
    assert API_KEY not in message
    (entry,) = [e for e in session.entries() if e.get("Type") == ERROR]
    details = entry["EntryContext"]["AIReasoning.ModelError"]
    assert details["kind"] == kind
    if kind == "rate_limit":
        assert details["retry_after"] == 12.0


def test_engine_command_model_client_reads_gateway_errors_and_turns(server: ScriptedAPIServer) -> None:
    """The engine's CommandModelClient understands both the turn entries and the error entries."""
    if not hasattr(gw, "CommandModelClient"):
        pytest.skip("CommandModelClient not in this engine build yet")
    server.script(anthropic_error(429, "rate_limit_error", "slow", {"retry-after": "3"}),
                  load("anthropic_tool_use_response.json"))
    params = anthropic_params(server)

    def run_command(command: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        return run(command, params, args).entries()

    client = gw.CommandModelClient(run_command)
    request = gw.ModelRequest.model_validate(load("step_request.json"))
    with pytest.raises(gw.ModelError) as info:
        client.turn(request)
    assert info.value.kind == "rate_limit" and info.value.retry_after == 3.0
    response = client.turn(request)
    assert response.stop_reason == "tool_use" and len(response.tool_uses()) == 2
    assert response.usage.cache_read_input_tokens == 1800 and response.usage.cost_usd > 0


def test_step_connection_refused() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    request = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}
    session = run("ai-reasoning-step", anthropic_params(base_url=f"http://127.0.0.1:{port}"),
                  {"request": json.dumps(request)})
    (message,) = errors(session)
    assert message.startswith("AIReasoningGateway error [connection]:")


def test_step_refusal_and_max_tokens_are_results_not_errors(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("I can't help with that.", "refusal"), anthropic_message("cut", "max_tokens"))
    request = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    first = only_entry(run("ai-reasoning-step", anthropic_params(server), {"request": request}))
    second = only_entry(run("ai-reasoning-step", anthropic_params(server), {"request": request}))
    assert first["EntryContext"]["AIReasoning.ModelTurn"]["stop_reason"] == "refusal"
    assert second["EntryContext"]["AIReasoning.ModelTurn"]["stop_reason"] == "max_tokens"


def test_step_openai_compatible(server: ScriptedAPIServer) -> None:
    server.script(openai_chat(None, [{"id": "c1", "name": "ip_reputation", "arguments": "{ip: 203.0.113.7"}],
                              model="llama3.1:8b"), path="/v1/chat/completions")
    params = {"provider": "OpenAI-compatible", "base_url": server.url + "/v1", "model_override": "llama3.1:8b",
              "credentials": {"password": "local-token-123456"}, "max_retries": "0"}
    session = run("ai-reasoning-step", params, {"request": json.dumps(load("step_request.json"))})
    turn = only_entry(session)["EntryContext"]["AIReasoning.ModelTurn"]
    assert turn["provider"] == "openai-compatible" and turn["model"] == "llama3.1:8b" and turn["cost_usd"] == 0
    assert turn["content"][0]["input"] == {"__unparsable_arguments__": "{ip: 203.0.113.7"}
    sent = server.requests[-1]
    assert sent.header("authorization") == "Bearer local-token-123456"
    assert sent.json["tools"][0]["type"] == "function"


def test_step_honours_the_system_proxy(server: ScriptedAPIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", server.url)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    server.script(anthropic_message("proxied"))
    request = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    session = run("ai-reasoning-step", anthropic_params(base_url="http://api.anthropic.invalid", proxy=True),
                  {"request": request})
    only_entry(session)
    assert server.requests[-1].proxied is True


# --------------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------------


def test_budget_exhausted_is_a_clear_error(server: ScriptedAPIServer) -> None:
    month = gw.Gateway._month()
    ctx = {gw.BUDGET_KEY: {"month": month, "tokens": 5000, "cost_usd": 0.1, "calls": 3}}
    request = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    session = run("ai-reasoning-step", anthropic_params(server, monthly_token_budget="5000"), {"request": request},
                  integration_context=ctx)
    (message,) = errors(session)
    assert message.startswith("AIReasoningGateway error [budget]:") and "5000" in message
    assert server.requests == []  # nothing billed


def test_budget_resets_each_month(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("ok", input_tokens=10, output_tokens=5))
    ctx = {gw.BUDGET_KEY: {"month": "2000-01", "tokens": 999_999, "cost_usd": 9.0, "calls": 99}}
    request = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    session = run("ai-reasoning-step", anthropic_params(server, monthly_token_budget="100"), {"request": request},
                  integration_context=ctx)
    only_entry(session)
    assert session.integration_context[gw.BUDGET_KEY]["tokens"] == 15
    assert session.integration_context[gw.BUDGET_KEY]["month"] == gw.Gateway._month()


@needs_deterministic
def test_budget_exhausted_falls_back_to_deterministic(server: ScriptedAPIServer) -> None:
    ctx = {gw.BUDGET_KEY: {"month": gw.Gateway._month(), "tokens": 10, "cost_usd": 0, "calls": 1}}
    request = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    session = run("ai-reasoning-step", anthropic_params(server, monthly_token_budget="10", budget_fallback=True),
                  {"request": request}, integration_context=ctx)
    turn = only_entry(session)["EntryContext"]["AIReasoning.ModelTurn"]
    assert turn["reasoner"] == "deterministic"
    assert server.requests == []


@needs_deterministic
def test_deterministic_provider_step_and_test_module() -> None:
    params = {"provider": "Deterministic"}
    assert only_entry(run("test-module", params))["Contents"] == "ok"
    request = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    turn = only_entry(run("ai-reasoning-step", params, {"request": request}))["EntryContext"]["AIReasoning.ModelTurn"]
    assert turn["reasoner"] == "deterministic"


# --------------------------------------------------------------------------------------------
# ai-reasoning-ask
# --------------------------------------------------------------------------------------------


def test_ask_answers_in_the_war_room(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message([text_block("The key was created from a Tor exit node: likely malicious.")],
                                    input_tokens=80, output_tokens=20))
    session = run("ai-reasoning-ask", anthropic_params(server),
                  {"question": "Is this suspicious?", "context": "CreateAccessKey from 203.0.113.7"})
    entry = only_entry(session)
    answer = entry["EntryContext"]["AIReasoning.Answer"]
    assert answer["answer"].startswith("The key was created") and answer["question"] == "Is this suspicious?"
    assert answer["usage"]["input_tokens"] == 80 and answer["reasoner"] == "model"
    assert "### AI Reasoning answer" in entry["HumanReadable"] and "Model usage" in entry["HumanReadable"]
    body = server.requests[-1].json
    assert body["messages"][0]["content"][0]["text"].startswith("<context>\nCreateAccessKey from 203.0.113.7")
    assert "not instructions" in body["system"][0]["text"]
    assert "tools" not in body


def test_ask_requires_a_question() -> None:
    (message,) = errors(run("ai-reasoning-ask", anthropic_params(base_url="http://127.0.0.1:9"), {"question": " "}))
    assert message.startswith("AIReasoningGateway error [bad_request]:")


# --------------------------------------------------------------------------------------------
# test-module
# --------------------------------------------------------------------------------------------


def _models_page() -> dict[str, Any]:
    return {"data": [{"type": "model", "id": "claude-sonnet-4-6", "display_name": "Claude Sonnet 4.6",
                      "created_at": "2026-02-17T00:00:00Z"}], "has_more": False, "first_id": "claude-sonnet-4-6",
            "last_id": "claude-sonnet-4-6"}


def test_test_module_anthropic_makes_no_billed_call(server: ScriptedAPIServer) -> None:
    server.script(_models_page(), path="/v1/models")
    server.script({"input_tokens": 8}, path="/v1/messages/count_tokens")
    session = run("test-module", anthropic_params(server))
    assert only_entry(session)["Contents"] == "ok"
    assert {r.path for r in server.requests} == {"/v1/models", "/v1/messages/count_tokens"}
    assert server.requests_to("/v1/messages") == []


def test_test_module_reports_a_bad_key(server: ScriptedAPIServer) -> None:
    server.script(anthropic_error(401, "authentication_error", "invalid x-api-key"), path="/v1/models")
    (message,) = errors(run("test-module", anthropic_params(server)))
    assert message.startswith("AIReasoningGateway error [auth]:") and "check the API key" in message
    assert server.requests_to("/v1/messages") == []


def test_test_module_reports_an_unknown_model(server: ScriptedAPIServer) -> None:
    server.script(_models_page(), path="/v1/models")
    server.script(anthropic_error(404, "not_found_error", "model: claude-nope"), path="/v1/messages/count_tokens")
    (message,) = errors(run("test-module", anthropic_params(server, model_override="claude-nope")))
    assert message.startswith("AIReasoningGateway error [config]:") and "claude-nope" in message


def test_test_module_openai_compatible(server: ScriptedAPIServer) -> None:
    server.script({"object": "list", "data": [{"id": "qwen2.5"}]}, path="/v1/models")
    params = {"provider": "OpenAI-compatible", "base_url": server.url + "/v1", "model_override": "qwen2.5"}
    assert only_entry(run("test-module", params))["Contents"] == "ok"
    assert [r.path for r in server.requests] == ["/v1/models"]


@pytest.mark.parametrize(("params", "text"), [
    ({"provider": "Anthropic", "credentials": {"password": ""}}, "needs an API key"),
    ({"provider": "OpenAI-compatible", "model_override": "m"}, "needs a base URL"),
    ({"provider": "OpenAI-compatible", "base_url": "http://127.0.0.1:9/v1"}, "model override"),
    ({"provider": "Gemini"}, "Unknown provider"),
    ({"provider": "Anthropic", "credentials": {"password": API_KEY}, "max_tokens": "0"}, "at least 1"),
])
def test_test_module_configuration_errors(params: dict[str, Any], text: str) -> None:
    (message,) = errors(run("test-module", params))
    assert message.startswith("AIReasoningGateway error [config]:") and text in message


def test_unknown_command() -> None:
    (message,) = errors(run("ai-reasoning-nope", {"provider": "Anthropic", "credentials": {"password": API_KEY}}))
    assert message.startswith("AIReasoningGateway error [config]:")


# --------------------------------------------------------------------------------------------
# The API key never leaves the integration
# --------------------------------------------------------------------------------------------


def test_api_key_never_appears_in_any_output(server: ScriptedAPIServer, caplog: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)  # includes the SDK's own debug logging of requests
    echo = f"the key you sent was {API_KEY}"
    server.script(load("anthropic_tool_use_response.json"), path="/v1/messages")
    server.script(anthropic_message(f"Model text that quotes the key: {API_KEY}"), path="/v1/messages")
    server.script(anthropic_error(401, "authentication_error", echo), path="/v1/messages")
    server.script(anthropic_error(400, "invalid_request_error", echo), path="/v1/messages")
    server.script(_models_page(), path="/v1/models")
    server.script(anthropic_error(403, "permission_error", echo), path="/v1/messages/count_tokens")
    params = anthropic_params(server)
    request = json.dumps(load("step_request.json"))
    sessions = [
        run("ai-reasoning-step", params, {"request": request}),
        run("ai-reasoning-ask", params, {"question": "q", "context": f"context with {API_KEY}"}),
        run("ai-reasoning-step", params, {"request": request}),
        run("ai-reasoning-step", params, {"request": request}),
        run("test-module", params),
        run("ai-reasoning-step", params, {"request": "{broken"}),
    ]
    # the key was really sent to the API, in a header, on every request - and never in a request body
    for recorded in server.requests:
        assert API_KEY in (recorded.header("authorization") or "") + (recorded.header("x-api-key") or "")
        assert API_KEY.encode() not in recorded.raw
    assert len(errors(sessions[2])) == len(errors(sessions[3])) == len(errors(sessions[4])) == 1
    dumps = []
    for session in sessions:
        dumps.append(json.dumps(session.results, default=str))
        dumps.append(json.dumps([w.entry for w in session.war_room], default=str))
        dumps.append(json.dumps(session.context, default=str))
        dumps.append(json.dumps(session.integration_context, default=str))
        dumps.append(json.dumps(session.logs, default=str))
    captured = capsys.readouterr()
    dumps += [caplog.text, captured.out, captured.err]
    everything = "\n".join(dumps)
    assert API_KEY not in everything
    assert "[REDACTED]" in everything  # the echoed key was there, and was redacted


# --------------------------------------------------------------------------------------------
# As the platform runs it, and the yml contract
# --------------------------------------------------------------------------------------------


def test_runs_as_main_under_run_script(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("an answer"))
    session = XSOARSession(kind="integration", brand=gw.BRAND, command="ai-reasoning-ask",
                           params=anthropic_params(server), args={"question": "why?"})
    result = run_script(HERE / "AIReasoningGateway.py", session)
    assert result.ok, result.error_messages or result.traceback
    assert result.entries[-1]["EntryContext"]["AIReasoning.Answer"]["answer"] == "an answer"


def test_yml_matches_the_code() -> None:
    spec = yaml.safe_load((HERE / "AIReasoningGateway.yml").read_text())
    assert spec["commonfields"]["id"] == gw.BRAND == spec["name"]
    image = spec["script"]["dockerimage"]
    assert image.startswith("demisto/anthropic:") and not image.endswith(":latest")
    config = {c["name"]: c for c in spec["configuration"]}
    assert config["credentials"]["type"] == 9 and config["credentials"]["hiddenusername"] is True
    assert config["provider"]["options"] == ["Anthropic", "OpenAI-compatible", "Deterministic"]
    assert all(m in gw.PRICES for m in config["model"]["options"])
    assert {c.get("section") for c in spec["configuration"]} <= set(spec["sectionorder"])
    commands = {c["name"]: c for c in spec["script"]["commands"]}
    assert set(commands) == {"ai-reasoning-step", "ai-reasoning-ask"}
    step_paths = {o["contextPath"] for o in commands["ai-reasoning-step"]["outputs"]}
    for key in ("content", "stop_reason", "model", "provider", "cost_usd", "latency_ms", "reasoner",
                "usage.input_tokens", "usage.output_tokens", "usage.cache_read_input_tokens",
                "usage.cache_creation_input_tokens"):
        assert f"{gw.TURN_PREFIX}.{key}" in step_paths
    ask_paths = {o["contextPath"] for o in commands["ai-reasoning-ask"]["outputs"]}
    assert f"{gw.ANSWER_PREFIX}.answer" in ask_paths
    assert (HERE / "command_examples").read_text().count("!ai-reasoning") >= 2


def test_demisto_is_the_double() -> None:
    assert hasattr(demisto, "params")  # the doubles, not a real server, are on the path


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_no_name_clashes_once_inlined() -> None:
    """demisto-sdk inlines every ApiModule into one flat namespace: a helper defined twice silently replaces
    the other one (this broke `_get` once). The gateway's and the provider layer's names must be unique."""
    repo = HERE.parents[3]
    mine = {
        "AIReasoningGateway": HERE / "AIReasoningGateway.py",
        "AIReasoningProvidersApiModule": repo / "Packs/ApiModules/Scripts/AIReasoningProvidersApiModule/"
                                                "AIReasoningProvidersApiModule.py",
    }
    others = [p for p in (repo / "Packs/ApiModules/Scripts").glob("*ApiModule/*ApiModule.py")
              if p.stem not in mine]
    other_names: dict[str, str] = {}
    for path in others:
        for name in _top_level_names(path):
            other_names.setdefault(name, path.stem)
    gateway_names = _top_level_names(mine["AIReasoningGateway"])
    provider_names = _top_level_names(mine["AIReasoningProvidersApiModule"])
    clashes = {n: other_names[n] for n in (gateway_names | provider_names) if n in other_names}
    clashes.update({n: "AIReasoningProvidersApiModule" for n in gateway_names & provider_names})
    assert not clashes, f"names defined twice once inlined: {clashes}"
