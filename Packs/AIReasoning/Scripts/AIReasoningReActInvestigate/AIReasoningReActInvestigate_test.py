"""AIReasoningReActInvestigate under the platform doubles: gateway turns, real commands, results, fields."""

import json

from xsoar_session import merge_entry_context

from tests.content.xsoar_harness import Tenant, texts

SCRIPT = "AIReasoningReActInvestigate"


def test_investigation_writes_run_note_audit_and_fields():
    tenant = Tenant("api_key_abuse_scraping_tp")
    result = tenant.run(SCRIPT, {"question": "Is this key abused?"}, user="")
    assert result.ok, result.error_messages
    latest = tenant.latest()
    run = tenant.run_record()
    assert run["method"] == "react" and run["run_id"] == latest["run_id"] and run["status"] in ("complete", "partial")
    assert "ai-reasoning-step" in tenant.commands()
    assert any(c not in ("getList", "setList", "ai-reasoning-step", "setIncident") for c in tenant.commands())
    notes = [e for e in result.entries if "ai-reasoning" in (e.get("Tags") or [])]
    assert notes and notes[0]["Note"] is True and "AI Reasoning" in notes[0]["HumanReadable"]
    assert any("ai-reasoning-audit" in (e.get("Tags") or []) for e in result.entries)
    fields = tenant.incident["CustomFields"]
    assert fields["aireasoningverdict"] == latest["verdict"]
    assert fields["aireasoningthreatlevel"] == run["assessment"]["threat_level"]
    assert 0 <= fields["aireasoningconfidence"] <= 100
    for rec in run["recommendations"]:
        if rec["status"] == "proposed":
            assert rec["binding"]["token"] and rec["binding"]["token"] != "[REDACTED]"


def test_deterministic_answers_are_labelled_as_such():
    tenant = Tenant("api_key_abuse_scraping_tp", gateway="deterministic")
    tenant.run(SCRIPT, {}, user="")
    run = tenant.run_record()
    assert run["identity"]["deterministic"] is True
    assert "deterministic" in run["reasoner_label"]


def test_no_gateway_instance_falls_back_to_the_deterministic_reasoner():
    tenant = Tenant("api_key_abuse_scraping_tp", gateway="absent")
    result = tenant.run(SCRIPT, {}, user="")
    assert result.ok, result.error_messages
    run = tenant.run_record()
    assert run["identity"]["deterministic"] is True and run["identity"]["fallback_reason"]


def test_enrichment_paths_are_reused_as_evidence_not_fetched_again():
    tenant = Tenant("api_key_abuse_scraping_tp")
    entries = tenant.soc.dispatch("ip", {"ip": "80.82.77.33"})
    for entry in entries:  # the playbook's enrichment task already ran
        merge_entry_context(tenant.context, entry["EntryContext"])
    result = tenant.run(SCRIPT, {"enrichment_paths": "AbuseIPDB.IP"}, user="")
    assert result.ok
    run = tenant.run_record()
    assert any(e["tool"] == "ip_reputation" for e in run["evidence"])
    assert [c for c, a in tenant.calls if c == "ip" and "80.82.77.33" in json.dumps(a)] == []


def test_secrets_in_the_incident_do_not_reach_context_or_war_room():
    tenant = Tenant("api_key_abuse_scraping_tp")
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    tenant.incident["details"] = f"aws_secret_access_key={secret}"
    result = tenant.run(SCRIPT, {}, user="")
    assert result.ok
    assert secret not in texts(result)
    assert secret not in json.dumps(tenant.context)
