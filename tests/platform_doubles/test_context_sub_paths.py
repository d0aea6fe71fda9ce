"""DT keys with `===` and with a sub-path after the selector, as real integrations write them (AWS - IAM)."""

from xsoar_session import merge_entry_context, parse_context_key


def test_triple_equals_selector_updates_by_key():
    assert parse_context_key("AWS.IAM.Users(val.UserName === obj.UserName)") == ("AWS.IAM.Users", [["UserName"]], False)
    ctx: dict = {}
    merge_entry_context(ctx, {"AWS.IAM.Users(val.UserName === obj.UserName)": {"UserName": "alice", "Arn": "a"}})
    merge_entry_context(ctx, {"AWS.IAM.Users(val.UserName === obj.UserName)": {"UserName": "alice", "Arn": "b"}})
    assert ctx["AWS"]["IAM"]["Users"] == {"UserName": "alice", "Arn": "b"}


def test_obj_selector_with_sub_path_lands_under_the_matching_parent():
    ctx: dict = {}
    merge_entry_context(ctx, {"AWS.IAM.Users(val.UserName === obj.UserName)": [{"UserName": "alice"},
                                                                                {"UserName": "bob"}]})
    keys = [{"UserName": "bob", "AccessKeyId": "AKIAEXAMPLEBOB000001"},
            {"UserName": "alice", "AccessKeyId": "AKIAEXAMPLEALICE0001"}]
    key = "AWS.IAM.Users(val.UserName === obj.UserName).AccessKeys"
    merge_entry_context(ctx, {key: keys})
    merge_entry_context(ctx, {key: keys[:1]})  # a re-run adds no duplicates
    users = {u["UserName"]: u for u in ctx["AWS"]["IAM"]["Users"]}
    assert users["alice"]["AccessKeys"] == [keys[1]]
    assert users["bob"]["AccessKeys"] == [keys[0]]
    assert "AWS.IAM.Users(val" not in str(ctx)


def test_literal_selector_creates_the_parent_when_missing():
    ctx: dict = {}
    merge_entry_context(ctx, {"AWS.IAM.Users(val.UserName === 'carol').AttachedPoliciesMarker": "m1"})
    # one object stays an object, as for any other key (merge_value)
    assert ctx["AWS"]["IAM"]["Users"] == {"UserName": "carol", "AttachedPoliciesMarker": "m1"}
