# shellcheck shell=bash
# Shared by scripts/setup, scripts/test and scripts/demo: create or update the two virtual environments.
#   .venv        runtime + tests (pydantic v2, anthropic 2.x, pytest, ruff, ...)   [project.dependencies] + [dependency-groups].test
#   .venv-tools  demisto-sdk (pydantic < 2, so it cannot share .venv)               [dependency-groups].tools
# The requirement lists come from pyproject.toml. A stamp file inside each venv holds a hash of its
# requirement list and the interpreter version, so an unchanged venv costs one Python start-up, not a pip run.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "error: Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

# _requirements <group>: print the requirement lines for "runtime" (dependencies + test group) or "tools".
_requirements() {
    "$1" - "$REPO_ROOT/pyproject.toml" "$2" <<'PY'
import sys, tomllib
data = tomllib.load(open(sys.argv[1], "rb"))
groups = data.get("dependency-groups", {})
if sys.argv[2] == "runtime":
    reqs = list(data["project"]["dependencies"]) + list(groups.get("test", []))
else:
    reqs = list(groups.get(sys.argv[2], []))
print("\n".join(reqs))
PY
}

# ensure_venv <dir> <group>
ensure_venv() {
    local venv="$REPO_ROOT/$1" group="$2" base_python reqs stamp_file want have
    base_python="$(_find_python)"
    reqs="$(_requirements "$base_python" "$group")"
    stamp_file="$venv/.aireasoning-deps.sha256"
    want="$(printf '%s\n%s\n' "$("$base_python" -c 'import sys; print(sys.version.split()[0])')" "$reqs" |
        "$base_python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys' 2>/dev/null; then
        have="$(cat "$stamp_file" 2>/dev/null || true)"
        if [ "$have" = "$want" ]; then
            return 0
        fi
    else
        echo "==> creating $1 ($group) with $base_python"
        rm -rf "$venv"
        "$base_python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    fi
    echo "==> installing $group requirements into $1"
    # shellcheck disable=SC2086
    printf '%s\n' "$reqs" >"$venv/.aireasoning-requirements.txt"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$venv/.aireasoning-requirements.txt"
    printf '%s\n' "$want" >"$stamp_file"
}

ensure_all_venvs() {
    ensure_venv .venv runtime
    ensure_venv .venv-tools tools
}
