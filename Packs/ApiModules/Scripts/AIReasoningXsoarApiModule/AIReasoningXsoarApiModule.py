# AI Reasoning - XSOAR glue shared by every AI Reasoning script.
#
# The engine (AIReasoningApiModule) is platform-neutral; this module is the one place that knows XSOAR:
# how to run a command (demisto.executeCommand), where the editable configuration lives (the Lists
# AIReasoningToolRegistry / AIReasoningPolicy / AIReasoningTaskLibrary), where cross-run policy state is kept
# (the List AIReasoningPolicyState), how audit records reach the war room, and where results go (context
# AIReasoning.*, war-room notes, incident fields). Scripts stay thin: parse args, call one function here.
import copy  # noqa: E402
import json  # noqa: E402
import secrets as _secrets  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import demistomock as demisto  # noqa: F401
from AIReasoningApiModule import *  # noqa: F401,F403
from CommonServerPython import *  # noqa: F401,F403

GATEWAY_COMMAND = "ai-reasoning-step"
LIST_TOOL_REGISTRY = "AIReasoningToolRegistry"
LIST_POLICY = "AIReasoningPolicy"
LIST_TASK_LIBRARY = "AIReasoningTaskLibrary"
LIST_POLICY_STATE = "AIReasoningPolicyState"
LIST_POLICY_FACTS = "AIReasoningPolicyFacts"
CONFIG_LISTS = (LIST_TOOL_REGISTRY, LIST_POLICY, LIST_TASK_LIBRARY)

RUN_PREFIX = "AIReasoning.Run"
LATEST_KEY = "AIReasoning.Latest"
APPROVAL_PREFIX = "AIReasoning.Approval"
ACTION_PREFIX = "AIReasoning.Action"
PENDING_KEY = "AIReasoning.Pending"
NOTE_TAG = "ai-reasoning"
AUDIT_TAG = "ai-reasoning-audit"

FIELD_VERDICT = "aireasoningverdict"
FIELD_THREAT = "aireasoningthreatlevel"
FIELD_CONFIDENCE = "aireasoningconfidence"
FIELD_TECHNIQUES = "aireasoningtechniques"
FIELD_REC_STATUS = "aireasoningrecommendationstatus"

# Who ran a script when no person did (playbook tasks run as DBot).
PLAYBOOK_USERS = frozenset({"", "dbot", "DBot"})

# Context paths the enrichment playbooks write -> the registry tool whose real command writes them.
# Used to turn `enrichment_paths` into preloaded observations; `tool=Path` in the argument overrides it.
CONTEXT_PATH_TOOLS: dict[str, str] = {
    "AbuseIPDB.IP": "ip_reputation",
    "DBotScore": "ip_reputation",
    "IP": "ip_reputation",
    "AWS.IAM.Users.AccessKeys": "iam_list_access_keys",
    "AWS.IAM.AttachedUserPolicies": "iam_list_attached_user_policies",
    "AWS.IAM.AccessKey": "iam_get_access_key_last_used",
    "AWS.IAM.Users": "iam_get_user",
    "AWS.CloudTrail.Events": "cloudtrail_lookup_events",
    "Okta.Logs.Events": "okta_get_logs",
    "Account": "okta_get_user",
    "Splunk.Result": "splunk_search",
    "Exabeam.User": "ueba_user_risk",
}


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def utc_now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def calling_user() -> str:
    """The XSOAR user who ran this script (war room, layout button); "" when a playbook task ran it.

    Real scripts read `demisto.callingContext['context']['ParentEntry']['user']`; playbook tasks have
    no parent entry user (the work plan shows DBot).
    """
    try:
        context = demisto.callingContext.get("context") or {}
        user = (context.get("ParentEntry") or {}).get("user") or ""
    except (AttributeError, TypeError):
        user = ""
    return "" if str(user) in PLAYBOOK_USERS else str(user)


def context_get(path: str, context: dict[str, Any] | None = None) -> Any:
    """A dotted context path, mapping over lists the way DT does (`AWS.IAM.Users.AccessKeys`)."""
    node: Any = demisto.context() if context is None else context
    for part in [p for p in path.split(".") if p]:
        if isinstance(node, list):
            values = [item.get(part) for item in node if isinstance(item, dict) and part in item]
            flat: list[Any] = []
            for value in values:
                flat.extend(value if isinstance(value, list) else [value])
            node = flat or None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
        if node is None:
            return None
    return node


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def run_command(command: str, args: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """demisto.executeCommand, always as a list of entries (what the engine's adapters expect)."""
    result = demisto.executeCommand(command, dict(args or {}))
    if result is None:
        return []
    return result if isinstance(result, list) else [result]


def first_contents(entries: list[dict[str, Any]]) -> Any:
    for entry in entries:
        if isinstance(entry, dict) and entry.get("Type") != EntryType.ERROR:
            return entry.get("Contents")
    return None


def error_text(entries: list[dict[str, Any]]) -> str:
    return "; ".join(str(e.get("Contents")) for e in entries
                     if isinstance(e, dict) and e.get("Type") == EntryType.ERROR)


# --------------------------------------------------------------------------------------------
# Lists (configuration)
# --------------------------------------------------------------------------------------------


def get_list_text(name: str) -> str | None:
    """The text of an XSOAR List, or None when it does not exist (or cannot be read)."""
    entries = run_command("getList", {"listName": name})
    if not entries or is_error(entries):
        return None
    contents = entries[0].get("Contents")
    if contents is None:
        return None
    if not isinstance(contents, str):
        return json.dumps(contents)
    if contents.startswith("Item not found") or not contents.strip():
        return None
    return contents


def set_list_text(name: str, text: str) -> None:
    """Write a List, creating it on first use. Raises DemistoException when the server refuses."""
    entries = run_command("setList", {"listName": name, "listData": text})
    if entries and is_error(entries):
        created = run_command("createList", {"listName": name, "listData": text})
        if created and is_error(created):
            raise DemistoException(f"Could not write the list {name}: {error_text(created) or error_text(entries)}")


def shipped_list_text(name: str) -> str | None:
    """The pack's shipped default for a List, when this code runs from the repository (local runtime, tests).

    On a tenant the Lists are installed with the pack; this fallback only matters when one was deleted and
    the code runs somewhere the pack files exist. There is one copy of each default: the List data file.
    """
    here = globals().get("__file__")
    if not here:
        return None
    for parent in Path(here).resolve().parents:
        folder = parent / "Packs" / "AIReasoning" / "Lists" / name
        if folder.is_dir():
            for candidate in sorted(folder.glob(f"{name}_data.*")):
                return candidate.read_text(encoding="utf-8")
            return None
    return None


def load_config_text(name: str) -> tuple[str | None, str]:
    """(text, source) for a configuration List: the tenant's List, else the shipped default, else nothing."""
    text = get_list_text(name)
    if text is not None:
        return text, f"list:{name}"
    shipped = shipped_list_text(name)
    if shipped is not None:
        return shipped, f"shipped:{name}"
    return None, "builtin"


class ReasoningSetup:
    """Registry, policy configuration, task library and policy state for one script execution."""

    def __init__(self, registry: Any, config: Any, library: Any, state: Any, secret: str,
                 facts: dict[str, set[str]], sources: dict[str, str]) -> None:
        self.registry = registry
        self.config = config
        self.library = library
        self.state = state
        self.secret = secret
        self.facts = facts
        self.sources = sources
        self.clock = SystemClock()

    def policy(self) -> Any:
        return Policy(self.registry, self.config, self.clock, state=self.state, facts=self.facts,
                      approval_secret=self.secret)

    def save_state(self, policy: Any | None = None) -> None:
        save_policy_state(policy.state if policy is not None else self.state, self.secret)


def load_setup(with_library: bool = True) -> ReasoningSetup:
    """Read the three configuration Lists (falling back to the shipped defaults) and the policy state.

    A List that exists but does not parse is an error (a broken policy must not silently become another
    one); a missing List falls back to the shipped default, and with none available to the engine's own
    defaults: no tools, default-deny policy, empty library.
    """
    sources: dict[str, str] = {}
    text, sources["registry"] = load_config_text(LIST_TOOL_REGISTRY)
    registry = ToolRegistry.from_config(text) if text else ToolRegistry([])
    text, sources["policy"] = load_config_text(LIST_POLICY)
    config = PolicyConfig.from_config(text)
    library = None
    if with_library:
        text, sources["library"] = load_config_text(LIST_TASK_LIBRARY)
        library = TaskLibrary.from_yaml(text or "")
    state, secret = load_policy_state()
    return ReasoningSetup(registry, config, library, state, secret, load_policy_facts(), sources)


def load_policy_facts() -> dict[str, set[str]]:
    """Optional List AIReasoningPolicyFacts: {"admin_accounts": [...], "service_accounts": [...]}."""
    text = get_list_text(LIST_POLICY_FACTS)
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as error:
        raise DemistoException(f"The list {LIST_POLICY_FACTS} is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise DemistoException(f"The list {LIST_POLICY_FACTS} must be a JSON object of name -> list of values")
    return {str(k): {str(v) for v in as_list(values)} for k, values in data.items()}


# --------------------------------------------------------------------------------------------
# Policy state (rate windows and blast radius across runs) and the approval secret
# --------------------------------------------------------------------------------------------


def load_policy_state() -> tuple[Any, str]:
    """PolicyState and the approval secret from the List AIReasoningPolicyState (created on first use).

    The secret signs approval bindings; the script that binds (the reasoning run) and the one that verifies
    (approve / execute) run in different processes, so it has to be stored. It is not a credential: it makes
    an edited or copied binding detectable, it does not authenticate people (XSOAR does that).
    """
    text = get_list_text(LIST_POLICY_STATE)
    data: dict[str, Any] = {}
    if text:
        try:
            data = json.loads(text)
        except ValueError:
            demisto.debug(f"{LIST_POLICY_STATE} is not valid JSON; starting from an empty policy state")
    try:
        state = PolicyState.model_validate(data.get("state") or {})
    except Exception as error:  # a corrupted state must not block investigations; windows restart
        demisto.debug(f"ignoring unreadable policy state: {error}")
        state = PolicyState()
    secret = str(data.get("approval_secret") or "")
    if not secret:
        secret = _secrets.token_hex(32)
        save_policy_state(state, secret)
    return state, secret


def save_policy_state(state: Any, secret: str) -> None:
    doc = {"state": state.model_dump(mode="json"), "approval_secret": secret, "updated": utc_now_iso()}
    set_list_text(LIST_POLICY_STATE, json.dumps(doc, sort_keys=True))


# --------------------------------------------------------------------------------------------
# Audit: engine records -> war-room notes
# --------------------------------------------------------------------------------------------


class XsoarAuditSink(ListAuditSink):
    """Collects the engine's audit records and writes them to the war room as one tagged note per run.

    Every record is redacted with the run's secrets before it leaves the process; the war room then keeps
    it with brand, user and time like any other entry.
    """

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s]

    def extend(self, records: list[Any]) -> None:
        for record in records:
            self.write(record)

    def entries(self) -> list[dict[str, Any]]:
        rows = [Redactor(self.secrets).redact(r.model_dump(mode="json")) for r in self.records]
        self.records = []
        if not rows:
            return []
        table = [{"seq": r.get("seq"), "at": r.get("at"), "kind": r.get("kind"), "actor": r.get("actor"),
                  "details": json.dumps(r.get("details"), sort_keys=True)[:500]} for r in rows]
        run_ids = sorted({str(r.get("run_id")) for r in rows})
        return [{
            "Type": EntryType.NOTE,
            "ContentsFormat": EntryFormat.JSON,
            "Contents": rows,
            "HumanReadable": tableToMarkdown(f"AI Reasoning audit trail ({', '.join(run_ids)})", table,
                                             headers=["seq", "at", "kind", "actor", "details"]),
            "ReadableContentsFormat": EntryFormat.MARKDOWN,
            "Note": True,
            "Tags": [AUDIT_TAG],
        }]

    def flush(self) -> None:
        for entry in self.entries():
            demisto.results(entry)


def audit_record(run_id: str, kind: str, actor: str, details: dict[str, Any]) -> Any:
    return AuditRecord(run_id=run_id, kind=kind, actor=actor or "playbook", details=details)


# --------------------------------------------------------------------------------------------
# Evidence the playbook already gathered -> preloaded observations
# --------------------------------------------------------------------------------------------


def tool_for_path(path: str) -> str | None:
    for prefix, tool in sorted(CONTEXT_PATH_TOOLS.items(), key=lambda kv: -len(kv[0])):
        if path == prefix or path.startswith(prefix + "."):
            return tool
    return None


def infer_call_args(registry: Any, tool: str, value: Any) -> list[tuple[dict, Any]]:
    """Split an enrichment result into (tool args, output) pairs the reasoner would have asked for itself.

    An item that names exactly one value for each entity argument of the tool (e.g. one AbuseIPDB.IP record ->
    {"ip": "80.82.77.33"}) gets those arguments, so the reasoner recognises the call as already answered.
    Anything else stays one observation labelled with its context path.
    """
    spec = registry.get(tool) if registry is not None else None
    items = value if isinstance(value, list) else [value]
    if spec is None or not spec.entity_args:
        return []
    grouped: dict[str, tuple[dict, list[Any]]] = {}
    for item in items:
        found = extract_entities(item)
        args: dict[str, Any] = {}
        for arg, kind in spec.entity_args.items():
            values = found.of(kind)
            if len(values) != 1:
                return []
            args[arg] = values[0]
        if registry.validate_args(tool, args):
            return []
        grouped.setdefault(canonical_json(args), (args, []))[1].append(item)
    return [(args, outputs[0] if len(outputs) == 1 else outputs) for args, outputs in grouped.values()]


def preloaded_observations(paths_arg: Any, context: dict[str, Any] | None = None,
                           registry: Any = None) -> list[tuple[str, dict, Any]]:
    """`enrichment_paths` ("AWS.IAM.Users,Okta.Logs.Events" or "tool=Path") -> [(tool, args, output)].

    The reasoner treats these as tool results it already has, so a playbook's enrichment is reused as
    evidence instead of being fetched again. Paths with no value in context are skipped.
    """
    observations: list[tuple[str, dict, Any]] = []
    for item in argToList(paths_arg):
        item = str(item).strip()
        if not item:
            continue
        tool, _, path = item.partition("=") if "=" in item else ("", "", item)
        tool = tool.strip() or tool_for_path(path.strip()) or "playbook_enrichment"
        value = context_get(path.strip(), context)
        if value in (None, "", [], {}):
            continue
        inferred = infer_call_args(registry, tool, value)
        if inferred:
            observations.extend((tool, args, output) for args, output in inferred)
        else:
            observations.append((tool, {"context_path": path.strip(), "source": "playbook"}, value))
    return observations


# --------------------------------------------------------------------------------------------
# Running the reasoners
# --------------------------------------------------------------------------------------------


def current_incident() -> dict[str, Any]:
    return demisto.incident() or {}


def build_run_config(args: dict[str, Any], initiated_by: str, registry: Any = None) -> Any:
    return RunConfig(
        initiated_by=initiated_by or "playbook",
        preloaded_observations=preloaded_observations(args.get("enrichment_paths"), registry=registry),
        provider="ai-reasoning-gateway",
        model=str(args.get("using") or "default instance"),
    )


class GatewayModelClient:
    """CommandModelClient that remembers who answered each turn (the gateway reports provider and model).

    The gateway may answer with its deterministic client (no API key configured, budget exhausted); the
    deliverable must then say so, whatever the script assumed when it started.
    """

    def __init__(self, using: str | None = None) -> None:
        self.inner = CommandModelClient(run_command, command=GATEWAY_COMMAND, using=using)
        self.answered_by: list[tuple[str, str]] = []

    def turn(self, request: Any) -> Any:
        response = self.inner.turn(request)
        self.answered_by.append((str(response.provider or ""), str(response.model or "")))
        return response


def model_client(args: dict[str, Any]) -> GatewayModelClient:
    return GatewayModelClient(using=args.get("using") or None)


def label_identity(deliverable: Any, client: GatewayModelClient) -> None:
    """Set the reasoner identity from what actually answered (deterministic turns are labelled as such)."""
    if deliverable.identity.deterministic or not client.answered_by:
        return
    models = [(p, m) for p, m in client.answered_by if p and p != "deterministic"]
    if not models:
        deliverable.identity = ReasonerIdentity(
            reasoner="deterministic", provider="deterministic", model=client.answered_by[-1][1] or "rules",
            deterministic=True, fallback_reason="the AI Reasoning Gateway answered with its deterministic reasoner")
        return
    deliverable.identity.provider, deliverable.identity.model = models[-1]


def run_reasoner(method: str, args: dict[str, Any], incident: dict[str, Any] | None = None,
                 setup: ReasoningSetup | None = None) -> tuple[Any, XsoarAuditSink, ReasoningSetup]:
    """Run ReAct, ART or triage on an incident with the tenant's configuration; persists policy state."""
    setup = setup or load_setup(with_library=method in ("art", "triage"))
    running = current_incident()
    if incident is not None and str(incident.get("id") or "") != str(running.get("id") or ""):
        # enrichment_paths name keys of the *running* incident's context: another incident's run (batch
        # triage) must not take that incident's enrichment as its own evidence.
        args = {k: v for k, v in args.items() if k != "enrichment_paths"}
    incident_input = IncidentInput.from_xsoar(incident if incident is not None else running)
    policy = setup.policy()
    audit = XsoarAuditSink()
    client = model_client(args)
    common: dict[str, Any] = {
        "model": client,
        "executor": CommandToolExecutor(run_command),
        "registry": setup.registry,
        "policy": policy,
        "clock": setup.clock,
        "audit": audit,
        "config": build_run_config(args, calling_user(), setup.registry),
    }
    if method == "react":
        question = args.get("question") or "Investigate this incident: what happened, how bad is it, what should we do?"
        deliverable = run_react(incident_input, question, library=setup.library, **common)
    elif method == "art":
        task = args.get("task") or incident_input.task_text() or "Analyse this incident"
        deliverable = run_art(incident_input, task, library=setup.library, **common)
    elif method == "triage":
        deliverable = run_triage(incident_input, library=setup.library, **common)
    else:
        raise DemistoException(f"unknown reasoning method {method!r}")
    label_identity(deliverable, client)
    setup.save_state(policy)
    return deliverable, audit, setup


# --------------------------------------------------------------------------------------------
# Batch triage (alert storms): one run per situation, each member decided on its own
# --------------------------------------------------------------------------------------------


def incident_injection_findings(incident: dict[str, Any]) -> list[str]:
    """Prompt-injection findings in one XSOAR incident's own text (name, details, labels, fields, raw alert).

    A batch runs the reasoner on one representative per situation, so only the representative's text is
    scanned by the run. A member whose own text tries to steer the model must still never be closed by the
    group's verdict: this scans each member the way a run scans its incident.
    """
    item = IncidentInput.from_xsoar(incident)
    return detect_injection({"id": item.id, "name": item.name, "type": item.type, "occurred": item.occurred,
                             "details": item.details, "labels": item.labels, "custom_fields": item.custom_fields,
                             "raw_alert": item.raw_alert})


def incident_severity(incident: dict[str, Any]) -> int:
    """XSOAR severity 0-4 of an incident dict (names such as "high" included), as the engine reads it."""
    return IncidentInput.from_xsoar({"severity": incident.get("severity")}).severity


def triage_batch_markdown(groups: list[Any], runs: dict[str, Any], incidents: int) -> str:
    """War-room summary of a batch: how many incidents, distinct situations and reasoner runs, per situation."""
    rows = [{"situation_key": g.key, "situation": g.situation.describe(), "incidents": len(g.member_ids),
             "representative_id": g.representative_id, "run_id": runs[g.key].run_id,
             "verdict": runs[g.key].assessment.verdict, "threat_level": runs[g.key].assessment.threat_level}
            for g in groups if g.key in runs]
    title = (f"AI Reasoning batch triage: {incidents} incident(s), {len(groups)} situation(s), "
             f"{len(runs)} reasoner run(s)")
    return tableToMarkdown(title, rows, headers=["situation_key", "situation", "incidents", "representative_id",
                                                 "run_id", "verdict", "threat_level"])


# --------------------------------------------------------------------------------------------
# Results: context, war room, incident fields
# --------------------------------------------------------------------------------------------


def run_context(deliverable: Any, secrets: list[str] | None = None) -> dict[str, Any]:
    """What goes to AIReasoning.Run: the whole redacted deliverable, with the approval bindings intact.

    Redaction treats any field named like a token as a secret; a binding token is an HMAC of the run, call
    and arguments (not a credential) and approvals are verified against it, so it is put back.
    """
    ctx = deliverable_context(deliverable, secrets or [])
    for stored, rec in zip(ctx.get("recommendations") or [], deliverable.recommendations, strict=False):
        if isinstance(stored, dict) and rec.binding is not None:
            stored["binding"] = rec.binding.model_dump(mode="json")
    return ctx


def latest_summary(deliverable: Any) -> dict[str, Any]:
    assessment = deliverable.assessment
    recs = deliverable.recommendations
    return {
        "run_id": deliverable.run_id,
        "incident_id": deliverable.incident_id,
        "method": deliverable.method,
        "status": deliverable.status,
        "reasoner": deliverable.identity.label,
        "deterministic": deliverable.identity.deterministic,
        "verdict": assessment.verdict,
        "threat_level": assessment.threat_level,
        "confidence": assessment.confidence,
        "attack_ids": list(assessment.attack_ids),
        "recommendation_ids": [r.id for r in recs],
        "pending_recommendation_ids": [r.id for r in recs if r.status == "proposed"],
        "injection_flagged": deliverable.injection.flagged,
    }


def recommendation_status_text(recommendations: list[Any]) -> str:
    if not recommendations:
        return "no recommendations"
    counts: dict[str, int] = {}
    for rec in recommendations:
        status = rec.status if hasattr(rec, "status") else str(rec.get("status", "proposed"))
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def incident_field_args(deliverable: Any) -> dict[str, Any]:
    assessment = deliverable.assessment
    return {
        FIELD_VERDICT: assessment.verdict,
        FIELD_THREAT: assessment.threat_level,
        FIELD_CONFIDENCE: round(float(assessment.confidence) * 100),
        FIELD_TECHNIQUES: list(assessment.attack_ids),
        FIELD_REC_STATUS: recommendation_status_text(deliverable.recommendations),
    }


def set_incident_fields(fields: dict[str, Any], incident_id: str | None = None) -> None:
    args = dict(fields)
    if incident_id:
        args["id"] = incident_id
    entries = run_command("setIncident", args)
    if entries and is_error(entries):
        demisto.debug(f"setIncident failed: {error_text(entries)}")


def deliverable_results(deliverable: Any, audit: XsoarAuditSink, *, set_latest: bool = True,
                        title_tags: list[str] | None = None) -> list[Any]:
    """The war-room note (rendered deliverable), its context, and the redacted audit note."""
    results: list[Any] = [CommandResults(
        outputs_prefix=RUN_PREFIX,
        outputs_key_field="run_id",
        outputs=run_context(deliverable),
        readable_output=render_markdown(deliverable),
        mark_as_note=True,
        tags=[NOTE_TAG, *(title_tags or [])],
    )]
    results.extend(audit.entries())
    if set_latest:
        demisto.setContext(LATEST_KEY, latest_summary(deliverable))
    return results


# --------------------------------------------------------------------------------------------
# Stored runs, recommendations and approvals
# --------------------------------------------------------------------------------------------


def stored_runs(context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    runs = context_get(RUN_PREFIX, context)
    return [r for r in as_list(runs) if isinstance(r, dict)]


def find_run(run_id: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored deliverable of a run in this incident; the latest one when run_id is empty."""
    runs = stored_runs(context)
    if not run_id:
        latest = context_get(LATEST_KEY + ".run_id", context)
        run_id = str(latest or (runs[-1].get("run_id") if runs else ""))
    for run in runs:
        if str(run.get("run_id")) == str(run_id):
            return run
    raise DemistoException(f"No AI Reasoning run '{run_id}' in this incident's context (AIReasoning.Run)")


def find_recommendation(run: dict[str, Any], recommendation_id: str) -> dict[str, Any]:
    for rec in as_list(run.get("recommendations")):
        if isinstance(rec, dict) and str(rec.get("id")) == str(recommendation_id):
            return rec
    raise DemistoException(f"Run '{run.get('run_id')}' has no recommendation '{recommendation_id}'")


def approvals_needed(tier: str) -> int:
    return {"none": 0, "optional": 0, "recommended": 1, "required": 1, "dual": 2}.get(tier, 2)


def verify_binding(policy: Any, run: dict[str, Any], rec: dict[str, Any]) -> tuple[bool, str]:
    """Is this recommendation, as stored now, exactly the one the run bound for approval?"""
    binding_data = rec.get("binding")
    if not binding_data:
        return False, "recommendation has no approval binding (was it proposed by this run?)"
    try:
        binding = ApprovalBinding.model_validate(binding_data)
    except Exception as error:
        return False, f"approval binding is malformed: {error}"
    call = ToolCall(id=binding.call_id, tool=str(rec.get("action", "")), args=dict(rec.get("args") or {}),
                    requested_by="analyst")
    return policy.verify_approval(binding, str(run.get("run_id", "")), call)


def updated_run_result(run: dict[str, Any], readable: str) -> Any:
    """Write a changed run back to AIReasoning.Run (merged by run_id), with a short war-room line."""
    return CommandResults(outputs_prefix=RUN_PREFIX, outputs_key_field="run_id", outputs=run,
                          readable_output=readable)


def record_decision(run: dict[str, Any], rec: dict[str, Any], *, decision: str, user: str, reason: str,
                    initiator: str) -> tuple[dict[str, Any], str]:
    """Apply one approve / reject / expire decision to a stored recommendation (in place).

    Rules: a decided recommendation cannot be decided again; rejecting or expiring ends it; approving
    needs a named person; for dual approval the two approvers must be distinct and neither may be the
    person who started the run. Returns (approval record, message). Raises DemistoException on refusal.
    """
    status = rec.get("status", "proposed")
    if status not in ("proposed",):
        raise DemistoException(f"Recommendation {rec.get('id')} is already {status}; nothing to decide")
    tier = str(rec.get("tier") or "required")
    approvals = [a for a in as_list(rec.get("approvals")) if isinstance(a, dict)]
    record = {"user": user or "playbook", "decision": decision, "reason": reason, "at": utc_now_iso(),
              "tier": tier}
    if decision == "approve":
        if not user:
            raise DemistoException("An approval must name the approving user (run the script as that user, "
                                   "or pass approver from the task that collected the decision)")
        if tier == "dual" and initiator and user.lower() == initiator.lower():
            raise DemistoException(f"{user} started this run and cannot be one of the two approvers of a dual "
                                   "approval")
        if any(str(a.get("user", "")).lower() == user.lower() and a.get("decision") == "approve"
               for a in approvals):
            raise DemistoException(f"{user} has already approved this recommendation; a second approval must "
                                   "come from a different person")
        approvals.append(record)
        have = sum(1 for a in approvals if a.get("decision") == "approve")
        need = approvals_needed(tier)
        if have >= need:
            rec["status"] = "approved"
            names = ", ".join(a["user"] for a in approvals if a["decision"] == "approve")
            rec["status_reason"] = f"approved by {names}"
        else:
            rec["status_reason"] = f"{have} of {need} approvals"
        message = f"{user} approved {rec.get('action')} ({have}/{need})"
    elif decision in ("reject", "expire"):
        approvals.append(record)
        rec["status"] = "rejected" if decision == "reject" else "expired"
        rec["status_reason"] = (f"rejected by {user or 'playbook'}: {reason}" if decision == "reject"
                                else f"approval window expired: {reason or 'no decision before the SLA'}")
        message = rec["status_reason"]
    else:
        raise DemistoException(f"decision must be approve, reject or expire, not {decision!r}")
    rec["approvals"] = approvals
    record["status"] = rec["status"]
    return record, message


def pending_summary(run: dict[str, Any], rec: dict[str, Any], registry: Any | None = None) -> dict[str, Any]:
    """What an approver needs to see (and a playbook needs to branch on) for one recommendation."""
    spec = registry.get(str(rec.get("action"))) if registry is not None else None
    rollback = None
    if spec is not None and spec.rollback is not None:
        rollback = {"command": spec.rollback.command, "args": spec.rollback.render(dict(rec.get("args") or {})),
                    "description": spec.rollback.description}
    tier = str(rec.get("tier") or "required")
    return {
        "run_id": run.get("run_id"),
        "recommendation_id": rec.get("id"),
        "action": rec.get("action"),
        "command": spec.command if spec is not None else "",
        "target": rec.get("target"),
        "args": rec.get("args") or {},
        "tier": tier,
        "tier_group": "auto" if tier in AUTO_RUN_TIERS else ("dual" if tier == "dual" else "single"),
        "status": rec.get("status"),
        "reasoning": rec.get("reasoning"),
        "evidence_refs": rec.get("evidence_refs") or [],
        "rollback_plan": rec.get("rollback_plan") or (rollback or {}).get("description"),
        "rollback": rollback,
        "reversible": bool(spec.reversible) if spec is not None else False,
        "approvals": len([a for a in as_list(rec.get("approvals")) if isinstance(a, dict)
                          and a.get("decision") == "approve"]),
        "approvals_needed": approvals_needed(tier),
    }


def copy_run(run: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(run)


def fail(message: str) -> None:
    """return_error with the platform's semantics (error entry, script marked failed)."""
    return_error(message)


def run_main(main: Callable[[], None]) -> None:
    """Common entry point: any unexpected error becomes a readable error entry, not a traceback."""
    try:
        main()
    except Exception as error:  # the platform shows this in the war room and fails the task
        fail(f"{type(error).__name__}: {error}")
