"""Sanity of the AI Reasoning pack content: every reference resolves, every List builds, names match.

What a tenant would only find out at run time - a playbook task calling a command nobody provides, a List that
does not parse, a layout button naming a script that does not exist - fails here instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from localsoc.playbook import check_playbook, load_playbook

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "Packs" / "AIReasoning"
LISTS = PACK / "Lists"
PLAYBOOK_FILES = sorted((PACK / "Playbooks").glob("*.yml")) + sorted((PACK / "TestPlaybooks").glob("*.yml"))
SCRIPT_YMLS = sorted((PACK / "Scripts").glob("*/*.yml"))
GATEWAY_YML = PACK / "Integrations" / "AIReasoningGateway" / "AIReasoningGateway.yml"
# Server builtins and stock CommonScripts every tenant has (the pack cannot ship them).
PLATFORM = {"setIncident", "closeInvestigation", "getList", "setList", "createList", "getIncidents",
            "DeleteContext", "Print", "Set"}
FIELDS = ("aireasoningverdict", "aireasoningthreatlevel", "aireasoningconfidence", "aireasoningtechniques",
          "aireasoningrecommendationstatus")


def load_yml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def list_text(name: str) -> str:
    meta = json.loads((LISTS / name / f"{name}.json").read_text())
    assert meta["name"] == name and meta["id"] == name and meta["data"] == "-"
    return next((LISTS / name).glob(f"{name}_data.*")).read_text(encoding="utf-8")


def engine() -> Any:
    import AIReasoningApiModule

    return AIReasoningApiModule


def registry() -> Any:
    return engine().ToolRegistry.from_config(list_text("AIReasoningToolRegistry"))


def script_names() -> set[str]:
    return {load_yml(p)["name"] for p in SCRIPT_YMLS}


def gateway_commands() -> set[str]:
    return {c["name"] for c in load_yml(GATEWAY_YML)["script"]["commands"]} if GATEWAY_YML.exists() else set()


def registry_commands() -> set[str]:
    out = set()
    for spec in registry().specs():
        out.add(spec.command)
        if spec.rollback is not None:
            out.add(spec.rollback.command)
    return out


# --- Lists ----------------------------------------------------------------------------------------------


def test_lists_build_the_engine_objects():
    eng = engine()
    reg = registry()
    config = eng.PolicyConfig.from_config(list_text("AIReasoningPolicy"))
    library = eng.TaskLibrary.from_yaml(list_text("AIReasoningTaskLibrary"))
    assert len(reg.names()) >= 15 and library.entries
    assert library.validate(reg) == {}
    for name in config.allowlist:
        assert reg.get(name) is not None, f"allowlisted tool {name} is not registered"
    for predicate in config.predicates:
        for glob in predicate.tools:
            assert glob == "*" or reg.get(glob) is not None, predicate.name


def test_registry_maps_the_required_tools_to_real_commands():
    reg = registry()
    expected = {
        "ip_reputation": "ip", "iam_get_user": "aws-iam-get-user",
        "iam_list_attached_user_policies": "aws-iam-list-attached-user-policies",
        "iam_list_access_keys": "aws-iam-list-access-keys-for-user",
        "cloudtrail_lookup_events": "aws-cloudtrail-lookup-events", "okta_get_user": "okta-get-user",
        "okta_get_logs": "okta-get-logs", "splunk_search": "splunk-search",
        "iam_deactivate_access_key": "aws-iam-update-access-key", "iam_detach_user_policy": "aws-iam-detach-policy",
        "okta_suspend_user": "okta-suspend-user", "okta_clear_user_sessions": "okta-clear-user-sessions",
        "block_ip": "zscaler-blacklist-ip", "waf_block_ip": "aws-waf-ip-set-update",
        "ueba_user_risk": "exabeam-get-user-info",
        "iam_delete_login_profile": "aws-iam-delete-login-profile",
        "iam_remove_user_from_group": "aws-iam-remove-user-from-group",
        "iam_detach_role_policy": "aws-iam-detach-policy",
    }
    for tool, command in expected.items():
        assert reg.get(tool).command == command
    assert reg.get("iam_deactivate_access_key").command_args({"user_name": "u", "access_key_id": "k"}) == {
        "userName": "u", "accessKeyId": "k", "status": "Inactive"}
    # the containment commands the bundled scenarios expect (console access, group escalation) are registered
    assert reg.get("iam_remove_user_from_group").command_args({"user_name": "u", "group_name": "g"}) == {
        "userName": "u", "groupName": "g"}
    assert reg.get("iam_delete_login_profile").command_args({"user_name": "u"}) == {"userName": "u"}
    assert reg.get("iam_detach_role_policy").command_args({"role_name": "r", "policy_arn": "a"}) == {
        "type": "Role", "entityName": "r", "policyArn": "a"}


def test_every_registry_command_is_documented_in_real_commands():
    doc = (REPO / "docs" / "real-commands.md").read_text(encoding="utf-8")
    for command in registry_commands():
        assert f"`{command}`" in doc, f"{command} is not in docs/real-commands.md"


def test_every_reversible_action_has_a_rollback():
    for spec in registry().specs("action"):
        if spec.reversible:
            assert spec.rollback is not None and spec.rollback.command, spec.name


# --- Playbooks ------------------------------------------------------------------------------------------


def playbook_calls(path: Path) -> list[tuple[str, str, str]]:
    calls = []
    for tid, task in load_yml(path)["tasks"].items():
        inner = task["task"]
        if inner.get("script"):
            calls.append((tid, "command", inner["script"].split("|||")[-1]))
        if inner.get("scriptName"):
            calls.append((tid, "script", inner["scriptName"]))
        if inner.get("playbookName"):
            calls.append((tid, "playbook", inner["playbookName"]))
    return calls


@pytest.mark.parametrize("path", PLAYBOOK_FILES, ids=lambda p: p.name)
def test_every_playbook_task_resolves(path):
    known_scripts = script_names() | PLATFORM
    known_commands = registry_commands() | gateway_commands() | PLATFORM
    playbooks = {load_yml(p)["name"] for p in PLAYBOOK_FILES}
    for tid, kind, name in playbook_calls(path):
        if kind == "script":
            assert name in known_scripts, f"{path.name} task {tid}: unknown script {name}"
        elif kind == "command":
            assert name in known_commands, f"{path.name} task {tid}: {name} is no registry/gateway/builtin command"
        else:
            assert name in playbooks, f"{path.name} task {tid}: unknown sub-playbook {name}"


@pytest.mark.parametrize("path", PLAYBOOK_FILES, ids=lambda p: p.name)
def test_playbooks_use_only_what_the_interpreter_supports(path):
    check_playbook(load_playbook(path))


@pytest.mark.parametrize("path", sorted((PACK / "Playbooks").glob("*.yml")), ids=lambda p: p.name)
def test_playbook_shape(path):
    doc = load_yml(path)
    assert doc["fromversion"] == "6.10.0" and doc["inputs"] and doc["outputs"]
    assert (path.parent / path.name.replace(".yml", "_README.md")).exists()
    for test in doc["tests"]:
        assert any(load_yml(p)["id"] == test for p in (PACK / "TestPlaybooks").glob("*.yml")), test
    for tid, task in doc["tasks"].items():
        if task["task"].get("script", "").startswith("|||"):
            assert task.get("skipunavailable") is True, f"{path.name} task {tid} must skip unavailable"


def test_approval_playbook_covers_every_tier():
    doc = load_yml(PACK / "Playbooks" / "playbook-AI_Reasoning_-_Apply_Recommendations_With_Approval.yml")
    tier = next(t for t in doc["tasks"].values() if t["task"]["name"] == "Approval tier?")
    assert set(tier["nexttasks"]) == {"auto", "single", "dual", "#default#"}
    forms = [t for t in doc["tasks"].values() if t["type"] == "collection"]
    assert len(forms) == 3
    for form in forms:
        assert form["message"]["timings"]["completeaftersla"] is True and form["sla"]["hours"] > 0


def test_callers_loop_over_the_recommendations():
    for name in ("IAM_Anomaly_ART_Analysis", "API_Key_Abuse_ReAct_Investigation"):
        doc = load_yml(PACK / "Playbooks" / f"playbook-AI_Reasoning_-_{name}.yml")
        loops = [t for t in doc["tasks"].values() if t["type"] == "playbook"]
        assert loops and all(t["loop"]["forEach"] is True and t["separatecontext"] is True for t in loops)


# --- Scripts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCRIPT_YMLS, ids=lambda p: p.stem)
def test_script_yml_matches_code(path):
    doc = load_yml(path)
    code = path.with_suffix(".py").read_text(encoding="utf-8")
    assert doc["runas"] == "DBotWeakRole" and doc["comment"] and doc["fromversion"] == "6.10.0"
    if GATEWAY_YML.exists():
        assert doc["dockerimage"] == load_yml(GATEWAY_YML)["script"]["dockerimage"]
    declared = {a["name"] for a in doc.get("args") or []}
    used = set(re.findall(r'args\.get\("([a-z_]+)"', code))
    assert used <= declared, f"{path.stem} reads undeclared args {used - declared}"
    for arg in doc.get("args") or []:
        assert arg.get("description"), f"{path.stem} arg {arg['name']} needs a description"
    for out in doc.get("outputs") or []:
        assert out["contextPath"].startswith("AIReasoning.") and out.get("description")
    assert (path.parent / "README.md").exists(), f"{path.stem} has no README"
    assert (path.parent / f"{path.stem}_test.py").exists(), f"{path.stem} has no unit tests"
    if "run_reasoner(" in code:
        assert "ai-reasoning-step" in doc["dependson"]["must"]
        assert "ai-reasoning-step" in gateway_commands() or not GATEWAY_YML.exists()
    assert len(code.splitlines()) < 150, f"{path.stem} is not thin"


def test_summary_section_is_tagged_dynamic_section():
    doc = load_yml(PACK / "Scripts" / "AIReasoningSummarySection" / "AIReasoningSummarySection.yml")
    assert "dynamic-section" in doc["tags"]


# --- Incident types, fields, layout ----------------------------------------------------------------------


def test_incident_types_autorun_existing_playbooks_with_the_layout():
    playbooks = {load_yml(p)["id"] for p in (PACK / "Playbooks").glob("*.yml")}
    layouts = {json.loads(p.read_text())["id"] for p in (PACK / "Layouts").glob("*.json")}
    names = set()
    for path in (PACK / "IncidentTypes").glob("*.json"):
        doc = json.loads(path.read_text())
        names.add(doc["name"])
        assert doc["autorun"] is True and doc["playbookId"] in playbooks and doc["layout"] in layouts
    assert names == {"AI Reasoning IAM Anomaly", "AI Reasoning API Key Abuse", "AI Reasoning Alert"}


def test_incident_fields_are_the_shared_names():
    types = {json.loads(p.read_text())["name"] for p in (PACK / "IncidentTypes").glob("*.json")}
    fields = {json.loads(p.read_text())["cliName"]: json.loads(p.read_text())
              for p in (PACK / "IncidentFields").glob("*.json")}
    assert set(fields) == set(FIELDS)
    for cli, doc in fields.items():
        assert doc["id"] == f"incident_{cli}" and doc["name"].replace(" ", "").lower() == cli
        assert set(doc["associatedTypes"]) == types


def test_layout_buttons_and_dynamic_section_name_real_scripts():
    layout = json.loads((PACK / "Layouts" / "layoutscontainer-AI_Reasoning.json").read_text())
    sections = [s for tab in layout["detailsV2"]["tabs"] for s in tab.get("sections", [])]
    dynamic = [s for s in sections if s.get("type") == "dynamic"]
    assert dynamic and all(s["queryType"] == "script" and s["query"] in script_names() for s in dynamic)
    buttons = [i for s in sections for i in s.get("items", []) if i.get("sectionItemType") == "button"]
    assert {b["scriptId"] for b in buttons} <= script_names()
    assert {b["name"].split()[0] for b in buttons} >= {"Approve", "Reject", "Re-run", "Send"}
    fields = {i["fieldId"] for s in sections for i in s.get("items", []) if i.get("sectionItemType") == "field"}
    assert set(FIELDS) <= fields
