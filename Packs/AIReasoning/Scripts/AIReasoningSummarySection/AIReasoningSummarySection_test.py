"""AIReasoningSummarySection: the dynamic layout section renders the latest run from context."""

from tests.content.xsoar_harness import Tenant, seed_run

SCRIPT = "AIReasoningSummarySection"


def test_renders_verdict_threat_evidence_recommendations_and_trace():
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    assert tenant.run("AIReasoningReActInvestigate", {}, user="").ok
    result = tenant.run(SCRIPT, {}, user="analyst1")
    assert result.ok, result.error_messages
    entry = result.entries[0]
    assert entry["ContentsFormat"] == "markdown"
    markdown = entry["Contents"]
    run = tenant.run_record()
    assert run["assessment"]["threat_level"] in markdown and run["run_id"] in markdown
    assert "Evidence" in markdown and "Trace" in markdown
    assert "deterministic reasoner" in markdown


def test_recommendations_show_their_approval_state():
    tenant = Tenant(None)
    seed_run(tenant, [("iam_deactivate_access_key", {"user_name": "u", "access_key_id": "AKIAIOSFODNN7EXAMPLE"},
                       "required")])
    markdown = tenant.run(SCRIPT, {}).entries[0]["Contents"]
    assert "iam_deactivate_access_key" in markdown and "proposed" in markdown and "required" in markdown


def test_no_run_yet():
    tenant = Tenant(None)
    result = tenant.run(SCRIPT, {})
    assert result.ok and "No AI Reasoning run" in result.entries[0]["Contents"]
