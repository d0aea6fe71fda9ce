"""Structural guards for the engine ApiModules.

demisto-sdk inlines every `from XApiModule import *` into one file, so the ApiModules share a single
namespace on the tenant: a private helper defined twice silently replaces the first one. These
checks keep the engine platform-neutral and the unified file free of such collisions.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_MODULES = ROOT / "Packs" / "ApiModules" / "Scripts"
PLATFORM_MODULES = {"demistomock", "CommonServerPython", "CommonServerUserPython"}
# The XSOAR glue is the one ApiModule allowed to talk to the platform.
PLATFORM_GLUE = {"AIReasoningXsoarApiModule"}
STAR_IMPORT = re.compile(r"^from (\w+ApiModule) import \*", re.MULTILINE)


def engine_modules() -> dict[str, Path]:
    found = {}
    for folder in sorted(API_MODULES.glob("AIReasoning*ApiModule")):
        source = folder / f"{folder.name}.py"
        if source.exists():
            found[folder.name] = source
    return found


def imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def top_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def inlined_closure(name: str, modules: dict[str, Path]) -> list[str]:
    """Modules the unifier would inline for `from <name> import *`, in order, each once."""
    order: list[str] = []

    def visit(mod: str) -> None:
        if mod in order or mod not in modules:
            return
        order.append(mod)
        for dep in STAR_IMPORT.findall(modules[mod].read_text()):
            visit(dep)

    visit(name)
    return order


def test_engine_modules_exist():
    modules = engine_modules()
    for required in ("AIReasoningModelApiModule", "AIReasoningPolicyApiModule", "AIReasoningEnvelopeApiModule",
                     "AIReasoningProvidersApiModule", "AIReasoningApiModule"):
        assert required in modules, f"missing engine module {required}"


@pytest.mark.parametrize("name", sorted(set(engine_modules()) - PLATFORM_GLUE))
def test_engine_imports_no_platform_module(name):
    tree = ast.parse(engine_modules()[name].read_text())
    assert not imported_modules(tree) & PLATFORM_MODULES, f"{name} imports a platform module"


@pytest.mark.parametrize("name", sorted(engine_modules()))
def test_star_imports_only_in_code(name):
    """The unifier matches the import text anywhere, so a docstring mentioning one recurses forever."""
    source = engine_modules()[name].read_text()
    tree = ast.parse(source)
    real = {node.lineno for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
            and node.module.endswith("ApiModule")}
    for lineno, line in enumerate(source.splitlines(), 1):
        if re.search(r"from \w+ApiModule import", line):
            assert lineno in real, f"{name}:{lineno}: ApiModule import text outside an import statement"


@pytest.mark.parametrize("top", sorted(engine_modules()))
def test_no_duplicate_names_once_inlined(top):
    modules = engine_modules()
    seen: dict[str, str] = {}
    clashes = []
    for mod in inlined_closure(top, modules):
        for name in top_level_names(ast.parse(modules[mod].read_text())):
            if name in seen and name not in {"__all__"}:
                clashes.append(f"{name} ({seen[name]} and {mod})")
            seen.setdefault(name, mod)
    assert not clashes, "names defined twice in the unified file: " + ", ".join(sorted(clashes))


@pytest.mark.parametrize("top", sorted(engine_modules()))
def test_each_module_inlined_once(top):
    """The unifier inlines every ApiModule import it meets, without de-duplication: the imports must form one chain."""
    modules = engine_modules()
    paths: list[str] = []

    def expand(mod: str) -> None:
        paths.append(mod)
        for dep in STAR_IMPORT.findall(modules[mod].read_text()):
            if dep in modules:
                expand(dep)

    expand(top)
    repeated = sorted({m for m in paths if paths.count(m) > 1})
    assert not repeated, f"{top} would inline these modules more than once: {repeated}"
