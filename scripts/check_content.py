#!/usr/bin/env python3
"""Fast structural check of every content item under Packs/.

Two layers:

1. Schema: each yml/json content item is validated with pykwalify against the schema demisto-sdk ships
   inside its wheel (`demisto_sdk/commands/common/schemas/<type>.yml`), the same contract the SDK's
   structure validator uses. Needs pykwalify + demisto-sdk, so run this file with `.venv-tools/bin/python`.
2. Cross-checks the schemas cannot express, pure Python (pyyaml only, importable from the test venv):
   - every file parses (yml/json), every pack Python file compiles;
   - playbooks: `starttaskid` exists, each task key equals its `id`, every `nexttasks` target exists,
     every task is reachable from the start, condition branch labels exist;
   - integrations: every command, argument and output has a description; scripts: a `comment`, and
     every argument and output has a description;
   - split items have their code file; ids are unique across packs (stands in for the SDK's graph rule
     GR105, which cannot run offline);
   - `from XApiModule import *` is what the unifier will inline: only on import lines, the module exists,
     no import cycles between ApiModules;
   - pack_metadata.json: required keys, version format, approved categories / tags / use cases.

Usage:  .venv-tools/bin/python scripts/check_content.py [--root REPO] [--no-schema]
Exit status 1 when anything is wrong; one line per problem: `path: [CODE] message`.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

SKIP_DIR_NAMES = {"test_data", "__pycache__", ".pytest_cache", "node_modules"}
MARKETPLACES = {"xsoar", "xsoar_saas", "xsoar_on_prem", "marketplacev2", "xpanse", "platform"}
SUPPORT_LEVELS = {"xsoar", "partner", "community", "developer"}
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Problem:
    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.code}] {self.message}"


# --------------------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    packs = root / "Packs"
    if not packs.is_dir():
        return
    stack = [packs]
    while stack:
        d = stack.pop()
        for p in sorted(d.iterdir()):
            if p.is_dir():
                if p.name not in SKIP_DIR_NAMES and not p.name.startswith("."):
                    stack.append(p)
            elif p.is_file():
                yield p


def classify(path: Path, root: Path) -> str | None:
    """Content type of a file by its place in the pack layout (None: not a content item)."""
    rel = path.relative_to(root / "Packs").parts
    if len(rel) < 2:
        return None
    name = path.name
    if len(rel) == 2:
        return "pack_metadata" if name == "pack_metadata.json" else None
    folder = rel[1]
    ext = path.suffix.lower()
    if ext not in (".yml", ".yaml", ".json"):
        return None
    if name.endswith("_unified.yml") or name.endswith("_image.png") or name == "conf.json":
        return None
    if folder == "Integrations":
        return "integration" if ext == ".yml" else None
    if folder == "Scripts":
        return "script" if ext == ".yml" else None
    if folder == "Playbooks":
        return "playbook" if ext == ".yml" else None
    if folder == "TestPlaybooks":
        return "test_item" if ext == ".yml" else None
    if ext != ".json":
        return None
    by_folder = {
        "IncidentFields": "incidentfield",
        "IndicatorFields": "incidentfield",
        "IncidentTypes": "incidenttype",
        "IndicatorTypes": "reputation",
        "Widgets": "widget",
        "Dashboards": "dashboard",
        "Reports": "report",
        "Jobs": "job",
        "Triggers": "trigger",
        "PreProcessRules": "pre-process-rule",
        "LayoutRules": "layoutrule",
        "Wizards": "wizard",
        "GenericFields": "genericfield",
        "GenericTypes": "generictype",
        "GenericModules": "genericmodule",
        "GenericDefinitions": "genericdefinition",
    }
    if folder in by_folder:
        return by_folder[folder]
    if folder == "Layouts":
        return "layoutscontainer" if name.startswith("layoutscontainer") else "layout"
    if folder == "Classifiers":
        return "classifier_or_mapper"
    if folder == "Lists":
        return None if name.endswith("_data.json") else "list"
    return None


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return yaml.safe_load(text)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------------
# Cross-checks
# --------------------------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def check_playbook(data: Any, where: str) -> list[Problem]:
    """Task graph integrity: ids, links, reachability, condition labels."""
    out: list[Problem] = []
    if not isinstance(data, dict):
        return [Problem(where, "PB-FORMAT", "playbook is not a mapping")]
    tasks = data.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        return [Problem(where, "PB-TASKS", "playbook has no tasks")]
    ids = {str(k) for k in tasks}
    start = str(data.get("starttaskid", ""))
    if start not in ids:
        out.append(Problem(where, "PB-START", f"starttaskid {start!r} is not a task id"))
    edges: dict[str, set[str]] = {tid: set() for tid in ids}
    for key, task in tasks.items():
        key = str(key)
        if not isinstance(task, dict):
            out.append(Problem(where, "PB-FORMAT", f"task {key!r} is not a mapping"))
            continue
        label = (task.get("task") or {}).get("name") if isinstance(task.get("task"), dict) else None
        desc = f"task {key!r}" + (f" ({label})" if label else "")
        if str(task.get("id")) != key:
            out.append(Problem(where, "PB-TASKID", f"{desc}: key {key!r} differs from its id {task.get('id')!r}"))
        nexttasks = task.get("nexttasks") or {}
        if not isinstance(nexttasks, dict):
            out.append(Problem(where, "PB-NEXT", f"{desc}: nexttasks is not a mapping"))
            continue
        for branch, targets in nexttasks.items():
            if not isinstance(targets, list):
                out.append(Problem(where, "PB-NEXT", f"{desc}: nexttasks[{branch!r}] is not a list"))
                continue
            for target in targets:
                if str(target) not in ids:
                    out.append(
                        Problem(where, "PB-NEXT", f"{desc}: nexttasks[{branch!r}] -> {target!r} is not a task id")
                    )
                else:
                    edges[key].add(str(target))
        out.extend(_check_condition_labels(task, nexttasks, desc, where))
    if start in ids:
        seen = {start}
        frontier = [start]
        while frontier:
            for nxt in edges.get(frontier.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        for tid in sorted(ids - seen, key=lambda x: (len(x), x)):
            out.append(Problem(where, "PB-UNREACHABLE", f"task {tid!r} cannot be reached from the start task"))
    return out


def _check_condition_labels(task: dict, nexttasks: dict, desc: str, where: str) -> list[Problem]:
    if task.get("type") != "condition":
        return []
    conditions = task.get("conditions")
    inner = task.get("task") if isinstance(task.get("task"), dict) else {}
    if not conditions or inner.get("script") or inner.get("scriptName"):
        return []  # manual or script-decided condition: branch names come from the analyst / the script
    labels = {c.get("label") for c in conditions if isinstance(c, dict)}
    return [
        Problem(where, "PB-BRANCH", f"{desc}: branch {branch!r} matches no condition label {sorted(labels)}")
        for branch in nexttasks
        if branch not in labels and branch not in ("#default#", "#none#", "#error#")
    ]


def _check_outputs(outputs: Any, owner: str, where: str) -> list[Problem]:
    out: list[Problem] = []
    for o in outputs or []:
        if not isinstance(o, dict) or _blank(o.get("contextPath")):
            out.append(Problem(where, "OUT-PATH", f"{owner}: an output has no contextPath"))
        elif _blank(o.get("description")):
            out.append(Problem(where, "DESC", f"{owner}: output {o['contextPath']!r} has no description"))
    return out


def check_integration(data: Any, where: str) -> list[Problem]:
    """Every command, argument and output is described; parameters are displayable."""
    if not isinstance(data, dict):
        return [Problem(where, "IN-FORMAT", "integration is not a mapping")]
    out: list[Problem] = []
    if _blank(data.get("description")):
        out.append(Problem(where, "DESC", "integration has no description"))
    for param in data.get("configuration") or []:
        if not isinstance(param, dict) or _blank(param.get("name")):
            out.append(Problem(where, "IN-PARAM", "a configuration parameter has no name"))
        elif _blank(param.get("display")) and _blank(param.get("displaypassword")) and not param.get("hidden"):
            out.append(Problem(where, "IN-PARAM", f"parameter {param['name']!r} has no display name"))
    script = data.get("script") if isinstance(data.get("script"), dict) else {}
    for cmd in script.get("commands") or []:
        if not isinstance(cmd, dict) or _blank(cmd.get("name")):
            out.append(Problem(where, "IN-COMMAND", "a command has no name"))
            continue
        name = cmd["name"]
        if _blank(cmd.get("description")):
            out.append(Problem(where, "DESC", f"command {name!r} has no description"))
        for arg in cmd.get("arguments") or []:
            if not isinstance(arg, dict) or _blank(arg.get("name")):
                out.append(Problem(where, "IN-ARG", f"command {name!r}: an argument has no name"))
            elif _blank(arg.get("description")):
                out.append(Problem(where, "DESC", f"command {name!r}: argument {arg['name']!r} has no description"))
        out.extend(_check_outputs(cmd.get("outputs"), f"command {name!r}", where))
    return out


def check_script(data: Any, where: str) -> list[Problem]:
    """A script says what it does, and every argument and output is described."""
    if not isinstance(data, dict):
        return [Problem(where, "SC-FORMAT", "script is not a mapping")]
    out: list[Problem] = []
    if _blank(data.get("comment")):
        out.append(Problem(where, "DESC", "script has no comment (description)"))
    for arg in data.get("args") or []:
        if not isinstance(arg, dict) or _blank(arg.get("name")):
            out.append(Problem(where, "SC-ARG", "an argument has no name"))
        elif _blank(arg.get("description")):
            out.append(Problem(where, "DESC", f"argument {arg['name']!r} has no description"))
    out.extend(_check_outputs(data.get("outputs"), "script", where))
    return out


def check_code_file(path: Path, data: Any, kind: str, where: str) -> list[Problem]:
    """A split integration/script yml (script '-' or '') needs its code file beside it."""
    code = data.get("script") if isinstance(data, dict) else None
    if kind == "integration" and isinstance(code, dict):
        code = code.get("script")
    if code not in ("-", ""):
        return []
    if any(path.with_suffix(ext).exists() for ext in (".py", ".ps1", ".js")):
        return []
    return [Problem(where, "CODE-MISSING", f"script is '{code}' but no {path.stem}.py beside the yml")]


def check_python_syntax(path: Path, where: str) -> list[Problem]:
    try:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as e:
        return [Problem(where, "PY-SYNTAX", f"line {e.lineno}: {e.msg}")]
    return []


# The exact pattern demisto-sdk's unifier replaces with the module's code (integration_script_unifier.py).
# It matches anywhere - docstrings and comments included - and recurses into the inlined module.
UNIFIER_IMPORT_RE = re.compile(r"from ([\w\d]+ApiModule) import \*(?:  # noqa: E402)?")


def check_api_module_imports(root: Path, py_files: Iterable[Path]) -> list[Problem]:
    """What `demisto-sdk unify/zip-packs` will do with `from XApiModule import *`, checked before it does it.

    - the text must sit on a real import line: in a docstring or comment the unifier still pastes the whole
      module there (and a module that mentions its own import recurses until Python gives up);
    - the module must exist at Packs/ApiModules/Scripts/<X>/<X>.py;
    - ApiModules must not import each other in a cycle (the unifier has no cycle guard).
    """
    out: list[Problem] = []
    api_dir = root / "Packs" / "ApiModules" / "Scripts"
    graph: dict[str, set[str]] = {}
    for path in py_files:
        if path.name.endswith("_test.py") or path.name == "conftest.py":
            continue
        text = path.read_text(encoding="utf-8")
        where = _rel(path, root)
        owner = path.stem if path.parent.parent == api_dir else None
        for m in UNIFIER_IMPORT_RE.finditer(text):
            module = m.group(1)
            line_start = text.rfind("\n", 0, m.start()) + 1
            line_no = text.count("\n", 0, m.start()) + 1
            if m.start() != line_start:
                out.append(Problem(where, "UNIFY-TEXT", f"line {line_no}: {m.group(0)!r} outside an import statement: "
                                   "demisto-sdk unify pastes the module's code here too; reword it"))
                continue
            if not (api_dir / module / f"{module}.py").is_file():
                out.append(Problem(where, "UNIFY-MISSING", f"line {line_no}: {module} not found at "
                                   f"Packs/ApiModules/Scripts/{module}/{module}.py"))
            if owner:
                graph.setdefault(owner, set()).add(module)
    # cycle detection (self-imports included)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                out.append(Problem(f"Packs/ApiModules/Scripts/{node}/{node}.py", "UNIFY-CYCLE",
                                   "ApiModule import cycle: " + " -> ".join(cycle)))
            elif state.get(nxt) is None:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return out


def _approved(root: Path, name: str) -> Any:
    p = root / "Config" / name
    if not p.exists():
        return None
    return json.loads(p.read_text(encoding="utf-8")).get("approved_list")


def check_pack_metadata(data: Any, where: str, root: Path) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem(where, "META", "pack_metadata.json is not an object")]
    out: list[Problem] = []
    for key in ("name", "description", "support", "currentVersion", "author"):
        if _blank(data.get(key)):
            out.append(Problem(where, "META", f"{key!r} is missing or empty"))
    if "firstCreated" in data:
        out.append(Problem(where, "META", "'firstCreated' is not a pack_metadata field (demisto-sdk init leftover)"))
    if data.get("support") and data["support"] not in SUPPORT_LEVELS:
        out.append(Problem(where, "META", f"support {data['support']!r} not in {sorted(SUPPORT_LEVELS)}"))
    if data.get("currentVersion") and not VERSION_RE.match(str(data["currentVersion"])):
        out.append(Problem(where, "META", f"currentVersion {data['currentVersion']!r} is not X.Y.Z"))
    for mp in data.get("marketplaces") or []:
        if mp not in MARKETPLACES:
            out.append(Problem(where, "META", f"unknown marketplace {mp!r}"))
    categories = _approved(root, "approved_categories.json")
    if categories is not None:
        for c in data.get("categories") or []:
            if c not in categories:
                out.append(Problem(where, "META", f"category {c!r} is not in Config/approved_categories.json"))
    tags = _approved(root, "approved_tags.json")
    if isinstance(tags, dict):
        allowed = set(tags.get("common", []))
        for mp in data.get("marketplaces") or ["xsoar", "marketplacev2"]:
            allowed |= set(tags.get(mp, []))
        for t in data.get("tags") or []:
            if t not in allowed:
                out.append(Problem(where, "META", f"tag {t!r} is not in Config/approved_tags.json"))
    usecases = _approved(root, "approved_usecases.json")
    if usecases is not None:
        for u in data.get("useCases") or []:
            if u not in usecases:
                out.append(Problem(where, "META", f"use case {u!r} is not in Config/approved_usecases.json"))
    return out


# --------------------------------------------------------------------------------------------------
# Schemas (pykwalify, demisto-sdk's own schema files)
# --------------------------------------------------------------------------------------------------


def sdk_schema_dir() -> Path:
    spec = importlib.util.find_spec("demisto_sdk")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("demisto-sdk is not installed here: run with .venv-tools/bin/python (or --no-schema)")
    return Path(next(iter(spec.submodule_search_locations))) / "commands" / "common" / "schemas"


_SCHEMA_CACHE: dict[str, Any] = {}


def _fix_schema(node: Any) -> Any:
    """Repair a known defect in the shipped schemas: list.yml writes `includes:` (unknown to pykwalify) for
    `include:` in two sequences, which would reject every list. Applied in memory only."""
    if isinstance(node, dict):
        return {("include" if k == "includes" else k): _fix_schema(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_fix_schema(v) for v in node]
    return node


def _load_schema(schema_file: Path) -> Any:
    key = str(schema_file)
    if key not in _SCHEMA_CACHE:
        _SCHEMA_CACHE[key] = _fix_schema(yaml.safe_load(schema_file.read_text(encoding="utf-8")))
    return _SCHEMA_CACHE[key]


def schema_problems(data: Any, schema: str, where: str, schema_dir: Path) -> list[Problem]:
    from pykwalify.core import Core  # only in .venv-tools
    from pykwalify.errors import SchemaError

    schema_file = schema_dir / f"{schema}.yml"
    if not schema_file.exists():
        return [Problem(where, "SCHEMA", f"demisto-sdk ships no schema {schema_file.name}")]
    core = Core(source_data=data, schema_data=_load_schema(schema_file))
    try:
        core.validate(raise_exception=True)
    except SchemaError:
        return [Problem(where, "SCHEMA", f"{schema}: {err}") for err in (core.errors or ["invalid"])]
    except Exception as e:  # pykwalify raises assorted errors on malformed input
        return [Problem(where, "SCHEMA", f"{schema}: {e}")]
    return []


def _schema_for(kind: str, data: Any) -> str | None:
    if kind in ("integration", "script", "playbook", "incidentfield", "incidenttype", "layoutscontainer", "layout",
                "list", "widget", "dashboard", "report", "job", "trigger", "layoutrule", "wizard", "reputation",
                "genericfield", "generictype", "genericmodule", "genericdefinition"):
        return kind
    if kind == "pre-process-rule":
        return "pre-process-rule"
    if kind == "classifier_or_mapper" and isinstance(data, dict):
        return "mapper" if str(data.get("type", "")).startswith("mapping") else "classifier"
    return None


# --------------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------------


def _test_item_kind(data: Any) -> str:
    if isinstance(data, dict) and "tasks" in data:
        return "playbook"
    if isinstance(data, dict) and isinstance(data.get("script"), dict):
        return "integration"
    return "script"


def run_checks(root: Path = REPO_ROOT, schema: bool = True) -> list[Problem]:
    """All problems found under root/Packs (empty list: clean)."""
    root = root.resolve()
    problems: list[Problem] = []
    schema_dir = sdk_schema_dir() if schema else None
    logging.getLogger("pykwalify").setLevel(logging.CRITICAL)
    ids: dict[tuple[str, str], list[str]] = {}
    files = list(_walk(root))
    for path in files:
        where = _rel(path, root)
        if path.suffix == ".py":
            problems.extend(check_python_syntax(path, where))
            continue
        kind = classify(path, root)
        if kind is None:
            if path.suffix.lower() in (".yml", ".yaml", ".json"):
                try:
                    load(path)
                except Exception as e:
                    problems.append(Problem(where, "PARSE", str(e).splitlines()[0] if str(e) else repr(e)))
            continue
        try:
            data = load(path)
        except Exception as e:
            problems.append(Problem(where, "PARSE", " ".join(str(e).split())))
            continue
        if kind == "test_item":
            kind = _test_item_kind(data)
        if kind == "pack_metadata":
            problems.extend(check_pack_metadata(data, where, root))
            continue
        if kind == "playbook":
            problems.extend(check_playbook(data, where))
        elif kind == "integration":
            problems.extend(check_integration(data, where))
            problems.extend(check_code_file(path, data, kind, where))
        elif kind == "script":
            problems.extend(check_script(data, where))
            problems.extend(check_code_file(path, data, kind, where))
        if kind in ("playbook", "integration", "script") and isinstance(data, dict):
            item_id = data.get("id") if kind == "playbook" else (data.get("commonfields") or {}).get("id")
            if item_id:
                ids.setdefault((kind, str(item_id)), []).append(where)
        if schema_dir is not None:
            name = _schema_for(kind, data)
            if name:
                problems.extend(schema_problems(data, name, where, schema_dir))
    problems.extend(check_api_module_imports(root, (p for p in files if p.suffix == ".py")))
    for (kind, item_id), wheres in sorted(ids.items()):
        if len(wheres) > 1:
            problems.append(Problem(wheres[0], "DUP-ID", f"{kind} id {item_id!r} is also used by {wheres[1:]}"))
    return problems


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (holds Packs/ and Config/)")
    parser.add_argument("--no-schema", action="store_true", help="cross-checks only (no demisto-sdk needed)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    problems = run_checks(args.root, schema=not args.no_schema)
    counted = sum(1 for _ in _walk(args.root.resolve()))
    for p in problems:
        print(p)
    label = "cross-checks" if args.no_schema else "schema + cross-checks"
    if problems:
        print(f"check_content: {len(problems)} problem(s) in {counted} files under Packs/ ({label})")
        return 1
    print(f"check_content: OK, {counted} files under Packs/ ({label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
