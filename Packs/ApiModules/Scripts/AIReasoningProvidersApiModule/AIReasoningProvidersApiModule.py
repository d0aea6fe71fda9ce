"""AI Reasoning engine - provider layer.

Model clients behind the engine's one-method `ModelClient` protocol (`turn(ModelRequest) -> ModelResponse`):

* `AnthropicModelClient` on the official anthropic SDK (2.x in the tests; the pack's docker image
  demisto/anthropic:1.0.0.12689358 ships 0.122.0 over httpx, and the dockerfiles lock names 1.0.0): only API
  surface common to all of them is used, and the differences (transport package httpx2 vs httpx, exception
  classes) are guarded. tests/data/docker_image_packages.json holds the image's package list.
* `OpenAICompatibleModelClient` on plain `requests` for vLLM, Ollama `/v1`, llama.cpp server and Azure
  OpenAI: it translates the engine's Anthropic-shaped content blocks at its edge, and parses tool-call
  arguments (a JSON *string* that small models get wrong) defensively.
* `PRICES` / `estimate_cost`: the single price table every cost figure comes from.

Every provider failure becomes a `ModelError` with a kind the engine can act on (retry, fall back, report).
Refusals and max_tokens stops are *returned* as stop reasons, never raised: the engine decides.
The API key never appears in a `ModelError` message (servers sometimes echo it back; we scrub it).

Platform-neutral: nothing here imports demistomock or CommonServerPython. The deterministic client lives in
the reasoner layer (AIReasoningApiModule), which is why `build_model_client` covers the two real providers.
"""

from AIReasoningPolicyApiModule import *  # noqa: F403, I001

import copy  # noqa: E402
import email.utils  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import requests  # noqa: E402

try:  # The OpenAI-compatible path must work in an image without the SDK.
    import anthropic as _pv_anthropic
except ImportError:  # pragma: no cover - exercised only in images without the SDK
    _pv_anthropic = None  # type: ignore[assignment]

# ContentBlock, ModelError, ModelRequest, ModelResponse and Usage come from AIReasoningModelApiModule through
# the star-import chain above (demisto-sdk inlines only star imports of ApiModules).

# --------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------

# USD per million tokens: (input, output, cache_write_5m, cache_write_1h, cache_read).
# Source: Anthropic's pricing page, "Model pricing" table
# (https://platform.claude.com/docs/en/about-claude/pricing) and the per-model pages
# (https://platform.claude.com/docs/en/about-claude/models/overview), read in the project's docs corpus.
# Keys are API model ids / aliases without the date suffix; dated ids (claude-haiku-4-5-20251001),
# Bedrock ids (anthropic.claude-...-v1:0) and Vertex ids (...@20251001) resolve to them.
# Anything not listed (local models, vLLM, Ollama, a future model) costs 0: an estimate we cannot make is
# reported as 0 rather than guessed; the budget counts tokens, which stay exact.
PRICES: dict[str, tuple[float, float, float, float, float]] = {
    # Claude Opus 4.5 and later Opus 4.x: $5 / $25
    "claude-opus-4-8": (5.0, 25.0, 6.25, 10.0, 0.50),
    "claude-opus-4-7": (5.0, 25.0, 6.25, 10.0, 0.50),
    "claude-opus-4-6": (5.0, 25.0, 6.25, 10.0, 0.50),
    "claude-opus-4-5": (5.0, 25.0, 6.25, 10.0, 0.50),
    # Claude Opus 4 / 4.1 (retired on the Claude API, still on Bedrock / Vertex): $15 / $75
    "claude-opus-4-1": (15.0, 75.0, 18.75, 30.0, 1.50),
    "claude-opus-4-0": (15.0, 75.0, 18.75, 30.0, 1.50),
    "claude-opus-4": (15.0, 75.0, 18.75, 30.0, 1.50),
    # Claude Sonnet 4.x: $3 / $15
    "claude-sonnet-4-6": (3.0, 15.0, 3.75, 6.0, 0.30),
    "claude-sonnet-4-5": (3.0, 15.0, 3.75, 6.0, 0.30),
    "claude-sonnet-4-0": (3.0, 15.0, 3.75, 6.0, 0.30),
    "claude-sonnet-4": (3.0, 15.0, 3.75, 6.0, 0.30),
    # Claude Haiku 4.5: $1 / $5
    "claude-haiku-4-5": (1.0, 5.0, 1.25, 2.0, 0.10),
    # Claude 5 generation, from the per-model pages (Opus 5: $5 / $25; Sonnet 5: $2 / $10).
    "claude-opus-5": (5.0, 25.0, 6.25, 10.0, 0.50),
    "claude-sonnet-5": (2.0, 10.0, 2.50, 4.0, 0.20),
}
DEFAULT_PRICE: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)

# The models the gateway offers in its model select (current ids / aliases from the models overview).
ANTHROPIC_MODELS: tuple[str, ...] = (
    "claude-sonnet-4-6",
    "claude-opus-4-7",
    "claude-haiku-4-5",
    "claude-opus-4-6",
    "claude-sonnet-4-5",
    "claude-opus-4-5",
)
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6"

_pv_DATE_SUFFIX_RE = re.compile(r"[-@]\d{8}$")


def normalize_model_id(model: str) -> str:
    """Reduce a dated / Bedrock / Vertex model id to the key the price table uses."""
    m = (model or "").strip().lower()
    m = m.split("/")[-1]  # "anthropic/claude-..." (gateways), "models/claude-..."
    if m.startswith("anthropic."):
        m = m[len("anthropic."):]
    m = re.sub(r"-v\d+(:\d+)?$", "", m)  # Bedrock "-v1:0"
    m = m.replace("[1m]", "")
    return _pv_DATE_SUFFIX_RE.sub("", m)


def price_for(model: str) -> tuple[float, float, float, float, float]:
    """The price row for a model id, or zeros for models we have no price for."""
    return PRICES.get(normalize_model_id(model), DEFAULT_PRICE)


def estimate_cost(model: str, usage: Usage, *, cache_write_1h_tokens: int = 0) -> float:
    """Estimated USD cost of the tokens in `usage` (one call or a sum of calls of the same model).

    `usage.cache_creation_input_tokens` is billed at the 5-minute write rate except the part the API
    reported as 1-hour writes (`cache_write_1h_tokens`).
    """
    p_in, p_out, p_w5, p_w1h, p_read = price_for(model)
    w1h = max(0, min(int(cache_write_1h_tokens or 0), usage.cache_creation_input_tokens))
    w5 = usage.cache_creation_input_tokens - w1h
    cost = (usage.input_tokens * p_in + usage.output_tokens * p_out + w5 * p_w5 + w1h * p_w1h
            + usage.cache_read_input_tokens * p_read) / 1_000_000
    return round(cost, 6)


# --------------------------------------------------------------------------------------------
# Helpers shared by both providers
# --------------------------------------------------------------------------------------------

UNPARSABLE_ARGUMENTS_KEY = "__unparsable_arguments__"
# ModelRequest.metadata flag set by the ART reasoner when the first user message carries the
# (stable) demonstrations, so that block becomes part of the cached prefix.
CACHE_FIRST_USER_MESSAGE_KEYS = ("cache_first_user_message", "art_demonstrations_in_first_message")

_pv_CONTEXT_WINDOW_RE = re.compile(
    r"prompt is too long|context window|context[_ ]length|maximum context|too many (input )?tokens|"
    r"exceeds? the (model'?s? )?(maximum|context)|input length .* exceed|reduce the length",
    re.IGNORECASE,
)


def _pv_scrub(text: str, secrets: list[str]) -> str:
    """Remove secrets from text bound for an exception message (servers may echo the key back)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    return text


def _pv_truncate(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` / `retry-after` (seconds or HTTP date); None when absent."""
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
    except (TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def parse_tool_arguments(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict, never raising.

    Models (small ones especially) return arguments as a JSON string that may be wrapped in code fences,
    followed by junk, or not JSON at all. Anything that is not a JSON object becomes
    ``{"__unparsable_arguments__": raw}`` so the engine can send a tool error back to the model.
    """
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        try:
            return {UNPARSABLE_ARGUMENTS_KEY: json.dumps(raw, default=str)}
        except (TypeError, ValueError):
            return {UNPARSABLE_ARGUMENTS_KEY: str(raw)}
    parsed = extract_json_value(raw)
    if isinstance(parsed, dict):
        return parsed
    return {UNPARSABLE_ARGUMENTS_KEY: raw}


_pv_FENCE_RE = re.compile(r"^\s*```(?:json|JSON)?\s*(.*?)\s*```\s*$", re.DOTALL)


def extract_json_value(text: str) -> Any:
    """The JSON value in `text`: whole text, a fenced block, or the first object in it; None if none."""
    if not isinstance(text, str):
        return None
    candidates = [text.strip()]
    fenced = _pv_FENCE_RE.match(text)
    if fenced:
        candidates.insert(0, fenced.group(1))
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    start = text.find("{")
    if start >= 0:
        try:
            value, _end = json.JSONDecoder().raw_decode(text[start:])
            return value
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------------------------
# Strict JSON Schema for structured outputs
# --------------------------------------------------------------------------------------------

# Keywords the strict structured-output grammars (Anthropic output_config, OpenAI strict json_schema) reject.
# Dropping them only loosens the grammar: the engine still validates the answer with the full pydantic model.
_pv_UNSUPPORTED_KEYWORDS = frozenset({
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "maxItems", "uniqueItems", "minProperties", "maxProperties", "patternProperties", "propertyNames",
    "default", "examples", "title", "$schema", "$id", "if", "then", "else", "not", "dependentRequired",
    "dependentSchemas", "unevaluatedProperties", "contentMediaType", "contentEncoding", "pattern",
})
_pv_SUPPORTED_FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4",
                                "ipv6", "uuid"})
_pv_SCALAR_ANY: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"},
                                         {"type": "null"}]}
_pv_PAIR_MARK = "x-aireasoning-pairs"
_pv_NULLABLE_MARK = "x-aireasoning-added-null"


class StrictSchema:
    """A JSON Schema rewritten to the subset strict structured outputs accept, plus the inverse mapping.

    Why a rewrite rather than the raw pydantic schema: the APIs require ``additionalProperties: false`` on every
    object and reject free-form objects (``dict[str, Any]`` such as a proposed action's ``args``) and many
    validation keywords. Free-form objects are sent as a list of ``{"key", "value"}`` pairs and turned back
    into objects by `restore`, so the engine receives exactly the shape its own model expects.
    With ``all_required`` (OpenAI strict mode) optional properties become required-but-nullable, and
    `restore` drops the nulls it introduced so pydantic defaults apply again.
    """

    def __init__(self, schema: dict[str, Any], all_required: bool = False) -> None:
        self.original = copy.deepcopy(schema)
        self.all_required = all_required
        self.schema = self._rewrite(copy.deepcopy(schema))
        if "$defs" in schema or "definitions" in schema:
            key = "$defs" if "$defs" in schema else "definitions"
            self.schema[key] = {name: self._rewrite(copy.deepcopy(sub)) for name, sub in schema[key].items()}

    @staticmethod
    def _is_free_form(node: dict[str, Any]) -> bool:
        return node.get("type") == "object" and not node.get("properties") and node.get("additionalProperties",
                                                                                       True) is not False

    def _rewrite(self, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: v for k, v in node.items()
                if k not in _pv_UNSUPPORTED_KEYWORDS and k not in ("$defs", "definitions")}
        if "format" in node and node["format"] not in _pv_SUPPORTED_FORMATS:
            node.pop("format")
        if node.get("minItems", 0) > 1:
            node["minItems"] = 1
        if self._is_free_form(node):
            description = node.get("description")
            pair = {"type": "object", "properties": {"key": {"type": "string"}, "value": copy.deepcopy(_pv_SCALAR_ANY)},
                    "required": ["key", "value"], "additionalProperties": False}
            out: dict[str, Any] = {"type": "array", "items": pair, _pv_PAIR_MARK: True}
            if description:
                out["description"] = description + " (as a list of key/value pairs)"
            return out
        if node.get("type") == "object" or "properties" in node:
            props = {name: self._rewrite(sub) for name, sub in (node.get("properties") or {}).items()}
            required = list(node.get("required") or [])
            if self.all_required:
                for name in props:
                    if name not in required:
                        props[name] = {"anyOf": [props[name], {"type": "null"}], _pv_NULLABLE_MARK: True}
                        required.append(name)
            node["properties"] = props
            node["required"] = required
            node["additionalProperties"] = False
            node.setdefault("type", "object")
        if "items" in node:
            node["items"] = self._rewrite(node["items"])
        for key in ("anyOf", "oneOf", "allOf"):
            if key in node:
                node["anyOf" if key == "oneOf" else key] = [self._rewrite(s) for s in node.pop(key)]
        return node

    def wire_schema(self) -> dict[str, Any]:
        """The schema to send: without our private markers (the APIs reject unknown keywords)."""
        def clean(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: clean(v) for k, v in node.items() if k not in (_pv_PAIR_MARK, _pv_NULLABLE_MARK)}
            if isinstance(node, list):
                return [clean(v) for v in node]
            return node
        return clean(self.schema)

    # -- inverse mapping -------------------------------------------------------------------

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = self.schema
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            return target if isinstance(target, dict) else {}
        return node

    def restore(self, value: Any) -> Any:
        """Map a value that follows the strict schema back to the original schema's shape."""
        return self._restore(value, self.schema, 0)

    def _restore(self, value: Any, node: Any, depth: int) -> Any:
        if not isinstance(node, dict) or depth > 64:
            return value
        node = self._resolve(node)
        if node.get(_pv_PAIR_MARK) and isinstance(value, list):
            out: dict[str, Any] = {}
            for item in value:
                if isinstance(item, dict) and "key" in item:
                    out[str(item["key"])] = item.get("value")
            return out
        if "anyOf" in node:
            if value is None:
                return None
            for branch in node["anyOf"]:
                branch = self._resolve(branch)
                if branch.get("type") == "null":
                    continue
                return self._restore(value, branch, depth + 1)
            return value
        if isinstance(value, dict) and "properties" in node:
            result: dict[str, Any] = {}
            for key, sub in value.items():
                sub_schema = node["properties"].get(key)
                if (sub is None and isinstance(sub_schema, dict) and sub_schema.get(_pv_NULLABLE_MARK)):
                    continue  # a null we introduced for strict mode: let the pydantic default apply
                result[key] = self._restore(sub, sub_schema, depth + 1)
            return result
        if isinstance(value, list) and "items" in node:
            return [self._restore(v, node["items"], depth + 1) for v in value]
        return value


def _pv_schema_instruction(schema: dict[str, Any]) -> str:
    return ("Respond with only a JSON object (no prose, no code fences) that validates against this JSON Schema:\n"
            + json.dumps(schema, separators=(",", ":")))


def _pv_normalize_structured_text(text: str, strict: StrictSchema | None) -> str:
    """Clean a structured-output answer: strip fences / prose around the JSON and undo the strict rewrite.

    When nothing JSON-like is found the text is returned unchanged: the engine's validator reports it and
    asks the model to repair, which is the documented fallback for servers without structured outputs.
    """
    value = extract_json_value(text)
    if not isinstance(value, dict):
        return text
    if strict is not None:
        value = strict.restore(value)
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Anthropic (official SDK)
# --------------------------------------------------------------------------------------------

_pv_ANTHROPIC_STOP_REASONS = frozenset({"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn",
                                     "refusal", "model_context_window_exceeded"})


def _pv_get(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute or key access: SDK objects in 2.x, plain dicts from `construct`ed responses elsewhere."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _pv_make_sdk_http_client(proxy: str | None, verify: bool, timeout: float) -> Any:
    """An HTTP client for the SDK that honours an explicit proxy and certificate verification.

    The SDK's transport package differs by version (httpx2 for anthropic >= 1.0, httpx before); its
    `DefaultHttpxClient` keeps the SDK's own defaults (limits, redirects, keep-alive) and exists in both.
    """
    kwargs: dict[str, Any] = {"verify": verify, "timeout": timeout, "follow_redirects": True}
    if proxy:
        kwargs["proxy"] = proxy
    factory = getattr(_pv_anthropic, "DefaultHttpxClient", None)
    if factory is not None:
        return factory(**kwargs)
    try:  # pragma: no cover - every supported SDK version has DefaultHttpxClient
        import httpx2 as _hx
    except ImportError:  # pragma: no cover
        import httpx as _hx  # type: ignore[no-redef]
    return _hx.Client(**kwargs)  # pragma: no cover


def _pv_sdk_error_class(name: str) -> type[BaseException] | None:
    cls = getattr(_pv_anthropic, name, None) if _pv_anthropic is not None else None
    return cls if isinstance(cls, type) else None


class AnthropicModelClient:
    """`ModelClient` over the Anthropic Messages API via the official SDK.

    Prompt caching marks the stable prefix (system prompt, last tool definition, and the first user message
    when it holds ART demonstrations) with ``cache_control: ephemeral`` so repeated turns of one run - and
    runs that share a system prompt - read the prefix at a tenth of the input price.
    """

    provider = "anthropic"

    def __init__(self, api_key: str, model: str, base_url: str | None = None, timeout: float = 60,
                 max_retries: int = 2, cache: bool = True, verify: bool = True, proxy: str | None = None,
                 max_tokens_default: int = 4096, http_client: Any = None, cache_ttl: str = "5m") -> None:
        if _pv_anthropic is None:
            raise ModelError("config", "The anthropic package is not installed in this docker image; use "
                             "demisto/anthropic or the OpenAI-compatible provider.")
        if not api_key:
            raise ModelError("config", "No Anthropic API key configured: set the API key in the instance settings.")
        if not model:
            raise ModelError("config", "No model configured: select a model or fill in the model override.")
        self.model = model
        self.cache = bool(cache)
        self.cache_ttl = cache_ttl if cache_ttl in ("5m", "1h") else "5m"
        self.max_tokens_default = int(max_tokens_default or 4096)
        self.structured_outputs = True  # set to False once the server rejects output_config
        self._secrets = [api_key]
        self._owns_http_client = False
        kwargs: dict[str, Any] = {"api_key": api_key, "timeout": float(timeout), "max_retries": int(max_retries)}
        if base_url:
            kwargs["base_url"] = self.normalize_base_url(base_url)
        if http_client is None and (proxy or not verify):
            http_client = _pv_make_sdk_http_client(proxy, verify, float(timeout))
            self._owns_http_client = True
        if http_client is not None:
            kwargs["http_client"] = http_client
        self._client = _pv_anthropic.Anthropic(**kwargs)

    @staticmethod
    def normalize_base_url(base_url: str) -> str:
        """The SDK adds ``/v1/messages`` itself: accept ``https://host``, ``https://host/`` and ``https://host/v1``."""
        url = base_url.strip().rstrip("/")
        if url.endswith("/v1"):
            url = url[: -len("/v1")]
        return url

    # -- request -----------------------------------------------------------------------------

    def _cache_control(self) -> dict[str, Any]:
        cc: dict[str, Any] = {"type": "ephemeral"}
        if self.cache_ttl != "5m":
            cc["ttl"] = self.cache_ttl
        return cc

    def build_params(self, request: ModelRequest, structured: bool = True) -> dict[str, Any]:
        """Keyword arguments for ``messages.create`` (public so tests and the audit can see the exact request)."""
        use_cache = self.cache and request.cache_prefix
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": int(request.max_tokens or self.max_tokens_default),
            "messages": [m.wire() for m in request.messages],
        }
        if request.system:
            block: dict[str, Any] = {"type": "text", "text": request.system}
            if use_cache:
                block["cache_control"] = self._cache_control()
            params["system"] = [block]
        if request.tools:
            tools = [dict(t) for t in request.tools]
            if use_cache:
                tools[-1]["cache_control"] = self._cache_control()
            params["tools"] = tools
        if use_cache and any(request.metadata.get(k) for k in CACHE_FIRST_USER_MESSAGE_KEYS):
            first = next((m for m in params["messages"] if m["role"] == "user" and m["content"]), None)
            if first is not None:
                first["content"][-1]["cache_control"] = self._cache_control()
        if request.stop_sequences:
            params["stop_sequences"] = list(request.stop_sequences)
        if structured and request.output_schema and not request.tools and self.structured_outputs:
            strict = StrictSchema(request.output_schema)
            # extra_body rather than the `output_config` keyword: every SDK version accepts extra_body.
            params["extra_body"] = {"output_config": {"format": {"type": "json_schema",
                                                                 "schema": strict.wire_schema()}}}
        return params

    def turn(self, request: ModelRequest) -> ModelResponse:
        """One Messages API call. Raises `ModelError`; returns refusal / max_tokens as stop reasons."""
        structured = bool(request.output_schema and not request.tools and self.structured_outputs)
        params = self.build_params(request, structured=structured)
        started = time.monotonic()
        try:
            message = self._client.messages.create(**params)
        except Exception as exc:  # noqa: BLE001 - every SDK failure is mapped to a ModelError kind
            error = self.map_error(exc)
            if not (structured and error.kind == "bad_request"):
                raise error from None
            # The server (an older API version, a proxy, a model without structured outputs) rejected
            # output_config: remember it for this client and ask again with the schema in the prompt.
            self.structured_outputs = False
            params = self.build_params(request, structured=False)
            params["system"] = [*params.get("system", []),
                                {"type": "text", "text": _pv_schema_instruction(request.output_schema or {})}]
            try:
                message = self._client.messages.create(**params)
            except Exception as exc2:  # noqa: BLE001
                raise self.map_error(exc2) from None
        latency = (time.monotonic() - started) * 1000.0
        response = self.to_model_response(message, latency)
        if request.output_schema and not request.tools:
            strict = StrictSchema(request.output_schema)
            for block in response.content:
                if block.type == "text" and block.text:
                    block.text = _pv_normalize_structured_text(block.text, strict)
        return response

    # -- response ----------------------------------------------------------------------------

    def to_model_response(self, message: Any, latency_ms: float = 0.0) -> ModelResponse:
        blocks: list[ContentBlock] = []
        for raw in _pv_get(message, "content", None) or []:
            kind = _pv_get(raw, "type")
            if kind == "text":
                blocks.append(ContentBlock(type="text", text=_pv_get(raw, "text", "") or ""))
            elif kind == "tool_use":
                blocks.append(ContentBlock(type="tool_use", id=_pv_get(raw, "id"), name=_pv_get(raw, "name"),
                                           input=parse_tool_arguments(_pv_get(raw, "input"))))
            # thinking / server-tool blocks are not part of the engine's protocol: skipped
        stop = _pv_get(message, "stop_reason") or "end_turn"
        if stop not in _pv_ANTHROPIC_STOP_REASONS:
            stop = "end_turn"
        if stop == "tool_use" and not any(b.type == "tool_use" for b in blocks):
            stop = "end_turn"
        raw_usage = _pv_get(message, "usage")
        usage = Usage(
            input_tokens=int(_pv_get(raw_usage, "input_tokens", 0) or 0),
            output_tokens=int(_pv_get(raw_usage, "output_tokens", 0) or 0),
            cache_read_input_tokens=int(_pv_get(raw_usage, "cache_read_input_tokens", 0) or 0),
            cache_creation_input_tokens=int(_pv_get(raw_usage, "cache_creation_input_tokens", 0) or 0),
            model_calls=1,
        )
        w1h = int(_pv_get(_pv_get(raw_usage, "cache_creation"), "ephemeral_1h_input_tokens", 0) or 0)
        model = _pv_get(message, "model") or self.model
        usage.cost_usd = estimate_cost(model, usage, cache_write_1h_tokens=w1h)
        return ModelResponse(content=blocks, stop_reason=stop, usage=usage, model=model, provider=self.provider,
                             latency_ms=round(latency_ms, 1))

    # -- errors ------------------------------------------------------------------------------

    def map_error(self, exc: BaseException) -> ModelError:
        """SDK exception -> ModelError with a clear, key-free message."""
        if isinstance(exc, ModelError):
            return exc
        status = getattr(exc, "status_code", None)
        body = getattr(exc, "body", None)
        api_message = ""
        error_type = ""
        if isinstance(body, dict):
            err = body.get("error") if isinstance(body.get("error"), dict) else body
            api_message = str(err.get("message") or "")
            error_type = str(err.get("type") or "")
        detail = _pv_truncate(_pv_scrub(api_message or str(getattr(exc, "message", "") or exc), self._secrets))
        headers = getattr(getattr(exc, "response", None), "headers", None)

        def is_a(name: str) -> bool:
            cls = _pv_sdk_error_class(name)
            return cls is not None and isinstance(exc, cls)

        if is_a("APITimeoutError"):
            return ModelError("timeout", f"Anthropic API request timed out: {detail}")
        if is_a("APIConnectionError"):
            cause = exc.__cause__ or exc.__context__
            extra = f" ({_pv_truncate(_pv_scrub(str(cause), self._secrets), 200)})" if cause else ""
            return ModelError("connection", f"Cannot reach the Anthropic API{extra}: check the base URL, proxy and "
                              "network access from the engine.")
        if is_a("AuthenticationError") or is_a("PermissionDeniedError") or status in (401, 403):
            return ModelError("auth", f"Anthropic rejected the credentials ({status}): check the API key and its "
                              f"workspace permissions. {detail}", status=status)
        if is_a("RateLimitError") or status == 429:
            retry_after = parse_retry_after(headers)
            wait = f" Retry after {retry_after:g} s." if retry_after is not None else ""
            return ModelError("rate_limit", f"Anthropic rate limit reached (429).{wait} {detail}",
                              retry_after=retry_after, status=status)
        if status == 529 or error_type == "overloaded_error" or is_a("OverloadedError"):
            return ModelError("overloaded", f"Anthropic API is overloaded ({status}): try again later. {detail}",
                              retry_after=parse_retry_after(headers), status=status)
        if status in (400, 413, 422):
            if _pv_CONTEXT_WINDOW_RE.search(api_message or detail):
                return ModelError("context_window", f"The request exceeds the model's context window: {detail}",
                                  status=status)
            return ModelError("bad_request", f"Anthropic rejected the request ({status}): {detail}", status=status)
        if status == 404:
            return ModelError("config", f"Not found (404): check the model id '{self.model}' and the base URL. "
                              f"{detail}", status=status)
        if isinstance(status, int) and status >= 500:
            return ModelError("server", f"Anthropic API server error ({status}): {detail}",
                              retry_after=parse_retry_after(headers), status=status)
        return ModelError("unknown", f"Anthropic API call failed: {type(exc).__name__}: {detail}", status=status)

    # -- no-generation checks for test-module -------------------------------------------------

    def list_models(self) -> list[str]:
        """Model ids the key can use (GET /v1/models): checks key and reachability without a billed call."""
        try:
            page = self._client.models.list(limit=100)
        except Exception as exc:  # noqa: BLE001
            raise self.map_error(exc) from None
        return [str(_pv_get(m, "id")) for m in (_pv_get(page, "data", None) or [])]

    def count_tokens(self, request: ModelRequest | None = None) -> int:
        """Input tokens of a request (POST /v1/messages/count_tokens): free, and checks the model id too."""
        request = request or ModelRequest(messages=[{"role": "user", "content": [{"type": "text", "text": "ping"}]}])
        params = self.build_params(request, structured=False)
        kwargs = {k: params[k] for k in ("model", "messages", "system", "tools") if k in params}
        try:
            result = self._client.messages.count_tokens(**kwargs)
        except Exception as exc:  # noqa: BLE001
            raise self.map_error(exc) from None
        return int(_pv_get(result, "input_tokens", 0) or 0)

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


# --------------------------------------------------------------------------------------------
# OpenAI-compatible (requests)
# --------------------------------------------------------------------------------------------

DEFAULT_AZURE_API_VERSION = "2024-10-21"
_pv_RESPONSE_FORMAT_LEVELS = ("json_schema", "json_object", "none")
_pv_OPENAI_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                  "content_filter": "refusal"}


class OpenAICompatibleModelClient:
    """`ModelClient` over ``POST {base_url}/chat/completions`` (vLLM, Ollama, llama.cpp server, Azure OpenAI).

    The engine speaks Anthropic-shaped blocks; this class converts at its edge. Structured output degrades
    per client: ``json_schema`` -> ``json_object`` -> plain text (schema in the prompt, validated by the
    engine), stepping down only when the server answers 400 to the richer form.
    """

    provider = "openai-compatible"

    def __init__(self, base_url: str, api_key: str | None = None, model: str = "", timeout: float = 60,
                 max_retries: int = 2, verify: bool = True, proxy: str | None = None, json_schema_mode: str = "auto",
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 api_version: str | None = None, max_backoff: float = 30.0, max_tokens_default: int = 4096) -> None:
        if not base_url:
            raise ModelError("config", "No base URL configured for the OpenAI-compatible provider (for example "
                             "http://localhost:8000/v1).")
        mode = (json_schema_mode or "auto").strip().lower()
        if mode not in ("auto", "on", "off"):
            raise ModelError("config", f"json_schema_mode must be auto, on or off (got {json_schema_mode!r})")
        self.api_key = api_key or ""
        self.model = model or ""
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.verify = verify
        self.json_schema_mode = mode
        self.max_backoff = float(max_backoff)
        self.max_tokens_default = int(max_tokens_default or 4096)
        self._sleep = sleep
        self._secrets = [self.api_key] if self.api_key else []
        self.session = session or requests.Session()
        if proxy:
            self.session.proxies.update({"http": proxy, "https": proxy})
        self.response_format_level = 0 if mode != "off" else 2
        self.azure, self.chat_url, self.models_url, self.query = self._endpoints(base_url, api_version)
        if not self.model and not self.azure:
            raise ModelError("config", "No model configured: fill in the model override (for example llama3.1:8b).")

    def _endpoints(self, base_url: str, api_version: str | None) -> tuple[bool, str, str, dict[str, str]]:
        """Chat and models URLs; Azure OpenAI's deployment form needs ``api-version`` and the ``api-key`` header."""
        parts = urllib.parse.urlsplit(base_url.strip())
        query = dict(urllib.parse.parse_qsl(parts.query))
        path = parts.path.rstrip("/")
        for suffix in ("/chat/completions", "/chat"):
            if path.endswith(suffix):
                path = path[: -len(suffix)]
        azure = "openai.azure.com" in (parts.hostname or "")
        if azure and "/openai/v1" not in path:
            if "/deployments/" not in path:
                if not self.model:
                    raise ModelError("config", "Azure OpenAI needs the deployment name as the model "
                                     "(or a base URL ending in /openai/deployments/<name>).")
                path = f"{path}/openai/deployments/{urllib.parse.quote(self.model, safe='')}"
            query.setdefault("api-version", api_version or DEFAULT_AZURE_API_VERSION)
            root = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", "", ""))
            models_url = f"{root}/openai/models"
        else:
            models_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/models", "", ""))
        chat_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path + "/chat/completions", "", ""))
        return azure, chat_url, models_url, query

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            if self.azure:
                headers["api-key"] = self.api_key
            else:
                headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    # -- conversion --------------------------------------------------------------------------

    @staticmethod
    def to_openai_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for tool in tools:
            schema = dict(tool.get("input_schema") or {"type": "object", "properties": {}})
            out.append({"type": "function", "function": {"name": tool.get("name", ""),
                                                         "description": tool.get("description", ""),
                                                         "parameters": schema}})
        return out

    @staticmethod
    def to_openai_messages(request: ModelRequest, extra_system: str = "") -> list[dict[str, Any]]:
        """Anthropic-shaped messages -> chat messages (tool results become role "tool" messages)."""
        messages: list[dict[str, Any]] = []
        system = "\n\n".join(s for s in (request.system, extra_system) if s)
        if system:
            messages.append({"role": "system", "content": system})
        for message in request.messages:
            texts = [b.text or "" for b in message.content if b.type == "text"]
            if message.role == "assistant":
                calls = []
                for block in message.content:
                    if block.type != "tool_use":
                        continue
                    args = block.input if isinstance(block.input, dict) else {}
                    if UNPARSABLE_ARGUMENTS_KEY in args and isinstance(args[UNPARSABLE_ARGUMENTS_KEY], str):
                        arguments = args[UNPARSABLE_ARGUMENTS_KEY]  # echo what the model really said
                    else:
                        arguments = json.dumps(args, ensure_ascii=False)
                    calls.append({"id": block.id, "type": "function",
                                  "function": {"name": block.name, "arguments": arguments}})
                entry: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) if texts else None}
                if calls:
                    entry["tool_calls"] = calls
                elif entry["content"] is None:
                    entry["content"] = ""
                messages.append(entry)
                continue
            # user: tool results first (they must follow the assistant's tool_calls), then any text
            for block in message.content:
                if block.type == "tool_result":
                    content = block.content or ""
                    if block.is_error:
                        content = f"ERROR: {content}"
                    messages.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": content})
            if texts:
                messages.append({"role": "user", "content": "\n".join(texts)})
        return messages

    def to_model_response(self, data: dict[str, Any], latency_ms: float = 0.0) -> ModelResponse:
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            raise ModelError("server", "The OpenAI-compatible server returned no choices.")
        choice = choices[0]
        message = choice.get("message") or {}
        blocks: list[ContentBlock] = []
        content = message.get("content")
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content:
            blocks.append(ContentBlock(type="text", text=str(content)))
        for index, call in enumerate(message.get("tool_calls") or []):
            if not isinstance(call, dict):
                continue
            function = call.get("function") or {}
            blocks.append(ContentBlock(type="tool_use", id=str(call.get("id") or f"call_{index}_{int(time.time())}"),
                                       name=str(function.get("name") or ""),
                                       input=parse_tool_arguments(function.get("arguments"))))
        finish = choice.get("finish_reason") or "stop"
        stop = _pv_OPENAI_FINISH.get(finish, "end_turn")
        has_tools = any(b.type == "tool_use" for b in blocks)
        if has_tools:
            stop = "tool_use"
        elif stop == "tool_use":
            stop = "end_turn"
        raw_usage = data.get("usage") or {}
        cached = int(((raw_usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
        prompt = int(raw_usage.get("prompt_tokens") or 0)
        usage = Usage(input_tokens=max(0, prompt - cached), output_tokens=int(raw_usage.get("completion_tokens") or 0),
                      cache_read_input_tokens=cached, model_calls=1)
        model = str(data.get("model") or self.model)
        usage.cost_usd = estimate_cost(model, usage)
        return ModelResponse(content=blocks, stop_reason=stop, usage=usage, model=model, provider=self.provider,
                             latency_ms=round(latency_ms, 1))

    # -- transport ---------------------------------------------------------------------------

    def _error_from_response(self, response: requests.Response) -> ModelError:
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message = ""
        if isinstance(payload, dict):
            err = payload.get("error")
            if isinstance(err, dict):
                message = str(err.get("message") or "")
            elif err:
                message = str(err)
            message = message or str(payload.get("message") or payload.get("detail") or "")
        detail = _pv_truncate(_pv_scrub(message or response.text or response.reason or "", self._secrets))
        retry_after = parse_retry_after(response.headers)
        if status in (401, 403):
            return ModelError("auth", f"The model server rejected the credentials ({status}): check the API key. "
                              f"{detail}", status=status)
        if status == 429:
            wait = f" Retry after {retry_after:g} s." if retry_after is not None else ""
            return ModelError("rate_limit", f"Rate limit reached (429).{wait} {detail}", retry_after=retry_after,
                              status=status)
        if status in (503, 529):
            return ModelError("overloaded", f"The model server is overloaded ({status}). {detail}",
                              retry_after=retry_after, status=status)
        if status >= 500:
            return ModelError("server", f"Model server error ({status}). {detail}", retry_after=retry_after,
                              status=status)
        if status == 404:
            return ModelError("config", f"Not found (404): check the base URL and the model '{self.model}'. {detail}",
                              status=status)
        if status == 408:
            return ModelError("timeout", f"The model server timed out (408). {detail}", status=status)
        if status in (400, 413, 422) and _pv_CONTEXT_WINDOW_RE.search(detail):
            return ModelError("context_window", f"The request exceeds the model's context window: {detail}",
                              status=status)
        return ModelError("bad_request", f"The model server rejected the request ({status}): {detail}", status=status)

    def _request(self, method: str, url: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """One HTTP call with retries on 408/429/5xx and connection errors, honouring Retry-After."""
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, params=self.query or None, json=payload,
                                                headers=self._headers(), timeout=self.timeout, verify=self.verify)
            except requests.exceptions.Timeout:
                error = ModelError("timeout", f"The model server did not answer within {self.timeout:g} s.")
            except requests.exceptions.ConnectionError as exc:
                reason = _pv_truncate(_pv_scrub(str(exc), self._secrets), 200)
                error = ModelError("connection", f"Cannot reach the model server at {self.chat_url.split('?')[0]}: "
                                   f"check the base URL, proxy and that the server is running ({reason}).")
            except requests.exceptions.RequestException as exc:
                raise ModelError("connection", _pv_truncate(_pv_scrub(str(exc), self._secrets), 300)) from None
            else:
                if response.ok:
                    try:
                        data = response.json()
                    except ValueError:
                        raise ModelError("server", "The model server returned a body that is not JSON: "
                                         + _pv_truncate(_pv_scrub(response.text, self._secrets), 200)) from None
                    if not isinstance(data, dict):
                        raise ModelError("server", "The model server returned JSON that is not an object.")
                    return data
                error = self._error_from_response(response)
                if not (response.status_code in (408, 429) or response.status_code >= 500):
                    raise error
            if attempt >= self.max_retries:
                raise error
            delay = error.retry_after if error.retry_after is not None else 0.5 * (2 ** attempt)
            self._sleep(min(self.max_backoff, max(0.0, delay)))
            attempt += 1

    # -- turn --------------------------------------------------------------------------------

    def build_payload(self, request: ModelRequest, level: int | None = None) -> tuple[dict[str, Any], str]:
        """Chat-completions body and the response_format level used ("json_schema" | "json_object" | "none")."""
        structured = bool(request.output_schema and not request.tools)
        level_name = _pv_RESPONSE_FORMAT_LEVELS[self.response_format_level if level is None else level]
        if not structured:
            level_name = "none"
        extra_system = ""
        if structured and level_name != "json_schema":
            extra_system = _pv_schema_instruction(request.output_schema or {})
        payload: dict[str, Any] = {"messages": self.to_openai_messages(request, extra_system),
                                   "max_tokens": int(request.max_tokens or self.max_tokens_default)}
        if self.model:
            payload["model"] = self.model
        if request.tools:
            payload["tools"] = self.to_openai_tools(request.tools)
        if request.stop_sequences:
            payload["stop"] = list(request.stop_sequences)[:4]
        if structured and level_name == "json_schema":
            strict = StrictSchema(request.output_schema or {}, all_required=True)
            payload["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "final_answer", "schema": strict.wire_schema(), "strict": True}}
        elif structured and level_name == "json_object":
            payload["response_format"] = {"type": "json_object"}
        return payload, level_name

    def turn(self, request: ModelRequest) -> ModelResponse:
        structured = bool(request.output_schema and not request.tools)
        started = time.monotonic()
        while True:
            payload, level_name = self.build_payload(request)
            try:
                data = self._request("POST", self.chat_url, payload)
                break
            except ModelError as error:
                can_step_down = (structured and error.kind == "bad_request" and self.json_schema_mode == "auto"
                                 and level_name != "none")
                if not can_step_down:
                    raise
                # The server does not understand this response_format: remember, and step down one level.
                self.response_format_level = _pv_RESPONSE_FORMAT_LEVELS.index(level_name) + 1
        response = self.to_model_response(data, (time.monotonic() - started) * 1000.0)
        if structured:
            strict = StrictSchema(request.output_schema or {}, all_required=level_name == "json_schema")
            for block in response.content:
                if block.type == "text" and block.text:
                    block.text = _pv_normalize_structured_text(block.text, strict)
        return response

    def list_models(self) -> list[str]:
        """GET {base}/models: checks URL, key and reachability without a generation."""
        data = self._request("GET", self.models_url)
        items = data.get("data") or data.get("models") or []
        return [str(m.get("id") or m.get("name") or m.get("model")) for m in items if isinstance(m, dict)]

    def close(self) -> None:
        self.session.close()


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------


def normalize_provider(provider: str) -> str:
    """'Anthropic' / 'OpenAI-compatible' / 'Deterministic' (yml display values) -> canonical ids."""
    p = (provider or "").strip().lower().replace("_", "-").replace(" ", "-")
    if p in ("anthropic", "claude"):
        return "anthropic"
    if p in ("openai-compatible", "openai", "openaicompatible", "vllm", "ollama", "llama.cpp", "azure-openai"):
        return "openai-compatible"
    if p in ("deterministic", "none", "rules"):
        return "deterministic"
    return p


def _pv_param(params: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        value = params.get(name)
        if value not in (None, ""):
            return value
    return default


def _pv_as_bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "1", "on")


def build_model_client(provider: str, params: dict[str, Any]) -> Any:
    """A ModelClient for a real provider from plain settings (the gateway's parsed instance parameters).

    Recognised keys: api_key, model, base_url, timeout, max_retries, cache, verify, proxy (URL), max_tokens,
    json_schema_mode, api_version. The deterministic provider lives in the reasoner layer and is built there.
    """
    kind = normalize_provider(provider)
    timeout = float(_pv_param(params, "timeout", default=60))
    max_retries = int(_pv_param(params, "max_retries", default=2))
    verify = _pv_as_bool(params.get("verify"), True)
    proxy = _pv_param(params, "proxy") or None
    if proxy is not None and not isinstance(proxy, str):
        proxy = None  # a bare True means "system proxy": the environment variables already say so
    if kind == "anthropic":
        return AnthropicModelClient(
            api_key=str(_pv_param(params, "api_key", default="")), model=str(_pv_param(params, "model",
                                                                                   default=DEFAULT_ANTHROPIC_MODEL)),
            base_url=_pv_param(params, "base_url"), timeout=timeout, max_retries=max_retries,
            cache=_pv_as_bool(params.get("cache"), True), verify=verify, proxy=proxy,
            max_tokens_default=int(_pv_param(params, "max_tokens", default=4096)),
            cache_ttl=str(_pv_param(params, "cache_ttl", default="5m")))
    if kind == "openai-compatible":
        return OpenAICompatibleModelClient(
            base_url=str(_pv_param(params, "base_url", default="")), api_key=_pv_param(params, "api_key"),
            model=str(_pv_param(params, "model", default="")), timeout=timeout, max_retries=max_retries, verify=verify,
            proxy=proxy, json_schema_mode=str(_pv_param(params, "json_schema_mode", default="auto")),
            api_version=_pv_param(params, "api_version"), max_tokens_default=int(_pv_param(params, "max_tokens",
                                                                                      default=4096)))
    if kind == "deterministic":
        raise ModelError("config", "The deterministic provider is built by the reasoner layer "
                         "(DeterministicModelClient), not by build_model_client.")
    raise ModelError("config", f"Unknown model provider {provider!r}: use Anthropic, OpenAI-compatible or "
                     "Deterministic.")
