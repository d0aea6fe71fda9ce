"""AIReasoningFeedback under the platform doubles: valid corrections join the library List, invalid ones do not."""

from tests.content.xsoar_harness import Tenant

SCRIPT = "AIReasoningFeedback"
PROGRAM = """Q1: [ip_reputation] Is the caller IP known to be malicious?
  args: {"ip": "198.51.100.77"}
#1: [E1] {"context": {"DBotScore": [{"Indicator": "198.51.100.77", "Score": 3, "Type": "ip"}]}}
Q2: [cloudtrail_lookup_events] What did the key do?
  args: {"attribute_key": "AccessKeyId", "attribute_value": "AKIAIOSFODNN7EXAMPLE"}
#2: [E2] {"context": {"AWS.CloudTrail.Events": [{"EventName": "ListBuckets"}]}}
Q3: [EOQ]
Ans: {"assessment": {"verdict": "true_positive", "threat_level": "high", "confidence": 0.8, "summary": "Key used \
from a malicious IP.", "evidence_refs": ["E1", "E2"]}, "recommendations": []}"""


def test_valid_correction_is_appended_with_provenance():
    tenant = Tenant(None)
    before = tenant.lists["AIReasoningTaskLibrary"]
    result = tenant.run(SCRIPT, {"program": PROGRAM, "task": "API key used from a malicious IP",
                                 "run_id": "run-123", "category": "api_key_abuse"}, user="alice")
    assert result.ok, result.error_messages
    after = tenant.lists["AIReasoningTaskLibrary"]
    assert after != before and "author: alice" in after and "source_run: run-123" in after
    feedback = tenant.context["AIReasoning"]["Feedback"]
    assert feedback["analyst"] == "alice" and feedback["status"] == "added" and feedback["id"].startswith("api-key")
    from AIReasoningApiModule import TaskLibrary

    library = TaskLibrary.from_yaml(after)
    assert library.get(feedback["id"]).provenance.source_run == "run-123"


def test_invalid_program_is_refused_and_the_list_is_untouched():
    tenant = Tenant(None)
    before = tenant.lists["AIReasoningTaskLibrary"]
    broken = PROGRAM.replace("[ip_reputation]", "[drop_database]")
    result = tenant.run(SCRIPT, {"program": broken, "task": "x", "category": "api_key_abuse"}, user="alice")
    assert not result.ok and "not added to the task library" in result.error_messages[0]
    assert "drop_database" in result.error_messages[0]
    assert tenant.lists["AIReasoningTaskLibrary"] == before
    assert ("setList", {"listName": "AIReasoningTaskLibrary"}) not in [(c, {"listName": a.get("listName")})
                                                                       for c, a in tenant.calls]


def test_duplicate_and_missing_arguments():
    tenant = Tenant(None)
    assert tenant.run(SCRIPT, {"program": PROGRAM, "task": "t"}, user="alice").ok
    again = tenant.run(SCRIPT, {"program": PROGRAM, "task": "t"}, user="bob")
    assert not again.ok and "identical program" in again.error_messages[0]
    assert "required" in tenant.run(SCRIPT, {"program": PROGRAM}, user="alice").error_messages[0]
