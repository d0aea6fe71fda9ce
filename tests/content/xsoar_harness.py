"""A tenant in a box for the AI Reasoning script tests.

Runs a pack script file exactly as the platform does (``xsoar_session.run_script``) against one dispatcher that
answers what a tenant answers: the server builtins the scripts call (getList/setList/createList, setIncident,
closeInvestigation, getIncidents), the AI Reasoning Gateway command (answered by the engine's deterministic
model, or absent), and the real integration commands (answered by the simulated SOC of a bundled scenario, in
the entry shapes the real integrations return). Context, Lists and incident changes persist across script runs,
so a test can run the reasoning script, then approve as one user, then another, then execute.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xsoar_session import SessionResult, XSOARSession, run_script

from localsoc.playbook.builtins import ListStore
from localsoc.soc import SimulatedSOC
from localsoc.soc.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "Packs" / "AIReasoning" / "Scripts"
SCENARIOS = REPO / "tests" / "scenarios"
GATEWAY = "ai-reasoning-step"


def note(contents: Any, context: dict[str, Any] | None = None, brand: str = "Builtin") -> dict[str, Any]:
    return {"Type": 1, "ContentsFormat": "json" if isinstance(contents, dict | list) else "text",
            "Contents": contents, "HumanReadable": None, "EntryContext": context or None, "Brand": brand,
            "ModuleName": brand}


def error(message: str, brand: str = "Builtin") -> dict[str, Any]:
    return {"Type": 4, "ContentsFormat": "text", "Contents": message, "HumanReadable": None, "EntryContext": None,
            "Brand": brand, "ModuleName": brand}


class Tenant:
    """Lists, incidents, context and integrations shared by every script run of one test."""

    def __init__(self, scenario: str | None = "iam_anomaly_leaked_key_tp", *, gateway: str = "deterministic",
                 lists: dict[str, str] | None = None) -> None:
        self.lists = ListStore.from_packs(REPO)
        if lists:
            self.lists.update(lists)
        self.soc = SimulatedSOC(load_scenario(SCENARIOS / f"{scenario}.json"), reputation_feed=False) \
            if scenario else None
        incident = copy.deepcopy(self.soc.scenario.incident) if self.soc else {"name": "Test incident"}
        incident.setdefault("id", "1")
        incident.setdefault("CustomFields", {})
        self.incident: dict[str, Any] = incident
        self.other_incidents: dict[str, dict[str, Any]] = {}
        self.context: dict[str, Any] = {}
        self.gateway = gateway  # "deterministic" | "absent" | "error"
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.closed: list[dict[str, Any]] = []
        self.overrides: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {}

    # --- what executeCommand reaches ---------------------------------------------------------------

    def dispatch(self, command: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls.append((command, copy.deepcopy(args)))
        if command in self.overrides:
            return self.overrides[command](args)
        if command == "getList":
            name = str(args.get("listName"))
            return [note(self.lists[name])] if name in self.lists else [error("Item not found (8)")]
        if command in ("setList", "createList"):
            self.lists[str(args["listName"])] = str(args.get("listData"))
            return [note(f"Done: list {args['listName']} was updated")]
        if command == "setIncident":
            target = self._incident(str(args.get("id") or self.incident["id"]))
            for key, value in args.items():
                if key in ("severity", "owner", "name"):
                    target[key] = value
                elif key != "id":
                    target["CustomFields"][key] = value
            return [note("done")]
        if command == "closeInvestigation":
            target = self._incident(str(args.get("id") or self.incident["id"]))
            target["status"] = 2
            target["closeReason"] = args.get("closeReason")
            target["closeNotes"] = args.get("closeNotes")
            self.closed.append(dict(args))
            return [note("done")]
        if command == "getIncidents":
            found = self._incident(str(args.get("id")), create=False)
            return [note({"data": [found] if found else None, "total": 1 if found else 0})]
        if command == GATEWAY:
            return self._gateway(args)
        if self.soc is not None:
            entries = self.soc.dispatch(command, args)
            if entries is not None:
                return entries
        return [error(f"Unsupported Command : {command}", brand="none")]

    def _incident(self, incident_id: str, create: bool = True) -> dict[str, Any] | None:
        if incident_id == str(self.incident.get("id")):
            return self.incident
        if incident_id not in self.other_incidents and not create:
            return None
        return self.other_incidents.setdefault(incident_id, {"id": incident_id, "CustomFields": {}})

    def _gateway(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        if self.gateway == "absent":
            return [error(f"Unsupported Command : {GATEWAY}", brand="none")]
        if self.gateway == "error":
            return [error("auth: invalid x-api-key", brand="AI Reasoning Gateway")]
        from AIReasoningApiModule import DeterministicModelClient, ModelRequest, ToolRegistry

        registry = ToolRegistry.from_config(self.lists["AIReasoningToolRegistry"])
        response = DeterministicModelClient(registry).turn(ModelRequest.model_validate_json(args["request"]))
        turn = response.model_dump(mode="json")
        return [note(turn, {"AIReasoning.ModelTurn": turn}, brand="AI Reasoning Gateway")]

    # --- running scripts ------------------------------------------------------------------------------

    def run(self, script: str, args: dict[str, Any] | None = None, user: str = "analyst1",
            incident: dict[str, Any] | None = None) -> SessionResult:
        """Run Packs/AIReasoning/Scripts/<script>/<script>.py as ``user`` ("" = a playbook task)."""
        session = XSOARSession(args=args or {}, context=self.context, incident=incident or self.incident,
                               dispatcher=self.dispatch, calling_user=user, script_name=script)
        result = run_script(SCRIPTS / script / f"{script}.py", session)
        self.context = session.context
        return result

    def latest(self) -> dict[str, Any]:
        return self.context["AIReasoning"]["Latest"]

    def run_record(self, run_id: str | None = None) -> dict[str, Any]:
        runs = self.context["AIReasoning"]["Run"]
        runs = runs if isinstance(runs, list) else [runs]
        run_id = run_id or self.latest()["run_id"]
        return next(r for r in runs if r["run_id"] == run_id)

    def recommendation(self, action: str, run_id: str | None = None) -> dict[str, Any]:
        return next(r for r in self.run_record(run_id)["recommendations"] if r["action"] == action)

    def commands(self) -> list[str]:
        return [c for c, _ in self.calls]

    def list_json(self, name: str) -> Any:
        return json.loads(self.lists[name])


def texts(result: SessionResult) -> str:
    """Everything a script put in the war room, as one string (for grepping)."""
    return "\n".join(json.dumps(e, default=str) for e in result.entries)


TEST_SECRET = "test-approval-secret"


def seed_run(tenant: Tenant, recs: list[tuple[str, dict[str, Any], str]], *, initiated_by: str = "",
             run_id: str | None = None, verdict: str = "true_positive") -> dict[str, Any]:
    """Put a run with bound recommendations (action, args, tier) in the tenant's context, as a reasoning
    script would have: the bindings are signed with the approval secret stored in AIReasoningPolicyState."""
    from AIReasoningApiModule import (
        Deliverable,
        Policy,
        PolicyConfig,
        ReasonerIdentity,
        Recommendation,
        SystemClock,
        ThreatAssessment,
        ToolCall,
        ToolRegistry,
        new_id,
    )

    if "AIReasoningPolicyState" not in tenant.lists:
        tenant.lists["AIReasoningPolicyState"] = json.dumps({"state": {}, "approval_secret": TEST_SECRET})
    secret = json.loads(tenant.lists["AIReasoningPolicyState"])["approval_secret"]
    registry = ToolRegistry.from_config(tenant.lists["AIReasoningToolRegistry"])
    policy = Policy(registry, PolicyConfig.from_config(tenant.lists["AIReasoningPolicy"]), SystemClock(),
                    approval_secret=secret)
    run_id = run_id or new_id("run")
    recommendations = []
    for action, args, tier in recs:
        call = ToolCall(tool=action, args=args, requested_by="model")
        spec = registry.get(action)
        recommendations.append(Recommendation(action=action, target=spec.target_of(args) or "", args=args, tier=tier,
                                              reasoning=f"test {action}", binding=policy.bind_approval(run_id, call,
                                                                                                        tier)))
    deliverable = Deliverable(run_id=run_id, incident_id=str(tenant.incident["id"]), method="react", status="complete",
                              identity=ReasonerIdentity(reasoner="react", provider="test", model="test"),
                              assessment=ThreatAssessment(verdict=verdict, threat_level="high", confidence=0.9),
                              recommendations=recommendations, initiated_by=initiated_by)
    stored = deliverable.model_dump(mode="json")
    ai = tenant.context.setdefault("AIReasoning", {})
    runs = ai.get("Run")
    ai["Run"] = (runs if isinstance(runs, list) else [runs] if runs else []) + [stored]
    ai["Latest"] = {"run_id": run_id, "recommendation_ids": [r.id for r in recommendations],
                    "pending_recommendation_ids": [r.id for r in recommendations], "verdict": verdict}
    return stored
