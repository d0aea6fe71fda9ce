"""The uploadable pack works, not only the source tree.

`demisto-sdk zip-packs` inlines the engine ApiModules into every script and the gateway and strips the platform
imports; the platform then runs that code in CommonServerPython's namespace. These tests run the flagship
playbooks with the *packed* code (see localsoc.runner.PackedCode and xsoar_session.run_unified) and expect the
same outcome as from source. ./scripts/test builds the zip before pytest; under CI a missing zip is a failure.
"""

import os
from pathlib import Path

import pytest

from localsoc.playbook import make_provider
from localsoc.runner import LocalRuntime, flagship_for
from localsoc.soc import load_scenario

ROOT = Path(__file__).resolve().parents[2]
ZIP = ROOT / "build" / "uploadable_packs" / "AIReasoning.zip"
SCENARIOS = ROOT / "tests" / "scenarios"


@pytest.fixture(scope="module")
def packed_zip() -> Path:
    if not ZIP.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{ZIP} is missing: ./scripts/test builds it (demisto-sdk zip-packs) before pytest")
        pytest.skip(f"{ZIP} not built (run ./scripts/test, or demisto-sdk zip-packs -i Packs/AIReasoning -o build)")
    return ZIP


def run(name: str, packed: Path | None) -> tuple[LocalRuntime, object]:
    scenario = load_scenario(SCENARIOS / f"{name}.json")
    runtime = LocalRuntime(scenario, approvals=make_provider("all"), packed=packed)
    return runtime, runtime.run(flagship_for(scenario.category), approve="all")


@pytest.mark.parametrize("name", ["api_key_abuse_scraping_tp", "iam_anomaly_leaked_key_tp",
                                  "iam_anomaly_key_rotation_fp"])
def test_flagship_runs_from_the_packed_zip_like_from_source(packed_zip, name):
    runtime, packed = run(name, packed_zip)
    _, source = run(name, None)
    assert packed.status == "completed", packed.failure
    ran = runtime.packed.runs
    assert any(r.startswith("script AIReasoning") for r in ran), ran
    assert any(r.startswith("integration AI Reasoning Gateway") for r in ran), ran
    assert packed.verdict == source.verdict == packed.expected_verdict
    assert packed.deliverable["identity"]["deterministic"] is True


def test_packed_code_has_each_engine_module_once(packed_zip):
    from localsoc.runner import PackedCode

    code = PackedCode(packed_zip).script("AIReasoningReActInvestigate")
    assert code is not None
    for module in ("AIReasoningModelApiModule", "AIReasoningPolicyApiModule", "AIReasoningApiModule"):
        assert code.count(f"### GENERATED CODE ###: from {module} import *") == 1, module
    assert "import demistomock" not in code
