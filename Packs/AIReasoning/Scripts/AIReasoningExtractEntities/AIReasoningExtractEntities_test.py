"""AIReasoningExtractEntities: entities from labels, custom fields and the raw alert, plus playbook inputs."""

from tests.content.xsoar_harness import Tenant

SCRIPT = "AIReasoningExtractEntities"


def test_entities_of_the_incident_and_inputs():
    tenant = Tenant("api_key_abuse_scraping_tp")
    result = tenant.run(SCRIPT, {"ips": "198.51.100.9", "emails": "ops@example.com"}, user="")
    assert result.ok, result.error_messages
    entities = tenant.context["AIReasoning"]["Entities"]
    assert entities["primary_access_key"] == "AKIAZ4M7P2LQPARTNR9S"
    assert "80.82.77.33" in entities["ips"] and "198.51.100.9" in entities["ips"]
    assert "svc-partner-sync" in entities["users"] and entities["primary_email"] == "ops@example.com"


def test_rerun_replaces_instead_of_appending():
    tenant = Tenant("api_key_abuse_scraping_tp")
    tenant.run(SCRIPT, {}, user="")
    tenant.run(SCRIPT, {}, user="")
    assert isinstance(tenant.context["AIReasoning"]["Entities"], dict)
