"""AI Reasoning engine - model layer.

Pydantic v2 types shared by every layer of the engine (policy, envelope, providers, reasoners) and
by the platform adapters. The LLM-facing contracts (tool input schemas, the final answer) get their
JSON Schemas from these types, so the prompt, the validator and the deliverable cannot drift apart.

Platform-neutral: nothing here imports demistomock or CommonServerPython.
"""

import hashlib
import ipaddress
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENGINE_VERSION = "1.0.0"
DELIVERABLE_SCHEMA_VERSION = "1.0"

Verdict = Literal["true_positive", "false_positive", "suspicious", "inconclusive"]
ThreatLevel = Literal["none", "low", "medium", "high", "critical"]
ApprovalTier = Literal["none", "optional", "recommended", "required", "dual"]
ToolKind = Literal["enrichment", "action"]
RunStatus = Literal["complete", "partial", "failed"]
DecisionKind = Literal["allow", "deny", "needs_approval"]
EntityKind = Literal["users", "access_keys", "ips", "hosts", "arns", "emails"]
Method = Literal["react", "art", "triage"]

TIER_ORDER: tuple[str, ...] = ("none", "optional", "recommended", "required", "dual")
THREAT_ORDER: tuple[str, ...] = ("none", "low", "medium", "high", "critical")
AUTO_RUN_TIERS = frozenset({"none", "optional"})


def max_tier(*tiers: str) -> str:
    """The strictest of the given approval tiers (policy only ever raises a tier)."""
    return max(tiers, key=TIER_ORDER.index)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def canonical_json(value: Any) -> str:
    """Stable JSON text: the same value always gives the same bytes (for digests and binding)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    """sha256 of the canonical JSON (or of the text itself for strings)."""
    text = value if isinstance(value, str) else canonical_json(value)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# Entities
# --------------------------------------------------------------------------------------------

ACCESS_KEY_RE = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b")
ARN_RE = re.compile(r"\barn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:[A-Za-z0-9_+=,.@/:-]+")
IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
EMAIL_RE = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")

# Keys whose values name a user in the vendor records we ingest (CloudTrail, Okta, API gateways, XSOAR):
# ``usernames`` is XSOAR's standard Users incident field, ``src_user`` the Splunk CIM acting user.
USER_KEYS = frozenset({
    "username", "user_name", "user", "principal", "alternateid", "sourceusername", "targetusername",
    "accountname", "account", "login", "actor_user", "usernames", "src_user", "srcuser",
})
HOST_KEYS = frozenset({"hostname", "host", "devicename", "computername", "sourcehostname", "destinationhostname"})
IP_KEYS = frozenset({"sourceipaddress", "sourceip", "ipaddress", "ip", "src_ip", "srcip", "clientip", "remoteip",
                     "destinationip", "dest_ip"})
# Placeholders, never a principal. "root" is NOT here: the AWS root identity must be usable for look-ups
# (CloudTrail Username=root) - actions against it stay denied by the policy predicate root-account-deny.
# CloudTrail writes HIDDEN_DUE_TO_SECURITY_REASONS for a mistyped console user name and ANONYMOUS_PRINCIPAL for
# unauthenticated S3 requests; "(null)", "undefined" and "nil" are how other platforms print a missing value.
NOT_A_USER = frozenset({"", "unknown", "anonymous", "null", "none", "-", "--", "n/a", "na", "(null)", "<null>",
                        "(none)", "<none>", "nil", "undefined", "hidden_due_to_security_reasons",
                        "anonymous_principal", "aws internal"})
AWS_ACCOUNT_ID_RE = re.compile(r"^\d{12}$")  # an account id under an "account" key is not a user name
# "role/session" as Splunk CIM src_user and assumed-role ARNs write an AWS role session: both halves are
# look-up values (CloudTrail LookupEvents Username of an assumed role is its session name).
ROLE_SESSION_RE = re.compile(r"^([A-Za-z0-9_+=,.@-]{1,64})/([A-Za-z0-9_+=,.@-]{2,64})$")


class Entities(BaseModel):
    """Deduplicated entities named by an incident or a tool output, in first-seen order."""

    users: list[str] = Field(default_factory=list)
    access_keys: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    arns: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)

    def add(self, kind: str, value: str) -> None:
        value = str(value).strip()
        bucket: list[str] = getattr(self, kind)
        if value and value not in bucket:
            bucket.append(value)

    def merge(self, other: "Entities") -> "Entities":
        merged = self.model_copy(deep=True)
        for kind in Entities.model_fields:
            for value in getattr(other, kind):
                merged.add(kind, value)
        return merged

    def of(self, kind: str) -> list[str]:
        return list(getattr(self, kind, []))

    def is_empty(self) -> bool:
        return not any(getattr(self, kind) for kind in Entities.model_fields)


def _valid_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _scan_entity_text(text: str, found: Entities) -> None:
    for key in ACCESS_KEY_RE.findall(text):
        if key.startswith(("AKIA", "ASIA")):
            found.add("access_keys", key)
    for arn in ARN_RE.findall(text):
        arn = arn.rstrip(".,:")  # prose: "... by arn:aws:iam::123456789012:user/alice."
        found.add("arns", arn)
        if ":user/" in arn or ":federated-user/" in arn:
            found.add("users", arn.rsplit("/", 1)[-1])
        elif arn.endswith(":root"):  # the account's root identity: CloudTrail Username=root finds it
            found.add("users", "root")
    for ip in IPV4_RE.findall(text):
        if _valid_ipv4(ip):
            found.add("ips", ip)
    for email in EMAIL_RE.findall(text):
        found.add("emails", email)


def extract_entities(value: Any, _found: Entities | None = None, _key: str = "", _depth: int = 0) -> Entities:
    """Walk any JSON-like value and collect users, access keys, IPs, hosts, ARNs and e-mails.

    Keys tell us what a plain string means (``userName: alice`` is a user); free text is scanned with
    patterns that are specific enough not to invent entities (AKIA/ASIA keys, full ARNs, valid IPs).
    """
    found = _found if _found is not None else Entities()
    if _depth > 40:
        return found
    key = _key.lower().replace("-", "").replace(" ", "")
    if isinstance(value, dict):
        for k, v in value.items():
            extract_entities(v, found, str(k), _depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            extract_entities(item, found, _key, _depth + 1)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")) and len(text) < 2_000_000:
            try:
                return extract_entities(json.loads(text), found, _key, _depth + 1)
            except (ValueError, RecursionError):
                pass
        if key in USER_KEYS and text.lower() not in NOT_A_USER and len(text) <= 128 and "\n" not in text \
                and not AWS_ACCOUNT_ID_RE.match(text):
            if EMAIL_RE.fullmatch(text):
                found.add("emails", text)
            session = ROLE_SESSION_RE.match(text)
            assumed = re.search(r":assumed-role/([A-Za-z0-9_+=,.@-]{1,64})/([A-Za-z0-9_+=,.@-]{2,64})$", text)
            if session:
                found.add("users", session.group(1))
                found.add("users", session.group(2))
            elif assumed and ARN_RE.match(text):  # a principal ARN of a role session: role and session name
                found.add("users", assumed.group(1))
                found.add("users", assumed.group(2))
            elif not ARN_RE.match(text):
                found.add("users", text)
        elif key in HOST_KEYS and 0 < len(text) <= 253 and " " not in text:
            found.add("hosts", text)
        elif key in IP_KEYS and _valid_ip(text):
            found.add("ips", text)
        _scan_entity_text(text, found)
    return found


# --------------------------------------------------------------------------------------------
# Incident input
# --------------------------------------------------------------------------------------------


SEVERITY_NAMES = {"unknown": 0, "info": 0, "informational": 0, "low": 1, "medium": 2, "moderate": 2, "high": 3,
                  "critical": 4}


class IncidentInput(BaseModel):
    """An incident normalised from the XSOAR incident object (or any platform's equivalent)."""

    id: str = ""
    name: str = ""
    type: str = ""
    severity: int = Field(default=0, ge=0, le=4)
    occurred: str = ""
    labels: list[dict[str, Any]] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    raw_alert: Any = None
    details: str = ""
    entities: Entities = Field(default_factory=Entities)

    @field_validator("severity", mode="before")
    @classmethod
    def _coerce_severity(cls, value: Any) -> int:
        """XSOAR severity 0-4 (0.5 informational); mappers of some integrations write the names instead."""
        if isinstance(value, str) and value.strip().lower() in SEVERITY_NAMES:
            return SEVERITY_NAMES[value.strip().lower()]
        try:
            number = float(value or 0)
            return min(4, max(0, int(number))) if number == number else 0
        except (TypeError, ValueError, OverflowError):
            return 4 if isinstance(value, float) and value > 0 else 0

    @classmethod
    def from_xsoar(cls, incident: dict[str, Any] | None) -> "IncidentInput":
        """Build from the dict `demisto.incident()` returns; tolerant of missing or odd fields.

        Raises ValueError with a clear message when the input is not an incident at all.
        """
        if incident is None:
            raise ValueError("No incident: the reasoning step needs an incident object")
        if not isinstance(incident, dict):
            raise ValueError(f"Malformed incident: expected an object, got {type(incident).__name__}")
        raw = incident.get("rawJSON")
        raw_alert: Any = raw
        if isinstance(raw, str) and raw.strip():
            try:
                raw_alert = json.loads(raw)
            except (ValueError, RecursionError):  # invalid, cut or absurdly nested JSON: keep the text
                raw_alert = raw
        labels = incident.get("labels") or []
        if not isinstance(labels, list):
            labels = []
        labels = [lab for lab in labels if isinstance(lab, dict)]
        custom = incident.get("CustomFields") or incident.get("customFields") or {}
        if not isinstance(custom, dict):
            custom = {}
        item = cls(
            id=str(incident.get("id") or ""),
            name=str(incident.get("name") or ""),
            type=str(incident.get("type") or ""),
            severity=incident.get("severity") or 0,
            occurred=str(incident.get("occurred") or ""),
            labels=labels,
            custom_fields=custom,
            raw_alert=raw_alert,
            details=str(incident.get("details") or ""),
        )
        # a list, not a dict by type: fetched incidents repeat label types (several Email/from, user labels)
        entities = extract_entities({"labels": [{str(lab.get("type") or ""): lab.get("value")} for lab in labels]})
        entities = extract_entities(custom, entities)
        entities = extract_entities(raw_alert, entities)
        entities = extract_entities({"name": item.name, "details": item.details}, entities)
        item.entities = entities
        return item

    def task_text(self) -> str:
        """Short text describing the incident, used to select ART demonstrations."""
        parts = [self.type, self.name, self.details]
        if isinstance(self.raw_alert, dict):
            for key in ("eventName", "eventType", "title", "rule", "ruleName", "alert", "description", "category"):
                if key in self.raw_alert:
                    parts.append(str(self.raw_alert[key]))
        return " ".join(p for p in parts if p)


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------

TOOL_NAME_RE = r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"


class RollbackRecipe(BaseModel):
    """How to undo an action: a command and an argument template (``{arg}`` from the original call)."""

    command: str
    args: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

    def render(self, call_args: dict[str, Any]) -> dict[str, Any]:
        rendered: dict[str, Any] = {}
        for key, template in self.args.items():
            if isinstance(template, str):
                try:
                    rendered[key] = template.format(**call_args)
                except (KeyError, IndexError, ValueError):
                    rendered[key] = template
            else:
                rendered[key] = template
        return rendered


class ToolSpec(BaseModel):
    """One registered tool: what the model sees (name, description, args schema) and what the policy needs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOOL_NAME_RE)
    description: str = Field(min_length=1)
    command: str = Field(min_length=1, description="Platform command that implements the tool, e.g. aws-iam-get-user")
    args_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    arg_map: dict[str, str] = Field(default_factory=dict, description="tool arg -> command arg")
    fixed_args: dict[str, Any] = Field(default_factory=dict, description="always sent, e.g. using-brand")
    kind: ToolKind = "enrichment"
    tier: ApprovalTier = "none"
    reversible: bool = True
    rollback: RollbackRecipe | None = None
    target_arg: str | None = Field(default=None, description="the argument naming what an action acts on")
    entity_args: dict[str, EntityKind] = Field(default_factory=dict, description="arg -> entity kind, for binding")
    output_keys: list[str] = Field(default_factory=list, description="context keys worth keeping when compacting")
    timeout_seconds: float = 60.0
    categories: list[str] = Field(default_factory=list)

    def llm_schema(self) -> dict[str, Any]:
        """The tool as an LLM sees it (Anthropic shape; the OpenAI provider converts)."""
        schema = dict(self.args_schema or {})
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        return {"name": self.name, "description": self.description, "input_schema": schema}

    def command_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """Arguments for the platform command: mapped names plus the fixed ones."""
        mapped = {self.arg_map.get(k, k): v for k, v in args.items() if v is not None}
        mapped.update(self.fixed_args)
        return mapped

    def target_of(self, args: dict[str, Any]) -> str | None:
        if self.target_arg and args.get(self.target_arg) not in (None, ""):
            return str(args[self.target_arg])
        return None


class ToolCall(BaseModel):
    id: str = Field(default_factory=lambda: new_id("call"))
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    step: int = 0
    requested_by: Literal["model", "program", "deterministic", "analyst", "playbook"] = "model"

    @property
    def args_digest(self) -> str:
        return digest({"tool": self.tool, "args": self.args})


class ToolResult(BaseModel):
    """What an executor returns. Tool failures are data, not exceptions."""

    ok: bool
    output: Any = None
    error: str | None = None
    duration_ms: float = 0.0
    raw_size: int = 0
    source: str = ""  # brand/instance that answered, when known


class Observation(BaseModel):
    """A tool output as it enters the conversation: compacted, fenced, flagged."""

    call_id: str
    tool: str
    ok: bool
    content: Any = None
    error: str | None = None
    dropped: list[str] = Field(default_factory=list, description="what compaction removed, for the record")
    digest: str = ""
    injection_findings: list[str] = Field(default_factory=list)


class PolicyDecision(BaseModel):
    decision: DecisionKind
    reason: str = ""
    tier: ApprovalTier = "none"
    rule: str = ""


class ApprovalBinding(BaseModel):
    """An approval is valid only for this run, this call and these exact arguments."""

    run_id: str
    call_id: str
    tool: str
    args_digest: str
    tier: ApprovalTier
    token: str = ""


class ToolInvocation(BaseModel):
    """One line of the tool-invocation log."""

    call: ToolCall
    decision: PolicyDecision
    ok: bool | None = None
    error: str | None = None
    result_digest: str = ""
    duration_ms: float = 0.0
    started_at: datetime = Field(default_factory=utcnow)
    evidence_id: str | None = None


# --------------------------------------------------------------------------------------------
# Reasoning record
# --------------------------------------------------------------------------------------------


class Step(BaseModel):
    index: int
    kind: Literal["thought", "action", "observation", "program", "final", "error", "note", "policy"]
    text: str = ""
    call_ids: list[str] = Field(default_factory=list)
    at: datetime = Field(default_factory=utcnow)


# Keys that name one vendor record: CloudTrail eventID (EventId in AWS - CloudTrail outputs), Okta uuid,
# API gateway requestId. An evidence item lists them so a reviewer can trace a claim to the raw events
# even where the excerpt had to be compacted.
RECORD_ID_KEYS = ("eventID", "EventId", "uuid", "requestId")
MAX_RECORD_IDS = 200


class Evidence(BaseModel):
    id: str  # "E1", "E2", … : what claims and recommendations cite
    tool: str
    call_id: str
    excerpt: str
    digest: str
    source: str = ""
    record_ids: list[str] = Field(default_factory=list, description="vendor record ids in the full tool output")


def record_ids_in(value: Any, limit: int = MAX_RECORD_IDS) -> list[str]:
    """The vendor record ids (RECORD_ID_KEYS) anywhere in a tool output, in order, deduplicated, capped."""
    found: dict[str, None] = {}
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and len(found) < limit:
        item, depth = stack.pop()
        if depth > 12:
            continue
        if isinstance(item, dict):
            for key in RECORD_ID_KEYS:
                if isinstance(item.get(key), (str, int)) and str(item[key]).strip():
                    found.setdefault(str(item[key]).strip(), None)
            stack.extend((child, depth + 1) for child in reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in reversed(item))
        elif isinstance(item, str) and item.lstrip().startswith("{") and len(item) < 200_000:
            try:
                stack.append((json.loads(item), depth + 1))
            except ValueError:
                pass
    return list(found)[:limit]


ATTACK_ID_RE = r"^T\d{4}(\.\d{3})?$"


class ThreatAssessment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict = "inconclusive"
    threat_level: ThreatLevel = "none"
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    summary: str = ""
    affected_accounts: list[str] = Field(default_factory=list)
    affected_keys: list[str] = Field(default_factory=list)
    affected_ips: list[str] = Field(default_factory=list)
    attack_ids: list[str] = Field(default_factory=list)
    exposure: str = ""
    evidence_refs: list[str] = Field(default_factory=list)

    @field_validator("attack_ids")
    @classmethod
    def _attack_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.match(ATTACK_ID_RE, v)]
        if bad:
            raise ValueError(f"not ATT&CK technique ids: {bad}")
        return list(dict.fromkeys(value))


RecommendationStatus = Literal["proposed", "approved", "rejected", "executed", "failed", "expired", "denied",
                               "rolled_back"]


class Recommendation(BaseModel):
    id: str = Field(default_factory=lambda: new_id("rec"))
    action: str  # a registered action tool name
    target: str = ""
    args: dict[str, Any] = Field(default_factory=dict)
    tier: ApprovalTier = "required"
    reasoning: str = ""
    evidence_refs: list[str] = Field(default_factory=list)
    rollback_plan: str | None = None
    status: RecommendationStatus = "proposed"
    status_reason: str = ""
    binding: ApprovalBinding | None = None
    approvals: list[dict[str, Any]] = Field(default_factory=list)


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0
    model_calls: int = 0

    def add(self, other: "Usage") -> "Usage":
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 6),
            model_calls=self.model_calls + other.model_calls,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


class Timings(BaseModel):
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    duration_ms: float = 0.0
    model_ms: float = 0.0
    tool_ms: float = 0.0


class ReasonerIdentity(BaseModel):
    reasoner: Literal["react", "art", "deterministic"]
    provider: str = "deterministic"
    model: str = "none"
    deterministic: bool = False
    fallback_reason: str | None = None
    engine_version: str = ENGINE_VERSION

    @property
    def label(self) -> str:
        if self.deterministic:
            return "deterministic reasoner (rules over evidence, no language model)"
        return f"{self.reasoner} via {self.provider}:{self.model}"


class InjectionReport(BaseModel):
    flagged: bool = False
    findings: list[str] = Field(default_factory=list)


class AutoCloseDecision(BaseModel):
    """The policy's answer to "may this run close the incident by itself?" (triage runs only)."""

    allowed: bool = False
    reason: str = ""


class Deliverable(BaseModel):
    """Everything one reasoning run produces; always produced, whatever failed."""

    schema_version: str = DELIVERABLE_SCHEMA_VERSION
    run_id: str = Field(default_factory=lambda: new_id("run"))
    incident_id: str = ""
    method: Method
    task: str = ""
    status: RunStatus = "partial"
    status_reason: str = ""
    identity: ReasonerIdentity
    assessment: ThreatAssessment = Field(default_factory=ThreatAssessment)
    recommendations: list[Recommendation] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    trace: list[Step] = Field(default_factory=list)
    tool_log: list[ToolInvocation] = Field(default_factory=list)
    program: str | None = None
    demonstrations: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    timings: Timings = Field(default_factory=Timings)
    injection: InjectionReport = Field(default_factory=InjectionReport)
    autonomy: Literal["normal", "reduced"] = "normal"
    initiated_by: str = ""
    errors: list[str] = Field(default_factory=list)
    auto_close: AutoCloseDecision | None = None

    def evidence_ids(self) -> set[str]:
        return {e.id for e in self.evidence}


class AuditRecord(BaseModel):
    run_id: str
    seq: int = 0
    at: datetime = Field(default_factory=utcnow)
    kind: Literal["run_start", "run_end", "model_call", "tool_call", "policy_decision", "approval", "fallback",
                  "injection", "feedback"]
    actor: str = "engine"
    details: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# LLM-facing contracts (JSON Schemas come from these)
# --------------------------------------------------------------------------------------------


class ProposedAction(BaseModel):
    """A response action the model proposes. The tier is never the model's to choose: the policy sets it."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(description="name of a registered action tool")
    target: str = Field(default="", description="the account, key or IP acted upon")
    args: dict[str, Any] = Field(default_factory=dict, description="arguments for the action tool")
    reasoning: str = Field(default="", description="why, citing evidence ids")
    evidence_refs: list[str] = Field(default_factory=list, description="evidence ids such as E1")
    rollback_plan: str | None = Field(default=None, description="how to undo the action")


class FinalAnswer(BaseModel):
    """What the model must return to finish a run (ReAct final answer, ART `Ans:`)."""

    model_config = ConfigDict(extra="forbid")

    assessment: ThreatAssessment
    recommendations: list[ProposedAction] = Field(default_factory=list)


def final_answer_schema() -> dict[str, Any]:
    return FinalAnswer.model_json_schema()


def validation_message(error: ValidationError) -> str:
    """Compact, model-readable description of what failed validation (for the repair retry)."""
    parts = []
    for item in error.errors()[:12]:
        loc = ".".join(str(x) for x in item.get("loc", ()))
        parts.append(f"{loc or '(root)'}: {item.get('msg')}")
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Model turn contract (provider-neutral, Anthropic-shaped content blocks)
# --------------------------------------------------------------------------------------------


class ContentBlock(BaseModel):
    type: Literal["text", "tool_use", "tool_result"]
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    content: str | None = None
    is_error: bool | None = None

    def wire(self) -> dict[str, Any]:
        """The block as sent to Anthropic-shaped APIs (only the fields its type uses)."""
        if self.type == "text":
            return {"type": "text", "text": self.text or ""}
        if self.type == "tool_use":
            return {"type": "tool_use", "id": self.id, "name": self.name, "input": self.input or {}}
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": self.tool_use_id, "content": self.content or ""}
        if self.is_error:
            block["is_error"] = True
        return block


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: list[ContentBlock]

    @classmethod
    def user_text(cls, text: str) -> "Message":
        return cls(role="user", content=[ContentBlock(type="text", text=text)])

    def wire(self) -> dict[str, Any]:
        return {"role": self.role, "content": [b.wire() for b in self.content]}


StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
                     "model_context_window_exceeded", "error"]


class ModelRequest(BaseModel):
    system: str = ""
    messages: list[Message] = Field(default_factory=list)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    max_tokens: int = 4096
    stop_sequences: list[str] = Field(default_factory=list)
    cache_prefix: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict, description="structured run facts, e.g. for the "
                                     "deterministic provider; never secrets")


class ModelResponse(BaseModel):
    content: list[ContentBlock] = Field(default_factory=list)
    stop_reason: StopReason = "end_turn"
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    provider: str = ""
    latency_ms: float = 0.0

    def text(self) -> str:
        return "".join(b.text or "" for b in self.content if b.type == "text")

    def tool_uses(self) -> list[ContentBlock]:
        return [b for b in self.content if b.type == "tool_use"]


ModelErrorKind = Literal["auth", "rate_limit", "overloaded", "context_window", "refusal", "max_tokens",
                         "bad_request", "connection", "timeout", "budget", "server", "config", "unknown"]


class ModelError(Exception):
    """A provider failure mapped to a kind the engine can act on (retry, fall back, report)."""

    def __init__(self, kind: ModelErrorKind, message: str, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.status = status

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


# --------------------------------------------------------------------------------------------
# Side-effect interfaces (the platform adapters implement these)
# --------------------------------------------------------------------------------------------


class ModelClient(Protocol):
    def turn(self, request: ModelRequest) -> ModelResponse: ...


class ToolExecutor(Protocol):
    def execute(self, call: ToolCall, spec: ToolSpec) -> ToolResult: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class AuditSink(Protocol):
    def write(self, record: AuditRecord) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()

    def monotonic(self) -> float:
        import time

        return time.monotonic()


class ListAuditSink:
    """Keeps audit records in memory; platforms flush them to the war room / context / a file."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def write(self, record: AuditRecord) -> None:
        self.records.append(record)
