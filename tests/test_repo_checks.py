"""The repository's own gate: scripts/check_content.py must catch the mistakes CI exists to catch.

Each test writes a minimal valid pack into a temporary repository, proves it passes, breaks one thing
(a playbook `nexttasks` link, a command description, the syntax of a pack Python file, ...) and asserts
that the checker reports exactly that. The cross-checks run in-process (pyyaml only); the schema layer
needs pykwalify and demisto-sdk's schema files, so it runs as `.venv-tools/bin/python
scripts/check_content.py` and is skipped when that venv does not exist. The demisto-sdk commands
(validate, xsoar-lint) are too slow for unit tests; ./scripts/test runs them on the real packs.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS_PYTHON = REPO_ROOT / ".venv-tools" / "bin" / "python"


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_content", REPO_ROOT / "scripts" / "check_content.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_content"] = module
    spec.loader.exec_module(module)
    return module


check_content = _load_checker()

PACK_METADATA = {
    "name": "Mini",
    "description": "A minimal pack used to test the content checks.",
    "support": "community",
    "currentVersion": "1.0.0",
    "author": "Tests",
    "url": "",
    "email": "",
    "categories": ["Utilities"],
    "tags": [],
    "useCases": [],
    "keywords": [],
    "marketplaces": ["xsoar", "marketplacev2"],
}

INTEGRATION = {
    "commonfields": {"id": "Mini Gateway", "version": -1},
    "name": "Mini Gateway",
    "display": "Mini Gateway",
    "category": "Utilities",
    "description": "Answers questions.",
    "configuration": [
        {"display": "Server URL", "name": "url", "type": 0, "required": False},
        {"displaypassword": "API Key", "name": "credentials", "type": 9, "hiddenusername": True, "required": False},
    ],
    "script": {
        "script": "-",
        "type": "python",
        "subtype": "python3",
        "dockerimage": "demisto/python3:3.12.8.3295748",
        "commands": [
            {
                "name": "mini-ask",
                "description": "Ask one question.",
                "arguments": [{"name": "question", "description": "The question.", "required": True}],
                "outputs": [{"contextPath": "Mini.Answer", "description": "The answer.", "type": "String"}],
            }
        ],
    },
    "fromversion": "6.10.0",
    "tests": ["No tests"],
}

SCRIPT = {
    "commonfields": {"id": "MiniEcho", "version": -1},
    "name": "MiniEcho",
    "script": "-",
    "type": "python",
    "subtype": "python3",
    "tags": [],
    "comment": "Echoes its input.",
    "enabled": True,
    "args": [{"name": "text", "description": "Text to echo."}],
    "outputs": [{"contextPath": "Mini.Echo", "description": "The echoed text.", "type": "String"}],
    "scripttarget": 0,
    "runas": "DBotWeakRole",
    "dockerimage": "demisto/python3:3.12.8.3295748",
    "fromversion": "6.10.0",
    "tests": ["No tests"],
}


def _task(tid: str, name: str, ttype: str, nexttasks: dict | None = None, **task_fields) -> dict:
    task = {
        "id": tid,
        "taskid": f"00000000-0000-0000-0000-00000000000{tid}",
        "type": ttype,
        "task": {
            "id": f"00000000-0000-0000-0000-00000000000{tid}",
            "version": -1,
            "name": name,
            "description": "",
            "type": ttype,
            "iscommand": False,
            "brand": "",
            **task_fields,
        },
        "separatecontext": False,
        "view": json.dumps({"position": {"x": 450, "y": 50 + 150 * int(tid)}}),
        "note": False,
        "timertriggers": [],
        "ignoreworker": False,
        "skipunavailable": False,
        "quietmode": 0,
        "isoversize": False,
        "isautoswitchedtoquietmode": False,
    }
    if nexttasks:
        task["nexttasks"] = nexttasks
    return task


PLAYBOOK = {
    "id": "Mini Playbook",
    "version": -1,
    "name": "Mini Playbook",
    "description": "Echoes the incident name.",
    "starttaskid": "0",
    "tasks": {
        "0": _task("0", "", "start", {"#none#": ["1"]}),
        "1": {
            **_task("1", "Echo", "regular", {"#none#": ["2"]}, script="MiniEcho", scriptName="MiniEcho"),
            "scriptarguments": {"text": {"simple": "${incident.name}"}},
        },
        "2": _task("2", "Done", "title"),
    },
    "view": json.dumps({"linkLabelsPosition": {}, "paper": {"dimensions": {"height": 500, "width": 400, "x": 450,
                                                                           "y": 50}}}),
    "inputs": [],
    "outputs": [],
    "fromversion": "6.10.0",
    "tests": ["No tests"],
}

PY_OK = """import demistomock as demisto


def main():
    demisto.results("ok")


if __name__ in ("__main__", "builtin", "builtins"):
    main()
"""


def _dump_yaml(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def make_repo(root: Path) -> Path:
    """A repository with one small, valid pack; returns the pack folder."""
    pack = root / "Packs" / "Mini"
    pack.mkdir(parents=True)
    (pack / "pack_metadata.json").write_text(json.dumps(PACK_METADATA, indent=4), encoding="utf-8")
    (pack / "README.md").write_text("# Mini\n", encoding="utf-8")
    _dump_yaml(pack / "Integrations" / "MiniGateway" / "MiniGateway.yml", INTEGRATION)
    (pack / "Integrations" / "MiniGateway" / "MiniGateway.py").write_text(PY_OK, encoding="utf-8")
    _dump_yaml(pack / "Scripts" / "MiniEcho" / "MiniEcho.yml", SCRIPT)
    (pack / "Scripts" / "MiniEcho" / "MiniEcho.py").write_text(PY_OK, encoding="utf-8")
    _dump_yaml(pack / "Playbooks" / "playbook-Mini_Playbook.yml", PLAYBOOK)
    config = root / "Config"
    config.mkdir()
    for name in ("approved_categories.json", "approved_tags.json", "approved_usecases.json"):
        (config / name).write_text((REPO_ROOT / "Config" / name).read_text(encoding="utf-8"), encoding="utf-8")
    return pack


def _edit_yaml(path: Path, edit) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def codes(problems) -> list[str]:
    return sorted(p.code for p in problems)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    make_repo(tmp_path)
    return tmp_path


# --- cross-checks (in-process) ----------------------------------------------------------------------


def test_minimal_pack_is_clean(repo: Path) -> None:
    assert check_content.run_checks(repo, schema=False) == []


def test_broken_nexttasks_reference_is_caught(repo: Path) -> None:
    pb = repo / "Packs/Mini/Playbooks/playbook-Mini_Playbook.yml"
    _edit_yaml(pb, lambda d: d["tasks"]["1"].__setitem__("nexttasks", {"#none#": ["7"]}))
    problems = check_content.run_checks(repo, schema=False)
    assert "PB-NEXT" in codes(problems)
    assert any("'7' is not a task id" in p.message for p in problems)
    # task 2 lost its only incoming link as well
    assert any(p.code == "PB-UNREACHABLE" and "'2'" in p.message for p in problems)


def test_missing_start_task_and_mismatched_task_id_are_caught(repo: Path) -> None:
    pb = repo / "Packs/Mini/Playbooks/playbook-Mini_Playbook.yml"

    def edit(d: dict) -> None:
        d["starttaskid"] = "9"
        d["tasks"]["2"]["id"] = "3"

    _edit_yaml(pb, edit)
    assert {"PB-START", "PB-TASKID"} <= set(codes(check_content.run_checks(repo, schema=False)))


def test_condition_branch_without_label_is_caught() -> None:
    playbook = json.loads(json.dumps(PLAYBOOK))
    playbook["tasks"]["1"]["type"] = "condition"
    playbook["tasks"]["1"]["task"] = {"id": "x", "version": -1, "name": "Bad?", "description": "", "type": "condition"}
    playbook["tasks"]["1"]["conditions"] = [{"label": "yes", "condition": [[{"operator": "isNotEmpty",
                                                                              "left": {"value": {"simple": "x"}}}]]}]
    playbook["tasks"]["1"]["nexttasks"] = {"#default#": ["2"], "YES": ["2"]}
    problems = check_content.check_playbook(playbook, "pb.yml")
    assert [p.code for p in problems] == ["PB-BRANCH"]


def test_command_without_description_is_caught(repo: Path) -> None:
    yml = repo / "Packs/Mini/Integrations/MiniGateway/MiniGateway.yml"
    _edit_yaml(yml, lambda d: d["script"]["commands"][0].pop("description"))
    problems = check_content.run_checks(repo, schema=False)
    assert [(p.code, p.message) for p in problems] == [("DESC", "command 'mini-ask' has no description")]


def test_argument_and_output_without_description_are_caught(repo: Path) -> None:
    integ = repo / "Packs/Mini/Integrations/MiniGateway/MiniGateway.yml"
    _edit_yaml(integ, lambda d: d["script"]["commands"][0]["arguments"][0].__setitem__("description", ""))
    script = repo / "Packs/Mini/Scripts/MiniEcho/MiniEcho.yml"
    _edit_yaml(script, lambda d: d["outputs"][0].pop("description"))
    messages = sorted(p.message for p in check_content.run_checks(repo, schema=False))
    assert messages == [
        "command 'mini-ask': argument 'question' has no description",
        "script: output 'Mini.Echo' has no description",
    ]


def test_python_syntax_error_in_pack_file_is_caught(repo: Path) -> None:
    py = repo / "Packs/Mini/Scripts/MiniEcho/MiniEcho.py"
    py.write_text(py.read_text(encoding="utf-8").replace("def main():", "def main(:"), encoding="utf-8")
    problems = check_content.run_checks(repo, schema=False)
    assert [(p.path, p.code) for p in problems] == [("Packs/Mini/Scripts/MiniEcho/MiniEcho.py", "PY-SYNTAX")]


def test_unparsable_yaml_and_missing_code_file_are_caught(repo: Path) -> None:
    yml = repo / "Packs/Mini/Scripts/MiniEcho/MiniEcho.yml"
    yml.write_text(yml.read_text(encoding="utf-8").replace("comment: Echoes its input.",
                                                           "comment: Echo: its input."), encoding="utf-8")
    (repo / "Packs/Mini/Integrations/MiniGateway/MiniGateway.py").unlink()
    assert codes(check_content.run_checks(repo, schema=False)) == ["CODE-MISSING", "PARSE"]


def test_duplicate_ids_and_bad_metadata_are_caught(repo: Path) -> None:
    other = repo / "Packs/Mini/Scripts/MiniEcho2"
    _dump_yaml(other / "MiniEcho2.yml", SCRIPT)  # same commonfields.id
    (other / "MiniEcho2.py").write_text(PY_OK, encoding="utf-8")
    meta = repo / "Packs/Mini/pack_metadata.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    data.update(categories=["Not A Category"], currentVersion="1.0", firstCreated="2020-01-01")
    meta.write_text(json.dumps(data), encoding="utf-8")
    problems = check_content.run_checks(repo, schema=False)
    assert codes(problems) == ["DUP-ID", "META", "META", "META"]


def test_api_module_imports_are_checked_like_the_unifier_sees_them(repo: Path) -> None:
    api = repo / "Packs/ApiModules/Scripts"
    for name, body in {
        "AModApiModule": "from BModApiModule import *  # noqa: F403\n",
        "BModApiModule": '"""Pack code uses it as ``from BModApiModule import *``."""\nfrom AModApiModule import *\n',
    }.items():
        (api / name).mkdir(parents=True)
        (api / name / f"{name}.py").write_text(body, encoding="utf-8")
    script = repo / "Packs/Mini/Scripts/MiniEcho/MiniEcho.py"
    script.write_text("from MissingApiModule import *\n" + PY_OK, encoding="utf-8")
    problems = check_content.run_checks(repo, schema=False)
    assert codes(problems) == ["UNIFY-CYCLE", "UNIFY-MISSING", "UNIFY-TEXT"]
    assert any("AModApiModule -> BModApiModule -> AModApiModule" in p.message for p in problems)


# --- schema layer (demisto-sdk's pykwalify schemas, in .venv-tools) ---------------------------------

needs_tools = pytest.mark.skipif(not TOOLS_PYTHON.exists(), reason=".venv-tools not created (run ./scripts/setup)")


def _run_cli(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOOLS_PYTHON), str(REPO_ROOT / "scripts" / "check_content.py"), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_tools
def test_schema_layer_accepts_minimal_pack_and_rejects_broken_items(repo: Path) -> None:
    ok = _run_cli(repo)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    _edit_yaml(repo / "Packs/Mini/Playbooks/playbook-Mini_Playbook.yml", lambda d: d.__setitem__("tasks_typo", {}))
    _edit_yaml(repo / "Packs/Mini/Scripts/MiniEcho/MiniEcho.yml", lambda d: d["args"][0].pop("description"))
    broken = _run_cli(repo)
    assert broken.returncode == 1
    assert "playbook-Mini_Playbook.yml: [SCHEMA] playbook:" in broken.stdout
    assert "tasks_typo" in broken.stdout
    assert "MiniEcho.yml: [SCHEMA] script:" in broken.stdout
    assert "MiniEcho.yml: [DESC] argument 'text' has no description" in broken.stdout


@needs_tools
def test_list_schema_is_usable_despite_sdk_typo(repo: Path) -> None:
    lists = repo / "Packs/Mini/Lists/MiniList"
    lists.mkdir(parents=True)
    item = {"allRead": True, "allReadWrite": False, "data": "-", "description": "A list.", "fromVersion": "6.10.0",
            "id": "MiniList", "itemVersion": "", "locked": False, "name": "MiniList", "nameLocked": False,
            "packID": "", "previousRoles": [], "system": False, "tags": [], "truncated": False, "type": "plain_text",
            "version": -1}
    (lists / "MiniList.json").write_text(json.dumps(item), encoding="utf-8")
    assert _run_cli(repo).returncode == 0
    item["unknownKey"] = 1
    (lists / "MiniList.json").write_text(json.dumps(item), encoding="utf-8")
    result = _run_cli(repo)
    assert result.returncode == 1 and "unknownKey" in result.stdout


# --- the repository guards ---------------------------------------------------------------------------


@pytest.mark.network_refusal_expected
def test_non_loopback_network_is_refused() -> None:
    with pytest.raises(OSError, match="Network access refused"):
        socket.getaddrinfo("api.anthropic.com", 443)
    with pytest.raises(OSError, match="Network access refused"):
        socket.create_connection(("203.0.113.1", 443), timeout=1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(OSError, match="Network access refused"):
            s.connect(("198.51.100.7", 80))
        with pytest.raises(OSError, match="Network access refused"):
            s.connect_ex(("198.51.100.7", 80))
    finally:
        s.close()


def test_loopback_still_works() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        port = server.getsockname()[1]
        assert socket.getaddrinfo("localhost", port)
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            conn, _ = server.accept()
            conn.close()
    finally:
        server.close()


def test_validation_config_is_strict_and_offline() -> None:
    text = (REPO_ROOT / "validation_config.toml").read_text(encoding="utf-8")
    import tomllib

    config = tomllib.loads(text)
    selected = set(config["path_based_validations"]["select"])
    assert len(selected) > 150  # the SDK's strict set, not the ~15-rule default
    assert not selected & {"DO103", "DO105", "DO106", "GR103", "GR105", "PA124", "RN106"}
    assert {"ST110", "PB100", "BA101", "IN100", "SC100"} & selected
    assert "config_path=validation_config.toml" in (REPO_ROOT / ".demisto-sdk-conf").read_text(encoding="utf-8")
