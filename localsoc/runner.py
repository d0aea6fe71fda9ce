"""Wiring: one playbook on one scenario, with the real pack code, on a simulated SOC.

Every command a playbook task (or a pack script through ``demisto.executeCommand``) issues is routed the way a
tenant would route it:

1. server builtins and stock utility scripts (``setIncident``, ``Set``, ``getList`` ...) -> `localsoc.playbook.builtins`
2. pack scripts (``Packs/*/Scripts/<Name>/<Name>.py``, by the yml ``name``) -> run unchanged under the platform
   doubles, in a session that shares the incident, the war room and the running (sub-)playbook's context
3. the LLM gateway commands (``ai-reasoning-step``, ``ai-reasoning-ask``) -> the real gateway integration code, with
   instance parameters built from the environment (deterministic provider unless asked otherwise)
4. everything else -> `SimulatedSOC.dispatch`; no enabled integration -> the platform's "Unsupported Command" error.

The result is a `RunOutcome`: what the report and the CLI show, and what the scenario tests assert on.
"""

from __future__ import annotations

import copy
import os
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from localsoc.playbook import (
    ApprovalProvider,
    ApprovalRecord,
    Event,
    Failure,
    PlaybookError,
    PlaybookInterpreter,
    PlaybookLibrary,
    PlaybookUnsupported,
    Scope,
    TaskRecord,
    make_provider,
)
from localsoc.playbook.builtins import BUILTIN_COMMANDS, BuiltinEnv, ListStore, run_builtin
from localsoc.playbook.loader import Playbook, read_yaml
from localsoc.soc import SimulatedSOC, load_scenario
from localsoc.soc.scenario import Scenario

REPO_ROOT = Path(__file__).resolve().parents[1]

from xsoar_session import XSOARSession, run_script, run_unified, unsupported_command  # noqa: E402

__all__ = [
    "FLAGSHIP_PLAYBOOKS",
    "GATEWAY_BRAND",
    "GATEWAY_COMMANDS",
    "PROVIDERS",
    "CommandRecord",
    "LocalRuntime",
    "RunOutcome",
    "flagship_for",
    "gateway_params",
    "run_playbook",
]

# Scenario category -> the flagship playbook the content pack ships for it (one place; the CLI and tests use it).
FLAGSHIP_PLAYBOOKS: dict[str, str] = {
    "iam_anomaly": "AI Reasoning - IAM Anomaly ART Analysis",
    "unauthorized_access": "AI Reasoning - IAM Anomaly ART Analysis",
    "privilege_escalation": "AI Reasoning - IAM Anomaly ART Analysis",
    "api_key_abuse": "AI Reasoning - API Key Abuse ReAct Investigation",
    "alert_triage": "AI Reasoning - Alert Triage",
}

GATEWAY_BRAND = "AI Reasoning Gateway"
GATEWAY_COMMANDS = ("ai-reasoning-step", "ai-reasoning-ask", "test-module")
PROVIDERS = ("deterministic", "anthropic", "openai-compatible")
PACK_PLAYBOOK_DIR = REPO_ROOT / "Packs" / "AIReasoning" / "Playbooks"

Entry = dict[str, Any]


def flagship_for(category: str) -> str | None:
    """The flagship playbook name for a scenario category (None: no flagship for it)."""
    return FLAGSHIP_PLAYBOOKS.get(category)


def gateway_params(provider: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Gateway instance parameters for a provider, with keys and URLs from the environment.

    anthropic: ``ANTHROPIC_API_KEY`` (+ optional ``ANTHROPIC_MODEL``); openai-compatible: ``OPENAI_BASE_URL``,
    ``OPENAI_API_KEY``, ``OPENAI_MODEL``. A missing key is left for the gateway to report (its own message says
    what to set), rather than silently switching provider here.
    """
    env = os.environ if env is None else env
    if provider == "deterministic":
        return {"provider": "Deterministic"}
    if provider == "anthropic":
        params: dict[str, Any] = {"provider": "Anthropic",
                                  "credentials": {"identifier": "", "password": env.get("ANTHROPIC_API_KEY", "")}}
        if env.get("ANTHROPIC_MODEL"):
            params["model_override"] = env["ANTHROPIC_MODEL"]
        return params
    if provider == "openai-compatible":
        return {"provider": "OpenAI-compatible", "base_url": env.get("OPENAI_BASE_URL", ""),
                "credentials": {"identifier": "", "password": env.get("OPENAI_API_KEY", "")},
                "model_override": env.get("OPENAI_MODEL", "")}
    raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")


@dataclass
class CommandRecord:
    """One command execution (from a playbook task or from inside a script): the tool invocation log."""

    command: str
    route: str  # builtin | script | gateway | soc | unsupported
    caller: str  # "playbook <name> task <id>" or "script <Name>"
    args: dict[str, Any]
    ok: bool
    brand: str = ""
    duration_ms: float = 0.0
    error: str = ""
    entries: int = 0


@dataclass
class RunOutcome:
    """Everything one run produced."""

    status: str  # completed | failed
    playbook: str
    scenario: str
    category: str
    failure: Failure | None
    context: dict[str, Any]
    incident: dict[str, Any]
    war_room: list[dict[str, Any]]
    deliverable: dict[str, Any] | None
    approvals: list[ApprovalRecord]
    undo_log: list[dict[str, Any]]
    soc_state: dict[str, Any]
    tasks: list[TaskRecord]
    commands: list[CommandRecord]
    timings: dict[str, Any]
    provider: str = "deterministic"
    approve: str = "all"
    expect: dict[str, Any] | None = None
    scenario_data: dict[str, Any] = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def assessment(self) -> dict[str, Any]:
        return dict((self.deliverable or {}).get("assessment") or {})

    @property
    def verdict(self) -> str:
        return str(self.assessment.get("verdict") or self.incident.get("CustomFields", {}).get(
            "aireasoningverdict") or "")

    @property
    def threat_level(self) -> str:
        return str(self.assessment.get("threat_level") or self.incident.get("CustomFields", {}).get(
            "aireasoningthreatlevel") or "")

    @property
    def expected_verdict(self) -> str:
        return str((self.expect or {}).get("verdict") or "")

    @property
    def actions_executed(self) -> int:
        """Response actions that changed the simulated tenant and are still in effect."""
        return sum(1 for a in self.undo_log if not a.get("undone"))

    @property
    def actions_rejected(self) -> int:
        recs = (self.deliverable or {}).get("recommendations") or []
        return sum(1 for r in recs if isinstance(r, Mapping) and r.get("status") in ("rejected", "expired", "denied"))


class _TaskSession(XSOARSession):
    """A script/integration session inside a playbook run.

    Its own result entries are *not* merged into the context here: the interpreter merges a task's entries
    once, after the script returns (as the server applies a script's outputs when it completes). Entries of
    commands the script executes are merged by `XSOARSession.execute`, into the same shared context.
    """

    def add_entry(self, raw: Any, **kwargs: Any) -> Any:
        kwargs["merge_context"] = False
        return super().add_entry(raw, **kwargs)


def _script_index(repo_root: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Pack scripts by their yml ``name`` (and folder name): -> (python file, parsed yml)."""
    index: dict[str, tuple[Path, dict[str, Any]]] = {}
    for folder in sorted(repo_root.glob("Packs/*/Scripts/*")):
        if not folder.is_dir() or folder.parent.parent.name == "ApiModules":
            continue
        py = folder / f"{folder.name}.py"
        if not py.is_file():
            continue
        meta: dict[str, Any] = {}
        yml = folder / f"{folder.name}.yml"
        if yml.is_file():
            try:
                meta = read_yaml(yml) or {}
            except yaml.YAMLError:
                meta = {}
        index.setdefault(str(meta.get("name") or folder.name), (py, meta))
        index.setdefault(folder.name, (py, meta))
    return index


def _api_module_dirs(repo_root: Path) -> list[str]:
    return [str(p) for p in sorted(repo_root.glob("Packs/ApiModules/Scripts/*ApiModule")) if p.is_dir()]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class PackedCode:
    """The unified code of the pack's scripts and integrations, read from the uploadable zip (`zip-packs`).

    Running this instead of the source files proves that what a tenant installs works: the ApiModules are
    inlined, the imports stripped, and the code runs in the platform's namespace (see `run_unified`).
    """

    def __init__(self, zip_path: str | Path) -> None:
        self.path = Path(zip_path)
        self.scripts: dict[str, str] = {}
        self.integrations: dict[str, str] = {}
        self.runs: list[str] = []  # which packed items ran, for the record (and for tests)
        with zipfile.ZipFile(self.path) as archive:
            for member in archive.namelist():
                if not member.endswith(".yml"):
                    continue
                if member.startswith("Scripts/script-"):
                    item = yaml.safe_load(archive.read(member))
                    self.scripts[str(item["name"])] = str(item["script"])
                elif member.startswith("Integrations/integration-"):
                    item = yaml.safe_load(archive.read(member))
                    self.integrations[str(item["name"])] = str(item["script"]["script"])
        if not self.scripts and not self.integrations:
            raise ValueError(f"{self.path}: no unified scripts or integrations in this zip")

    def script(self, name: str) -> str | None:
        return self.scripts.get(name)

    def integration(self, name: str) -> str | None:
        return self.integrations.get(name)


class LocalRuntime:
    """A tenant in a box for one run: session, simulated SOC, pack scripts, gateway, lists, interpreter."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        provider: str = "deterministic",
        approvals: ApprovalProvider | None = None,
        reputation_feed: str | Path | None = None,
        on_event: Callable[[Event], None] | None = None,
        repo_root: str | Path = REPO_ROOT,
        extra_playbook_dirs: tuple[str | Path, ...] = (),
        env: Mapping[str, str] | None = None,
        packed: str | Path | None = None,
    ) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
        self.repo_root = Path(repo_root)
        self.scenario = scenario
        self.packed = PackedCode(packed) if packed else None
        self.provider = provider
        feed = Path(reputation_feed) if reputation_feed else None
        self.soc = SimulatedSOC(scenario, reputation_feed=feed)
        incident = copy.deepcopy(scenario.incident)
        incident.setdefault("id", "1")
        incident.setdefault("CustomFields", {})
        self.session = XSOARSession(incident=incident, dispatcher=self._from_session, calling_user="")
        self.lists = ListStore.from_packs(self.repo_root)
        self.scripts = _script_index(self.repo_root)
        self.api_dirs = _api_module_dirs(self.repo_root)
        self.gateway_py = self.repo_root / "Packs/AIReasoning/Integrations/AIReasoningGateway/AIReasoningGateway.py"
        self.gateway_params = self._gateway_defaults() | gateway_params(provider, env)
        self.integration_context: dict[str, Any] = {}
        self.commands: list[CommandRecord] = []
        self.library = PlaybookLibrary.for_repo(self.repo_root, extra_playbook_dirs)
        self.interpreter = PlaybookInterpreter(
            self.dispatch,
            library=self.library,
            approvals=approvals,
            on_event=on_event,
            is_available=self.is_available,
            lists=self.lists,
        )

    # --- availability -----------------------------------------------------------------------------

    def _gateway_defaults(self) -> dict[str, Any]:
        """The gateway yml's parameter defaults (what a freshly configured instance has)."""
        yml = self.gateway_py.with_suffix(".yml")
        out: dict[str, Any] = {}
        if yml.is_file():
            try:
                meta = read_yaml(yml) or {}
            except yaml.YAMLError:
                meta = {}
            for item in meta.get("configuration") or []:
                if isinstance(item, Mapping) and item.get("name") and item.get("defaultvalue") not in (None, ""):
                    out[str(item["name"])] = item["defaultvalue"]
        return out

    def is_available(self, command: str, brand: str | None = None) -> bool:
        """What ``skipunavailable`` asks: is there an enabled integration/script for this command (and brand)?"""
        if command in BUILTIN_COMMANDS or command in self.scripts:
            return True
        if command in GATEWAY_COMMANDS:
            return self.gateway_py.is_file() and brand in (None, "", GATEWAY_BRAND)
        if not self.soc.is_available(command):
            return False
        if brand and brand not in ("Builtin", "Scripts"):
            return self.soc.available_commands().get(command) == brand
        return True

    def _brand_available(self, brand: str) -> bool:
        if brand == GATEWAY_BRAND:
            return self.gateway_py.is_file()
        return brand in self.soc.enabled_brands

    # --- routing ----------------------------------------------------------------------------------

    def dispatch(self, command: str, args: dict[str, Any], scope: Scope) -> list[Entry]:
        """The interpreter's dispatcher: a playbook task runs a command. Results go to the war room."""
        caller = f"playbook {scope.playbook.name!r} task {scope.task_id}"
        entries, route = self._route(command, args, scope, caller, brand=scope.brand)
        if route != "script":  # a script's own entries were added to the war room as it ran
            for entry in entries:
                self.session.add_entry(entry, brand=str(entry.get("Brand") or ""), user="DBot",
                                       module=str(entry.get("ModuleName") or ""), source="playbook",
                                       merge_context=False)
        return entries

    def _from_session(self, command: str, args: dict[str, Any]) -> list[Entry]:
        """Fallback dispatcher of the root session (nothing should call it outside a task)."""
        scope = Scope(Playbook("local", "local", "0", {"0": {"type": "start"}}), self.session.context,
                      self.session.incident, {})
        entries, _ = self._route(command, args, scope, "session")
        return entries

    def _route(self, command: str, args: dict[str, Any], scope: Scope, caller: str,
               brand: str | None = None) -> tuple[list[Entry], str]:
        started = time.perf_counter()
        route = "soc"
        if command in BUILTIN_COMMANDS and brand in (None, "", "Builtin", "Scripts"):
            route = "builtin"
            env = BuiltinEnv(scope.context, self.session.incident, self.lists, self._brand_available)
            entries = run_builtin(command, args, env) or []
        elif command in self.scripts and brand in (None, "", "Scripts"):
            route = "script"
            entries = self._run_pack_script(command, args, scope)
        elif command in GATEWAY_COMMANDS and brand in (None, "", GATEWAY_BRAND):
            route = "gateway"
            entries = self._run_gateway(command, args, scope)
        else:
            call = dict(args)
            if brand and brand not in ("Builtin", "Scripts") and "using-brand" not in call:
                call["using-brand"] = brand
            raw = self.soc.dispatch(command, call)
            if raw is None:
                route = "unsupported"
                entries = unsupported_command(command, args)
            else:
                entries = list(raw)
        errors = [e for e in entries if isinstance(e, Mapping) and e.get("Type") == 4]
        self.commands.append(CommandRecord(
            command=command, route=route, caller=caller, args=copy.deepcopy(args), ok=not errors,
            brand=str((entries[0].get("Brand") if entries and isinstance(entries[0], Mapping) else "") or ""),
            duration_ms=(time.perf_counter() - started) * 1000,
            error="; ".join(str(e.get("Contents")) for e in errors)[:2000], entries=len(entries),
        ))
        return entries, route

    def _nested_dispatcher(self, scope: Scope, caller: str) -> Callable[[str, dict[str, Any]], list[Entry]]:
        def dispatch(command: str, args: dict[str, Any]) -> list[Entry]:
            brand = args.get("using-brand") if isinstance(args.get("using-brand"), str) else None
            entries, _ = self._route(command, args, scope, caller, brand=brand)
            return entries

        return dispatch

    def _share(self, nested: XSOARSession, scope: Scope, *, war_room: bool) -> None:
        """Point a nested session at the running scope's context and the incident (and the war room)."""
        nested.context = scope.context
        nested.incident = self.session.incident
        nested.investigation = self.session.investigation
        if war_room:
            nested.war_room = self.session.war_room
            nested._next_entry = self.session._next_entry  # noqa: SLF001 - keep entry ids unique across sessions
        nested.calling_context = nested._build_calling_context(nested.calling_user)  # noqa: SLF001

    def _run_pack_script(self, name: str, args: dict[str, Any], scope: Scope) -> list[Entry]:
        py, meta = self.scripts[name]
        full: dict[str, Any] = {}
        for arg in meta.get("args") or []:
            if isinstance(arg, Mapping) and arg.get("name") and arg.get("defaultValue") not in (None, ""):
                full[str(arg["name"])] = arg["defaultValue"]
        full.update({k: v for k, v in args.items() if k not in ("using", "using-brand")})
        nested = _TaskSession(args=full, command=name, dispatcher=self._nested_dispatcher(scope, f"script {name}"),
                              calling_user="", kind="script", script_name=str(meta.get("name") or name))
        self._share(nested, scope, war_room=True)
        code = self.packed.script(str(meta.get("name") or name)) if self.packed else None
        if code is not None:
            self.packed.runs.append(f"script {meta.get('name') or name}")
            result = run_unified(code, nested, name=str(meta.get("name") or name))
        else:
            result = run_script(py, nested, extra_paths=self.api_dirs)
        self.session._next_entry = max(self.session._next_entry, nested._next_entry)  # noqa: SLF001
        return [copy.deepcopy(e) for e in result.entries]

    def _run_gateway(self, command: str, args: dict[str, Any], scope: Scope) -> list[Entry]:
        if not self.gateway_py.is_file():
            return unsupported_command(command, args)
        nested = _TaskSession(args={k: v for k, v in args.items() if k not in ("using", "using-brand")},
                              params=copy.deepcopy(self.gateway_params), command=command,
                              integration_context=self.integration_context, calling_user="", kind="integration",
                              brand=GATEWAY_BRAND, instance=f"{GATEWAY_BRAND}_instance_1")
        self._share(nested, scope, war_room=False)
        code = self.packed.integration(GATEWAY_BRAND) if self.packed else None
        if code is not None:
            self.packed.runs.append(f"integration {GATEWAY_BRAND} {command}")
            result = run_unified(code, nested, name=GATEWAY_BRAND)
        else:
            result = run_script(self.gateway_py, nested, extra_paths=self.api_dirs)
        self.integration_context = dict(nested.integration_context)
        entries = []
        for e in result.entries:
            e = copy.deepcopy(e)
            e.setdefault("Brand", GATEWAY_BRAND)
            e.setdefault("ModuleName", f"{GATEWAY_BRAND}_instance_1")
            entries.append(e)
        return entries

    # --- running ----------------------------------------------------------------------------------

    def find_playbook(self, key: str | Path) -> Playbook:
        pb = self.library.find(str(key))
        if pb is None:
            raise PlaybookError(f"playbook {str(key)!r} not found in {self.repo_root / 'Packs'}/*/Playbooks "
                                "(give a name, an id or a path to a .yml file)")
        return pb

    def run(self, playbook: str | Path | Playbook, *, approve: str = "all") -> RunOutcome:
        started = time.perf_counter()
        started_at = _now_iso()
        failure: Failure | None = None
        status = "failed"
        name = str(playbook.name if isinstance(playbook, Playbook) else playbook)
        try:
            pb = playbook if isinstance(playbook, Playbook) else self.find_playbook(playbook)
            name = pb.name
            result = self.interpreter.run(pb, context=self.session.context, incident=self.session.incident)
            status, failure = result.status, result.failure
        except PlaybookUnsupported as exc:
            failure = Failure(exc.task_id, str(exc), exc.playbook or name, kind="unsupported")
        except PlaybookError as exc:
            failure = Failure(exc.task_id, str(exc), exc.playbook or name, kind="invalid")
        deliverable = self.session.context.get("AIReasoning", {}).get("Run") if isinstance(
            self.session.context.get("AIReasoning"), Mapping) else None
        if isinstance(deliverable, list):
            deliverable = deliverable[-1] if deliverable else None
        return RunOutcome(
            status=status,
            playbook=name,
            scenario=self.scenario.name,
            category=self.scenario.category,
            failure=failure,
            context=self.session.context,
            incident=self.session.incident,
            war_room=[{"id": w.id, "brand": w.brand, "user": w.user, "module": w.module, "source": w.source,
                       "entry": w.entry} for w in self.session.war_room],
            deliverable=copy.deepcopy(deliverable) if isinstance(deliverable, Mapping) else None,
            approvals=list(self.interpreter.approval_log),
            undo_log=self.soc.undo_log,
            soc_state=self.soc.snapshot(),
            tasks=list(self.interpreter.tasks),
            commands=list(self.commands),
            timings={"started_at": started_at, "finished_at": _now_iso(),
                     "duration_ms": round((time.perf_counter() - started) * 1000, 1)},
            provider=self.provider,
            approve=approve,
            expect=copy.deepcopy(self.scenario.expect),
            scenario_data=self.scenario.data,
        )


def run_playbook(
    playbook_path_or_id: str | Path,
    scenario_path: str | Path | Scenario,
    *,
    provider: str = "deterministic",
    approve: str | ApprovalProvider = "all",
    reputation_feed: str | Path | None = None,
    on_event: Callable[[Event], None] | None = None,
    report_dir: str | Path | None = None,
    repo_root: str | Path = REPO_ROOT,
    extra_playbook_dirs: tuple[str | Path, ...] = (),
    packed: str | Path | None = None,
) -> RunOutcome:
    """Run one playbook (name, id or .yml path) on one scenario; optionally write its reports.

    `packed` = the uploadable pack zip: scripts and the gateway then run from its unified code.
    """
    scenario = scenario_path if isinstance(scenario_path, Scenario) else load_scenario(scenario_path)
    provider_obj = make_provider(approve) if isinstance(approve, str) else approve
    runtime = LocalRuntime(scenario, provider=provider, approvals=provider_obj, reputation_feed=reputation_feed,
                           on_event=on_event, repo_root=repo_root, extra_playbook_dirs=extra_playbook_dirs,
                           packed=packed)
    outcome = runtime.run(playbook_path_or_id, approve=approve if isinstance(approve, str) else
                          getattr(approve, "name", "custom"))
    if report_dir is not None:
        from localsoc.report import write_reports

        outcome.reports = [str(p) for p in write_reports(outcome, report_dir)]
    return outcome
