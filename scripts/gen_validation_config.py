#!/usr/bin/env python3
"""Generate validation_config.toml: demisto-sdk's own strict rule set, minus what cannot run offline.

Why: `demisto-sdk validate` without a config runs about 15 rules, so "All validations passed" means little.
The SDK ships the strict set the official content repository uses
(`demisto_sdk/commands/validate/sdk_validation_config.toml`). We take it as is and remove only:

* rules that need the internet (Docker Hub / GitHub look-ups): DO103, DO105, DO106;
* rules that need the Neo4j content graph: every validator whose source uses `graph_interface` /
  `self.graph`, or imports a validator module that does (found by scanning the installed SDK, so an SDK
  upgrade is picked up by re-running this).

The result is committed; `./scripts/test` checks that it is up to date with the installed SDK.
Stdlib only; run with any Python >= 3.11 that can see the demisto-sdk install (normally .venv-tools):

    .venv-tools/bin/python scripts/gen_validation_config.py            # (re)write validation_config.toml
    .venv-tools/bin/python scripts/gen_validation_config.py --check    # exit 1 if the file is stale
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "validation_config.toml"

INTERNET_RULES = {
    "DO103": "checks that the docker image exists on Docker Hub (network)",
    "DO105": "checks the docker image is not deprecated against a list fetched from GitHub (network)",
    "DO106": "checks the docker image is the latest tag on Docker Hub (network)",
}

GRAPH_PATTERN = re.compile(r"graph_interface|self\.graph\b")
CODE_PATTERN = re.compile(r"^([A-Z]{2}\d{3})_")


def sdk_dir() -> Path:
    """Locate the installed demisto_sdk package without importing it (importing needs a content repo cwd)."""
    spec = importlib.util.find_spec("demisto_sdk")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("demisto_sdk is not installed in this interpreter; run with .venv-tools/bin/python")
    return Path(next(iter(spec.submodule_search_locations)))


def graph_rules(validators_dir: Path) -> dict[str, list[str]]:
    """Rule code -> validator files that talk to the content graph.

    A validator is a graph rule if its source uses the graph directly, or if it imports (usually to subclass)
    a validator module that does - e.g. GR114 subclasses GR109's graph-backed validator.
    """
    sources = {
        path.stem: (path, path.read_text(encoding="utf-8"))
        for path in sorted(validators_dir.rglob("*.py"))
        if CODE_PATTERN.match(path.name)
    }
    graph_modules = {stem for stem, (_, text) in sources.items() if GRAPH_PATTERN.search(text)}
    changed = True
    while changed:
        changed = False
        for stem, (_, text) in sources.items():
            if stem not in graph_modules and any(
                re.search(rf"\b{re.escape(g)}\b", text) for g in graph_modules
            ):
                graph_modules.add(stem)
                changed = True
    found: dict[str, list[str]] = {}
    for stem in sorted(graph_modules):
        path, _ = sources[stem]
        code = CODE_PATTERN.match(path.name).group(1)  # type: ignore[union-attr]
        found.setdefault(code, []).append(path.name)
    return found


def _fmt_list(values: list[str], indent: str = "") -> str:
    if not values:
        return "[]"
    inner = "".join(f'{indent}  "{v}",\n' for v in values)
    return "[\n" + inner + indent + "]"


def _emit_table(name: str, table: dict, lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
    lines.append(f"[{name}]")
    for key, value in scalars.items():
        lines.append(f"{key} = {_fmt_list(sorted(value))}")
    lines.append("")
    for key, value in subtables.items():
        _emit_table(f"{name}.{key}", value, lines)


def _filter(obj: object, excluded: set[str]) -> object:
    if isinstance(obj, dict):
        return {k: _filter(v, excluded) for k, v in obj.items()}
    if isinstance(obj, list):
        return [x for x in obj if x not in excluded]
    return obj


def render() -> tuple[str, dict[str, int]]:
    sdk = sdk_dir()
    source = sdk / "commands" / "validate" / "sdk_validation_config.toml"
    strict = tomllib.loads(source.read_text(encoding="utf-8"))
    graph = graph_rules(sdk / "commands" / "validate" / "validators")
    excluded = set(INTERNET_RULES) | set(graph)
    result = _filter(strict, excluded)
    assert isinstance(result, dict)

    version = "unknown"
    for dist in sdk.parent.glob("demisto_sdk-*.dist-info"):
        version = dist.name.removeprefix("demisto_sdk-").removesuffix(".dist-info")

    path_sel = strict.get("path_based_validations", {}).get("select", [])
    removed_path = sorted(set(path_sel) & excluded)
    stats = {
        "sdk_path_based": len(path_sel),
        "enabled_path_based": len(path_sel) - len(removed_path),
        "removed_path_based": len(removed_path),
    }

    lines = [
        "# GENERATED by scripts/gen_validation_config.py - do not edit by hand; re-run the script instead.",
        f"# Source: demisto-sdk {version} demisto_sdk/commands/validate/sdk_validation_config.toml (the strict set).",
        "# Removed, because they cannot run offline:",
    ]
    for code, why in sorted(INTERNET_RULES.items()):
        lines.append(f"#   {code}: {why}")
    for code, files in sorted(graph.items()):
        lines.append(f"#   {code}: needs the Neo4j content graph ({', '.join(files)})")
    lines.append(
        f"# `validate -a` (path_based_validations): {stats['enabled_path_based']} rules enabled, "
        f"{stats['removed_path_based']} of the SDK's {stats['sdk_path_based']} removed "
        f"({', '.join(removed_path) or 'none'})."
    )
    lines.append("")
    top_scalars = {k: v for k, v in result.items() if not isinstance(v, dict)}
    for key, value in top_scalars.items():
        lines.append(f"{key} = {_fmt_list(sorted(value))}")
    lines.append("")
    for key, value in result.items():
        if isinstance(value, dict):
            _emit_table(key, value, lines)
    return "\n".join(lines).rstrip() + "\n", stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if validation_config.toml is out of date")
    args = parser.parse_args()
    text, stats = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(
                f"{OUTPUT.name} is stale: run .venv-tools/bin/python scripts/gen_validation_config.py",
                file=sys.stderr,
            )
            return 1
        print(f"{OUTPUT.name} is up to date ({stats['enabled_path_based']} rules enabled for validate -a)")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(
        f"wrote {OUTPUT.name}: {stats['enabled_path_based']} rules enabled for validate -a, "
        f"{stats['removed_path_based']} removed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
