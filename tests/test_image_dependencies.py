"""Guard: everything the pack imports exists in the docker image it runs in.

The tests run with a richer environment than the tenant (jsonschema, anthropic 2.x, ...). On the tenant the
scripts and the gateway run in the image named by their ymls, whose Python distributions are listed in
tests/data/docker_image_packages.json (the single copy of that list). Every import in an engine ApiModule
(inlined into the scripts by demisto-sdk) and in the pack's scripts and integrations must be stdlib, a platform
module, an ApiModule, or a module of one of those distributions - unless it is an optional dependency: an
import inside the body of ``try: ... except ImportError`` (or ModuleNotFoundError), whose handler is the fallback.
"""

import ast
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
IMAGE_FILE = Path(__file__).resolve().parent / "data" / "docker_image_packages.json"
IMAGE = json.loads(IMAGE_FILE.read_text())
API_MODULES = ROOT / "Packs" / "ApiModules" / "Scripts"
PACK = ROOT / "Packs" / "AIReasoning"
PLATFORM_MODULES = {"demistomock", "CommonServerPython", "CommonServerUserPython"}
# In sys.stdlib_module_names of the 3.11 test interpreter, removed from the image's Python 3.12 (PEP 594/632).
REMOVED_IN_PY312 = {"asynchat", "asyncore", "distutils", "imp", "smtpd"}
GUARD_EXCEPTIONS = {"ImportError", "ModuleNotFoundError"}


def image_import_names() -> set[str]:
    """Importable module names of the image's distributions (dotted for a namespace package's parts)."""
    names: set[str] = set()
    for dist in IMAGE["packages"]:
        names.update(IMAGE["import_names"].get(dist, [re.sub(r"[-.]+", "_", dist).lower()]))
    return names


def stdlib_names() -> set[str]:
    return set(sys.stdlib_module_names) - REMOVED_IN_PY312


def api_module_names() -> set[str]:
    return {p.name for p in API_MODULES.glob("*ApiModule") if (p / f"{p.name}.py").exists()}


def checked_files() -> list[Path]:
    """Engine ApiModules and pack scripts/integrations: the code that runs in the image (tests excluded)."""
    files = sorted(API_MODULES.glob("AIReasoning*ApiModule/AIReasoning*ApiModule.py"))
    for kind in ("Scripts", "Integrations"):
        files += sorted(p for p in PACK.glob(f"{kind}/*/*.py")
                        if not p.name.endswith("_test.py") and p.name != "conftest.py")
    return files


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught] if caught is not None else []
    return any(isinstance(n, ast.Name) and n.id in GUARD_EXCEPTIONS for n in names)


def imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module, line, guarded) for every absolute import; guarded = in the body of a try that catches ImportError."""
    guarded_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar) and any(_catches_import_error(h) for h in node.handlers):
            for stmt in node.body:  # only the body: imports in a handler or else/finally are the fallback
                guarded_nodes.update(id(n) for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in guarded_nodes) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, node.lineno, id(node) in guarded_nodes))
    return found


def is_available(module: str, image_names: set[str]) -> bool:
    top = module.split(".")[0]
    if top in stdlib_names() or top in PLATFORM_MODULES or top in api_module_names():
        return True
    return any(module == name or module.startswith(name + ".") or ("." in name and name.startswith(module + "."))
               for name in image_names)


def missing_imports(source: str) -> list[str]:
    image_names = image_import_names()
    return [f"line {line}: {module}" for module, line, guarded in imports(ast.parse(source))
            if not guarded and not is_available(module, image_names)]


# --------------------------------------------------------------------------------------------------
# The checker itself
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source, missing", [
    ("import jsonschema", ["line 1: jsonschema"]),
    ("from jsonschema.exceptions import SchemaError", ["line 1: jsonschema.exceptions"]),
    ("def f():\n    import httpx2\n", ["line 2: httpx2"]),  # a lazy import fails just the same, later
    ("try:\n    import httpx2\nexcept ImportError:\n    import httpx\n", []),
    ("try:\n    import httpx2\nexcept (ValueError, ModuleNotFoundError):\n    pass\n", []),
    ("try:\n    import httpx2\nexcept Exception:\n    pass\n", ["line 2: httpx2"]),  # not an optional import
    ("try:\n    pass\nexcept ImportError:\n    import jsonschema\n", ["line 4: jsonschema"]),  # the fallback
    ("try:\n    import a_b\nexcept ImportError:\n    pass\nelse:\n    import jsonschema\n", ["line 6: jsonschema"]),
    ("import json, yaml, dateutil.parser, socks, google.auth.transport, anthropic", []),
    ("import google.cloud.storage", ["line 1: google.cloud.storage"]),  # google-auth is not all of google
    ("import distutils", ["line 1: distutils"]),  # gone in Python 3.12
    ("import demistomock as demisto\nfrom CommonServerPython import *\nfrom AIReasoningApiModule import *", []),
    ("from SomeOtherApiModule import *", ["line 1: SomeOtherApiModule"]),
    ("from . import sibling", []),
])
def test_checker(source: str, missing: list[str]) -> None:
    assert missing_imports(source) == missing


def test_image_file_is_consistent() -> None:
    packages = IMAGE["packages"]
    assert len(packages) == len(set(packages)) >= 40
    assert set(IMAGE["import_names"]) <= set(packages)
    assert set(IMAGE["versions"]) <= set(packages)
    assert IMAGE["python"].startswith("3.12.")
    assert IMAGE["source"].endswith(IMAGE["image"].replace(":", "/") + ".md")
    names = image_import_names()
    assert {"anthropic", "httpx", "pydantic", "yaml", "dateutil", "requests", "typing_extensions"} <= names
    assert not names & {"jsonschema", "httpx2"}, "the image has neither: the code must not need them"


def test_checked_files_cover_engine_and_pack() -> None:
    files = {p.name for p in checked_files()}
    assert {"AIReasoningPolicyApiModule.py", "AIReasoningProvidersApiModule.py", "AIReasoningGateway.py"} <= files
    assert len([p for p in checked_files() if PACK in p.parents]) >= 10


# --------------------------------------------------------------------------------------------------
# The code
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", checked_files(), ids=lambda p: p.stem)
def test_every_import_is_in_the_image_or_optional(path: Path) -> None:
    missing = missing_imports(path.read_text())
    assert not missing, (f"{path.relative_to(ROOT)} imports modules the {IMAGE['image']} image does not have "
                         f"(guard them with try/except ImportError and a fallback): {missing}")


def test_optional_imports_are_the_expected_ones() -> None:
    """jsonschema (policy) and the SDK / httpx2 (providers) are optional; each has a fallback on the tenant."""
    image_names = image_import_names()
    optional = {}
    for path in checked_files():
        for module, _, guarded in imports(ast.parse(path.read_text())):
            if guarded:
                optional.setdefault(path.stem, set()).add(module)
    assert {"jsonschema", "jsonschema.exceptions"} <= optional["AIReasoningPolicyApiModule"]
    assert {"anthropic", "httpx2"} <= optional["AIReasoningProvidersApiModule"]
    missing_everywhere = {m for mods in optional.values() for m in mods if not is_available(m, image_names)}
    assert missing_everywhere == {"jsonschema", "jsonschema.exceptions", "httpx2"}


# --------------------------------------------------------------------------------------------------
# The image the list describes is the image the pack runs in
# --------------------------------------------------------------------------------------------------


def pack_docker_images() -> dict[str, str]:
    images = {}
    for yml in sorted(PACK.glob("Scripts/*/*.yml")):
        images[yml.stem] = yaml.safe_load(yml.read_text()).get("dockerimage")
    for yml in sorted(PACK.glob("Integrations/*/*.yml")):
        images[yml.stem] = (yaml.safe_load(yml.read_text()).get("script") or {}).get("dockerimage")
    return images


def test_package_list_matches_the_pack_docker_image() -> None:
    images = pack_docker_images()
    assert "AIReasoningGateway" in images and len(images) >= 10
    wrong = {name: image for name, image in images.items() if image != IMAGE["image"]}
    assert not wrong, (f"these ymls use another docker image than {IMAGE_FILE.relative_to(ROOT)} describes; "
                       f"update its package list from demisto/dockerfiles-info together with the tag: {wrong}")
