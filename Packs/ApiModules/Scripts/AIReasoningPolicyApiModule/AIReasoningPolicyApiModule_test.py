"""Tests for the policy layer: every rule of Policy.decide in order, the registry, budgets and approvals."""

import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import AIReasoningPolicyApiModule as policy_module
import pytest
from AIReasoningPolicyApiModule import (
    ApprovalBinding,
    ArgPredicate,
    AutoCloseRule,
    Policy,
    PolicyConfig,
    PolicyState,
    RateLimit,
    ThreatAssessment,
    ToolCall,
    ToolRegistry,
    ToolSpec,
    Usage,
)

RUN = "run-1"
SHIPPED_REGISTRY = (Path(__file__).resolve().parents[4] / "Packs" / "AIReasoning" / "Lists" / "AIReasoningToolRegistry"
                    / "AIReasoningToolRegistry_data.json")


@pytest.fixture(params=["jsonschema", "builtin"])
def schema_backend(request, monkeypatch) -> str:
    """Run a test with jsonschema (the test environment) and with the built-in validator (the tenant image)."""
    if request.param == "builtin":
        monkeypatch.setattr(policy_module, "_js_Draft202012Validator", None)
    return request.param


class FakeClock:
    """Wall clock and monotonic clock advanced together by the test."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, tz=UTC)

    def monotonic(self) -> float:
        return self.t - 1_700_000_000.0

    def advance(self, seconds: float) -> None:
        self.t += seconds


USER_SCHEMA = {
    "type": "object",
    "properties": {"username": {"type": "string", "minLength": 1}},
    "required": ["username"],
    "additionalProperties": False,
}

TOOLS = [
    {"name": "get_user", "description": "Look up an IAM user", "command": "aws-iam-get-user",
     "args_schema": USER_SCHEMA, "target_arg": "username"},
    {"name": "get_ip_reputation", "description": "IP reputation", "command": "ip",
     "args_schema": {"type": "object", "properties": {"ip": {"type": "string"}}, "required": ["ip"]}},
    {"name": "search_logs", "description": "Search logs", "command": "splunk-search",
     "args_schema": {"type": "object", "properties": {"query": {"type": "string"}}}},
    {"name": "disable_user", "description": "Disable an IAM user", "command": "aws-iam-update-login-profile",
     "args_schema": USER_SCHEMA, "kind": "action", "tier": "required", "target_arg": "username",
     "rollback": {"command": "aws-iam-enable-user", "args": {"username": "{username}"}}},
    {"name": "deactivate_key", "description": "Deactivate an access key", "command": "aws-iam-update-access-key",
     "args_schema": {"type": "object", "properties": {"access_key_id": {"type": "string"}}},
     "kind": "action", "tier": "recommended", "target_arg": "access_key_id"},
    {"name": "delete_user", "description": "Delete a user", "command": "aws-iam-delete-user",
     "args_schema": USER_SCHEMA, "kind": "action", "tier": "dual", "reversible": False, "target_arg": "username"},
    {"name": "tag_user", "description": "Tag a user (reversible, no recipe)", "command": "aws-iam-tag-user",
     "args_schema": USER_SCHEMA, "kind": "action", "tier": "optional", "target_arg": "username"},
]

ALLOW_ALL = ["get_*", "search_logs", "disable_user", "deactivate_key", "delete_user", "tag_user"]


def make_policy(clock: FakeClock | None = None, state: PolicyState | None = None, **overrides) -> Policy:
    config = PolicyConfig.from_config({"allowlist": ALLOW_ALL, **overrides})
    return Policy(ToolRegistry.from_config({"tools": TOOLS}), config, clock or FakeClock(), state=state,
                  approval_secret=b"test-secret")


def call(tool: str, **args) -> ToolCall:
    return ToolCall(tool=tool, args=args)


def run_call(policy: Policy, c: ToolCall, run_id: str = RUN, ok: bool = True) -> None:
    policy.record_call(c, run_id)
    policy.record_result(c, ok)


# --------------------------------------------------------------------------------------------
# Configuration and registry
# --------------------------------------------------------------------------------------------


def test_policy_config_defaults_deny_everything() -> None:
    config = PolicyConfig.from_config(None)
    assert config.allowlist == []
    policy = Policy(ToolRegistry.from_config(TOOLS), config, FakeClock())
    decision = policy.decide(call("get_user", username="alice"), RUN)
    assert decision.decision == "deny" and decision.rule == "default_deny"


@pytest.mark.parametrize("text", [
    json.dumps({"allowlist": ["get_*"], "max_steps": 3}),
    "allowlist:\n  - get_*\nmax_steps: 3\n",
])
def test_policy_config_from_json_and_yaml(text: str) -> None:
    config = PolicyConfig.from_config(text)
    assert config.allowlist == ["get_*"] and config.max_steps == 3


@pytest.mark.parametrize("bad, needle", [
    ("[1, 2]", "expected a mapping"),
    ("allowlist: [unclosed", "neither JSON nor YAML"),
    ({"max_steps": "many"}, "max_steps"),
    ({"denylst": ["x"]}, "denylst"),  # typos are errors, not silently ignored
    ({"predicates": [{"name": "p", "tier": "super"}]}, "tier"),
])
def test_policy_config_bad_input_is_a_clear_value_error(bad, needle: str) -> None:
    with pytest.raises(ValueError, match="Invalid policy") as info:
        PolicyConfig.from_config(bad)
    assert needle in str(info.value)


def test_policy_config_empty_text_gives_defaults() -> None:
    assert PolicyConfig.from_config("  ") == PolicyConfig()


def test_registry_accepts_list_dict_json_and_yaml() -> None:
    import yaml

    for data in (TOOLS, {"tools": TOOLS}, json.dumps({"tools": TOOLS}), yaml.safe_dump(TOOLS)):
        registry = ToolRegistry.from_config(data)
        assert registry.names()[:2] == ["get_user", "get_ip_reputation"]
    registry = ToolRegistry.from_config(TOOLS)
    assert [s.name for s in registry.specs("action")] == ["disable_user", "deactivate_key", "delete_user",
                                                           "tag_user"]
    assert len(registry.specs()) == len(TOOLS)
    assert registry.get("nope") is None


@pytest.mark.parametrize("data, needle", [
    ({"tools": TOOLS + [TOOLS[0]]}, "duplicate tool name 'get_user'"),
    ({"items": []}, "expected a list"),
    ("42", "expected a list"),
    ([1], "not an object"),
    ([{"name": "x y", "description": "d", "command": "c"}], "tool 'x y'"),
    ([{"name": "ok", "description": "d", "command": "c", "bogus": 1}], "bogus"),
    ([{"name": "s", "description": "d", "command": "c", "args_schema": {"type": "objekt"}}], "invalid args_schema"),
    ([{"name": "a", "description": "d", "command": "c", "kind": "action", "tier": "dual",
       "args_schema": USER_SCHEMA}], "action tool 'a'"),
    ([{"name": "t", "description": "d", "command": "c", "target_arg": "user", "args_schema": USER_SCHEMA}],
     "target_arg 'user'"),
])
def test_registry_rejects_bad_specs(data, needle: str, schema_backend: str) -> None:
    with pytest.raises(ValueError, match="Invalid tool registry") as info:
        ToolRegistry.from_config(data)
    assert needle in str(info.value)


def test_registry_irreversible_dual_action_needs_no_recipe() -> None:
    registry = ToolRegistry.from_config(TOOLS)
    assert registry.get("delete_user").rollback is None


def test_registry_validate_args(schema_backend: str) -> None:
    registry = ToolRegistry.from_config(TOOLS)
    assert registry.validate_args("get_user", {"username": "alice"}) == []
    errors = registry.validate_args("get_user", {"username": 5, "extra": 1})
    assert any(e.startswith("username:") for e in errors)
    assert any("extra" in e for e in errors)
    assert registry.validate_args("get_user", {}) == ["(args): 'username' is a required property"]
    assert registry.validate_args("ghost", {}) == ["unknown tool 'ghost'"]


def test_llm_tools_only_enrichment_and_only_allowed() -> None:
    registry = ToolRegistry.from_config(TOOLS)
    policy = Policy(registry, PolicyConfig(allowlist=["get_*"], denylist=["get_ip_*"]), FakeClock())
    assert [t["name"] for t in registry.llm_tools()] == ["get_user", "get_ip_reputation", "search_logs"]
    assert [t["name"] for t in registry.llm_tools(allowed_only_by=policy)] == ["get_user"]
    assert len(registry.llm_tools(kind=None)) == len(TOOLS)
    tool = registry.llm_tools(kind="action")[0]
    assert set(tool) == {"name", "description", "input_schema"}


# --------------------------------------------------------------------------------------------
# decide(): the rules in order
# --------------------------------------------------------------------------------------------


def test_unknown_tool_is_denied_first() -> None:
    decision = make_policy().decide(call("rm_rf", path="/"), RUN)
    assert decision.decision == "deny" and "not registered" in decision.reason and decision.rule == "unknown_tool"


def test_allowlist_globs_and_denylist() -> None:
    policy = make_policy(allowlist=["get_*"], denylist=["get_ip_*"])
    assert policy.decide(call("get_user", username="alice"), RUN).decision == "allow"
    denied = policy.decide(call("get_ip_reputation", ip="1.2.3.4"), RUN)
    assert denied.rule == "denylist" and "denylisted" in denied.reason
    not_listed = policy.decide(call("search_logs", query="x"), RUN)
    assert not_listed.rule == "default_deny" and "not allowlisted" in not_listed.reason


def test_denylist_wins_over_exact_allowlist_entry() -> None:
    policy = make_policy(allowlist=["get_user"], denylist=["*"])
    assert policy.decide(call("get_user", username="alice"), RUN).rule == "denylist"


def test_schema_errors_deny_with_the_errors(schema_backend: str) -> None:
    decision = make_policy().decide(call("get_user", username=""), RUN)
    assert decision.decision == "deny" and decision.rule == "schema"
    assert "username" in decision.reason and "invalid arguments" in decision.reason


def test_loop_detection_on_identical_calls() -> None:
    policy = make_policy()
    first = call("get_user", username="alice")
    assert policy.decide(first, RUN).decision == "allow"
    assert policy.decide(first, RUN).decision == "allow", "decide() must not count anything"
    run_call(policy, first)
    again = call("get_user", username="alice")  # new call id, same tool and args
    decision = policy.decide(again, RUN)
    assert decision.decision == "deny" and decision.rule == "loop" and "loop" in decision.reason
    assert policy.decide(call("get_user", username="bob"), RUN).decision == "allow"
    assert policy.decide(again, "run-2").decision == "allow", "repeats are counted per run"


def test_max_repeats_is_configurable() -> None:
    policy = make_policy(max_repeats=2)
    run_call(policy, call("get_user", username="alice"))
    assert policy.decide(call("get_user", username="alice"), RUN).decision == "allow"
    run_call(policy, call("get_user", username="alice"))
    assert policy.decide(call("get_user", username="alice"), RUN).rule == "loop"


def test_three_failures_stop_a_tool() -> None:
    policy = make_policy()
    for i in range(3):
        assert policy.decide(call("get_user", username=f"u{i}"), RUN).decision == "allow"
        run_call(policy, call("get_user", username=f"u{i}"), ok=False)
    decision = policy.decide(call("get_user", username="other"), RUN)
    assert decision.rule == "failures" and "failed 3 times" in decision.reason
    assert policy.decide(call("search_logs", query="q"), RUN).decision == "allow", "other tools still run"
    assert policy.decide(call("get_user", username="other"), "run-2").decision == "allow"


def test_successes_do_not_count_as_failures_and_unrecorded_failures_count() -> None:
    policy = make_policy()
    for i in range(5):
        run_call(policy, call("get_user", username=f"u{i}"), ok=True)
    assert policy.failures("get_user", RUN) == 0
    for _ in range(3):
        policy.record_result(call("search_logs", query="q"), ok=False)  # never recorded with a run
    assert policy.decide(call("search_logs", query="new"), RUN).rule == "failures"


def test_step_budget() -> None:
    policy = make_policy(max_steps=2)
    for _ in range(2):
        assert policy.budget_exhausted() is None
        policy.record_step()
        assert policy.decide(call("search_logs", query=f"s{policy.steps}"), RUN).decision == "allow"
    assert "step budget" in policy.budget_exhausted()
    policy.record_step()
    decision = policy.decide(call("search_logs", query="late"), RUN)
    assert decision.rule == "step_budget"


def test_tool_call_budget() -> None:
    policy = make_policy(max_tool_calls=2)
    run_call(policy, call("search_logs", query="a"))
    run_call(policy, call("search_logs", query="b"))
    decision = policy.decide(call("search_logs", query="c"), RUN)
    assert decision.rule == "tool_call_budget" and "tool-call budget" in decision.reason
    assert policy.decide(call("search_logs", query="c"), "run-2").decision == "allow"


def test_token_budget_blocks_tools_and_model() -> None:
    policy = make_policy(token_budget=1000, burn_rate_tokens_per_minute=10**9)
    policy.record_model_call(Usage(input_tokens=600, output_tokens=300))
    assert policy.budget_exhausted() is None
    policy.record_model_call(Usage(input_tokens=50, output_tokens=20, cache_read_input_tokens=30))
    assert "token budget" in policy.budget_exhausted()
    decision = policy.decide(call("search_logs", query="q"), RUN)
    assert decision.rule == "token_budget" and "token budget" in decision.reason


def test_burn_rate_breaker_trips_and_latches() -> None:
    clock = FakeClock()
    policy = make_policy(clock, burn_rate_tokens_per_minute=10_000)
    policy.record_model_call(Usage(input_tokens=6000))
    clock.advance(61)  # the first call leaves the window
    policy.record_model_call(Usage(input_tokens=6000))
    assert policy.budget_exhausted() is None, "spread over two minutes: under the burn rate"
    clock.advance(10)
    policy.record_model_call(Usage(input_tokens=6000))
    reason = policy.budget_exhausted()
    assert reason and "burn-rate breaker" in reason
    assert policy.decide(call("search_logs", query="q"), RUN).rule == "token_budget"
    clock.advance(3600)
    assert "burn-rate" in policy.budget_exhausted(), "a tripped breaker stays tripped for the run"


def test_model_call_budget() -> None:
    policy = make_policy(max_model_calls=2)
    policy.record_model_call(Usage(input_tokens=1))
    assert policy.budget_exhausted() is None
    policy.record_model_call(Usage(input_tokens=1))
    assert "model-call budget" in policy.budget_exhausted()


def test_per_tool_rate_limit_with_fake_clock() -> None:
    clock = FakeClock()
    policy = make_policy(clock, tool_rates={"get_ip_reputation": {"max_calls": 2, "per_seconds": 10}})
    for i in range(2):
        run_call(policy, call("get_ip_reputation", ip=f"10.0.0.{i}"))
        clock.advance(1)
    decision = policy.decide(call("get_ip_reputation", ip="10.0.0.9"), RUN)
    assert decision.rule == "rate_limit" and decision.reason.startswith("rate limit: 'get_ip_reputation'")
    assert policy.decide(call("search_logs", query="q"), RUN).decision == "allow", "other tools unaffected"
    clock.advance(9)  # first call is now 10 s old: out of the window
    assert policy.decide(call("get_ip_reputation", ip="10.0.0.9"), RUN).decision == "allow"


def test_default_tool_rate_applies_to_unlisted_tools() -> None:
    clock = FakeClock()
    policy = make_policy(clock, default_tool_rate=RateLimit(max_calls=1, per_seconds=60).model_dump())
    run_call(policy, call("search_logs", query="a"))
    assert policy.decide(call("search_logs", query="b"), RUN).rule == "rate_limit"


def test_global_rate_limit_across_tools_and_runs() -> None:
    clock = FakeClock()
    state = PolicyState()
    policy = make_policy(clock, state=state, global_rate={"max_calls": 3, "per_seconds": 60})
    run_call(policy, call("search_logs", query="a"))
    run_call(policy, call("get_user", username="alice"))
    other_run = make_policy(clock, state=state, global_rate={"max_calls": 3, "per_seconds": 60})
    run_call(other_run, call("get_ip_reputation", ip="1.1.1.1"), run_id="run-2")
    decision = policy.decide(call("search_logs", query="b"), RUN)
    assert decision.rule == "rate_limit" and "global" in decision.reason
    clock.advance(60)
    assert policy.decide(call("search_logs", query="b"), RUN).decision == "allow"


def test_rate_state_is_pruned() -> None:
    clock = FakeClock()
    policy = make_policy(clock)
    run_call(policy, call("search_logs", query="a"))
    clock.advance(4000)
    run_call(policy, call("get_user", username="alice"))
    assert "search_logs" not in policy.state.call_times
    assert len(policy.state.call_times["*"]) == 1


def test_blast_radius_per_run() -> None:
    policy = make_policy(blast_radius_per_run=2)
    for name in ("alice", "bob"):
        c = call("disable_user", username=name)
        assert policy.decide(c, RUN).decision == "needs_approval"
        run_call(policy, c)
    decision = policy.decide(call("disable_user", username="carol"), RUN)
    assert decision.rule == "blast_radius_run" and "3 distinct targets" in decision.reason
    # the same target again is not a new target (different args -> not a loop either)
    same = call("deactivate_key", access_key_id="Alice")
    assert policy.decide(same, RUN).decision == "needs_approval", "targets compare case-insensitively"
    assert policy.decide(call("disable_user", username="carol"), "run-2").decision == "needs_approval"
    assert policy.decide(call("get_user", username="carol"), RUN).decision == "allow", "enrichment has no targets"


def test_blast_radius_counts_an_address_once_whatever_its_spelling() -> None:
    """`x` and `x/32` (WAF wants CIDRs, firewalls want addresses) are one target, not two."""
    policy = make_policy(blast_radius_per_run=1)
    run_call(policy, call("disable_user", username="203.0.113.7"))
    for spelling in ("203.0.113.7/32", " 203.0.113.7 ", "203.0.113.7"):
        assert policy.decide(call("deactivate_key", access_key_id=spelling), RUN).decision == "needs_approval"
    assert policy.decide(call("disable_user", username="203.0.113.8/32"), RUN).rule == "blast_radius_run"
    assert policy.decide(call("disable_user", username="203.0.113.0/24"), RUN).rule == "blast_radius_run"


def test_blast_radius_per_hour_across_runs_via_persisted_state() -> None:
    clock = FakeClock()
    state = PolicyState()
    for run in range(3):
        policy = make_policy(clock, state=state, blast_radius_per_run=5, blast_radius_per_hour=4)
        for i in range(2 if run < 2 else 0):
            run_call(policy, call("disable_user", username=f"user{run}-{i}"), run_id=f"run-{run}")
        clock.advance(60)
        # the adapter persists state between runs (integration context / a List)
        state = PolicyState.model_validate(json.loads(state.model_dump_json()))
    policy = make_policy(clock, state=state, blast_radius_per_hour=4)
    decision = policy.decide(call("disable_user", username="eve"), "run-3")
    assert decision.rule == "blast_radius_hour" and "last hour" in decision.reason
    assert policy.decide(call("disable_user", username="user0-0"), "run-3").decision == "needs_approval"
    clock.advance(3600)
    assert policy.decide(call("disable_user", username="eve"), "run-3").decision == "needs_approval"


def test_tiers_from_spec() -> None:
    policy = make_policy()
    assert policy.decide(call("disable_user", username="alice"), RUN).model_dump() == {
        "decision": "needs_approval", "reason": "action 'disable_user' needs required approval",
        "tier": "required", "rule": "approval"}
    assert policy.decide(call("deactivate_key", access_key_id="AKIAABCDEFGHIJKLMNOP"), RUN).tier == "recommended"
    assert policy.decide(call("delete_user", username="alice"), RUN).tier == "dual"


@pytest.mark.parametrize("username", ["svc-backup", "service.deploy", "admin_jane", "breakglass-1", "Break-Glass_2",
                                      "arn:aws:iam::123456789012:user/svc-ci", "admin.jane@example.com"])
def test_privileged_looking_accounts_need_dual(username: str) -> None:
    decision = make_policy().decide(call("disable_user", username=username), RUN)
    assert decision.decision == "needs_approval" and decision.tier == "dual"


def test_admin_and_service_facts_need_dual() -> None:
    policy = make_policy()
    assert policy.decide(call("disable_user", username="jdoe"), RUN).tier == "required"
    policy.add_facts("admin_accounts", ["JDoe"])
    policy.add_facts("service_accounts", ["deploy-bot", ""])
    assert policy.decide(call("disable_user", username="jdoe"), RUN).tier == "dual"
    assert policy.decide(call("disable_user", username="deploy-bot"), RUN).tier == "dual"
    assert policy.decide(call("get_user", username="jdoe"), RUN).decision == "allow", "enrichment not raised"
    via_ctor = Policy(policy.registry, policy.config, FakeClock(), facts={"admin_accounts": {"mallory"}})
    assert via_ctor.decide(call("disable_user", username="mallory"), RUN).tier == "dual"


def test_root_account_actions_are_denied() -> None:
    policy = make_policy()
    decision = policy.decide(call("disable_user", username="root"), RUN)
    assert decision.decision == "deny" and decision.rule == "predicate:root-account-deny"
    assert policy.decide(call("get_user", username="root"), RUN).decision == "allow"


def test_custom_predicates() -> None:
    predicates = [
        ArgPredicate(name="vip", tools=["disable_*"], values=["ceo"], tier="dual").model_dump(),
        ArgPredicate(name="prod-keys", tools=["deactivate_key"], arg="access_key_id", pattern="^AKIAPROD",
                     deny=True).model_dump(),
        ArgPredicate(name="any-tag", tools=["tag_user"], tier="recommended").model_dump(),
        ArgPredicate(name="enrich-watch", tools=["get_ip_reputation"], arg="ip", pattern=r"^10\.",
                     tier="required").model_dump(),
    ]
    policy = make_policy(predicates=predicates)
    assert policy.decide(call("disable_user", username="CEO"), RUN).tier == "dual"
    assert policy.decide(call("disable_user", username="svc-x"), RUN).tier == "required", "defaults replaced"
    denied = policy.decide(call("deactivate_key", access_key_id="AKIAPROD000000000001"), RUN)
    assert denied.decision == "deny" and "argument predicate forbids" in denied.reason
    assert policy.decide(call("tag_user", username="x"), RUN).tier == "recommended"
    enrichment = policy.decide(call("get_ip_reputation", ip="10.1.1.1"), RUN)
    assert enrichment.decision == "needs_approval" and enrichment.tier == "required"
    assert policy.decide(call("get_ip_reputation", ip="8.8.8.8"), RUN).decision == "allow"


def test_predicate_never_lowers_a_tier() -> None:
    predicates = [ArgPredicate(name="low", tools=["*"], tier="optional").model_dump()]
    policy = make_policy(predicates=predicates)
    assert policy.decide(call("delete_user", username="x"), RUN).tier == "dual"


def test_predicate_ignores_missing_or_empty_values() -> None:
    predicates = [ArgPredicate(name="p", tools=["*"], arg="username", tier="dual").model_dump()]
    policy = make_policy(predicates=predicates)
    assert policy.decide(call("deactivate_key", access_key_id="AKIA1"), RUN).tier == "recommended"


def test_reduced_autonomy_raises_action_tiers() -> None:
    policy = make_policy()
    assert policy.decide(call("tag_user", username="x"), RUN, autonomy="reduced").decision == "deny", \
        "optional action raised to required and reversible without a recipe -> no rollback plan"
    decision = policy.decide(call("deactivate_key", access_key_id="AKIA1"), RUN, autonomy="reduced")
    assert decision.tier == "required"
    assert policy.decide(call("delete_user", username="x"), RUN, autonomy="reduced").tier == "dual"
    assert policy.decide(call("get_user", username="x"), RUN, autonomy="reduced").decision == "allow"
    assert policy.tier_for("deactivate_key", {"access_key_id": "AKIA1"}, autonomy="reduced") == "required"
    assert policy.tier_for("deactivate_key", {"access_key_id": "AKIA1"}) == "recommended"


def test_rollback_required_for_reversible_required_actions() -> None:
    policy = make_policy()
    decision = policy.decide(call("tag_user", username="x"), RUN, autonomy="reduced")
    assert decision.rule == "rollback" and "no rollback plan" in decision.reason and decision.tier == "required"
    assert policy.decide(call("tag_user", username="x"), RUN).decision == "needs_approval", "optional: no recipe needed"
    assert policy.decide(call("deactivate_key", access_key_id="AKIA1"), RUN, autonomy="reduced").rule == "rollback"
    assert policy.decide(call("delete_user", username="x"), RUN).decision == "needs_approval", "irreversible"
    lenient = make_policy(rollback_required_tiers=["dual"])
    assert lenient.decide(call("tag_user", username="x"), RUN, autonomy="reduced").decision == "needs_approval"


def test_tier_for_recommendations() -> None:
    policy = make_policy()
    assert policy.tier_for("disable_user", {"username": "svc-build"}) == "dual"
    assert policy.tier_for("disable_user", {"username": "alice"}) == "required"
    assert policy.tier_for("made_up_action", {}) == "dual"


def test_decide_does_not_mutate_state() -> None:
    policy = make_policy()
    before = policy.state.model_dump()
    for _ in range(5):
        policy.decide(call("disable_user", username="alice"), RUN)
        policy.decide(call("search_logs", query="q"), RUN)
    assert policy.state.model_dump() == before
    assert policy.steps == 0 and policy.model_calls == 0


def test_run_targets_memory_is_bounded() -> None:
    policy = make_policy(blast_radius_per_hour=10_000, default_tool_rate={"max_calls": 10_000, "per_seconds": 1},
                         global_rate={"max_calls": 10_000, "per_seconds": 1})
    for i in range(205):
        policy.record_call(call("disable_user", username=f"u{i}"), f"run-{i}")
    assert len(policy.state.run_targets) == 200
    assert "run-0" not in policy.state.run_targets


# --------------------------------------------------------------------------------------------
# Approval binding
# --------------------------------------------------------------------------------------------


def test_approval_binding_round_trip() -> None:
    policy = make_policy()
    c = call("disable_user", username="alice")
    binding = policy.bind_approval(RUN, c, "required")
    assert binding.token and binding.args_digest == c.args_digest
    restored = ApprovalBinding.model_validate(json.loads(binding.model_dump_json()))
    assert policy.verify_approval(restored, RUN, c) == (True, "approval verified")
    same_secret = make_policy()  # another process with the same persisted secret
    assert same_secret.verify_approval(restored, RUN, c)[0]


def test_approval_refused_for_edited_args_other_run_other_call_other_tool() -> None:
    policy = make_policy()
    c = call("disable_user", username="alice")
    binding = policy.bind_approval(RUN, c, "required")
    edited = ToolCall(id=c.id, tool=c.tool, args={"username": "bob"})
    ok, reason = policy.verify_approval(binding, RUN, edited)
    assert not ok and "arguments changed" in reason
    ok, reason = policy.verify_approval(binding, "run-other", c)
    assert not ok and "belongs to run" in reason
    ok, reason = policy.verify_approval(binding, RUN, call("disable_user", username="alice"))
    assert not ok and "belongs to call" in reason
    ok, reason = policy.verify_approval(binding, RUN, ToolCall(id=c.id, tool="delete_user", args=c.args))
    assert not ok and "is for tool" in reason


def test_approval_refused_for_forged_or_re_signed_bindings() -> None:
    policy = make_policy()
    c = call("disable_user", username="alice")
    binding = policy.bind_approval(RUN, c, "required")
    forged = binding.model_copy(update={"token": "0" * 64})
    assert policy.verify_approval(forged, RUN, c) == (
        False, "approval token is invalid (forged, edited or from another policy secret)")
    # the attacker edits the call and the binding consistently, but cannot re-sign it
    other = ToolCall(id=c.id, tool="disable_user", args={"username": "bob"})
    tampered = binding.model_copy(update={"args_digest": other.args_digest})
    assert not policy.verify_approval(tampered, RUN, other)[0]
    lowered = binding.model_copy(update={"tier": "optional"})
    assert not policy.verify_approval(lowered, RUN, c)[0]
    stranger = Policy(policy.registry, policy.config, FakeClock(), approval_secret="another-secret")
    assert not stranger.verify_approval(binding, RUN, c)[0]
    assert Policy(policy.registry, policy.config, FakeClock()).secret != policy.secret


def test_approval_with_too_low_tier_is_refused() -> None:
    policy = make_policy()
    c = call("disable_user", username="svc-payments")
    binding = policy.bind_approval(RUN, c, "required")  # validly signed, but svc-* needs dual
    ok, reason = policy.verify_approval(binding, RUN, c)
    assert not ok and "below the dual" in reason
    assert policy.verify_approval(policy.bind_approval(RUN, c, "dual"), RUN, c)[0]


# --------------------------------------------------------------------------------------------
# Auto-close
# --------------------------------------------------------------------------------------------


def fp(confidence: float = 0.9, threat: str = "low", verdict: str = "false_positive") -> ThreatAssessment:
    return ThreatAssessment(verdict=verdict, confidence=confidence, threat_level=threat)


def test_auto_close_allowed_for_confident_low_severity_false_positive() -> None:
    ok, reason = make_policy().may_auto_close(fp(), severity=1, injection_flagged=False)
    assert ok and "auto-close" in reason


@pytest.mark.parametrize("assessment, severity, flagged, needle", [
    (fp(), 1, True, "injection"),
    (fp(verdict="true_positive"), 1, False, "not auto-closable"),
    (fp(confidence=0.84), 1, False, "confidence"),
    (fp(), 2, False, "severity"),
    (fp(threat="medium"), 1, False, "threat level"),
])
def test_auto_close_refusals(assessment: ThreatAssessment, severity: int, flagged: bool, needle: str) -> None:
    ok, reason = make_policy().may_auto_close(assessment, severity, flagged)
    assert not ok and needle in reason


def test_auto_close_can_be_disabled() -> None:
    policy = make_policy(auto_close=AutoCloseRule(enabled=False).model_dump())
    assert policy.may_auto_close(fp(), 0, False) == (False, "auto-close is disabled by policy")


def test_tool_spec_round_trip_through_registry() -> None:
    spec = ToolSpec.model_validate(TOOLS[3])
    registry = ToolRegistry([spec])
    assert registry.get("disable_user") == spec


def test_list_valued_targets_count_each_target_and_each_is_checked() -> None:
    bulk = {"name": "disable_users", "description": "Disable several users", "command": "okta-suspend-user",
            "kind": "action", "tier": "required", "target_arg": "usernames",
            "rollback": {"command": "okta-unsuspend-user", "args": {"usernames": "{usernames}"}},
            "args_schema": {"type": "object", "properties": {"usernames": {"type": "array",
                                                                           "items": {"type": "string"}}}}}
    registry = ToolRegistry.from_config(TOOLS + [bulk])
    policy = Policy(registry, PolicyConfig(allowlist=["*"], blast_radius_per_run=3), FakeClock())
    assert policy.decide(call("disable_users", usernames=["a", "b", "c"]), RUN).decision == "needs_approval"
    decision = policy.decide(call("disable_users", usernames=["a", "b", "c", "d"]), RUN)
    assert decision.rule == "blast_radius_run"
    assert policy.decide(call("disable_users", usernames=["alice", "svc-etl"]), RUN).tier == "dual"
    assert policy.tier_for("disable_users", {"usernames": ["alice", None, {"x": 1}]}) == "required"
    policy.record_call(call("disable_users", usernames=["a", "B", "b", ""]), RUN)
    assert policy.state.run_targets[RUN] == ["a", "b"]


# --------------------------------------------------------------------------------------------
# Argument schemas without jsonschema (the demisto/anthropic image has none)
# --------------------------------------------------------------------------------------------

# (schema, instance): every keyword of the built-in subset, valid and invalid, with JSON Schema's type rules.
AGREEMENT_CASES = [
    ({"type": "string"}, "x"),
    ({"type": "string"}, 5),
    ({"type": "integer"}, 3),
    ({"type": "integer"}, 3.0),  # 1.0 is an integer in JSON Schema
    ({"type": "integer"}, 3.5),
    ({"type": "integer"}, True),  # bool is not an integer
    ({"type": "number"}, 2.5),
    ({"type": "number"}, False),  # nor a number
    ({"type": "number"}, "2"),
    ({"type": "boolean"}, True),
    ({"type": "boolean"}, 0),
    ({"type": "null"}, None),
    ({"type": "null"}, ""),
    ({"type": "array"}, [1]),
    ({"type": "array"}, {"0": 1}),
    ({"type": "object"}, {}),
    ({"type": "object"}, []),
    ({"type": ["string", "null"]}, None),
    ({"type": ["string", "null"]}, 7),
    ({"type": ["integer", "boolean"]}, True),
    ({"properties": {"a": {"type": "string"}}}, {"a": "x", "b": 1}),
    ({"properties": {"a": {"type": "string"}}}, {"a": 1}),
    ({"properties": {"a": {"properties": {"b": {"type": "integer"}}}}}, {"a": {"b": "deep"}}),
    ({"properties": {"a": {"type": "string"}}}, "not an object"),
    ({"required": ["a", "b"]}, {"a": 1, "b": 2}),
    ({"required": ["a", "b"]}, {"c": 1}),
    ({"required": ["a"]}, ["a"]),
    ({"properties": {"a": {}}, "additionalProperties": False}, {"a": 1}),
    ({"properties": {"a": {}}, "additionalProperties": False}, {"a": 1, "b": 2}),
    ({"properties": {"a": {}}, "additionalProperties": False}, {"b": 2, "c": 3}),
    ({"additionalProperties": {"type": "integer"}}, {"x": 1, "y": 2}),
    ({"additionalProperties": {"type": "integer"}}, {"x": 1, "y": "two"}),
    ({"additionalProperties": True}, {"x": 1}),
    ({"enum": ["a", "b"]}, "a"),
    ({"enum": ["a", "b"]}, "c"),
    ({"enum": [1, None]}, 1.0),
    ({"enum": [1]}, True),  # True is not 1
    ({"enum": [[1, 2], {"k": "v"}]}, {"k": "v"}),
    ({"enum": [[1, 2]]}, [2, 1]),
    ({"const": "x"}, "x"),
    ({"const": "x"}, "y"),
    ({"const": 0}, False),
    ({"const": {"a": [1]}}, {"a": [1.0]}),
    ({"pattern": "^AKIA[0-9A-Z]{4}$"}, "AKIA12AB"),
    ({"pattern": "^AKIA[0-9A-Z]{4}$"}, "akia12ab"),
    ({"pattern": "b"}, "abc"),  # search, not match
    ({"pattern": "^x$"}, 5),  # only strings are checked
    ({"minLength": 1}, ""),
    ({"minLength": 2}, "é"),
    ({"minLength": 2}, "ab"),
    ({"maxLength": 3}, "abcd"),
    ({"maxLength": 0}, ""),
    ({"maxLength": 0}, "a"),
    ({"maxLength": 2}, 12345),
    ({"minimum": 1}, 1),
    ({"minimum": 1}, 0.5),
    ({"maximum": 10}, 10),
    ({"maximum": 10}, 10.01),
    ({"minimum": 1}, True),  # bools are not numbers
    ({"exclusiveMinimum": 0}, 0),
    ({"exclusiveMinimum": 0}, 0.1),
    ({"exclusiveMaximum": 5}, 5),
    ({"exclusiveMaximum": 5}, 4),
    ({"multipleOf": 3}, 9),
    ({"multipleOf": 3}, 10),
    ({"multipleOf": 0.5}, 2.5),
    ({"multipleOf": 0.5}, 2.3),
    ({"items": {"type": "string"}}, ["a", "b"]),
    ({"items": {"type": "string"}}, ["a", 2, "c", None]),
    ({"items": {"type": "string"}}, "not an array"),
    ({"minItems": 1}, []),
    ({"minItems": 2}, [1]),
    ({"minItems": 2}, [1, 2]),
    ({"maxItems": 2}, [1, 2, 3]),
    ({"maxItems": 0}, []),
    ({"maxItems": 0}, [1]),
    ({"uniqueItems": True}, [1, 2, 3]),
    ({"uniqueItems": True}, [1, 1.0]),
    ({"uniqueItems": True}, [1, True]),
    ({"uniqueItems": True}, [0, False, None, ""]),
    ({"uniqueItems": True}, [{"a": 1}, {"a": 1}]),
    ({"uniqueItems": True}, [[1, "x"], [1, "x"]]),
    ({"uniqueItems": False}, [1, 1]),
    ({"minProperties": 1}, {}),
    ({"minProperties": 2}, {"a": 1}),
    ({"maxProperties": 1}, {"a": 1, "b": 2}),
    ({"maxProperties": 0}, {"a": 1}),
    ({"format": "email"}, "not an e-mail"),  # format is an annotation, as in jsonschema without a format checker
    ({"format": "ipv4", "type": "string"}, "999.1.1.1"),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 3),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 3.5),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 1),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 3),
    ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, None),
    ({"allOf": [{"type": "string"}, {"minLength": 3}]}, "abcd"),
    ({"allOf": [{"type": "string"}, {"minLength": 3}, {"pattern": "^z"}]}, "ab"),
    ({"not": {"type": "string"}}, 1),
    ({"not": {"type": "string"}}, "s"),
    (True, {"anything": 1}),
    (False, "nothing"),
    ({"title": "t", "description": "d", "default": 1, "examples": [1], "$comment": "c"}, 1),
    ({"type": "object", "properties": {"hosts": {"type": "array", "items": {"type": "string", "minLength": 1},
                                                 "minItems": 1, "maxItems": 3, "uniqueItems": True},
                                       "mode": {"enum": ["fast", "full"]},
                                       "limit": {"type": "integer", "minimum": 1, "maximum": 100}},
      "required": ["hosts"], "additionalProperties": False},
     {"hosts": ["a", "", "a", 3], "mode": "slow", "limit": 0, "extra": True}),
    ({"type": "object", "properties": {"hosts": {"type": "array", "items": {"type": "string", "minLength": 1}}},
      "required": ["hosts"], "additionalProperties": False},
     {"hosts": ["a", "b"]}),
]


def _shipped_tools() -> list[dict]:
    return json.loads(SHIPPED_REGISTRY.read_text())["tools"]


def _sample(prop: dict) -> object:
    if "enum" in prop:
        return prop["enum"][0]
    kind = prop.get("type")
    if kind == "integer":
        return prop.get("minimum", 1)
    if kind == "number":
        return float(prop.get("minimum", 1))
    if kind == "boolean":
        return True
    return "value-1"


def _wrong_type(prop: dict) -> object:
    return 123 if prop.get("type") == "string" else "123"


def _shipped_cases() -> list[tuple[str, dict, object, bool]]:
    """(id, schema, args, valid) for every shipped tool: full and minimal valid args, and ways to break them."""
    cases: list[tuple[str, dict, object, bool]] = []
    for tool in _shipped_tools():
        name, schema = tool["name"], tool["args_schema"]
        props = schema.get("properties", {})
        required = schema.get("required", [])
        full = {arg: _sample(prop) for arg, prop in props.items()}
        cases.append((f"{name}-full", schema, full, True))
        cases.append((f"{name}-required-only", schema, {arg: full[arg] for arg in required}, True))
        cases.append((f"{name}-not-an-object", schema, [full], False))
        cases.append((f"{name}-extra-arg", schema, {**full, "unexpected": "x"}, False))
        for arg in required:
            cases.append((f"{name}-missing-{arg}", schema, {k: v for k, v in full.items() if k != arg}, False))
        for arg, prop in props.items():
            cases.append((f"{name}-{arg}-wrong-type", schema, {**full, arg: _wrong_type(prop)}, False))
            cases.append((f"{name}-{arg}-bool", schema, {**full, arg: True}, False))
            if "enum" in prop:
                cases.append((f"{name}-{arg}-not-in-enum", schema, {**full, arg: "NotAnOption"}, False))
            if "minimum" in prop:
                cases.append((f"{name}-{arg}-below-minimum", schema, {**full, arg: prop["minimum"] - 1}, False))
            if "maximum" in prop:
                cases.append((f"{name}-{arg}-above-maximum", schema, {**full, arg: prop["maximum"] + 1}, False))
    return cases


def _jsonschema_errors(schema: object, instance: object) -> list[tuple[tuple, str]]:
    from jsonschema import Draft202012Validator

    return sorted((tuple(e.absolute_path), e.message) for e in Draft202012Validator(schema).iter_errors(instance))


def _builtin_errors(schema: object, instance: object) -> list[tuple[tuple, str]]:
    errors = policy_module._js_Validator(schema).iter_errors(instance)
    return sorted((tuple(e.absolute_path), e.message) for e in errors)


def test_agreement_table_covers_every_builtin_keyword() -> None:
    assert len(AGREEMENT_CASES) >= 40
    used: set[str] = set()

    def walk(schema: object) -> None:
        if isinstance(schema, dict):
            used.update(schema)
            for key, value in schema.items():
                if key == "properties":
                    for sub in value.values():
                        walk(sub)
                elif key in ("items", "additionalProperties", "not"):
                    walk(value)
                elif key in ("anyOf", "oneOf", "allOf"):
                    for sub in value:
                        walk(sub)

    for schema, _ in AGREEMENT_CASES:
        walk(schema)
    assert set(policy_module._js_KEYWORDS) <= used
    verdicts = [not _jsonschema_errors(schema, instance) for schema, instance in AGREEMENT_CASES]
    assert verdicts.count(True) >= 20 and verdicts.count(False) >= 20, "valid and invalid cases for the keywords"


@pytest.mark.parametrize("schema, instance", AGREEMENT_CASES)
def test_builtin_validator_agrees_with_jsonschema(schema, instance) -> None:
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)
    assert policy_module._js_schema_problem(schema) is None
    # same verdict, same error locations and the same messages
    assert _builtin_errors(schema, instance) == _jsonschema_errors(schema, instance)


@pytest.mark.parametrize("case", _shipped_cases(), ids=lambda case: case[0])
def test_builtin_validator_agrees_on_every_shipped_tool(case) -> None:
    _, schema, args, valid = case
    assert policy_module._js_schema_problem(schema) is None
    expected = _jsonschema_errors(schema, args)
    assert (not expected) is valid
    assert _builtin_errors(schema, args) == expected


def test_false_subschema_error_keeps_its_path() -> None:
    """The one deliberate difference: jsonschema reports a ``false`` subschema's error at the parent (its descend()
    returns before adding the path); the built-in one names the argument, which reads better in a denial."""
    schema, instance = {"properties": {"a": False}, "items": False}, {"a": 1}
    assert _jsonschema_errors(schema, instance) == [((), "False schema does not allow 1")]
    assert _builtin_errors(schema, instance) == [(("a",), "False schema does not allow 1")]
    assert _builtin_errors({"items": False}, [1, 2]) == [((0,), "False schema does not allow 1"),
                                                         ((1,), "False schema does not allow 2")]


def test_shipped_cases_cover_every_shipped_tool() -> None:
    names = {tool["name"] for tool in _shipped_tools()}
    covered = {case[0].rsplit("-full", 1)[0] for case in _shipped_cases() if case[0].endswith("-full")}
    assert covered == names and len(names) >= 10


# Schemas both jsonschema's metaschema check and the built-in check refuse.
MALFORMED_SCHEMAS = [
    {"type": "objekt"},
    {"type": []},
    {"type": ["string", "string"]},
    {"type": 5},
    {"required": "a"},
    {"required": [1]},
    {"required": ["a", "a"]},
    {"properties": []},
    {"properties": {"a": 5}},
    {"properties": {"a": {"type": "text"}}},
    {"additionalProperties": "no"},
    {"items": 5},
    {"enum": "a"},
    {"pattern": "("},
    {"pattern": 5},
    {"minLength": -1},
    {"minLength": "1"},
    {"maxItems": 1.5},
    {"minimum": "0"},
    {"exclusiveMaximum": None},
    {"multipleOf": 0},
    {"uniqueItems": "yes"},
    {"anyOf": []},
    {"oneOf": {"type": "string"}},
    {"allOf": [5]},
    {"not": "string"},
    {"description": 5},
    {"deprecated": "yes"},
    {"examples": "x"},
    5,
]

# Valid JSON Schema, but outside the built-in subset: refused at registry load (never silently ignored).
UNSUPPORTED_SCHEMAS = [
    {"$ref": "#/$defs/user", "$defs": {"user": {"type": "string"}}},
    {"patternProperties": {"^x": {"type": "string"}}},
    {"prefixItems": [{"type": "string"}]},
    {"properties": {"a": {"dependentRequired": {"a": ["b"]}}}},
    {"if": {"type": "string"}, "then": {"minLength": 1}},
    {"items": {"contains": {"const": 1}}},
    {"properties": {"a": {"type": "string", "minlength": 1}}},  # a typo jsonschema would silently ignore
]


@pytest.mark.parametrize("schema", MALFORMED_SCHEMAS)
def test_malformed_schemas_are_refused_by_both_checks(schema) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        Draft202012Validator.check_schema(schema)
    assert policy_module._js_schema_problem(schema)


@pytest.mark.parametrize("schema", UNSUPPORTED_SCHEMAS)
def test_unsupported_keywords_are_refused_at_registry_load(schema, schema_backend: str) -> None:
    tool = {"name": "t", "description": "d", "command": "c", "args_schema": schema}
    with pytest.raises(ValueError, match="invalid args_schema: unsupported keyword"):
        ToolRegistry.from_config([tool])


def test_builtin_validator_fails_closed_on_a_keyword_it_does_not_know() -> None:
    errors = _builtin_errors({"type": "object", "$ref": "#/x"}, {})
    assert errors == [((), "unsupported schema keyword '$ref'")]


def test_builtin_error_strings_keep_the_policy_style(schema_backend: str) -> None:
    registry = ToolRegistry.from_config(SHIPPED_REGISTRY.read_text())
    assert registry.validate_args("okta_get_logs", {"limit": 5000, "query": 7, "bogus": 1}) == [
        "(args): Additional properties are not allowed ('bogus' was unexpected)",
        "limit: 5000 is greater than the maximum of 1000",
        "query: 7 is not of type 'string'",
    ]
    assert registry.validate_args("cloudtrail_lookup_events", {"attribute_key": "Bogus"}) == [
        "(args): 'attribute_value' is a required property",
        "attribute_key: 'Bogus' is not one of ['AccessKeyId', 'EventId', 'EventName', 'Username', 'ResourceType', "
        "'ResourceName', 'EventSource', 'ReadOnly']",
    ]
    long = registry.validate_args("ip_reputation", {"ip": ["x" * 500]})
    assert len(long) == 1 and len(long[0]) == len("ip: ") + 200


def test_builtin_unique_items_is_linear_on_long_lists() -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}
    assert _builtin_errors(schema, list(range(50_000))) == []
    assert len(_builtin_errors(schema, list(range(50_000)) + [7])) == 1


@pytest.fixture
def policy_module_without_jsonschema(monkeypatch):
    """A fresh copy of the policy module executed with jsonschema unimportable, as in the docker image."""
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    monkeypatch.setitem(sys.modules, "jsonschema.exceptions", None)
    name = "AIReasoningPolicyApiModule_without_jsonschema"
    spec = importlib.util.spec_from_file_location(name, policy_module.__file__)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_policy_works_without_jsonschema(policy_module_without_jsonschema) -> None:
    mod = policy_module_without_jsonschema
    assert mod._js_Draft202012Validator is None and mod.ToolRegistry is not ToolRegistry
    with pytest.raises(ImportError):
        import jsonschema  # noqa: F401
    registry = mod.ToolRegistry.from_config(SHIPPED_REGISTRY.read_text())
    assert all(isinstance(v, mod._js_Validator) for v in registry._validators.values())
    assert len(registry.names()) == len(_shipped_tools())
    for case_id, _, args, valid in _shipped_cases():
        assert (registry.validate_args(case_id.split("-")[0], args) == []) is valid, case_id
    policy = mod.Policy(registry, mod.PolicyConfig(allowlist=["*"]), FakeClock(), approval_secret=b"s")
    assert policy.decide(call("ip_reputation", ip="203.0.113.7"), RUN).decision == "allow"
    denied = policy.decide(call("ip_reputation", ip="203.0.113.7", port=22), RUN)
    assert denied.decision == "deny" and denied.rule == "schema"
    assert denied.reason == "invalid arguments: (args): Additional properties are not allowed ('port' was unexpected)"
    assert policy.decide(call("splunk_search", query="x", event_limit=True), RUN).rule == "schema"
    assert policy.decide(call("okta_suspend_user", username="alice"), RUN).decision == "needs_approval"
    with pytest.raises(ValueError, match="invalid args_schema: type at \\(root\\)"):
        mod.ToolRegistry.from_config([{"name": "s", "description": "d", "command": "c",
                                       "args_schema": {"type": "objekt"}}])
    with pytest.raises(ValueError, match="unsupported keyword '\\$ref' at x"):
        mod.ToolRegistry.from_config([{"name": "s", "description": "d", "command": "c",
                                       "args_schema": {"properties": {"x": {"$ref": "#"}}}}])
