from AIReasoningEnvelopeApiModule import *  # noqa: F403, I001

# AI Reasoning engine - policy layer.
#
# The policy, never the model, decides whether a tool call runs: allow, deny (with a reason) or needs
# approval (with a tier). Everything here is deterministic and side-effect free apart from the counters a
# caller updates explicitly (``record_*``), so ``decide()`` can be asked as often as needed - e.g. once to
# plan and once again right before execution - without changing the outcome.
#
# Two kinds of memory:
#
# * per run (this ``Policy`` object): steps, model calls, tokens, repeated calls, tool failures;
# * across runs (``PolicyState``, persisted by the platform adapter): rate-limit windows and the
#   action targets of the last hour, so "20 distinct accounts per hour" holds across incidents.
#
# Platform-neutral: nothing here imports demistomock or CommonServerPython. jsonschema is optional: the
# demisto/anthropic image does not ship it, so tool arguments are then checked by the built-in validator
# for the JSON-Schema subset below (the ``_js_`` helpers).

import fnmatch
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

try:  # in the test environment; not in the demisto/anthropic docker image (built-in validator below)
    from jsonschema import Draft202012Validator as _js_Draft202012Validator
    from jsonschema.exceptions import SchemaError as _js_SchemaError
except ImportError:
    _js_Draft202012Validator = None  # type: ignore[assignment,misc]
    _js_SchemaError = None  # type: ignore[assignment,misc]

GLOBAL_RATE_KEY = "*"  # PolicyState.call_times key of the global window (tool names cannot contain "*")
BURN_WINDOW_SECONDS = 60.0
HOUR_SECONDS = 3600.0
ROLLBACK_TIERS_FOR_REGISTRY = ("required", "dual")
MAX_REMEMBERED_RUNS = 200


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


class RateLimit(BaseModel):
    """At most ``max_calls`` calls in any sliding window of ``per_seconds`` seconds."""

    model_config = ConfigDict(extra="forbid")

    max_calls: int = Field(ge=0)
    per_seconds: float = Field(gt=0)


class ArgPredicate(BaseModel):
    """A rule on one argument of matching tools: raise the approval tier, or deny outright.

    Example: disabling an admin or service account is always ``dual``. A predicate matches when the
    argument is present and any of its criteria match (regex ``pattern``, membership in the fact set
    ``fact``, or equality with one of ``values``); with no criteria it matches whenever the argument is
    present. ARNs and e-mail addresses are also compared by their last path segment / local part so
    ``arn:aws:iam::1:user/svc-backup`` counts as ``svc-backup``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    tools: list[str] = Field(default_factory=lambda: ["*"], description="fnmatch globs on the tool name")
    kinds: list[ToolKind] = Field(default_factory=lambda: ["enrichment", "action"],
                                  description="tool kinds the predicate applies to")
    arg: str | None = Field(default=None, description="argument to test; default: the tool's target_arg")
    pattern: str | None = Field(default=None, description="regex, case-insensitive, searched in the value")
    fact: str | None = Field(default=None, description="name of a fact set, e.g. admin_accounts")
    values: list[str] = Field(default_factory=list)
    tier: ApprovalTier | None = None
    deny: bool = False
    reason: str = ""

    def applies_to(self, spec: ToolSpec) -> bool:
        return spec.kind in self.kinds and any(fnmatch.fnmatchcase(spec.name, glob) for glob in self.tools)


def _default_predicates() -> list[ArgPredicate]:
    """Privileged identities need two people; the root account is never touched by automation."""
    return [
        ArgPredicate(name="root-account-deny", kinds=["action"], values=["root"], deny=True,
                     reason="actions on the root account are never automated"),
        ArgPredicate(name="admin-accounts-dual", kinds=["action"], fact="admin_accounts", tier="dual",
                     reason="target is a known administrator account"),
        ArgPredicate(name="service-accounts-dual", kinds=["action"], fact="service_accounts", tier="dual",
                     reason="target is a known service account"),
        ArgPredicate(name="privileged-name-dual", kinds=["action"],
                     pattern=r"^(svc|service|admin|administrator|root|break-?glass)([-_.]|$)", tier="dual",
                     reason="target name looks like a privileged or service account"),
    ]


class AutoCloseRule(BaseModel):
    """When a run may close an incident without a human (only confident false positives of low severity)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    verdicts: list[str] = Field(default_factory=lambda: ["false_positive"])
    min_confidence: float = Field(default=0.85, ge=0.0, le=1.0)
    max_severity: int = 1
    max_threat_level: ThreatLevel = "low"


class PolicyConfig(BaseModel):
    """Everything an administrator can tune (the XSOAR List ``AIReasoningPolicy``).

    Unknown keys are rejected: a typo in ``denylist`` must not silently allow what it meant to forbid.
    """

    model_config = ConfigDict(extra="forbid")

    allowlist: list[str] = Field(default_factory=list, description="tool names or globs; empty = nothing allowed")
    denylist: list[str] = Field(default_factory=list)
    max_steps: int = Field(default=12, ge=0)
    max_tool_calls: int = Field(default=40, ge=0)
    max_model_calls: int = Field(default=16, ge=0)
    token_budget: int = Field(default=250_000, ge=0)
    burn_rate_tokens_per_minute: int = Field(default=150_000, ge=0)
    default_tool_rate: RateLimit = Field(default_factory=lambda: RateLimit(max_calls=10, per_seconds=60))
    tool_rates: dict[str, RateLimit] = Field(default_factory=dict)
    global_rate: RateLimit = Field(default_factory=lambda: RateLimit(max_calls=60, per_seconds=60))
    blast_radius_per_run: int = Field(default=5, ge=0)
    blast_radius_per_hour: int = Field(default=20, ge=0)
    max_failures_per_tool: int = Field(default=3, ge=1)
    max_repeats: int = Field(default=1, ge=1)
    rollback_required_tiers: list[ApprovalTier] = Field(default_factory=lambda: ["required", "dual"])
    predicates: list[ArgPredicate] = Field(default_factory=_default_predicates)
    reduced_autonomy_min_tier: ApprovalTier = "required"
    auto_close: AutoCloseRule = Field(default_factory=AutoCloseRule)

    @classmethod
    def from_config(cls, data: dict[str, Any] | str | None) -> "PolicyConfig":
        """Build from a dict, JSON or YAML text, or nothing (defaults: deny every tool).

        Raises ValueError with a readable message on anything else, so a broken List in XSOAR shows
        up as a clear error rather than a silently permissive policy.
        """
        parsed = _parse_config_text(data, "policy") if isinstance(data, str) else data
        if parsed is None:
            return cls()
        if not isinstance(parsed, dict):
            raise ValueError(f"Invalid policy: expected a mapping, got {type(parsed).__name__}")
        try:
            return cls.model_validate(parsed)
        except ValidationError as error:
            raise ValueError(f"Invalid policy: {validation_message(error)}") from error

    def rate_for(self, tool: str) -> RateLimit:
        return self.tool_rates.get(tool, self.default_tool_rate)


def _parse_config_text(text: str, what: str) -> Any:
    """JSON first (exact error positions), then YAML (a superset people write by hand)."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"Invalid {what}: neither JSON nor YAML ({error})") from error


# --------------------------------------------------------------------------------------------
# Argument schemas: jsonschema when installed, else a built-in validator for the subset tools use
# --------------------------------------------------------------------------------------------
#
# Model-supplied tool arguments must match the tool's args_schema before the policy allows a call. The
# demisto/anthropic image has no jsonschema, so the built-in validator below covers the JSON-Schema (2020-12)
# subset tool argument schemas need, with jsonschema's semantics (bool is neither integer nor number, 1.0 is an
# integer, enum/const/uniqueItems tell True from 1) and its error messages. Keywords outside the subset are
# rejected when the registry loads - in every environment, so a registry that loads in the tests (which have
# jsonschema) loads on the tenant too, and no schema keyword is ever silently ignored.

_js_TYPE_NAMES = ("string", "integer", "number", "boolean", "null", "array", "object")
_js_STRING_ANNOTATIONS = frozenset({"title", "description", "$comment", "format", "$schema", "$id"})
_js_BOOL_ANNOTATIONS = frozenset({"deprecated", "readOnly", "writeOnly"})
_js_ANY_ANNOTATIONS = frozenset({"default", "examples"})


class _js_Error:
    """One validation error, shaped like jsonschema's ValidationError where the registry reads it."""

    __slots__ = ("absolute_path", "message")

    def __init__(self, path: tuple, message: str) -> None:
        self.absolute_path = path
        self.message = message


def _js_is_type(instance: Any, name: str) -> bool:
    if name == "string":
        return isinstance(instance, str)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if name == "array":
        return isinstance(instance, list)
    if name == "object":
        return isinstance(instance, dict)
    if isinstance(instance, bool):  # True is an int in Python, never a number in JSON Schema
        return False
    if name == "number":
        return isinstance(instance, (int, float))
    if name == "integer":
        return isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
    return False


def _js_is_number(instance: Any) -> bool:
    return isinstance(instance, (int, float)) and not isinstance(instance, bool)


def _js_key(value: Any) -> Any:
    """A hashable key with JSON equality: 1 == 1.0, True != 1, lists and objects compared by content."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    if isinstance(value, (list, tuple)):
        return ("array", tuple(_js_key(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _js_key(item)) for key, item in value.items()))
    return ("other", repr(value))


def _js_errors(schema: Any, instance: Any, path: tuple) -> Iterator[_js_Error]:
    """Every error of ``instance`` against ``schema``; ``path`` is where ``instance`` sits in the arguments."""
    if schema is True:
        return
    if schema is False:
        yield _js_Error(path, f"False schema does not allow {instance!r}")
        return
    for keyword, value in schema.items():
        check = _js_KEYWORDS.get(keyword)
        if check is not None:
            yield from check(value, instance, schema, path)
        elif not (keyword in _js_STRING_ANNOTATIONS or keyword in _js_BOOL_ANNOTATIONS
                  or keyword in _js_ANY_ANNOTATIONS):
            # Unreachable through the registry (which rejects the schema); fail closed all the same.
            yield _js_Error(path, f"unsupported schema keyword '{keyword}'")


def _js_valid(schema: Any, instance: Any) -> bool:
    return next(_js_errors(schema, instance, ()), None) is None


def _js_kw_type(types: Any, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    names = [types] if isinstance(types, str) else list(types)
    if not any(_js_is_type(instance, name) for name in names):
        yield _js_Error(path, f"{instance!r} is not of type {', '.join(repr(name) for name in names)}")


def _js_kw_properties(properties: dict, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if name in instance:
                yield from _js_errors(subschema, instance[name], path + (name,))


def _js_kw_required(required: list, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, dict):
        for name in required:
            if name not in instance:
                yield _js_Error(path, f"{name!r} is a required property")


def _js_kw_additional_properties(additional: Any, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if not isinstance(instance, dict):
        return
    known = schema.get("properties") or {}
    extras = [name for name in instance if name not in known]
    if additional is False:
        if extras:
            verb = "was" if len(extras) == 1 else "were"
            names = ", ".join(repr(name) for name in extras)
            yield _js_Error(path, f"Additional properties are not allowed ({names} {verb} unexpected)")
        return
    for name in extras:
        yield from _js_errors(additional, instance[name], path + (name,))


def _js_kw_enum(options: list, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    key = _js_key(instance)
    if all(_js_key(option) != key for option in options):
        yield _js_Error(path, f"{instance!r} is not one of {options!r}")


def _js_kw_const(const: Any, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if _js_key(const) != _js_key(instance):
        yield _js_Error(path, f"{const!r} was expected")


def _js_kw_pattern(pattern: str, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, str) and re.search(pattern, instance) is None:
        yield _js_Error(path, f"{instance!r} does not match {pattern!r}")


def _js_kw_min_length(limit: int, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, str) and len(instance) < limit:
        yield _js_Error(path, f"{instance!r} should be non-empty" if limit == 1 else f"{instance!r} is too short")


def _js_kw_max_length(limit: int, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, str) and len(instance) > limit:
        yield _js_Error(path, f"{instance!r} is expected to be empty" if limit == 0 else f"{instance!r} is too long")


def _js_kw_minimum(limit: float, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if _js_is_number(instance) and instance < limit:
        yield _js_Error(path, f"{instance!r} is less than the minimum of {limit!r}")


def _js_kw_maximum(limit: float, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if _js_is_number(instance) and instance > limit:
        yield _js_Error(path, f"{instance!r} is greater than the maximum of {limit!r}")


def _js_kw_exclusive_minimum(limit: float, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if _js_is_number(instance) and instance <= limit:
        yield _js_Error(path, f"{instance!r} is less than or equal to the minimum of {limit!r}")


def _js_kw_exclusive_maximum(limit: float, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if _js_is_number(instance) and instance >= limit:
        yield _js_Error(path, f"{instance!r} is greater than or equal to the maximum of {limit!r}")


def _js_kw_multiple_of(divisor: float, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if not _js_is_number(instance):
        return
    if isinstance(divisor, float):
        quotient = instance / divisor
        try:
            failed = int(quotient) != quotient
        except OverflowError:
            failed = True
    else:
        failed = bool(instance % divisor)
    if failed:
        yield _js_Error(path, f"{instance!r} is not a multiple of {divisor}")


def _js_kw_items(items: Any, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, list):
        for index, item in enumerate(instance):
            yield from _js_errors(items, item, path + (index,))


def _js_kw_min_items(limit: int, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, list) and len(instance) < limit:
        yield _js_Error(path, f"{instance!r} should be non-empty" if limit == 1 else f"{instance!r} is too short")


def _js_kw_max_items(limit: int, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, list) and len(instance) > limit:
        yield _js_Error(path, f"{instance!r} is expected to be empty" if limit == 0 else f"{instance!r} is too long")


def _js_kw_unique_items(unique: bool, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if unique and isinstance(instance, list) and len({_js_key(item) for item in instance}) < len(instance):
        yield _js_Error(path, f"{instance!r} has non-unique elements")


def _js_kw_min_properties(limit: int, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, dict) and len(instance) < limit:
        yield _js_Error(path, f"{instance!r} should be non-empty" if limit == 1
                        else f"{instance!r} does not have enough properties")


def _js_kw_max_properties(limit: int, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if isinstance(instance, dict) and len(instance) > limit:
        yield _js_Error(path, f"{instance!r} is expected to be empty" if limit == 0
                        else f"{instance!r} has too many properties")


def _js_kw_all_of(subschemas: list, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    for subschema in subschemas:
        yield from _js_errors(subschema, instance, path)


def _js_kw_any_of(subschemas: list, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if not any(_js_valid(subschema, instance) for subschema in subschemas):
        yield _js_Error(path, f"{instance!r} is not valid under any of the given schemas")


def _js_kw_one_of(subschemas: list, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    matching = [subschema for subschema in subschemas if _js_valid(subschema, instance)]
    if not matching:
        yield _js_Error(path, f"{instance!r} is not valid under any of the given schemas")
    elif len(matching) > 1:
        reprs = ", ".join(repr(subschema) for subschema in matching[1:] + matching[:1])  # jsonschema's order
        yield _js_Error(path, f"{instance!r} is valid under each of {reprs}")


def _js_kw_not(subschema: Any, instance: Any, schema: dict, path: tuple) -> Iterator[_js_Error]:
    if _js_valid(subschema, instance):
        yield _js_Error(path, f"{instance!r} should not be valid under {subschema!r}")


_js_KEYWORDS: dict[str, Any] = {
    "type": _js_kw_type,
    "properties": _js_kw_properties,
    "required": _js_kw_required,
    "additionalProperties": _js_kw_additional_properties,
    "enum": _js_kw_enum,
    "const": _js_kw_const,
    "pattern": _js_kw_pattern,
    "minLength": _js_kw_min_length,
    "maxLength": _js_kw_max_length,
    "minimum": _js_kw_minimum,
    "maximum": _js_kw_maximum,
    "exclusiveMinimum": _js_kw_exclusive_minimum,
    "exclusiveMaximum": _js_kw_exclusive_maximum,
    "multipleOf": _js_kw_multiple_of,
    "items": _js_kw_items,
    "minItems": _js_kw_min_items,
    "maxItems": _js_kw_max_items,
    "uniqueItems": _js_kw_unique_items,
    "minProperties": _js_kw_min_properties,
    "maxProperties": _js_kw_max_properties,
    "allOf": _js_kw_all_of,
    "anyOf": _js_kw_any_of,
    "oneOf": _js_kw_one_of,
    "not": _js_kw_not,
}
_js_COUNT_KEYWORDS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"})
_js_NUMBER_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_js_SCHEMA_KEYWORDS = frozenset({"additionalProperties", "items", "not"})
_js_SCHEMA_LIST_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf"})


def _js_keyword_problem(keyword: str, value: Any, where: str) -> str | None:
    """What is wrong with one keyword's value (None if nothing); nested schemas are checked recursively."""
    at = f"{keyword} at {where}"
    if keyword == "type":
        names = [value] if isinstance(value, str) else value
        if (not isinstance(names, list) or not names or len(set(map(repr, names))) < len(names)
                or any(name not in _js_TYPE_NAMES for name in names)):
            return f"{at}: {value!r} is not a type name or a non-empty list of distinct type names"
        return None
    if keyword == "properties":
        if not isinstance(value, dict):
            return f"{at}: must be an object"
        for name, subschema in value.items():
            problem = _js_schema_problem(subschema, f"{where}.{name}" if where != "(root)" else str(name))
            if problem:
                return problem
        return None
    if keyword == "required":
        if (not isinstance(value, list) or any(not isinstance(name, str) for name in value)
                or len(set(value)) < len(value)):
            return f"{at}: must be a list of distinct strings"
        return None
    if keyword == "enum":
        return None if isinstance(value, list) else f"{at}: must be a list"
    if keyword == "pattern":
        if not isinstance(value, str):
            return f"{at}: must be a string"
        try:
            re.compile(value)
        except re.error as error:
            return f"{at}: {value!r} is not a valid regex ({error})"
        return None
    if keyword in _js_COUNT_KEYWORDS:
        if not _js_is_type(value, "integer") or value < 0:
            return f"{at}: {value!r} is not a non-negative integer"
        return None
    if keyword in _js_NUMBER_KEYWORDS:
        return None if _js_is_number(value) else f"{at}: {value!r} is not a number"
    if keyword == "multipleOf":
        return None if _js_is_number(value) and value > 0 else f"{at}: {value!r} is not a number above 0"
    if keyword == "uniqueItems":
        return None if isinstance(value, bool) else f"{at}: {value!r} is not a boolean"
    if keyword in _js_SCHEMA_KEYWORDS:
        return _js_schema_problem(value, f"{where}.{keyword}" if where != "(root)" else keyword)
    if keyword in _js_SCHEMA_LIST_KEYWORDS:
        if not isinstance(value, list) or not value:
            return f"{at}: must be a non-empty list of schemas"
        for index, subschema in enumerate(value):
            problem = _js_schema_problem(subschema, f"{where}.{keyword}.{index}" if where != "(root)"
                                         else f"{keyword}.{index}")
            if problem:
                return problem
        return None
    return None  # const: any value


def _js_schema_problem(schema: Any, where: str = "(root)") -> str | None:
    """The first reason ``schema`` is outside the supported subset or malformed, or None when it is usable."""
    if isinstance(schema, bool):
        return None
    if not isinstance(schema, dict):
        return f"schema at {where} must be an object or a boolean, not {type(schema).__name__}"
    for keyword, value in schema.items():
        if keyword in _js_STRING_ANNOTATIONS:
            problem = None if isinstance(value, str) else f"{keyword} at {where}: must be a string"
        elif keyword in _js_BOOL_ANNOTATIONS:
            problem = None if isinstance(value, bool) else f"{keyword} at {where}: must be a boolean"
        elif keyword == "examples":
            problem = None if isinstance(value, list) else f"{keyword} at {where}: must be a list"
        elif keyword in _js_ANY_ANNOTATIONS:
            problem = None
        elif keyword in _js_KEYWORDS:
            problem = _js_keyword_problem(keyword, value, where)
        else:
            problem = (f"unsupported keyword '{keyword}' at {where} (tool argument schemas may use only: "
                       f"{', '.join(sorted(_js_KEYWORDS))} and annotations)")
        if problem:
            return problem
    return None


class _js_Validator:
    """The built-in stand-in for ``jsonschema.Draft202012Validator`` (only what ToolRegistry uses)."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema

    def iter_errors(self, instance: Any) -> Iterator[_js_Error]:
        yield from _js_errors(self.schema, instance, ())

    def is_valid(self, instance: Any) -> bool:
        return _js_valid(self.schema, instance)


def _js_new_validator(schema: Any) -> Any:
    """jsonschema's Draft 2020-12 validator when installed, the built-in one otherwise."""
    if _js_Draft202012Validator is not None:
        return _js_Draft202012Validator(schema)
    return _js_Validator(schema)


def _js_check_schema(schema: Any) -> str | None:
    """Why ``schema`` cannot be a tool's args_schema, or None.

    jsonschema's metaschema check when it is installed, then always the subset check: a keyword the
    built-in validator does not implement would otherwise be ignored on the tenant and let arguments through.
    """
    if _js_Draft202012Validator is not None:
        try:
            _js_Draft202012Validator.check_schema(schema)
        except _js_SchemaError as error:
            return str(error.message)
    return _js_schema_problem(schema)


# --------------------------------------------------------------------------------------------
# Tool registry
# --------------------------------------------------------------------------------------------


class ToolRegistry:
    """The tools that exist. A tool not registered here cannot be called, whatever the model says."""

    def __init__(self, specs: list[ToolSpec]) -> None:
        self._specs: dict[str, ToolSpec] = {}
        self._validators: dict[str, Any] = {}  # jsonschema's Draft202012Validator or _js_Validator
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"Invalid tool registry: duplicate tool name '{spec.name}'")
            _check_spec(spec)
            self._specs[spec.name] = spec
            self._validators[spec.name] = _js_new_validator(spec.args_schema or {"type": "object"})

    @classmethod
    def from_config(cls, data: list[Any] | dict[str, Any] | str) -> "ToolRegistry":
        """Build from ``{"tools": [...]}`` or a bare list, as objects or JSON/YAML text (the XSOAR List)."""
        parsed = _parse_config_text(data, "tool registry") if isinstance(data, str) else data
        if isinstance(parsed, dict):
            if "tools" not in parsed:
                raise ValueError("Invalid tool registry: expected a list of tools or an object with 'tools'")
            parsed = parsed["tools"]
        if not isinstance(parsed, list):
            raise ValueError(f"Invalid tool registry: expected a list of tools, got {type(parsed).__name__}")
        specs: list[ToolSpec] = []
        for index, item in enumerate(parsed):
            label = item.get("name", f"#{index}") if isinstance(item, dict) else f"#{index}"
            if not isinstance(item, dict):
                raise ValueError(f"Invalid tool registry: tool {label} is not an object")
            try:
                specs.append(ToolSpec.model_validate(item))
            except ValidationError as error:
                raise ValueError(f"Invalid tool registry: tool '{label}': {validation_message(error)}") from error
        return cls(specs)

    def get(self, name: str) -> ToolSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self, kind: str | None = None) -> list[ToolSpec]:
        return [s for s in self._specs.values() if kind is None or s.kind == kind]

    def llm_tools(self, kind: str | None = "enrichment", allowed_only_by: "Policy | None" = None) -> list[dict]:
        """Tool definitions for the model; by default only enrichment, and only what the policy allows.

        Offering the model a tool the policy would refuse only wastes steps, so callers pass the policy.
        """
        return [s.llm_schema() for s in self.specs(kind)
                if allowed_only_by is None or allowed_only_by.is_allowed(s.name)]

    def validate_args(self, name: str, args: Any) -> list[str]:
        """JSON-Schema errors as short, model-readable strings; [] when the arguments are valid."""
        validator = self._validators.get(name)
        if validator is None:
            return [f"unknown tool '{name}'"]
        errors = sorted(validator.iter_errors(args), key=lambda e: [str(p) for p in e.absolute_path])
        return [_schema_error_text(e) for e in errors[:10]]


def _schema_error_text(error: Any) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(args)"
    message = str(error.message)
    return f"{path}: {message[:200]}"


def _check_spec(spec: ToolSpec) -> None:
    """Registry-level rules a single ToolSpec cannot express on its own."""
    problem = _js_check_schema(spec.args_schema)
    if problem:
        raise ValueError(f"Invalid tool registry: tool '{spec.name}' has an invalid args_schema: {problem}")
    if (spec.kind == "action" and spec.tier in ROLLBACK_TIERS_FOR_REGISTRY and spec.reversible
            and spec.rollback is None):
        raise ValueError(f"Invalid tool registry: action tool '{spec.name}' (tier {spec.tier}, reversible) "
                         "has no rollback recipe")
    properties = (spec.args_schema or {}).get("properties") or {}
    if spec.target_arg and properties and spec.target_arg not in properties:
        raise ValueError(f"Invalid tool registry: tool '{spec.name}' target_arg '{spec.target_arg}' "
                         "is not one of its arguments")


# --------------------------------------------------------------------------------------------
# Policy
# --------------------------------------------------------------------------------------------


class PolicyState(BaseModel):
    """Counters that must survive across runs (persisted by the platform adapter).

    Times are epoch seconds from ``clock.now()`` - unlike ``monotonic()`` they stay comparable
    between processes, which is what a per-hour window across incidents needs.
    """

    call_times: dict[str, list[float]] = Field(default_factory=dict)
    targets: list[tuple[float, str]] = Field(default_factory=list)
    run_targets: dict[str, list[str]] = Field(default_factory=dict, description="distinct targets per run id")


def _deny(reason: str, rule: str) -> PolicyDecision:
    return PolicyDecision(decision="deny", reason=reason, rule=rule)


def _matches_any(name: str, globs: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, glob) for glob in globs)


def _norm_target(value: str) -> str:
    """One spelling per target, so blast radius counts things, not spellings: a one-address CIDR
    (`203.0.113.7/32`, `2001:db8::1/128`) is its address, and IPs are compared in canonical form."""
    text = value.strip().lower()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


def _candidates(value: Any) -> list[str]:
    """The strings a predicate compares: the value itself, plus ARN tail and e-mail local part."""
    items = value if isinstance(value, (list, tuple, set)) else [value]
    out: list[str] = []
    for item in items:
        if item is None or isinstance(item, (dict, list)):
            continue
        text = str(item).strip()
        if not text:
            continue
        out.append(text)
        if "/" in text:
            out.append(text.rsplit("/", 1)[-1])
        if "@" in text:
            out.append(text.split("@", 1)[0])
    return out


def _targets_of(spec: ToolSpec, args: dict[str, Any]) -> list[str]:
    """What an action acts on, normalised; a list-valued target argument names several targets."""
    if spec.kind != "action" or not spec.target_arg:
        return []
    value = args.get(spec.target_arg)
    items = value if isinstance(value, (list, tuple)) else [value]
    return list(dict.fromkeys(_norm_target(str(v)) for v in items if v not in (None, "") and str(v).strip()))


def _window(times: list[float], now: float, seconds: float) -> list[float]:
    return [t for t in times if now - t < seconds]


class Policy:
    """Decides allow / deny / needs approval for every tool call, and binds approvals to exact calls.

    One ``Policy`` object per run holds the run's budgets; ``state`` carries the cross-run windows and
    should be saved by the caller after the run (``policy.state.model_dump()``). The approval secret
    must be the same for the process that binds an approval and the one that verifies it; a random
    secret (the default) only suits approvals verified within the same process.
    """

    def __init__(self, registry: ToolRegistry, config: PolicyConfig, clock: Clock,
                 state: PolicyState | None = None, facts: dict[str, set[str]] | None = None,
                 approval_secret: bytes | str | None = None) -> None:
        self.registry = registry
        self.config = config
        self.clock = clock
        self.state = state if state is not None else PolicyState()
        self.facts: dict[str, set[str]] = {}
        for name, values in (facts or {}).items():
            self.add_facts(name, values)
        if isinstance(approval_secret, str):
            approval_secret = approval_secret.encode("utf-8")
        self.secret: bytes = approval_secret or secrets.token_bytes(32)
        self.steps = 0
        self.model_calls = 0
        self.tokens = 0
        self._token_times: list[tuple[float, int]] = []
        self._breaker: str | None = None
        self._repeats: dict[tuple[str, str], int] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._tool_calls: dict[str, int] = {}
        self._call_runs: dict[str, str] = {}

    # ---- facts and allowlist ---------------------------------------------------------------

    def add_facts(self, name: str, values: Iterable[str]) -> None:
        """Add known identities (e.g. admin_accounts from the IdP) that predicates test against."""
        bucket = self.facts.setdefault(name, set())
        bucket.update(_norm_target(str(v)) for v in values if str(v).strip())

    def is_allowed(self, tool: str) -> bool:
        """Allowlisted and not denylisted; an empty allowlist allows nothing (default deny)."""
        return _matches_any(tool, self.config.allowlist) and not _matches_any(tool, self.config.denylist)

    # ---- the decision ----------------------------------------------------------------------

    def decide(self, call: ToolCall, run_id: str, autonomy: str = "normal") -> PolicyDecision:
        """Allow, deny or needs-approval for one call. Pure: counters change only in ``record_*``."""
        spec = self.registry.get(call.tool)
        if spec is None:
            return _deny(f"tool '{call.tool}' is not registered", "unknown_tool")
        for check in (self._check_lists, self._check_args, self._check_history, self._check_budgets,
                      self._check_rates, self._check_blast_radius):
            denied = check(spec, call, run_id)
            if denied is not None:
                return denied
        tier, denied = self._tier_and_predicate_deny(spec, call.args, autonomy)
        if denied is not None:
            return denied
        if (spec.kind == "action" and tier in self.config.rollback_required_tiers and spec.reversible
                and spec.rollback is None):
            return PolicyDecision(decision="deny", reason=f"no rollback plan for '{spec.name}' at tier {tier}",
                                  tier=tier, rule="rollback")
        if spec.kind == "enrichment" and tier in AUTO_RUN_TIERS:
            return PolicyDecision(decision="allow", reason="allowlisted enrichment", tier=tier, rule="allow")
        return PolicyDecision(decision="needs_approval", reason=f"{spec.kind} '{spec.name}' needs {tier} approval",
                              tier=tier, rule="approval")

    def _check_lists(self, spec: ToolSpec, call: ToolCall, run_id: str) -> PolicyDecision | None:
        if _matches_any(spec.name, self.config.denylist):
            return _deny(f"tool '{spec.name}' is denylisted", "denylist")
        if not _matches_any(spec.name, self.config.allowlist):
            return _deny(f"tool '{spec.name}' is not allowlisted (default deny)", "default_deny")
        return None

    def _check_args(self, spec: ToolSpec, call: ToolCall, run_id: str) -> PolicyDecision | None:
        errors = self.registry.validate_args(spec.name, call.args)
        if errors:
            return _deny("invalid arguments: " + "; ".join(errors), "schema")
        return None

    def _check_history(self, spec: ToolSpec, call: ToolCall, run_id: str) -> PolicyDecision | None:
        seen = self._repeats.get((run_id, call.args_digest), 0)
        if seen >= self.config.max_repeats:
            return _deny(f"loop: '{spec.name}' already ran {seen} time(s) with these exact arguments", "loop")
        failures = self.failures(spec.name, run_id)
        if failures >= self.config.max_failures_per_tool:
            return _deny(f"tool '{spec.name}' failed {failures} times in this run; not trying again",
                         "failures")
        return None

    def _check_budgets(self, spec: ToolSpec, call: ToolCall, run_id: str) -> PolicyDecision | None:
        # The current step may use tools while steps <= max_steps; budget_exhausted() stops a new step.
        if self.steps > self.config.max_steps:
            return _deny(f"step budget exhausted ({self.steps} > {self.config.max_steps})", "step_budget")
        if self._tool_calls.get(run_id, 0) >= self.config.max_tool_calls:
            return _deny(f"tool-call budget exhausted ({self.config.max_tool_calls})", "tool_call_budget")
        token_reason = self._token_reason()
        if token_reason:
            return _deny(token_reason, "token_budget")
        return None

    def _check_rates(self, spec: ToolSpec, call: ToolCall, run_id: str) -> PolicyDecision | None:
        now = self._epoch()
        rate = self.config.rate_for(spec.name)
        recent = _window(self.state.call_times.get(spec.name, []), now, rate.per_seconds)
        if len(recent) >= rate.max_calls:
            return _deny(f"rate limit: '{spec.name}' at {rate.max_calls} calls per {rate.per_seconds:g}s",
                         "rate_limit")
        glob = self.config.global_rate
        recent = _window(self.state.call_times.get(GLOBAL_RATE_KEY, []), now, glob.per_seconds)
        if len(recent) >= glob.max_calls:
            return _deny(f"rate limit: global at {glob.max_calls} calls per {glob.per_seconds:g}s", "rate_limit")
        return None

    def _check_blast_radius(self, spec: ToolSpec, call: ToolCall, run_id: str) -> PolicyDecision | None:
        targets = set(_targets_of(spec, call.args))
        if not targets:
            return None
        in_run = set(self.state.run_targets.get(run_id, [])) | targets
        if len(in_run) > self.config.blast_radius_per_run:
            return _deny(f"blast radius: {len(in_run)} distinct targets in this run exceeds "
                         f"{self.config.blast_radius_per_run}", "blast_radius_run")
        now = self._epoch()
        in_hour = {t for at, t in self.state.targets if now - at < HOUR_SECONDS} | targets
        if len(in_hour) > self.config.blast_radius_per_hour:
            return _deny(f"blast radius: {len(in_hour)} distinct targets in the last hour exceeds "
                         f"{self.config.blast_radius_per_hour}", "blast_radius_hour")
        return None

    def _tier_and_predicate_deny(self, spec: ToolSpec, args: dict[str, Any],
                                 autonomy: str) -> tuple[str, PolicyDecision | None]:
        tier = spec.tier
        if autonomy == "reduced" and spec.kind == "action":
            tier = max_tier(tier, self.config.reduced_autonomy_min_tier)
        for predicate in self.config.predicates:
            if not self._predicate_matches(predicate, spec, args):
                continue
            if predicate.deny:
                reason = predicate.reason or "argument predicate forbids this call"
                return tier, PolicyDecision(decision="deny", reason=f"{predicate.name}: {reason}", tier=tier,
                                            rule=f"predicate:{predicate.name}")
            if predicate.tier:
                tier = max_tier(tier, predicate.tier)
        return tier, None

    def _predicate_matches(self, predicate: ArgPredicate, spec: ToolSpec, args: dict[str, Any]) -> bool:
        if not predicate.applies_to(spec):
            return False
        arg = predicate.arg or spec.target_arg
        if not arg or args.get(arg) in (None, ""):
            return False
        candidates = _candidates(args[arg])
        if not candidates:
            return False
        if predicate.pattern is None and predicate.fact is None and not predicate.values:
            return True
        lowered = [c.lower() for c in candidates]
        if predicate.pattern and any(re.search(predicate.pattern, c, re.IGNORECASE) for c in candidates):
            return True
        if predicate.fact and any(c in self.facts.get(predicate.fact, set()) for c in lowered):
            return True
        values = {v.lower() for v in predicate.values}
        return any(c in values for c in lowered)

    def tier_for(self, action: str, args: dict[str, Any], autonomy: str = "normal") -> ApprovalTier:
        """The approval tier a recommended action will need (unknown actions: the strictest)."""
        spec = self.registry.get(action)
        if spec is None:
            return "dual"
        tier, _ = self._tier_and_predicate_deny(spec, args or {}, autonomy)
        return tier  # type: ignore[return-value]

    # ---- counters ----------------------------------------------------------------------------

    def record_call(self, call: ToolCall, run_id: str, spec: ToolSpec | None = None) -> None:
        """Count a call that actually runs: rate windows, repeats, tool-call budget, action targets."""
        spec = spec or self.registry.get(call.tool)
        now = self._epoch()
        for key in (call.tool, GLOBAL_RATE_KEY):
            self.state.call_times.setdefault(key, []).append(now)
        self._prune(now)
        digest_key = (run_id, call.args_digest)
        self._repeats[digest_key] = self._repeats.get(digest_key, 0) + 1
        self._tool_calls[run_id] = self._tool_calls.get(run_id, 0) + 1
        self._call_runs[call.id] = run_id
        targets = _targets_of(spec, call.args) if spec is not None else []
        for target in targets:
            self.state.targets.append((now, target))
            run_targets = self.state.run_targets.setdefault(run_id, [])
            if target not in run_targets:
                run_targets.append(target)
        if targets:
            while len(self.state.run_targets) > MAX_REMEMBERED_RUNS:
                del self.state.run_targets[next(iter(self.state.run_targets))]

    def record_result(self, call: ToolCall, ok: bool) -> None:
        """Count failures per tool (in the run the call was recorded under) for the repeated-failure stop."""
        if ok:
            return
        # A result whose call was never recorded counts for every run of this Policy (run id "").
        key = (self._call_runs.get(call.id, ""), call.tool)
        self._failures[key] = self._failures.get(key, 0) + 1

    def failures(self, tool: str, run_id: str) -> int:
        """Failures of a tool in a run (including failures recorded without a run)."""
        unattributed = self._failures.get(("", tool), 0) if run_id else 0
        return self._failures.get((run_id, tool), 0) + unattributed

    def record_step(self) -> None:
        self.steps += 1

    def record_model_call(self, usage: Usage) -> None:
        """Count a model call's tokens for the budget and the burn-rate breaker (which latches once tripped)."""
        self.model_calls += 1
        tokens = usage.total_tokens
        self.tokens += tokens
        now = self.clock.monotonic()
        self._token_times.append((now, tokens))
        self._token_times = [(t, n) for t, n in self._token_times if now - t < BURN_WINDOW_SECONDS]
        burned = sum(n for _, n in self._token_times)
        if self._breaker is None and burned > self.config.burn_rate_tokens_per_minute:
            self._breaker = (f"burn-rate breaker tripped: {burned} tokens in the last 60 s "
                             f"> {self.config.burn_rate_tokens_per_minute}")

    def _token_reason(self) -> str | None:
        if self.tokens >= self.config.token_budget:
            return f"token budget exhausted ({self.tokens} >= {self.config.token_budget})"
        return self._breaker

    def budget_exhausted(self) -> str | None:
        """Why the run must stop starting new steps or model calls, or None while it may go on."""
        if self.steps >= self.config.max_steps:
            return f"step budget exhausted ({self.steps} of {self.config.max_steps} steps)"
        if self.model_calls >= self.config.max_model_calls:
            return f"model-call budget exhausted ({self.model_calls} of {self.config.max_model_calls} calls)"
        return self._token_reason()

    def _epoch(self) -> float:
        return self.clock.now().timestamp()

    def _prune(self, now: float) -> None:
        """Forget timestamps no window can see any more, so the persisted state stays small."""
        for key, times in list(self.state.call_times.items()):
            rate = self.config.global_rate if key == GLOBAL_RATE_KEY else self.config.rate_for(key)
            kept = _window(times, now, max(rate.per_seconds, BURN_WINDOW_SECONDS))
            if kept:
                self.state.call_times[key] = kept
            else:
                del self.state.call_times[key]
        self.state.targets = [(at, t) for at, t in self.state.targets if now - at < HOUR_SECONDS]

    # ---- approvals ---------------------------------------------------------------------------

    def _token(self, run_id: str, call_id: str, tool: str, args_digest: str, tier: str) -> str:
        message = "|".join((run_id, call_id, tool, args_digest, tier)).encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def bind_approval(self, run_id: str, call: ToolCall, tier: ApprovalTier) -> ApprovalBinding:
        """An approval request valid only for this run, this call id and these exact arguments."""
        return ApprovalBinding(run_id=run_id, call_id=call.id, tool=call.tool, args_digest=call.args_digest,
                               tier=tier, token=self._token(run_id, call.id, call.tool, call.args_digest, tier))

    def verify_approval(self, binding: ApprovalBinding, run_id: str, call: ToolCall) -> tuple[bool, str]:
        """Check an approval against the call about to run; a stale or edited approval is refused."""
        if binding.run_id != run_id:
            return False, f"approval belongs to run '{binding.run_id}', not '{run_id}'"
        if binding.call_id != call.id:
            return False, f"approval belongs to call '{binding.call_id}', not '{call.id}'"
        if binding.tool != call.tool:
            return False, f"approval is for tool '{binding.tool}', not '{call.tool}'"
        if binding.args_digest != call.args_digest:
            return False, "arguments changed since the approval was given"
        expected = self._token(binding.run_id, binding.call_id, binding.tool, binding.args_digest, binding.tier)
        if not hmac.compare_digest(expected, binding.token or ""):
            return False, "approval token is invalid (forged, edited or from another policy secret)"
        needed = self.tier_for(call.tool, call.args)
        if TIER_ORDER.index(binding.tier) < TIER_ORDER.index(needed):
            return False, f"approval tier {binding.tier} is below the {needed} this action needs"
        return True, "approval verified"

    # ---- closing ---------------------------------------------------------------------------

    def may_auto_close(self, assessment: ThreatAssessment, severity: int,
                       injection_flagged: bool) -> tuple[bool, str]:
        """Only a confident false positive of low severity and threat, with clean inputs, closes itself."""
        rule = self.config.auto_close
        if not rule.enabled:
            return False, "auto-close is disabled by policy"
        if injection_flagged:
            return False, "possible prompt injection in the inputs: a human must close this incident"
        if assessment.verdict not in rule.verdicts:
            return False, f"verdict {assessment.verdict} is not auto-closable"
        if assessment.confidence < rule.min_confidence:
            return False, f"confidence {assessment.confidence:.2f} is below {rule.min_confidence:.2f}"
        if severity > rule.max_severity:
            return False, f"incident severity {severity} is above {rule.max_severity}"
        if THREAT_ORDER.index(assessment.threat_level) > THREAT_ORDER.index(rule.max_threat_level):
            return False, f"threat level {assessment.threat_level} is above {rule.max_threat_level}"
        return True, (f"auto-close: {assessment.verdict} at confidence {assessment.confidence:.2f}, "
                      f"severity {severity}, threat level {assessment.threat_level}")
