"""Tests for the ART module: program grammar, task library, selection, feedback, entity binding and the
deterministic reasoner's rules (score_evidence, DeterministicModelClient)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from AIReasoningArtApiModule import *  # noqa: F403
from AIReasoningPolicyApiModule import ToolRegistry

ROOT = Path(__file__).resolve().parents[4]
LISTS = ROOT / "Packs" / "AIReasoning" / "Lists"  # the shipped XSOAR Lists are the single source
TP_FINAL = {
    "assessment": {"verdict": "true_positive", "threat_level": "high", "confidence": 0.9, "summary": "x"},
    "recommendations": [],
}


class FakeClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.at += timedelta(milliseconds=5)
        return self.at

    def monotonic(self) -> float:
        return 0.0


@pytest.fixture()
def registry() -> ToolRegistry:
    data = (LISTS / "AIReasoningToolRegistry" / "AIReasoningToolRegistry_data.json").read_text()
    return ToolRegistry.from_config(data)


@pytest.fixture()
def library() -> TaskLibrary:
    return TaskLibrary.from_yaml((LISTS / "AIReasoningTaskLibrary" / "AIReasoningTaskLibrary_data.txt").read_text())


def test_score_evidence_feature_coverage() -> None:
    def ct(name: str, ip: str = "203.0.113.9", error: str | None = None, **params: Any) -> dict[str, Any]:
        rec = {"eventID": f"{name}-{ip}-{error}-{sorted(params.items())}", "eventName": name,
               "eventSource": "iam.amazonaws.com",
               "sourceIPAddress": ip, "userIdentity": {"userName": "mallory", "accessKeyId": "AKIAMALLORYEXAMPLE01"},
               "requestParameters": params}
        if error:
            rec["errorCode"] = error
        return rec
    events = [ct("StopLogging"), ct("PutUserPolicy", policyDocument='{"Action":"s3:*"}'),
              ct("DeactivateMFADevice")] + [ct("GetObject", error="AccessDenied", n=i) for i in range(5)]
    splunk = [{"_raw": {"requestId": f"r{i}", "keyId": "AKIAMALLORYEXAMPLE01", "principal": "arn:aws:iam::1:user/m",
                        "sourceIp": "192.0.2.99", "httpMethod": "GET", "path": "/v1/export", "status": 403,
                        "responseBytes": 10}} for i in range(25)]
    observations = [
        {"tool": "cloudtrail_lookup_events", "output": {"Records": events}, "evidence_id": "E1"},
        {"tool": "splunk_search", "output": {"Splunk.Result": splunk}, "evidence_id": "E2"},
        {"tool": "ip_reputation", "output": [{"Indicator": "192.0.2.99", "Type": "ip", "Score": 3},
                                             {"Indicator": "203.0.113.9", "Type": "ip", "Score": 2},
                                             {"Address": "203.0.113.9", "UsageType": "Data Center/Web Hosting"}],
         "evidence_id": "E3"},
        {"tool": "ueba_user_risk", "output": {"Exabeam.User": {"Username": "mallory", "RiskScore": 70}},
         "evidence_id": "E4"},
    ]
    assessment, actions = score_evidence(observations, {"text": ""})
    for feature in ("logging_disabled", "iam_policy_change", "okta_mfa_reset", "access_denied_burst",
                    "api_volume_anomaly", "api_sensitive_paths", "api_key_from_bad_ip", "ip_malicious",
                    "hosting_or_proxy_ip", "ueba_medium_risk"):
        assert feature in assessment.summary, feature
    assert assessment.verdict == "true_positive" and assessment.threat_level == "critical"
    assert ("iam_deactivate_access_key", {"user_name": "m", "access_key_id": "AKIAMALLORYEXAMPLE01"}) in [
        (a.action, a.args) for a in actions]
    # only weak signals: below the confidence threshold -> inconclusive, no actions
    weak, none = score_evidence([{"tool": "x", "output": [{"Indicator": "203.0.113.9", "Type": "ip", "Score": 2}],
                                  "evidence_id": "E1"}], {"text": ""})
    assert weak.verdict == "inconclusive" and not none
    assert set(WEIGHTS) >= set(ATTACK_IDS) and CONFIDENCE_THRESHOLD == 0.6


def test_deterministic_client_reads_tool_results_from_messages(registry: ToolRegistry) -> None:
    client = DeterministicModelClient(registry)
    plan = [{"tool": "ip_reputation", "args": {"ip": "203.0.113.7"}}, {"tool": "ueba_user_risk",
                                                                        "args": {"username": "alice"}}]
    meta = {"deterministic": {"method": "react", "plan": plan, "incident": {"text": ""}}}
    tools = registry.llm_tools()
    first = client.turn(ModelRequest(tools=tools, metadata=meta, messages=[Message.user_text("go")]))
    assert first.stop_reason == "tool_use" and [b.name for b in first.tool_uses()] == ["ip_reputation",
                                                                                      "ueba_user_risk"]
    results = [ContentBlock(type="tool_result", tool_use_id=first.tool_uses()[0].id,
                            content='[E1] ip_reputation ok\n<<<DATA n x>>>\n{"DBotScore": [{"Indicator": '
                                    '"203.0.113.7", "Type": "ip", "Score": 3}]}\n<<<END n>>>'),
               ContentBlock(type="tool_result", tool_use_id=first.tool_uses()[1].id, content="failed",
                            is_error=True)]
    messages = [Message.user_text("go"), Message(role="assistant", content=first.content),
                Message(role="user", content=results)]
    final = client.turn(ModelRequest(tools=tools, metadata=meta, messages=messages))
    answer = FinalAnswer.model_validate_json(final.text())
    assert answer.assessment.evidence_refs == ["E1"] and "ip_malicious" in answer.assessment.summary


def test_parse_program_errors_name_the_line() -> None:
    cases = {
        "Q2: [ip_reputation] x": "line 1: expected Q1, found Q2",
        "Q1: [ip_reputation] x\n  args: {bad json}": "line 2: args is not valid JSON",
        "Q1: [ip_reputation] x\n  args: [1]": "line 2: args must be a JSON object",
        "Q1: [think] x\n#2: y": "line 2: #2 does not answer Q1",
        "Q1: [think] x\n#1: y\n#1: z": "line 3: duplicate #1",
        "Q1: [EOQ]\n#1: y": "line 2: [EOQ] takes no #result",
        "Q1: [think] x\nAns: {}": "line 2: Ans: before Qn: [EOQ]",
        "Q1: [EOQ]\nAns: {}\nAns: {}": "line 3: duplicate Ans:",
        "Q1: [EOQ]\nQ2: [think] x": "line 2: Q2 after [EOQ]",
        "Q1: [EOQ]\nAns: {}\nQ2: [think] x": "line 3: Q2 after Ans:",
        "Q1: [] x": "line 1: Q1 has an empty [tool]",
        "#1: y": "line 1: #1 before any question",
        "hello": "line 1: unrecognised line 'hello'",
        "Q1: [think] x\n#1: y\nargs: {}": "line 3: args: must directly follow a [tool] question",
    }
    for program, message in cases.items():
        with pytest.raises(ProgramSyntaxError) as caught:
            parse_program(program)
        assert str(caught.value).startswith(message), (program, str(caught.value))


def test_parse_render_round_trip_and_continuations() -> None:
    text = ('Q1: [ip_reputation] Is it bad?\n  args: {"ip": "203.0.113.7"}\n#1: [E1] {"a": 1}\n  more text\n'
            "Q2: [think] So?\n#2: yes\nQ3: [eoq]\nAns: {\"assessment\":\n {\"verdict\": \"suspicious\"}}")
    program = parse_program(text)
    assert [s.tool for s in program.steps] == ["ip_reputation", "think", EOQ]
    assert program.steps[0].result == '[E1] {"a": 1} more text'
    assert answer_json(program.answer) == {"assessment": {"verdict": "suspicious"}}
    assert parse_program(program.render()).render() == program.render()


def test_validate_program_feedback(registry: ToolRegistry, library: TaskLibrary) -> None:
    assert library.validate(registry) == {}
    assert validate_program("nonsense", registry)[0].startswith("line 1")
    assert validate_program("", registry) == ["empty program: no Qn: lines"]
    problems = validate_program(
        'Q1: [nmap] scan\n#1: x\nQ2: [block_ip] block\n  args: {"ip": "1.2.3.4"}\n#2: done\n'
        'Q3: [ip_reputation] rep\n  args: {"address": "x"}\nQ4: [ip_reputation] again\nQ5: [think] hm\n'
        'Q6: [think] ok\n#6: fine\nQ7: [EOQ]\nAns: {"assessment": {"verdict": "bad"}}', registry)
    text = "\n".join(problems)
    for expected in ("Q1: unknown tool 'nmap'", "Q2: 'block_ip' is a response action", "Q3: (args)",
                     "Q3: missing #3 result", "Q4: [ip_reputation] step has no args: line",
                     "Q5: [think] step has no #5 answer", "Ans: assessment.verdict"):
        assert expected in text, expected
    assert "missing Ans:" in "\n".join(validate_program("Q1: [EOQ]", registry))
    assert "Ans: is not a JSON object" in validate_program("Q1: [think] x\n#1: y\nQ2: [EOQ]\nAns: nope", registry)
    assert "program does not end with Qn: [EOQ]" in validate_program("Q1: [think] x\n#1: y", registry)


def test_library_selection_picks_the_category(library: TaskLibrary) -> None:
    expectations = {
        "GuardDuty: access key AKIA used from an unknown IP, API call spike": "api_key_abuse",
        "Okta: many failed sign-ins then a successful login (brute force)": "unauthorized_access",
        "AdministratorAccess policy attached to user by AttachUserPolicy": "privilege_escalation",
        "What is the blast radius and exposure if these credentials leak? threat model": "threat_modelling",
        "Triage alert: impossible travel sign-in": "alert_triage",
        "New access key created by CreateAccessKey for IAM user from unfamiliar address": "iam_anomaly",
    }
    for task, category in expectations.items():
        assert library.select(task, k=1)[0].category == category, task
    assert all(e.category == "alert_triage" for e in library.select("anything", k=5, category="alert_triage"))
    assert library.select("anything", k=2, category="no_such_category")
    assert TaskLibrary().select("x") == [] and Bm25Selector().rank("x", []) == []
    counts = {c: sum(1 for e in library.entries if e.category == c) for c in library.categories()}
    assert all(counts.get(c, 0) >= 2 for c in ART_CATEGORIES), counts


def test_library_yaml_errors() -> None:
    with pytest.raises(ValueError, match="not YAML"):
        TaskLibrary.from_yaml("programs: [")
    with pytest.raises(ValueError, match="'programs' list"):
        TaskLibrary.from_yaml("programs: 3")
    with pytest.raises(ValueError, match="program 'x'.*line 1"):
        TaskLibrary.from_yaml("programs:\n- {id: x, category: c, task: t, program: 'Q2: [think] a'}")
    with pytest.raises(ValueError, match="program '#0'"):
        TaskLibrary.from_yaml("- {category: c}")
    with pytest.raises(ValueError, match="duplicate program id"):
        TaskLibrary.from_yaml("programs:\n- {id: x, category: c, task: t, program: 'Q1: [EOQ]'}\n"
                              "- {id: x, category: c, task: t, program: 'Q1: [EOQ]'}")
    assert TaskLibrary.from_yaml("version: nope\nprograms: []").version == 1


def test_feedback_round_trip_with_provenance(registry: ToolRegistry, library: TaskLibrary) -> None:
    original = library.get("api-key-abuse-leaked-key")
    corrected = original.program.replace("Q5: [EOQ]", "Q5: [think] Was anything exported?\n#5: Yes, /v1/export.\n"
                                                      "Q6: [EOQ]")
    clock = FakeClock()
    entry = library.add_feedback(corrected, "analyst.jane", "run-abc123", "Leaked key exporting data",
                                 "api_key_abuse", registry, corrected_from=original.id, clock=clock)
    assert entry.provenance.author == "analyst.jane" and entry.provenance.source_run == "run-abc123"
    assert entry.provenance.corrected_from == original.id and entry.provenance.created.startswith("2026-11-20")
    reloaded = TaskLibrary.from_yaml(library.to_yaml())
    again = reloaded.get(entry.id)
    assert again == entry and "|" in library.to_yaml()
    assert reloaded.select("Leaked key exporting data", k=1)[0].id == entry.id
    with pytest.raises(ValueError, match="identical program"):
        library.add_feedback(corrected, "bob", "run-2", "t", "api_key_abuse", registry)
    with pytest.raises(ValueError, match="not valid"):
        library.add_feedback("Q1: [nmap] x\nQ2: [EOQ]\nAns: {}", "bob", "run-2", "t", "api_key_abuse", registry)
    with pytest.raises(ValueError, match="analyst"):
        library.add_feedback(corrected, " ", "run-2", "t", "api_key_abuse", registry)
    with pytest.raises(ValueError, match="Invalid category"):
        library.add_feedback(corrected, "bob", "run-2", "t", "Bad Category", registry)
    with pytest.raises(ValueError, match="Unknown library program"):
        library.add_feedback(corrected + " ", "bob", "run-2", "t", "api_key_abuse", registry, corrected_from="nope")


def test_plan_from_demonstration_binds_entities(registry: ToolRegistry, library: TaskLibrary) -> None:
    entities = Entities(users=["alice"], access_keys=["AKIAEXAMPLEKEY000001", "AKIAEXAMPLEKEY000002"],
                        ips=["203.0.113.7", "203.0.113.8", "203.0.113.9", "203.0.113.10"],
                        emails=["alice@example.com"])
    plan = plan_from_demonstration(library.get("api-key-abuse-leaked-key").program, entities, registry)
    ips = [p["args"]["ip"] for p in plan if p["tool"] == "ip_reputation"]
    assert ips == ["203.0.113.7", "203.0.113.8", "203.0.113.9"]  # one call per entity, capped at 3
    assert {"tool": "splunk_search", "args": {"query": "index=api_access keyId=AKIAEXAMPLEKEY000002",
                                              "earliest_time": "-24h", "event_limit": 500},
            "question": "How many API gateway requests did the key make, from where?"} in plan
    console = plan_from_demonstration(library.get("unauthorized-access-console-new-country").program, entities,
                                      registry)
    assert {"attribute_key": "EventName", "attribute_value": "ConsoleLogin"} in [p["args"] for p in console]
    okta = plan_from_demonstration(library.get("unauthorized-access-okta-bruteforce").program, Entities(), registry)
    assert okta == []  # no entities: steps are skipped rather than run with the demonstration's examples
    assert default_plan(entities, registry)


def test_extend_program_is_lenient_but_safe() -> None:
    program = Program()
    notes = extend_program(program, 'Q5: [ip_reputation] x\n  args: {"ip": 1\nstray words\n#9: hallucinated')
    assert program.steps[0].index == 1 and UNPARSABLE_ARGUMENTS_KEY in program.steps[0].args
    assert any("renumbered" in n for n in notes) and any("ignored text" in n for n in notes)
    with pytest.raises(ProgramSyntaxError):
        extend_program(program, "no program here")
    program.steps[0].result = "x"
    notes = extend_program(program, "Q2: [think] y\n#2: z\n  more\nargs: {}\n#7: again\nQ3: []\nAns: {}\nQ4: [EOQ]")
    assert program.steps[1].result == "z more" and program.ended and program.answer == "{}"
    assert any("Q4 after [EOQ]" in n for n in notes)
    empty = Program()
    assert "ignored #1 before any question" in extend_program(empty, "#1: x\nQ1: [think] q")[0]


def test_deterministic_client_art_mode(registry: ToolRegistry) -> None:
    client = DeterministicModelClient(registry)
    plan = [{"tool": "ip_reputation", "args": {"ip": "192.0.2.50"}, "question": "Bad IP?"},
            {"tool": "ueba_user_risk", "args": {"username": "carol"}}]

    def ask(program: str, expect: str, index: int, **extra: Any) -> str:
        meta = {"method": "art", "plan": plan, "incident": {"text": ""}, "program": program, "expect": expect,
                "next_index": index, **extra}
        return client.turn(ModelRequest(metadata={"deterministic": meta})).text()

    first = ask("", "question", 1)
    assert first.splitlines() == ['Q1: [ip_reputation] Bad IP?', '  args: {"ip": "192.0.2.50"}',
                                  "Q2: [ueba_user_risk] What does ueba_user_risk show?",
                                  '  args: {"username": "carol"}']
    done = ('Q1: [ip_reputation] Bad IP?\n  args: {"ip": "192.0.2.50"}\n#1: [E1] {"DBotScore": [{"Indicator": '
            '"192.0.2.50", "Type": "ip", "Score": 3}]}\nQ2: [ueba_user_risk] risk\n  args: {"username": "carol"}\n'
            "#2: ERROR: tool failed")
    last = ask(done, "question", 3)
    assert last.startswith("Q3: [EOQ]\nAns: ")
    answer = FinalAnswer.model_validate_json(last.split("Ans: ", 1)[1])
    assert answer.assessment.evidence_refs == ["E1"]
    assert ask(done, "answer", 3).startswith("#3: Deterministic reasoner")
    assert ask(done, "ans", 3).startswith("Ans: {")
    # a program the strict parser rejects is read leniently; metadata observations take precedence
    sloppy = ask("Q7: [ip_reputation] x\n#7: [E1] {not json", "ans", 2, observations=[])
    assert FinalAnswer.model_validate_json(sloppy[5:]).assessment.verdict == "inconclusive"
    assert ask("garbage only", "question", 1).startswith("Q1: [ip_reputation]")


def test_score_evidence_okta_raw_events_and_context_rows() -> None:
    def okta(uuid: str, etype: str, result: str, ip: str, country: str, proxy: bool = False) -> dict[str, Any]:
        return {"uuid": uuid, "published": f"2026-11-20T10:{uuid[1:]:0>2}:00Z", "eventType": etype,
                "actor": {"id": "00u9", "alternateId": "dan@example.com"},
                "client": {"ipAddress": ip, "geographicalContext": {"country": country}},
                "securityContext": {"isProxy": proxy}, "outcome": {"result": result}}
    events = [okta("o1", "user.session.start", "SUCCESS", "198.51.100.5", "France"),
              okta("o2", "user.mfa.factor.deactivate", "SUCCESS", "192.0.2.8", "Brazil", proxy=True),
              okta("o3", "user.session.start", "SUCCESS", "192.0.2.8", "Brazil")]
    rows = [{"EventId": "x1", "EventName": "ConsoleLogin", "Username": "dan"},
            {"EventId": "x2", "CloudTrailEvent": "{not json", "EventName": "GetCallerIdentity"}]
    observations = [{"tool": "okta_get_logs", "output": events, "evidence_id": "E1"},
                    {"tool": "cloudtrail_lookup_events", "output": {"AWS.CloudTrail.Events": rows},
                     "evidence_id": "E2"},
                    {"tool": "ip_reputation", "output": {"DBotScore": [{"Indicator": "192.0.2.8", "Type": "ip",
                                                                        "Score": 3}]}, "evidence_id": "E3"}]
    assessment, actions = score_evidence(observations, {"text": ""})
    for feature in ("okta_mfa_reset", "okta_new_country", "okta_session_bad_ip", "hosting_or_proxy_ip"):
        assert feature in assessment.summary, feature
    assert "mfa_present" not in assessment.summary
    suspend = [a for a in actions if a.action == "okta_suspend_user"]
    clear = [a for a in actions if a.action == "okta_clear_user_sessions"]
    assert suspend[0].args == {"username": "dan@example.com"} and clear[0].args == {"user_id": "00u9"}


def test_score_evidence_benign_rotation_and_admin_escalation() -> None:
    def ct(eid: str, name: str, ip: str, mfa: str = "true", **params: Any) -> dict[str, Any]:
        return {"eventID": eid, "eventName": name, "eventSource": "iam.amazonaws.com", "sourceIPAddress": ip,
                "userIdentity": {"arn": "arn:aws:iam::123456789012:user/erin", "accessKeyId": "AKIAERINEXAMPLE00001",
                                 "sessionContext": {"attributes": {"mfaAuthenticated": mfa}}},
                "requestParameters": params,
                "responseElements": {"accessKey": {"accessKeyId": "AKIAERINNEWKEY00002"}} if name ==
                "CreateAccessKey" else None}
    benign = [{"tool": "cloudtrail_lookup_events", "evidence_id": "E1",
               "output": [ct("b1", "CreateAccessKey", "10.1.2.3"), ct("b2", "DeleteAccessKey", "10.1.2.3")]},
              {"tool": "ueba_user_risk", "evidence_id": "E2", "output": {"Username": "erin", "RiskScore": 3}}]
    assessment, actions = score_evidence(benign, {"text": "Rotation under CHG0042424"})
    assert assessment.verdict == "false_positive" and assessment.threat_level == "none" and not actions
    for feature in ("routine_rotation", "known_good_ips", "mfa_present", "change_ticket", "ueba_low_risk",
                    "no_sensitive_activity"):
        assert feature in assessment.summary, feature
    attack = [{"tool": "cloudtrail_lookup_events", "evidence_id": "E1", "output": [
        ct("a1", "AttachUserPolicy", "203.0.113.5", mfa="false", userName="erin",
           policyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
        ct("a2", "CreateAccessKey", "203.0.113.5", mfa="false", userName="erin")]},
        {"tool": "ip_reputation", "evidence_id": "E2", "output": [{"Address": "203.0.113.5",
                                                                    "AbuseConfidenceScore": 97}]}]
    assessment, actions = score_evidence(attack, {"text": ""})
    assert assessment.verdict == "true_positive" and "sensitive_call_from_bad_ip" in assessment.summary
    pairs = [(a.action, a.args) for a in actions]
    assert ("iam_detach_user_policy", {"user_name": "erin",
                                       "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"}) in pairs
    assert ("iam_deactivate_access_key", {"user_name": "erin", "access_key_id": "AKIAERINNEWKEY00002"}) in pairs
    assert assessment.exposure.startswith("Possibly compromised")


def test_plan_binding_secondary_slots_and_program_helpers() -> None:
    spec = ToolSpec(name="key_info", description="d", command="c", entity_args={"user_name": "users",
                                                                                "key": "access_keys"},
                    args_schema={"type": "object", "properties": {"user_name": {"type": "string"},
                                                                  "key": {"type": "string"},
                                                                  "note": {"type": "string"}},
                                 "required": ["user_name"]})
    registry = ToolRegistry([spec, ToolSpec(name="act", description="d", command="c2", kind="action")])
    program = ('Q1: [key_info] x\n  args: {"user_name": "bob", "note": "owner bob@example.com"}\n#1: r\n'
               'Q2: [act] y\n  args: {}\n#2: r\nQ3: [unknown] z\n  args: {}\n#3: r\nQ4: [EOQ]')
    plan = plan_from_demonstration(program, Entities(users=["alice"]), registry)
    assert plan == [{"tool": "key_info", "args": {"user_name": "alice"}, "question": "x"}]
    plan = plan_from_demonstration(program, Entities(users=["alice"], emails=["a@example.com"],
                                                      access_keys=["AKIAEXAMPLEKEY000001"]), registry)
    assert plan[0]["args"] == {"user_name": "alice", "note": "owner a@example.com", "key": "AKIAEXAMPLEKEY000001"}
    assert plan_from_demonstration(program, Entities(emails=["a@example.com"]), registry)[0]["args"][
        "user_name"] == "a@example.com"  # an Okta login stands in for a user name
    parsed = parse_program('Q1: [key_info] x\n  args: {}\nQ2: [think] y')
    assert parsed.pending_tool_steps()[0].index == 1 and parsed.open_think_step().index == 2
    assert one_line("a\n  b", 3) == "a b" and one_line("abcdef", 4) == "abc…"


# ---- benign-context signals and the benign-evidence guard ----------------------------------------------------


def _ct_event(eid: str, name: str, when: str, ip: str, identity: dict[str, Any], *, error: str = "",
              agent: str = "aws-cli/2.15.0", **params: Any) -> dict[str, Any]:
    """A CloudTrail record in the shape LookupEvents' CloudTrailEvent carries."""
    record = {"eventID": eid, "eventName": name, "eventTime": when, "eventSource": "iam.amazonaws.com",
              "sourceIPAddress": ip, "userAgent": agent, "userIdentity": identity, "requestParameters": params}
    if error:
        record["errorCode"] = error
    return record


CI_ROLE = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/deploy-ci/gha-run-1",
           "accessKeyId": "ASIAEXAMPLECI0000001",
           "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/deploy-ci",
                                                "userName": "deploy-ci"},
                              "webIdFederationData": {"federatedProvider": "arn:aws:iam::123456789012:oidc-provider/"
                                                                           "token.actions.githubusercontent.com"}}}
IAC_AGENT = "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 terraform-provider-aws/5.62.0"


def _signals(assessment: ThreatAssessment) -> str:
    return assessment.summary.split("Signals: ", 1)[-1]


def test_benign_aws_service_principal_and_human_root() -> None:
    root_by_elb = {"type": "Root", "arn": "arn:aws:iam::123456789012:root",
                   "invokedBy": "elasticloadbalancing.amazonaws.com"}
    service = [_ct_event(f"s{i}", name, "2026-08-21T01:31:22Z", "elasticloadbalancing.amazonaws.com", root_by_elb,
                         agent="elasticloadbalancing.amazonaws.com")
               for i, name in enumerate(("CreateNetworkInterface", "DeleteNetworkInterface"))]
    assessment, actions = score_evidence([{"tool": "cloudtrail_lookup_events", "output": service,
                                           "evidence_id": "E1"}], {"text": "Root Account Usage"})
    assert assessment.verdict == "false_positive" and not actions
    assert "aws_service_principal (-2: caller is elasticloadbalancing.amazonaws.com)" in assessment.summary
    # a person using root (no invokedBy) in the same evidence: no service explanation
    person = _ct_event("p1", "ConsoleLogin", "2026-08-21T01:40:00Z", "185.199.108.77",
                       {"type": "Root", "arn": "arn:aws:iam::123456789012:root"})
    assessment, _ = score_evidence([{"tool": "cloudtrail_lookup_events", "output": [*service, person],
                                     "evidence_id": "E1"}], {"text": ""})
    assert "aws_service_principal" not in assessment.summary and assessment.verdict != "false_positive"


def test_benign_ci_automation_with_ticket_and_history() -> None:
    week_ago = _ct_event("w1", "CreatePolicyVersion", "2026-08-13T02:05:00Z", "198.51.100.40", CI_ROLE,
                         agent=IAC_AGENT, policyArn="arn:aws:iam::123456789012:policy/app-runtime")
    today = _ct_event("t1", "CreatePolicyVersion", "2026-08-20T02:05:00Z", "198.51.100.40", CI_ROLE,
                      agent=IAC_AGENT, policyArn="arn:aws:iam::123456789012:policy/app-runtime",
                      tags=[{"key": "change", "value": "CHG0048213"}])
    observations = [{"tool": "cloudtrail_lookup_events", "output": [week_ago, today], "evidence_id": "E1"},
                    {"tool": "ip_reputation", "output": {"Indicator": "198.51.100.40", "Type": "ip", "Score": 1},
                     "evidence_id": "E2"}]
    assessment, actions = score_evidence(observations, {"text": "IAM policy changed outside business hours"})
    signals = _signals(assessment)
    for feature in ("automation_identity (-1:", "iac_user_agent (-0.5:", "change_ticket (-1.5: CHG0048213)",
                    "principal_baseline (-1:", "known_good_ips (-1.5:", "iam_policy_change (+1:"):
        assert feature in signals, feature
    assert assessment.verdict == "false_positive" and not actions
    # the same change with no history: still no "principal_baseline"
    assessment, _ = score_evidence([{"tool": "cloudtrail_lookup_events", "output": [today], "evidence_id": "E1"}],
                                   {"text": ""})
    assert "principal_baseline" not in assessment.summary and "automation_identity" in assessment.summary


def test_benign_denied_only_workload_misconfiguration() -> None:
    role = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/orders-fn-role/orders-fn",
            "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/orders-fn-role"}}}
    denied = [{**_ct_event(f"d{i}", "GetSecretValue", f"2026-08-18T14:0{i}:00Z", "10.42.17.201", role,
                           error="AccessDenied"), "vpcEndpointId": "vpce-0a1b2c3d"} for i in range(6)]
    assessment, _ = score_evidence([{"tool": "cloudtrail_lookup_events", "output": denied, "evidence_id": "E1"}],
                                   {"text": ""})
    assert "access_denied_burst (+1.5" in assessment.summary and "denied_only_workload (-2" in assessment.summary
    assert assessment.verdict != "true_positive"
    # the same role then succeeds at a privilege change: not a misconfiguration any more
    grant = _ct_event("g1", "PutRolePolicy", "2026-08-18T14:09:00Z", "10.42.17.201", role,
                      policyDocument='{"Statement": [{"Action": "secretsmanager:GetSecretValue"}]}')
    assessment, _ = score_evidence([{"tool": "cloudtrail_lookup_events", "output": [*denied, grant],
                                     "evidence_id": "E1"}], {"text": ""})
    assert "denied_only_workload" not in assessment.summary
    # an IAM user (not a workload role) from a public address: no benign reading
    user = [_ct_event(f"u{i}", "GetSecretValue", "2026-08-18T14:00:00Z", "203.0.113.9",
                      {"type": "IAMUser", "userName": "bob"}, error="AccessDenied") for i in range(6)]
    assessment, _ = score_evidence([{"tool": "cloudtrail_lookup_events", "output": user, "evidence_id": "E1"}],
                                   {"text": ""})
    assert "denied_only_workload" not in assessment.summary


def test_benign_ueba_baseline_prior_notables_and_ticket_patterns() -> None:
    usual = {"Username": "svc-scan", "RiskScore": 25, "AverageRiskScore": 20.0}
    assessment, _ = score_evidence([{"tool": "ueba_user_risk", "output": usual, "evidence_id": "E1"}], {"text": ""})
    assert "ueba_at_baseline (-0.5: svc-scan risk 25 (average 20))" in assessment.summary
    jump = {**usual, "AverageRiskScore": 5.0}
    assessment, _ = score_evidence([{"tool": "ueba_user_risk", "output": jump, "evidence_id": "E1"}], {"text": ""})
    assert "ueba_at_baseline" not in assessment.summary

    def notable(disposition: str) -> dict[str, Any]:
        return {"search_name": "AWS - Root Account Usage - Rule", "status_label": "Closed",
                "disposition": disposition, "_time": "2026-08-03T09:12:10Z"}
    closed = [notable("False Positive"), notable("False Positive"), {"search_name": "AWS - Root Account Usage - Rule"}]
    assessment, _ = score_evidence([{"tool": "splunk_search", "output": {"Splunk.Result": closed},
                                     "evidence_id": "E1"}], {"text": ""})
    assert "prior_alerts_closed_fp (-1: 2 earlier 'AWS - Root Account Usage - Rule'" in assessment.summary
    assessment, _ = score_evidence([{"tool": "splunk_search", "output": [*closed, notable("True Positive")],
                                     "evidence_id": "E1"}], {"text": ""})
    assert "prior_alerts_closed_fp" not in assessment.summary

    for text in ("CHG0048213", "RFC-1234", '"ticket": "OPS-2291"', '{"key": "change-ticket", "value": "OPS-2291"}',
                 "fixed under ticket OPS-2291", '"standard_change": "STD-0042 weekly scan"'):
        assert CHANGE_TICKET_RE.search(text), text
    for text in ("SHA-256", "TLS-1 handshake", "UTF-8", '"cipher": "AES-128"', "ops-2291 ticket"):
        assert not CHANGE_TICKET_RE.search(text), text


def test_benign_guard_spoofed_automation_text_from_bad_ip_stays_malicious() -> None:
    """Abuse guard: a Terraform user agent and a change number are text the attacker writes; with a bad IP
    and AdministratorAccess attached by a plain IAM user they must not talk the verdict down."""
    mallory = {"type": "IAMUser", "userName": "mallory", "arn": "arn:aws:iam::123456789012:user/mallory",
               "accessKeyId": "AKIAMALLORYEXAMPLE01"}
    attach = _ct_event("a1", "AttachUserPolicy", "2026-08-20T02:05:00Z", "45.148.10.240", mallory, agent=IAC_AGENT,
                       userName="mallory", policyArn="arn:aws:iam::aws:policy/AdministratorAccess",
                       tags=[{"key": "change", "value": "CHG0048213"}])
    bad_ip = {"tool": "ip_reputation", "output": {"Indicator": "45.148.10.240", "Type": "ip", "Score": 3},
              "evidence_id": "E2"}
    incident = {"text": "Approved Terraform change CHG0048213 (change request) - policy attached"}
    assessment, actions = score_evidence([{"tool": "cloudtrail_lookup_events", "output": [attach],
                                           "evidence_id": "E1"}, bad_ip], incident)
    assert assessment.verdict == "true_positive" and assessment.threat_level in ("high", "critical")
    signals = _signals(assessment)
    assert "iac_user_agent (+0:" in signals and "change_ticket (+0:" in signals
    assert "not counted: attacker-controllable text without corroboration" in signals
    pairs = [(a.action, a.args) for a in actions]
    assert ("iam_detach_user_policy", {"user_name": "mallory",
                                       "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"}) in pairs
    assert ("block_ip", {"ip": "45.148.10.240"}) in pairs

    # no reputation hit: the admin attach by a non-automation identity alone is still not benign
    assessment, actions = score_evidence([{"tool": "cloudtrail_lookup_events", "output": [attach],
                                           "evidence_id": "E1"}], incident)
    assert assessment.verdict in ("true_positive", "suspicious") and actions

    # a genuine CI identity with history and a ticket, but the call came from a malicious IP: the benign
    # signals together subtract at most BENIGN_CAP_WITH_HARD_MALICE
    history = [_ct_event(f"h{i}", "AttachRolePolicy", when, "45.148.10.240", CI_ROLE, agent=IAC_AGENT,
                         roleName="app", policyArn="arn:aws:iam::aws:policy/AdministratorAccess")
               for i, when in enumerate(("2026-08-13T02:05:00Z", "2026-08-20T02:05:00Z"))]
    assessment, _ = score_evidence([{"tool": "cloudtrail_lookup_events", "output": history, "evidence_id": "E1"},
                                    bad_ip], incident)
    assert assessment.verdict == "true_positive"
    assert f"benign signals capped at -{BENIGN_CAP_WITH_HARD_MALICE:g}" in assessment.summary
    assert "automation_identity" in assessment.summary and "principal_baseline" not in assessment.summary


# --------------------------------------------------------------------------------------------
# Deterministic follow-up round: entities the evidence names that the plan did not cover
# --------------------------------------------------------------------------------------------

import json  # noqa: E402

import yaml  # noqa: E402

FU_KEY = "AKIAXB7K2QZ4CIDEPLY1"
FU_NEW_KEY = "AKIAXB7K2QZ4R7V9HW3M"
FU_ENTITIES = {"users": ["ci-deploy"], "access_keys": [FU_KEY], "ips": ["45.148.10.240"]}
FU_PLAN = [{"tool": "ip_reputation", "args": {"ip": "45.148.10.240"}, "question": "Is the caller IP malicious?"},
           {"tool": "cloudtrail_lookup_events", "args": {"attribute_key": "Username", "attribute_value": "ci-deploy"},
            "question": "What did the user do?"}]


def _fu_event(eid: str, name: str, ip: str, *, user: str = "ci-deploy", key: str = FU_KEY, error: str = "",
              params: dict[str, Any] | None = None, response: dict[str, Any] | None = None) -> dict[str, Any]:
    record = {"eventID": eid, "eventName": name, "eventSource": "iam.amazonaws.com", "sourceIPAddress": ip,
              "eventTime": "2026-08-20T02:15:11Z", "requestParameters": params, "responseElements": response,
              "userIdentity": {"type": "IAMUser", "userName": user, "accessKeyId": key,
                               "arn": f"arn:aws:iam::482916374051:user/{user}"}}
    if error:
        record["errorCode"] = error
    return record


def _fu_trail() -> list[dict[str, Any]]:
    """The leaked-key story: the incident's key from 45.148.10.240 creates a second key, used from 193.47.62.69."""
    created = {"accessKey": {"accessKeyId": FU_NEW_KEY, "userName": "ci-deploy", "status": "Active"}}
    return [
        _fu_event("e1", "GetCallerIdentity", "45.148.10.240"),
        _fu_event("e2", "CreateAccessKey", "45.148.10.240", params={"userName": "ci-deploy"}, response=created),
        _fu_event("e3", "GetSecretValue", "193.47.62.69", key=FU_NEW_KEY),
        _fu_event("e4", "ListSecrets", "193.47.62.69", key=FU_NEW_KEY),
        _fu_event("e5", "UpdateService", "10.20.30.40"),  # private: nothing to look up
        _fu_event("e6", "UpdateService", "198.51.100.23"),  # documentation range: reserved
        _fu_event("e7", "GetObject", "5.188.86.20", user="bob", key="AKIAOTHERUSERKEY0001"),  # not a principal
    ]


def _fu_result(tool_use: ContentBlock, evidence_id: str, output: Any) -> ContentBlock:
    return ContentBlock(type="tool_result", tool_use_id=tool_use.id,
                        content=f"[{evidence_id}] {tool_use.name} ok\n{json.dumps(output)}")


def _fu_bad_ip(ip: str) -> dict[str, Any]:
    return {"DBotScore": [{"Indicator": ip, "Type": "ip", "Score": 3}]}


def test_followup_react_enriches_the_new_malicious_ip_once(registry: ToolRegistry) -> None:
    client = DeterministicModelClient(registry)
    meta = {"deterministic": {"method": "react", "plan": FU_PLAN,
                              "incident": {"text": "", "entities": FU_ENTITIES}}}
    tools = registry.llm_tools()
    messages = [Message.user_text("go")]
    first = client.turn(ModelRequest(tools=tools, metadata=meta, messages=messages))
    assert [b.name for b in first.tool_uses()] == ["ip_reputation", "cloudtrail_lookup_events"]
    messages += [Message(role="assistant", content=first.content), Message(role="user", content=[
        _fu_result(first.tool_uses()[0], "E1", _fu_bad_ip("45.148.10.240")),
        _fu_result(first.tool_uses()[1], "E2", {"AWS.CloudTrail.Events": [
            {"EventId": ev["eventID"], "CloudTrailEvent": json.dumps(ev)} for ev in _fu_trail()]})])]

    # the plan is answered: one follow-up round in one parallel turn, labelled, in a stable order
    second = client.turn(ModelRequest(tools=tools, metadata=meta, messages=messages))
    assert second.stop_reason == "tool_use" and second.text().startswith(FOLLOWUP_LABEL)
    calls = [(b.name, b.input) for b in second.tool_uses()]
    assert calls == [("ip_reputation", {"ip": "193.47.62.69"}),
                     ("cloudtrail_lookup_events", {"attribute_key": "AccessKeyId", "attribute_value": FU_NEW_KEY})]
    again = client.turn(ModelRequest(tools=tools, metadata=meta, messages=messages))
    assert [(b.name, b.input) for b in again.tool_uses()] == calls  # deterministic
    for skipped in ("10.20.30.40", "198.51.100.23", "5.188.86.20", "45.148.10.240"):
        assert skipped not in json.dumps(calls)

    # the follow-up's own output names yet another IP: no second round, the answer comes now
    key_trail = [_fu_event("e9", "ListBuckets", "91.92.93.94", key=FU_NEW_KEY)]
    messages += [Message(role="assistant", content=second.content), Message(role="user", content=[
        _fu_result(second.tool_uses()[0], "E3", _fu_bad_ip("193.47.62.69")),
        _fu_result(second.tool_uses()[1], "E4", {"Records": key_trail})])]
    third = client.turn(ModelRequest(tools=tools, metadata=meta, messages=messages))
    assert third.stop_reason == "end_turn" and not third.tool_uses()
    answer = FinalAnswer.model_validate_json(third.text())
    assert answer.assessment.verdict == "true_positive"
    assert {"45.148.10.240", "193.47.62.69"} <= set(answer.assessment.affected_ips)
    assert ("block_ip", {"ip": "193.47.62.69"}) in [(a.action, a.args) for a in answer.recommendations]


def test_followup_skips_reserved_ips_and_asks_nothing_when_nothing_is_new(registry: ToolRegistry) -> None:
    client = DeterministicModelClient(registry)
    trail = [_fu_event("p1", "ListBuckets", "10.0.0.8"), _fu_event("p2", "ListBuckets", "100.64.0.9"),
             _fu_event("p3", "ListBuckets", "127.0.0.1"), _fu_event("p4", "ListBuckets", "192.0.2.44"),
             _fu_event("p5", "ListBuckets", "45.148.10.240"), _fu_event("p6", "ListBuckets", "fe80::1"),
             _fu_event("p7", "AssumeRole", "sts.amazonaws.com")]
    observations = [{"tool": "ip_reputation", "args": {"ip": "45.148.10.240"}, "output": _fu_bad_ip("45.148.10.240"),
                     "evidence_id": "E1"},
                    {"tool": "cloudtrail_lookup_events", "args": {}, "output": trail, "evidence_id": "E2"}]
    assert plan_followup(observations, FU_ENTITIES, [], ["ip_reputation", "cloudtrail_lookup_events"],
                         registry) == []
    # every plan step answered, nothing new in the evidence: the answer comes without an extra round
    meta = {"deterministic": {"method": "react", "plan": FU_PLAN[:1], "observations": observations,
                              "incident": {"text": "", "entities": FU_ENTITIES}}}
    use = ContentBlock(type="tool_use", id="tu1", name="ip_reputation", input={"ip": "45.148.10.240"})
    messages = [Message.user_text("go"), Message(role="assistant", content=[use]),
                Message(role="user", content=[_fu_result(use, "E1", _fu_bad_ip("45.148.10.240"))])]
    response = client.turn(ModelRequest(tools=registry.llm_tools(), metadata=meta, messages=messages))
    assert response.stop_reason == "end_turn" and not response.tool_uses()
    assert not response.text().startswith(FOLLOWUP_LABEL)
    FinalAnswer.model_validate_json(response.text())
    # a reputation record already in the evidence (playbook enrichment) counts as enriched
    seen = [{"tool": "x", "output": {"Address": "193.47.62.69", "AbuseConfidenceScore": 0}, "evidence_id": "E3"},
            {"tool": "cloudtrail_lookup_events", "output": [_fu_event("q1", "ListBuckets", "193.47.62.69")],
             "evidence_id": "E4"}]
    assert plan_followup(seen, FU_ENTITIES, [], ["ip_reputation"], registry) == []


def test_followup_cap_order_allowlist_and_no_repeats(registry: ToolRegistry) -> None:
    # six public IPs of the principal (busiest first), and a user the principal created
    busy = {"91.92.93.1": 1, "91.92.93.2": 4, "91.92.93.3": 2, "91.92.93.4": 3, "91.92.93.5": 1, "91.92.93.6": 2}
    trail = [_fu_event(f"{ip}-{n}", "ListBuckets", ip) for ip, count in busy.items() for n in range(count)]
    trail.append(_fu_event("cu", "CreateUser", "91.92.93.2", params={"userName": "svc-backdoor"}))
    trail.append(_fu_event("lp", "CreateLoginProfile", "91.92.93.2", error="AccessDenied",
                           params={"userName": "r.vance"}))  # refused: r.vance was not changed
    observations = [{"tool": "cloudtrail_lookup_events", "output": trail, "evidence_id": "E1"}]
    allowed = [s.name for s in registry.specs("enrichment")]
    calls = plan_followup(observations, FU_ENTITIES, [], allowed, registry)
    assert len(calls) == FOLLOWUP_MAX_CALLS == 4
    assert [c["args"] for c in calls] == [{"ip": "91.92.93.2"}, {"ip": "91.92.93.4"}, {"ip": "91.92.93.3"},
                                          {"attribute_key": "Username", "attribute_value": "svc-backdoor"}]
    assert all(c["question"].startswith(FOLLOWUP_LABEL) for c in calls)
    assert "r.vance" not in json.dumps(calls)
    assert plan_followup(observations, FU_ENTITIES, [], allowed, registry) == calls  # stable: same input, same calls
    # a smaller cap, the policy's allowlist, and calls already requested are respected
    assert [c["tool"] for c in plan_followup(observations, FU_ENTITIES, [], allowed, registry, limit=2)] == [
        "ip_reputation", "cloudtrail_lookup_events"]
    assert plan_followup(observations, FU_ENTITIES, [], allowed, registry, limit=0) == []
    no_ip = plan_followup(observations, FU_ENTITIES, [], ["cloudtrail_lookup_events", "iam_list_access_keys"],
                          registry)
    assert [c["tool"] for c in no_ip] == ["cloudtrail_lookup_events", "iam_list_access_keys"]
    done = [("ip_reputation", {"ip": "91.92.93.2"}),
            ("cloudtrail_lookup_events", {"attribute_key": "Username", "attribute_value": "svc-backdoor"})]
    rest = plan_followup(observations, FU_ENTITIES, done, allowed, registry)
    assert not {canonical_json(c["args"]) for c in rest} & {canonical_json(a) for _, a in done}
    assert [c["args"].get("ip") for c in rest][:3] == ["91.92.93.4", "91.92.93.3", "91.92.93.6"]
    # Okta sign-ins and API gateway records of the principals lead too; another user's do not
    okta = [{"uuid": "o1", "eventType": "user.session.start", "outcome": {"result": "SUCCESS"},
             "actor": {"alternateId": "P.Nguyen@example.com"}, "client": {"ipAddress": "195.178.110.218"}},
            {"uuid": "o2", "eventType": "user.session.start", "outcome": {"result": "FAILURE"},
             "actor": {"alternateId": "someone@example.com"}, "client": {"ipAddress": "195.178.110.219"}}]
    api = [{"_raw": {"requestId": "r1", "keyId": FU_KEY, "sourceIp": "13.221.67.44", "httpMethod": "GET",
                     "path": "/v1/users/1"}}]
    mixed = [{"tool": "okta_get_logs", "output": okta, "evidence_id": "E1"},
             {"tool": "splunk_search", "output": {"Splunk.Result": api}, "evidence_id": "E2"}]
    entities = {"emails": ["p.nguyen@example.com"], "access_keys": [FU_KEY]}
    assert [c["args"] for c in plan_followup(mixed, entities, [], ["ip_reputation"], registry)] == [
        {"ip": "195.178.110.218"}, {"ip": "13.221.67.44"}]


def test_followup_art_program_lines(registry: ToolRegistry) -> None:
    client = DeterministicModelClient(registry)

    def ask(program: str, expect: str, index: int, **extra: Any) -> str:
        meta = {"method": "art", "plan": FU_PLAN, "incident": {"text": "", "entities": FU_ENTITIES},
                "program": program, "expect": expect, "next_index": index, **extra}
        return client.turn(ModelRequest(metadata={"deterministic": meta})).text()

    trail = json.dumps({"Records": _fu_trail()})
    done = ('Q1: [ip_reputation] Is the caller IP malicious?\n  args: {"ip": "45.148.10.240"}\n'
            f'#1: [E1] {json.dumps(_fu_bad_ip("45.148.10.240"))}\n'
            'Q2: [cloudtrail_lookup_events] What did the user do?\n'
            '  args: {"attribute_key": "Username", "attribute_value": "ci-deploy"}\n'
            f"#2: [E2] {trail}")
    lines = ask(done, "question", 3).splitlines()
    assert lines == [
        "Q3: [ip_reputation] Follow-up: 193.47.62.69 is the source of 2 record(s) of ci-deploy in the evidence - "
        "is it malicious?",
        '  args: {"ip": "193.47.62.69"}',
        f"Q4: [cloudtrail_lookup_events] Follow-up: where and how was access key {FU_NEW_KEY} of ci-deploy used?",
        f'  args: {{"attribute_key": "AccessKeyId", "attribute_value": "{FU_NEW_KEY}"}}']
    program = parse_program(done + "\n" + "\n".join(lines))
    assert [s.index for s in program.pending_tool_steps()] == [3, 4]
    # the engine says what may run: only those tools
    assert ask(done, "question", 3, allowed_tools=["ip_reputation"]).count("Follow-up:") == 1
    assert ask(done, "question", 3, allowed_tools=[]).startswith("Q3: [EOQ]\nAns: ")
    # after the follow-up results: [EOQ] and the answer, even though they name a new IP (one round only)
    answered = (done + "\n" + lines[0] + "\n" + lines[1] + f"\n#3: [E3] {json.dumps(_fu_bad_ip('193.47.62.69'))}\n"
                + lines[2] + "\n" + lines[3] + "\n#4: [E4] "
                + json.dumps({"Records": [_fu_event("e9", "ListBuckets", "91.92.93.94", key=FU_NEW_KEY)]}))
    last = ask(answered, "question", 5)
    assert last.startswith("Q5: [EOQ]\nAns: ")
    answer = FinalAnswer.model_validate_json(last.split("Ans: ", 1)[1])
    assert "193.47.62.69" in answer.assessment.affected_ips and "91.92.93.94" not in last.split("Ans: ", 1)[0]
    assert ("block_ip", {"ip": "193.47.62.69"}) in [(a.action, a.args) for a in answer.recommendations]


class _FuExecutor:
    """Answers the enrichment tools from the leaked-key story; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def execute(self, call: ToolCall, spec: ToolSpec) -> ToolResult:
        self.calls.append((call.tool, dict(call.args)))
        if call.tool == "ip_reputation":
            bad = call.args.get("ip") in ("45.148.10.240", "193.47.62.69")
            return ToolResult(ok=True, output={"DBotScore": [{"Indicator": call.args.get("ip"), "Type": "ip",
                                                              "Score": 3 if bad else 1}]})
        if call.tool == "cloudtrail_lookup_events":
            return ToolResult(ok=True, output={"AWS.CloudTrail.Events": [
                {"EventId": ev["eventID"], "CloudTrailEvent": json.dumps(ev)} for ev in _fu_trail()]})
        return ToolResult(ok=True, output={"UserName": call.args.get("user_name") or call.args.get("username")})


@pytest.mark.parametrize("method", ["react", "art"])
def test_followup_runs_under_the_policy_without_loops(registry: ToolRegistry, library: TaskLibrary,
                                                     method: str) -> None:
    from AIReasoningApiModule import run_art, run_react  # the reasoner loops live one layer up

    data = yaml.safe_load((LISTS / "AIReasoningPolicy" / "AIReasoningPolicy_data.json").read_text())
    policy = Policy(registry, PolicyConfig.from_config(data), FakeClock(), approval_secret="unit-test-secret")
    executor = _FuExecutor()
    incident = IncidentInput(id="7", name="GuardDuty: MaliciousIPCaller - ci-deploy", type="AWS IAM Anomaly",
                             severity=3, details=f"GetCallerIdentity by ci-deploy with {FU_KEY} from 45.148.10.240",
                             entities=Entities(**FU_ENTITIES))
    kwargs = {"model": DeterministicModelClient(registry), "executor": executor, "registry": registry,
              "policy": policy, "clock": FakeClock(), "audit": ListAuditSink(), "library": library}
    if method == "react":
        result = run_react(incident, "Investigate", **kwargs)
    else:
        result = run_art(incident, "Investigate the IAM anomaly", **kwargs)
    assert result.status == "complete", result.status_reason
    assert ("ip_reputation", {"ip": "193.47.62.69"}) in executor.calls
    assert len(executor.calls) == len({canonical_json(c) for c in executor.calls})  # nothing asked twice
    assert all(entry.decision.decision == "allow" for entry in result.tool_log)
    assert "193.47.62.69" in result.assessment.affected_ips
    assert any(r.action == "block_ip" and r.args == {"ip": "193.47.62.69"} for r in result.recommendations)
    labelled = result.program if method == "art" else " ".join(s.text for s in result.trace)
    assert f"[ip_reputation] {FOLLOWUP_LABEL}" in (labelled or "") or f"{FOLLOWUP_LABEL} the evidence" in labelled
