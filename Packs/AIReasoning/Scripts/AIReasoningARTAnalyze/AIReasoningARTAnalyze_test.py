"""AIReasoningARTAnalyze under the platform doubles: program with each #i, task library from the List."""

from tests.content.xsoar_harness import Tenant

SCRIPT = "AIReasoningARTAnalyze"


def test_art_shows_the_program_with_each_result():
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    result = tenant.run(SCRIPT, {"task": "Decide whether this IAM activity is malicious"}, user="")
    assert result.ok, result.error_messages
    run = tenant.run_record()
    assert run["method"] == "art" and run["demonstrations"]
    assert "#1:" in run["program"] and "Q1:" in run["program"]
    program_notes = [e for e in result.entries if "ai-reasoning-art" in (e.get("Tags") or [])
                     and e.get("Contents") == run["program"]]
    assert program_notes and "```" in program_notes[0]["HumanReadable"]
    assert tenant.incident["CustomFields"]["aireasoningverdict"] == run["assessment"]["verdict"]


def test_art_reads_the_task_library_list():
    tenant = Tenant("iam_anomaly_leaked_key_tp")
    tenant.run(SCRIPT, {}, user="")
    assert ("getList", {"listName": "AIReasoningTaskLibrary"}) in tenant.calls


def test_broken_policy_list_is_a_clear_error():
    tenant = Tenant("iam_anomaly_leaked_key_tp", lists={"AIReasoningPolicy": '{"allowlist": ["*"], "typo_key": 1}'})
    result = tenant.run(SCRIPT, {}, user="")
    assert not result.ok and "Invalid policy" in result.error_messages[0]
