"""Interpreter semantics, one fixture playbook per feature (tests/playbooks_fixture/)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from localsoc_testkit import FIXTURES, FakeDispatcher, error, note

from localsoc.playbook import (
    ApprovalAnswer,
    ApprovalRequest,
    ApproveAll,
    AskAtTerminal,
    Event,
    NobodyAnswers,
    PlaybookUnsupported,
    RejectAll,
    load_playbook,
)


def fx(name: str) -> str:
    return str(FIXTURES / f"{name}.yml")


def ran(result: Any) -> list[str]:
    return [t.task_id for t in result.tasks if t.status != "skipped"]


# --- graph walk -----------------------------------------------------------------------------------


def test_parallel_branches_join_once_after_both(fake: FakeDispatcher, make_interpreter: Any) -> None:
    for cmd in ("cmd-a", "cmd-b", "cmd-d", "cmd-join"):
        fake.on(cmd, [note(cmd)])
    result = make_interpreter().run(fx("parallel_join"))
    assert result.status == "completed", result.failure
    names = fake.names()
    assert names.count("cmd-join") == 1
    assert "cmd-d" not in names  # untaken condition branch never runs ...
    assert names.index("cmd-join") > names.index("cmd-a")
    assert names.index("cmd-join") > names.index("cmd-b")  # ... and does not block the join


def test_untaken_branch_does_not_block_join_either_way(fake: FakeDispatcher, make_interpreter: Any) -> None:
    for cmd in ("cmd-a", "cmd-b", "cmd-d", "cmd-join"):
        fake.on(cmd, [note(cmd)])
    result = make_interpreter().run(fx("parallel_join"), inputs={"Route": "D"})
    assert result.status == "completed"
    assert "cmd-b" not in fake.names()
    assert fake.names()[-1] == "cmd-join" and fake.names().count("cmd-join") == 1


def test_events_report_every_task(fake: FakeDispatcher, make_interpreter: Any) -> None:
    for cmd in ("cmd-a", "cmd-b", "cmd-join"):
        fake.on(cmd, [note(cmd)])
    events: list[Event] = []
    make_interpreter(on_event=events.append).run(fx("parallel_join"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "playbook_started" and kinds[-1] == "playbook_finished"
    finished = [e.task_id for e in events if e.kind == "task_finished"]
    assert set(finished) == {"0", "1", "2", "3", "4", "5"}


# --- conditions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "details", "expected"),
    [
        ({"Score": 3, "Indicator": "9.9.9.9"}, "", "malicious"),
        ({"Score": 3}, "", "default"),  # AND: Indicator empty -> first label fails
        ({"Score": "2"}, "Very SUSPICIOUS login", "suspicious"),  # OR group + ignorecase
        ({"Score": 1, "Indicator": "5.6.7.8"}, "", "listed"),
        ({"Score": 0}, "", "default"),
    ],
)
def test_condition_labels_then_default(
    fake: FakeDispatcher, make_interpreter: Any, context: dict[str, Any], details: str, expected: str
) -> None:
    result = make_interpreter().run(fx("conditions"), context=context, incident={"details": details})
    assert result.status == "completed"
    printed = [args["value"] for cmd, args in fake.calls if cmd == "Print"]
    assert printed == [expected]


@pytest.mark.parametrize(("available", "branch"), [(True, "enabled"), (False, "disabled")])
def test_script_condition_picks_branch_named_by_result(
    fake: FakeDispatcher, make_interpreter: Any, available: bool, branch: str
) -> None:
    fake.on("enabled", [note()])
    fake.on("disabled", [note()])
    if not available:
        fake.unavailable.add("AWS - IAM")
    result = make_interpreter().run(fx("script_condition"))
    assert result.status == "completed"
    assert fake.names()[-1] == branch


# --- manual condition (approvals) -----------------------------------------------------------------


def test_manual_condition_approved(fake: FakeDispatcher, make_interpreter: Any) -> None:
    fake.on("disable-user", [note("disabled")])
    result = make_interpreter(approvals=ApproveAll()).run(fx("manual_condition"))
    assert result.status == "completed"
    assert ("disable-user", {"username": "alice"}) in fake.calls
    (approval,) = result.approvals
    assert approval.decision == "Yes" and approval.approvers == ["local-approver-1"]


def test_manual_condition_rejected(fake: FakeDispatcher, make_interpreter: Any) -> None:
    result = make_interpreter(approvals=RejectAll()).run(fx("manual_condition"))
    assert result.status == "completed"
    assert "disable-user" not in fake.names()
    assert result.context["Decision"] == "rejected"
    assert result.approvals[0].decision == "No"


def test_manual_condition_sla_expiry_takes_default(fake: FakeDispatcher, make_interpreter: Any) -> None:
    result = make_interpreter(approvals=NobodyAnswers()).run(fx("manual_condition"))
    assert result.status == "completed"
    assert result.context["Decision"] == "timeout"
    assert result.approvals[0].timed_out


def test_manual_condition_without_sla_completion_fails_on_timeout(fake: FakeDispatcher, make_interpreter: Any) -> None:
    result = make_interpreter(approvals=NobodyAnswers()).run(fx("manual_condition_no_sla"))
    assert result.status == "failed"
    assert result.failure is not None and result.failure.task_id == "1"
    assert "completeaftersla" in result.failure.message


def test_manual_condition_request_is_resolved(fake: FakeDispatcher, make_interpreter: Any) -> None:
    seen: list[ApprovalRequest] = []

    class Spy:
        name = "spy"

        def answer(self, request: ApprovalRequest) -> ApprovalAnswer:
            seen.append(request)
            return ApprovalAnswer(choice="No", approver="bob")

    make_interpreter(approvals=Spy()).run(fx("manual_condition"), inputs={"User": "carol"})
    (req,) = seen
    assert req.kind == "condition" and req.choices == ["Yes", "No", "#default#"]
    assert req.subject == "Approval needed for carol"
    assert req.description == "Disable carol (tier required)"
    assert req.assignee == "Administrator" and req.complete_after_sla


def test_ask_provider_prompts_and_names_approver(fake: FakeDispatcher, make_interpreter: Any) -> None:
    fake.on("disable-user", [note()])
    answers = iter(["y", "dana"])
    out: list[str] = []

    class Sink:
        def write(self, s: str) -> None:
            out.append(s)

        def flush(self) -> None:
            pass

    ask = AskAtTerminal(stdout=Sink(), input_fn=lambda prompt: next(answers), interactive=True)  # type: ignore[arg-type]
    result = make_interpreter(approvals=ask).run(fx("manual_condition"))
    assert result.approvals[0].decision == "Yes" and result.approvals[0].approvers == ["dana"]
    assert "APPROVAL NEEDED" in "".join(out)


def test_ask_provider_without_terminal_is_a_timeout(fake: FakeDispatcher, make_interpreter: Any) -> None:
    ask = AskAtTerminal(interactive=False)
    result = make_interpreter(approvals=ask).run(fx("manual_condition"))
    assert result.context["Decision"] == "timeout"


# --- data collection ------------------------------------------------------------------------------


def test_collection_answers_land_in_context(fake: FakeDispatcher, make_interpreter: Any) -> None:
    fake.on("block-ip", [note("blocked")])
    ctx = {"Candidates": ["1.1.1.1", "2.2.2.2"]}
    result = make_interpreter(approvals=ApproveAll()).run(fx("collection"), context=ctx)
    assert result.status == "completed"
    answers = result.context["Block approval"]["Answers"]
    assert answers["0"] == "Yes"
    assert answers["1"] == ["1.1.1.1", "2.2.2.2"]
    assert answers["name"] == "local-approver-1"
    assert ("block-ip", {"ip": "1.1.1.1,2.2.2.2"}) in fake.calls


def test_collection_rejected(fake: FakeDispatcher, make_interpreter: Any) -> None:
    result = make_interpreter(approvals=RejectAll()).run(fx("collection"), context={"Candidates": ["1.1.1.1"]})
    assert result.context["Block approval"]["Answers"]["0"] == "No"
    assert result.context["Blocked"] == "no"
    assert "block-ip" not in fake.names()


def test_collection_sla_expiry_completes_without_answers(fake: FakeDispatcher, make_interpreter: Any) -> None:
    result = make_interpreter(approvals=NobodyAnswers()).run(fx("collection"), context={"Candidates": ["1.1.1.1"]})
    assert result.status == "completed"
    assert "Block approval" not in result.context
    assert result.context["Blocked"] == "no"
    assert result.approvals[0].timed_out


def test_collection_needing_two_replies_gets_two_distinct_approvers(
    fake: FakeDispatcher, make_interpreter: Any
) -> None:
    fake.on("block-ip", [note()])
    result = make_interpreter(approvals=ApproveAll()).run(fx("collection_dual"), context={"Candidates": ["1.1.1.1"]})
    answers = result.context["Block approval"]["Answers"]
    assert [a["name"] for a in answers] == ["local-approver-1", "local-approver-2"]


def test_collection_without_sla_completion_fails_on_timeout(fake: FakeDispatcher, make_interpreter: Any) -> None:
    result = make_interpreter(approvals=NobodyAnswers()).run(fx("collection_dual"), context={"Candidates": ["x"]})
    assert result.status == "failed" and result.failure.task_id == "1"


# --- sub-playbooks --------------------------------------------------------------------------------


def test_subplaybook_inputs_outputs_separatecontext_foreach(fake: FakeDispatcher, make_interpreter: Any) -> None:
    def handle(args: dict[str, Any], scope: Any) -> list[dict[str, Any]]:
        return [note("ok", {"Child.Result(val.item && val.item == obj.item)": {"item": args["item"],
                                                                              "label": args["label"]}})]

    fake.on("handle-item", handle)
    ctx = {"Items": ["a", "b", "a"], "ParentOnly": "visible"}
    incident = {"CustomFields": {"aireasoningverdict": "tp"}}
    result = make_interpreter().run(fx("subplaybook_parent"), context=ctx, incident=incident)
    assert result.status == "completed", result.failure
    calls = [args for cmd, args in fake.calls if cmd == "handle-item"]
    # forEach over the uniq'd list, default input evaluated from the incident, parent context readable
    assert calls[:2] == [
        {"item": "a", "label": "tp-a", "parent_value": "visible"},
        {"item": "b", "label": "tp-b", "parent_value": "visible"},
    ]
    # shared-context call
    assert calls[2]["item"] == "shared" and calls[2]["label"] == "explicit-shared"
    results = result.context["Child"]["Result"]
    assert [r["item"] for r in results] == ["a", "b", "shared"]
    # the private runs' scratch key did not leak; the shared run's did
    assert result.context["Scratch"] == "shared"


def test_subplaybook_private_context_keeps_undeclared_keys_out(fake: FakeDispatcher, make_interpreter: Any) -> None:
    fake.on("handle-item", lambda args, scope: [note("ok", {"Child.Result": {"item": args["item"]}})])
    interp = make_interpreter()
    child = load_playbook(fx("subplaybook_child"))
    parent = load_playbook(fx("subplaybook_parent"))
    del parent.tasks["1"]["nexttasks"]  # only the private forEach call
    interp.library.add(child)
    result = interp.run(parent, context={"Items": ["x"]})
    assert result.context["Child"]["Result"] == {"item": "x"}
    assert "Scratch" not in result.context


def test_loop_until_exit_condition(fake: FakeDispatcher, make_interpreter: Any) -> None:
    def increment(args: dict[str, Any], scope: Any) -> list[dict[str, Any]]:
        return [note("ok", {"Counter(true)": int(scope.context.get("Counter", 0)) + 1})]

    fake.on("increment", increment)
    result = make_interpreter().run(fx("loop_exit"))
    assert result.status == "completed"
    assert result.context["Counter"] == 3
    assert fake.names().count("increment") == 3


# --- availability and errors ----------------------------------------------------------------------


def test_skipunavailable_skips_and_continues(fake: FakeDispatcher, make_interpreter: Any) -> None:
    fake.on("after", [note()])
    result = make_interpreter().run(fx("skipunavailable"))
    assert result.status == "completed"
    skipped = {t.task_id for t in result.tasks if t.status == "skipped"}
    assert skipped == {"1", "2", "3"}
    assert fake.names()[-1] == "after"


def test_skipunavailable_detects_unsupported_command_without_availability_hook(fake: FakeDispatcher,
                                                                               make_interpreter: Any) -> None:
    fake.on("after", [note()])
    result = make_interpreter(is_available=None).run(fx("skipunavailable"))
    assert result.status == "completed"
    assert "okta-get-user" in fake.names()  # tried, got "Unsupported Command", skipped


def test_continueonerror_paths_and_stop(fake: FakeDispatcher, make_interpreter: Any) -> None:
    fake.on("fail", [error("boom")])
    fake.on("normal", [note()])
    result = make_interpreter().run(fx("continueonerror"))
    assert result.status == "failed"
    assert result.failure.task_id == "5" and "boom" in result.failure.message
    statuses = {t.task_id: t.status for t in result.tasks}
    assert statuses["1"] == "error-continued" and statuses["3"] == "error-continued"
    assert "2" not in statuses  # error path taken instead of the normal one
    assert statuses["4"] == "completed" and statuses["5"] == "error"
    assert "6" not in statuses


def test_entry_context_merges_with_dt_semantics(fake: FakeDispatcher, make_interpreter: Any) -> None:
    fake.on("cmd-a", [note("a", {"Account(val.Id && val.Id == obj.Id)": {"Id": 1, "Name": "x"}})])
    fake.on("cmd-b", [note("b", {"Account(val.Id && val.Id == obj.Id)": {"Id": 1, "Name": "y"}})])
    fake.on("cmd-join", [note("j", {"Account(val.Id && val.Id == obj.Id)": {"Id": 2}})])
    result = make_interpreter().run(fx("parallel_join"))
    assert result.context["Account"] == [{"Id": 1, "Name": "y"}, {"Id": 2}]


# --- arguments ------------------------------------------------------------------------------------


def test_complex_arguments(fake: FakeDispatcher, make_interpreter: Any) -> None:
    fake.on("capture", [note()])
    fake.lists["MyList"] = "list body"
    ctx = {
        "IP": [
            {"Address": "1.1.1.1", "Malicious": {"Vendor": "x"}},
            {"Address": "2.2.2.2", "Malicious": {"Vendor": "y"}},
            {"Address": "3.3.3.3"},
            {"Address": "1.1.1.1", "Malicious": {"Vendor": "z"}},
        ],
        "Users": ["Alice", "svc-backup"],
        "Account": {"Username": "alice", "Id": 7},
    }
    incident = {"name": "Suspicious login", "severity": 3, "CustomFields": {"aireasoningverdict": "true_positive"}}
    result = make_interpreter().run(fx("complex_args"), context=ctx, incident=incident)
    assert result.status == "completed", result.failure
    (args,) = [a for c, a in fake.calls if c == "capture"]
    assert args["whole_list"] == ["1.1.1.1", "2.2.2.2", "3.3.3.3", "1.1.1.1"]
    assert args["text"] == "Incident Suspicious login sev 3 verdict true_positive"
    assert args["indexed"] == "2.2.2.2"
    assert args["literal"] == "plain" and args["number"] == 7
    assert "empty" not in args and "missing" not in args
    assert args["list_text"] == "list body"
    assert args["malicious"] == "1.1.1.1"
    assert args["lowered"] == "alice"
    assert args["count"] == 4
    assert args["split"] == "c"
    assert args["fallback"] == "none-found"
    assert args["field"] == ["alice"]
    assert args["stringified"] == '{"Username": "alice", "Id": 7}'
    assert args["matched"] == ["SVC-BACKUP"]
    assert args["ifthen"] == "yes"


# --- loud failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "feature"),
    [
        ("unsupported_task_type", "task type 'wait'"),
        ("unsupported_operator", "condition operator 'isSameWeekAs'"),
        ("unsupported_transformer", "transformer 'DecodeBase64Magic'"),
        ("unsupported_dt", "DT expression"),
        ("unsupported_task_key", "task keys ['extendcontext']"),
    ],
)
def test_unsupported_features_fail_loudly_before_running(
    fake: FakeDispatcher, make_interpreter: Any, fixture: str, feature: str
) -> None:
    fake.on("cmd", [note()])
    with pytest.raises(PlaybookUnsupported) as info:
        make_interpreter().run(fx(fixture))
    assert info.value.task_id == "7"
    assert feature in str(info.value)
    assert "task 7" in str(info.value)
    assert fake.calls == []  # refused before the first task ran


def test_unsupported_in_a_subplaybook_is_found_before_the_parent_runs(
    fake: FakeDispatcher, make_interpreter: Any
) -> None:
    interp = make_interpreter()
    parent = load_playbook(fx("subplaybook_parent"))
    child = load_playbook(fx("unsupported_operator"))
    child.name = "Fixture - Child"
    child.id = "fixture-child"
    interp.library.add(child)
    with pytest.raises(PlaybookUnsupported, match="isSameWeekAs"):
        interp.run(parent, context={"Items": ["a"]})
    assert fake.calls == []


def test_ask_provider_dual_approval_needs_a_second_person() -> None:
    from localsoc.playbook import ApprovalRequest, Question

    answers = iter(["Approve", "", "Approve", "local-approver-1", "carol"])
    ask = AskAtTerminal(stdout=io.StringIO(), input_fn=lambda prompt: next(answers), interactive=True)
    request = ApprovalRequest(kind="collection", playbook="P", task_id="3", task_name="Approve",
                              questions=[Question(id="0", label="Approve?", type="singleSelect",
                                                  options=["Approve", "Reject"])])
    first = ask.answer(request)
    second = ask.answer(request)
    assert first.approvers == ["local-approver-1"]
    assert second.approvers == ["carol"]  # the repeated name was refused
