"""CommonServerPython double: argument helpers, markdown, entries, results, errors, context, indicators."""

from __future__ import annotations

import inspect
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import CommonServerPython as csp
import demistomock as demisto
import pytest
from CommonServerPython import *
from xsoar_session import XSOARSession, use_session

# ----------------------------------------------------------------------------------------------
# argToList / argToBoolean / arg_to_number / arg_to_datetime / assign_params
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        (None, []),
        ("", []),
        ([], []),
        (0, []),
        ("a", ["a"]),
        ("a, b ,c", ["a", "b", "c"]),
        ("a,,b", ["a", "", "b"]),
        ('["x", "y,z"]', ["x", "y,z"]),
        ("[not json]", ["[not json]"]),
        ("[1,2]", [1, 2]),
        (["a", 1], ["a", 1]),
        (5, [5]),
        ({"k": 1}, [{"k": 1}]),
    ],
)
def test_arg_to_list(arg: Any, expected: list[Any]) -> None:
    assert argToList(arg) == expected


def test_arg_to_list_separator_and_transform() -> None:
    assert argToList("a;b; c", separator=";") == ["a", "b", "c"]
    assert argToList("1,2", transform=int) == [1, 2]
    assert argToList(["a", "b"], transform=str.upper) == ["A", "B"]


def test_remove_duplicates_from_list_arg() -> None:
    assert sorted(remove_duplicates_from_list_arg({"ids": "1,2,1"}, "ids")) == ["1", "2"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("Yes", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("NO", False),
    ],
)
def test_arg_to_boolean(value: Any, expected: bool) -> None:
    assert argToBoolean(value) is expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", "valid boolean-like"),
        ("", "valid boolean-like"),
        ("y", "valid boolean-like"),
        (1, "neither a string"),
        (None, "neither a string"),
    ],
)
def test_arg_to_boolean_invalid(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        argToBoolean(value)


@pytest.mark.parametrize(
    ("arg", "expected"),
    [("12", 12), ("1.9", 1), ("-3", -3), ("-3.5", -3), (" 7 ", 7), (12, 12), (True, True), (None, None), ("", None)],
)
def test_arg_to_number(arg: Any, expected: Any) -> None:
    assert arg_to_number(arg) == expected


def test_arg_to_number_errors() -> None:
    with pytest.raises(ValueError, match=r'^Missing "limit"$'):
        arg_to_number(None, "limit", required=True)
    with pytest.raises(ValueError, match="^Missing required argument$"):
        arg_to_number("", required=True)
    with pytest.raises(ValueError, match=r'^Invalid number: "limit"="abc"$'):
        arg_to_number("abc", arg_name="limit")
    with pytest.raises(ValueError, match=r'^"abc" is not a valid number$'):
        arg_to_number("abc")
    with pytest.raises(ValueError, match=r'^"1.5" is not a valid number$'):
        arg_to_number(1.5)  # a float (not a string) is rejected, as on the platform
    with pytest.raises(ValueError, match=r'^Invalid number: "n"="\[1\]"$'):
        arg_to_number([1], "n")


def test_arg_to_datetime() -> None:
    assert arg_to_datetime(None) is None
    with pytest.raises(ValueError, match='Missing "since"'):
        arg_to_datetime(None, "since", required=True)
    with pytest.raises(ValueError, match="Missing required argument"):
        arg_to_datetime(None, required=True)
    assert arg_to_datetime("1700000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert arg_to_datetime(1700000000000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert arg_to_datetime(1700000000, is_utc=False) == datetime.fromtimestamp(1700000000)
    assert arg_to_datetime("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert arg_to_datetime("2024-01-02T03:04:05").tzinfo == UTC  # type: ignore[union-attr]
    ago = arg_to_datetime("3 days ago")
    assert ago is not None and 2.9 < (datetime.now(UTC) - ago).total_seconds() / 86400 < 3.1
    with pytest.raises(ValueError, match='Invalid date: "since"="soon"'):
        arg_to_datetime("soon", "since")
    with pytest.raises(ValueError, match='"soon" is not a valid date'):
        arg_to_datetime("soon")
    with pytest.raises(ValueError, match=r'"\[\]" is not a valid date'):
        arg_to_datetime([])
    with pytest.raises(ValueError, match=r'Invalid date: "d"="\[\]"'):
        arg_to_datetime([], "d")


def test_assign_params() -> None:
    assert assign_params(a="1", b=True, c=None, d="", e=[], f={}, g=(), h=0) == {"a": "1", "b": True, "h": 0}
    assert assign_params(values_to_ignore=(15,), sinceTime="t", b=15) == {"sinceTime": "t"}
    assert assign_params(keys_to_ignore=["rnd"], ID="1", rnd=15) == {"ID": "1"}


def test_remove_nulls_and_empty_elements() -> None:
    d = {"a": "", "b": None, "c": [], "d": {}, "e": (), "f": 0, "g": "x"}
    remove_nulls_from_dictionary(d)
    assert d == {"f": 0, "g": "x"}
    nested = {"a": None, "b": {"c": [], "d": {"e": None}}, "f": [None, {}, 1, [None]], "g": "", "h": 0}
    assert remove_empty_elements(nested) == {"f": [1], "g": "", "h": 0}
    assert remove_empty_elements("x") == "x"


def test_dict_safe_get() -> None:
    data = {"a": {"b": [{"c": 1}]}}
    assert dict_safe_get(data, ["a", "b", 0, "c"]) == 1
    assert dict_safe_get(data, ["a", "x"], "dflt") == "dflt"
    assert dict_safe_get(data, ["a", "b", 5]) is None
    assert dict_safe_get(None, ["a"], 0) == 0
    assert dict_safe_get(data, ["a", "b", 0, "c"], "d", return_type=str, raise_return_type=False) == "d"
    with pytest.raises(TypeError, match="Safe get Error"):
        dict_safe_get(data, ["a"], return_type=list)


def test_batch_and_smart_get_dict() -> None:
    assert list(batch([1, 2, 3, 4, 5], batch_size=2)) == [[1, 2], [3, 4], [5]]
    assert list(batch([], 3)) == []
    d = SmartGetDict({"a": None, "b": 0})
    assert d.get("a", 1) == 1 and d.get("b", 1) == 0 and d.get("c") is None


# ----------------------------------------------------------------------------------------------
# String helpers and dates
# ----------------------------------------------------------------------------------------------


def test_string_helpers() -> None:
    assert string_to_table_header("one_two three") == "One Two Three"
    with pytest.raises(Exception, match="The key is not a string: 5"):
        string_to_table_header(5)
    assert string_to_context_key("one_two") == "OneTwo"
    with pytest.raises(Exception, match="The key is not a string"):
        string_to_context_key(None)
    assert pascalToSpace("ThreatScore") == "Threat Score"
    assert pascalToSpace("thisIsIPAddressName") == "This Is IP Address Name"
    assert pascalToSpace(3) == 3
    assert underscoreToCamelCase("hello_world") == "HelloWorld"
    assert underscoreToCamelCase("hello_world", upper_camel=False) == "helloWorld"
    assert underscoreToCamelCase(None) is None
    assert camelize_string("demisto_content") == "DemistoContent"
    assert camelize_string("Demisto_content", upper_camel=False) == "demistoContent"
    assert camelize_string("a-b", delim="-") == "AB" and camelize_string("") == ""
    assert camelize({"start date": 1}) == {"StartDate": 1}
    assert camelize([{"a_b": 1}], "_", upper_camel=False) == [{"aB": 1}]
    assert camel_case_to_underscore("helloWorldHTTPServer") == "hello_world_http_server"
    assert snakify({"camelCase": 1}) == {"camel_case": 1}


def test_encoding_helpers() -> None:
    assert encode_string_results("é") == "é"
    assert encode_string_results(5) == 5
    assert b64_encode("user:pass") == "dXNlcjpwYXNz" and b64_encode("") == "" and b64_encode(b"a") == "YQ=="
    assert b64_decode("YQ") == b"a"
    assert stringEscape("a\nb\tc\r") == "a\\nb\\tc\\r"
    assert stringUnEscape("a\\nb") == "a\nb"
    assert stringEscapeMD("a|b`c\nd", minimal_escaping=True, escape_multiline=True) == "a\\|b\\`c<br>d"
    assert stringEscapeMD("*x*") == "\\*x\\*"
    assert urljoin("https://h/api", "/v1") == "https://h/api/v1" and urljoin("https://h/", "v1") == "https://h/v1"
    assert scoreToReputation(3) == "Bad" and scoreToReputation(7) == "None"


def test_timestamp_to_datestring() -> None:
    assert timestamp_to_datestring(1541494441222) == "2018-11-06T08:54:01.000Z"
    assert timestamp_to_datestring("1541494441222", "%Y-%m-%d", is_utc=True) == "2018-11-06"
    local = datetime.fromtimestamp(1541494441.222).strftime("%H:%M")
    assert timestamp_to_datestring(1541494441222, "%H:%M") == local


def test_date_to_timestamp_roundtrip() -> None:
    ms = date_to_timestamp("2018-11-06T08:56:41")
    assert ms == date_to_timestamp(datetime(2018, 11, 6, 8, 56, 41))
    assert datetime.fromtimestamp(ms / 1000) == datetime(2018, 11, 6, 8, 56, 41)


def test_parse_date_string() -> None:
    assert parse_date_string("2019-09-17T06:16:39Z") == datetime(2019, 9, 17, 6, 16, 39)
    assert parse_date_string("2019-09-17T06:16:39.22Z") == datetime(2019, 9, 17, 6, 16, 39, 220000)
    assert parse_date_string("2019-09-17T06:16:39.4040+05:00", "%Y-%m-%dT%H:%M:%S+02:00") == datetime(
        2019, 9, 17, 6, 16, 39, 404000
    )
    assert parse_date_string("2022-01-23T12:34:56.123456789+09:00").microsecond == 123456
    assert parse_date_string("2019-09-17 06:16", "%Y-%m-%d %H:%M") == datetime(2019, 9, 17, 6, 16)
    with pytest.raises(ValueError):
        parse_date_string("not a date")


# ----------------------------------------------------------------------------------------------
# tableToMarkdown
# ----------------------------------------------------------------------------------------------


def test_table_to_markdown_basic_sorted_headers() -> None:
    md = tableToMarkdown("Users", [{"name": "a", "age": 1}, {"name": "b", "age": 2}])
    assert md == "### Users\n|age|name|\n|---|---|\n| 1 | a |\n| 2 | b |\n"


def test_table_to_markdown_header_order_and_sorting() -> None:
    rows = [{"b": 1, "a": 2}]
    assert tableToMarkdown("T", rows, headers=["b", "a"]) == "### T\n|b|a|\n|---|---|\n| 1 | 2 |\n"
    assert tableToMarkdown("T", rows, sort_headers=False).startswith("### T\n|b|a|\n")
    assert tableToMarkdown("T", rows, headers="a") == "### T\n|a|\n|---|\n| 2 |\n"


def test_table_to_markdown_empty() -> None:
    assert tableToMarkdown("Empty", []) == "### Empty\n**No entries.**\n"
    assert tableToMarkdown("Empty", {}) == "### Empty\n**No entries.**\n"
    assert tableToMarkdown("", None) == "**No entries.**\n"
    assert tableToMarkdown("T", [{"a": 1}], headers=["a"], removeNull=True) == "### T\n|a|\n|---|\n| 1 |\n"
    assert tableToMarkdown("T", [{"a": None}], removeNull=True) == "### T\n**No entries.**\n"


def test_table_to_markdown_dict_and_metadata() -> None:
    assert tableToMarkdown("One", {"k": "v", "a": 1}, metadata="meta") == "### One\nmeta\n|a|k|\n|---|---|\n| 1 | v |\n"
    # a dict with one key becomes a one-column table of that key's values
    assert tableToMarkdown("IPs", {"ip": ["1.1.1.1", "2.2.2.2"]}) == "### IPs\n|ip|\n|---|\n| 1.1.1.1 |\n| 2.2.2.2 |\n"


def test_table_to_markdown_simple_list_needs_headers() -> None:
    assert tableToMarkdown("L", ["x", "y"], headers=["Value"]) == "### L\n|Value|\n|---|\n| x |\n| y |\n"
    with pytest.raises(Exception, match="Missing headers param"):
        tableToMarkdown("L", ["x"])


def test_table_to_markdown_header_transform_remove_null_and_cells() -> None:
    rows = [{"first_name": "a|b", "empty": None, "nested": {"k": [1, 2]}, "items": ["x", "y"], "n": None}]
    md = tableToMarkdown("T", rows, headerTransform=string_to_table_header, removeNull=True)
    assert md.splitlines()[1] == "|First Name|Items|Nested|"
    assert md.splitlines()[3] == "| a\\|b | x,<br>y | k: 1,<br>2 |"
    md = tableToMarkdown("T", [{"d": {"a": {"b": 1}}}])
    assert md.splitlines()[3] == '| a: {"b": 1} |'
    md = tableToMarkdown("T", [{"v": None, "w": 0}])
    assert md.splitlines()[3] == "|  | 0 |"


def test_table_to_markdown_url_keys_date_fields_and_auto_json() -> None:
    md = tableToMarkdown("T", [{"url": "https://x", "ts": 0}], url_keys=["url"], date_fields=["ts"])
    assert "[https://x](https://x)" in md
    assert datetime.fromtimestamp(0).strftime("%Y-%m-%d %H:%M:%S") in md
    md = tableToMarkdown("T", [{"ts": "bad"}], date_fields=["ts"])
    assert "| bad |" in md
    md = tableToMarkdown("T", [{"d": {"a": 1, "b": {"c": 2}}}], is_auto_json_transform=True)
    assert "***a***: 1" in md and "**b**:" in md and "***c***: 2" in md


def test_json_transformer_variants() -> None:
    assert JsonTransformer(func=lambda x: "custom").json_to_str({"a": 1}) == "custom"
    assert JsonTransformer(keys=["a"]).json_to_str({"a": {"x": 1}, "b": 2}) == "**a**:\n\t***x***: 1"
    assert JsonTransformer(keys=["x"], is_nested=True).json_to_str({"a": {"x": 1}}) == "**a**:\n\t***x***: 1"
    assert JsonTransformer().json_to_str({"l": [{"a": 1}, {"a": 2}]}) == (
        "**l**:\n\t**-**\t***a***: 1\n\t**-**\t***a***: 2"
    )
    assert JsonTransformer().json_to_str({"l": ["a", "b"]}) == "**l**:\n\t***values***: a, b"
    assert formatCell([1, 2]) == "1,\n2" and formatCell("s") == "s"
    assert flattenCell({"a": 1}, is_pretty=False) == '{"a": 1}' and flattenCell(b"b") == "b"


def test_clickable_urls() -> None:
    assert create_clickable_url("https://x") == "[https://x](https://x)"
    assert create_clickable_url("https://x", "X") == "[X](https://x)"
    assert create_clickable_url(["u1", "u2"]) == ["[u1](u1)", "[u2](u2)"]
    assert create_clickable_url(["u1"], ["t1"]) == ["[t1](u1)"]
    assert create_clickable_url("") is None
    assert url_to_clickable_markdown([{"u": "a", "o": {"u": "b"}}], ["u"]) == [{"u": "[a](a)", "o": {"u": "[b](b)"}}]


# ----------------------------------------------------------------------------------------------
# CommandResults.to_context
# ----------------------------------------------------------------------------------------------

ENTRY_KEYS = {
    "Type",
    "ContentsFormat",
    "Contents",
    "HumanReadable",
    "EntryContext",
    "IndicatorTimeline",
    "IgnoreAutoExtract",
    "Note",
    "Relationships",
}


def test_command_results_key_field_dt() -> None:
    entry = CommandResults(
        outputs_prefix="AIReasoning.Run", outputs_key_field="run_id", outputs={"run_id": "r1"}
    ).to_context()
    assert set(entry) == ENTRY_KEYS
    assert entry["EntryContext"] == {"AIReasoning.Run(val.run_id && val.run_id == obj.run_id)": {"run_id": "r1"}}
    assert entry["Type"] == 1 and entry["ContentsFormat"] == "json" and entry["Contents"] == {"run_id": "r1"}
    assert entry["HumanReadable"] == "### Results\n|run_id|\n|---|\n| r1 |\n"
    assert entry["IndicatorTimeline"] == [] and entry["Relationships"] == []
    assert entry["IgnoreAutoExtract"] is False and entry["Note"] is False


def test_command_results_several_key_fields() -> None:
    entry = CommandResults(outputs_prefix="P", outputs_key_field=["a", "b"], outputs=[{"a": 1, "b": 2}]).to_context()
    assert list(entry["EntryContext"]) == ["P(val.a && val.a == obj.a && val.b && val.b == obj.b)"]


def test_command_results_plain_prefix_and_no_prefix() -> None:
    assert CommandResults(outputs_prefix="P", outputs=[{"a": 1}]).to_context()["EntryContext"] == {"P": [{"a": 1}]}
    assert CommandResults(outputs_prefix="P", outputs=[1], readable_output="r").to_context()["EntryContext"] == {
        "P": [1]
    }
    with pytest.raises(Exception, match="Missing headers param"):  # as on the platform: no table for scalars
        CommandResults(outputs_prefix="P", outputs=[1]).to_context()
    entry = CommandResults(outputs={"A": 1, "B(val.x == obj.x)": {"x": 1}}).to_context()
    assert entry["EntryContext"] == {"A": 1, "B(val.x == obj.x)": {"x": 1}}


def test_command_results_replace_existing() -> None:
    entry = CommandResults(outputs_prefix="Path.To.NextToken", outputs="t", replace_existing=True).to_context()
    assert entry["EntryContext"] == {"Path.To(true)": {"NextToken": "t"}}
    with pytest.raises(DemistoException, match="nested path"):
        CommandResults(outputs_prefix="Flat", outputs="t", replace_existing=True).to_context()


def test_command_results_readable_raw_and_format() -> None:
    entry = CommandResults(readable_output="## hi").to_context()
    assert entry["HumanReadable"] == "## hi" and entry["Contents"] is None and entry["EntryContext"] == {}
    entry = CommandResults(outputs_prefix="S", outputs="plain").to_context()
    assert entry["ContentsFormat"] == "text" and entry["HumanReadable"] == "plain"
    entry = CommandResults(outputs_prefix="S", outputs=[], raw_response={"r": 1}).to_context()
    assert entry["EntryContext"] == {} and entry["HumanReadable"] is None and entry["Contents"] == {"r": 1}
    assert CommandResults(raw_response=3).to_context()["ContentsFormat"] == "text"
    assert CommandResults(raw_response="x", content_format="markdown").to_context()["ContentsFormat"] == "markdown"


def test_command_results_note_tags_timeline_relationships_polling() -> None:
    rel = EntityRelationship(
        name="related-to",
        entity_a="1.1.1.1",
        entity_a_type="IP",
        entity_b="evil.com",
        entity_b_type="Domain",
        source_reliability="B - Usually reliable",
        brand="X",
    )
    entry = CommandResults(
        readable_output="r",
        mark_as_note=True,
        tags=["aireasoning"],
        ignore_auto_extract=True,
        indicators_timeline=IndicatorsTimeline(indicators=["1.1.1.1"], message="seen"),
        relationships=[rel, EntityRelationship("uses", "a", "IP", "", "IP")],
        scheduled_command=ScheduledCommand("ai-reasoning-poll", 30, args={"id": 1}, timeout_in_seconds=600),
        entry_type=EntryType.WARNING,
    ).to_context()
    assert entry["Note"] is True and entry["Tags"] == ["aireasoning"] and entry["IgnoreAutoExtract"] is True
    assert entry["Type"] == 11
    assert entry["IndicatorTimeline"] == [{"Value": "1.1.1.1", "Category": "Automation Update", "Message": "seen"}]
    assert entry["Relationships"] == [rel.to_entry()]
    assert entry["Relationships"][0]["reverseName"] == "related-to" and entry["Relationships"][0]["brand"] == "X"
    assert entry["PollingCommand"] == "ai-reasoning-poll" and entry["NextRun"] == "30"
    assert entry["PollingArgs"] == {"id": 1} and entry["Timeout"] == "600"


def test_command_results_validation() -> None:
    with pytest.raises(ValueError, match="outputs_prefix is missing"):
        CommandResults(outputs=[1])
    with pytest.raises(ValueError, match="cannot be a period"):
        CommandResults(outputs_prefix=".", outputs=[1])
    with pytest.raises(TypeError, match="outputs_key_field must be"):
        CommandResults(outputs_prefix="P", outputs_key_field=5, outputs=[1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="content_format"):
        CommandResults(content_format="yaml")
    ip = Common.IP("1.1.1.1", Common.DBotScore("1.1.1.1", DBotScoreType.IP, "V", 0))
    with pytest.raises(ValueError, match="DEPRECATED"):
        CommandResults(indicators=[ip], indicator=ip)


def test_command_results_execution_metrics() -> None:
    entry = CommandResults(execution_metrics=[{"Type": "Successful", "APICallsCount": 2}]).to_context()
    assert entry["Type"] == EntryType.EXECUTION_METRICS and entry["Contents"] == "Metrics reported successfully."
    assert entry["APIExecutionMetrics"] == [{"Type": "Successful", "APICallsCount": 2}]


def test_command_results_merge_into_session_context(session: XSOARSession) -> None:
    for verdict in ("suspicious", "malicious"):
        return_results(
            CommandResults(
                outputs_prefix="AIReasoning.Run",
                outputs_key_field="run_id",
                outputs={"run_id": "r1", "verdict": verdict},
            )
        )
    return_results(
        CommandResults(
            outputs_prefix="AIReasoning.Run", outputs_key_field="run_id", outputs={"run_id": "r2", "verdict": "benign"}
        )
    )
    assert session.context["AIReasoning"]["Run"] == [
        {"run_id": "r1", "verdict": "malicious"},
        {"run_id": "r2", "verdict": "benign"},
    ]


# ----------------------------------------------------------------------------------------------
# Indicators
# ----------------------------------------------------------------------------------------------


def test_dbot_score_constants_and_context() -> None:
    assert (Common.DBotScore.NONE, Common.DBotScore.GOOD, Common.DBotScore.SUSPICIOUS, Common.DBotScore.BAD) == (
        0,
        1,
        2,
        3,
    )
    score = Common.DBotScore(
        "1.1.1.1",
        DBotScoreType.IP,
        "AbuseIPDB",
        Common.DBotScore.SUSPICIOUS,
        reliability=DBotScoreReliability.B,
        message="m",
    )
    assert score.to_context() == {
        Common.DBotScore.CONTEXT_PATH: {
            "Indicator": "1.1.1.1",
            "Type": "ip",
            "Vendor": "AbuseIPDB",
            "Score": 2,
            "Reliability": "B - Usually reliable",
            "Message": "m",
        }
    }
    assert score.to_readable() == "Suspicious"
    with pytest.raises(TypeError, match="indicator_type"):
        Common.DBotScore("x", "nope", "V", 0)
    with pytest.raises(TypeError, match="score"):
        Common.DBotScore("x", DBotScoreType.IP, "V", 7)
    with pytest.raises(TypeError, match="reliability"):
        Common.DBotScore("x", DBotScoreType.IP, "V", 0, reliability="Z")


def test_dbot_score_vendor_from_calling_integration() -> None:
    with use_session(XSOARSession(kind="integration", brand="AbuseIPDB")):
        assert Common.DBotScore("1.1.1.1", DBotScoreType.IP, "ignored", 1).integration_name == "AbuseIPDB"
    assert Common.DBotScore("1.1.1.1", DBotScoreType.IP, "given", 1).integration_name == "given"


def test_ip_indicator_to_context_and_enrichment_entry(session: XSOARSession) -> None:
    score = Common.DBotScore("6.6.6.6", DBotScoreType.IP, "Sim", Common.DBotScore.BAD, malicious_description="c2")
    ip = Common.IP(
        "6.6.6.6",
        score,
        asn="AS1",
        geo_country="NL",
        geo_latitude="1",
        geo_longitude="2",
        detection_engines=10,
        positive_engines=0,
        tags=["c2"],
        hostname="h",
        organization_name="O",
        registrar_abuse_email="abuse@x",
        global_prevalence=0,
    )
    ctx = ip.to_context()
    ip_ctx = ctx[Common.IP.CONTEXT_PATH]
    assert ip_ctx["Address"] == "6.6.6.6" and ip_ctx["ASN"] == "AS1" and ip_ctx["Hostname"] == "h"
    assert ip_ctx["Geo"] == {"Location": "1:2", "Country": "NL"} and ip_ctx["Organization"] == {"Name": "O"}
    assert ip_ctx["DetectionEngines"] == 10 and ip_ctx["PositiveDetections"] == 0 and ip_ctx["GlobalPrevalence"] == 0
    assert ip_ctx["Registrar"] == {"Abuse": {"Email": "abuse@x"}}
    assert ip_ctx["Malicious"] == {"Vendor": "Sim", "Description": "c2"}
    assert ctx[Common.DBotScore.CONTEXT_PATH]["Score"] == 3
    return_results(
        CommandResults(outputs_prefix="Sim.IP", outputs_key_field="ip", outputs={"ip": "6.6.6.6"}, indicator=ip)
    )
    # indicator outputs are sent as lists (one item per indicator), so they are stored as lists
    assert session.context["IP"] == [ip_ctx]
    assert session.context["DBotScore"][0]["Vendor"] == "Sim"
    assert session.context["Sim"]["IP"] == {"ip": "6.6.6.6"}
    v6 = Common.IP("::1", Common.DBotScore("::1", DBotScoreType.IP, "V", 0), ip_type="IPv6").to_context()
    assert "IPv6(val.Address && val.Address == obj.Address)" in v6
    with pytest.raises(ValueError, match="dbot_score"):
        Common.IP("1.1.1.1", None)  # type: ignore[arg-type]


def test_ip_indicator_list_via_indicators() -> None:
    ips = [Common.IP(a, Common.DBotScore(a, DBotScoreType.IP, "V", 1)) for a in ("1.1.1.1", "2.2.2.2")]
    entry = CommandResults(indicators=ips).to_context()
    assert [i["Address"] for i in entry["EntryContext"][Common.IP.CONTEXT_PATH]] == ["1.1.1.1", "2.2.2.2"]


def test_entity_relationship_validation_and_context() -> None:
    rel = EntityRelationship("communicates-with", "a", "IP", "b", "Domain")
    assert rel.to_context() == {
        "Relationship": "communicates-with",
        "EntityA": "a",
        "EntityAType": "IP",
        "EntityB": "b",
        "EntityBType": "Domain",
    }
    assert rel.to_entry()["reverseName"] == "communicated-by"
    assert EntityRelationship("x", "a", "IP", "", "IP").to_context() == {}
    with pytest.raises(ValueError, match="relationship type"):
        EntityRelationship("x", "a", "IP", "b", "IP", relationship_type="Other")
    with pytest.raises(ValueError, match="Family"):
        EntityRelationship("x", "a", "IP", "b", "IP", entity_b_family="Thing")
    with pytest.raises(ValueError, match="reliability"):
        EntityRelationship("x", "a", "IP", "b", "IP", source_reliability="bad")


def test_indicators_timeline_category_in_integration() -> None:
    with use_session(XSOARSession(kind="integration", brand="B")):
        assert IndicatorsTimeline(["x"]).indicators_timeline == [{"Value": "x", "Category": "Integration Update"}]
    assert IndicatorsTimeline(["x"], category="C").indicators_timeline[0]["Category"] == "C"
    assert IndicatorsTimeline().indicators_timeline == []


def test_enums() -> None:
    assert (EntryType.NOTE, EntryType.FILE, EntryType.ERROR, EntryType.WARNING) == (1, 3, 4, 11)
    assert (EntryFormat.TABLE, EntryFormat.JSON, EntryFormat.TEXT, EntryFormat.MARKDOWN) == (
        "table",
        "json",
        "text",
        "markdown",
    )
    assert EntryFormat.is_valid_type("html") and not EntryFormat.is_valid_type("yaml")
    assert entryTypes["error"] == 4 and entryTypes["warning"] == 11 and formats["markdown"] == "markdown"
    assert (IncidentStatus.PENDING, IncidentStatus.ACTIVE, IncidentStatus.DONE, IncidentStatus.ARCHIVE) == (0, 1, 2, 3)
    assert (IncidentSeverity.UNKNOWN, IncidentSeverity.INFO, IncidentSeverity.CRITICAL) == (0, 0.5, 4)
    assert DBotScoreType.is_valid_type("ip") and DBotScoreType.is_valid_type(DBotScoreType.CIDR)
    assert not DBotScoreType.is_valid_type("cidr")  # the platform's CIDR is a tuple: the string is not valid
    assert DBotScoreReliability.get_dbot_score_reliability_from_str("C - Fairly reliable") == DBotScoreReliability.C
    with pytest.raises(Exception, match="supported reliability"):
        DBotScoreReliability.get_dbot_score_reliability_from_str("nope")
    assert ErrorTypes.RETRY_ERROR == "RetryError" and FeedIndicatorType.IP == "IP"
    assert outputPaths["ip"] == Common.IP.CONTEXT_PATH and INDICATOR_TYPE_TO_CONTEXT_KEY["ip"] == "Address"


# ----------------------------------------------------------------------------------------------
# return_results / return_error / return_warning / return_outputs
# ----------------------------------------------------------------------------------------------


def test_return_results_variants(session: XSOARSession) -> None:
    return_results(CommandResults(readable_output="a"))
    return_results("plain")
    return_results({"Type": 1, "Contents": "d", "ContentsFormat": "text"})
    return_results([CommandResults(readable_output="b"), "c", {"Type": 1, "Contents": "e"}])
    return_results(None)
    return_results([])
    hr = [e.get("HumanReadable") or e.get("Contents") for e in session.entries()]
    assert hr == ["a", "plain", "d", "b", "c", "e"]
    # the list's plain items are sent in one demisto.results call, after the CommandResults item
    assert session.results[4] == ["c", {"Type": 1, "Contents": "e"}]
    assert session.results[5] is None and session.results[6] == []


def test_return_results_objects_with_to_entry_and_to_display(session: XSOARSession) -> None:
    class Widget:
        def to_display(self) -> str:
            return "42"

    class Mapping:
        def to_entry(self) -> dict[str, Any]:
            return {"Type": 1, "Contents": "mapped"}

    return_results(Widget())
    return_results(Mapping())
    assert [e["Contents"] for e in session.entries()] == ["42", "mapped"]


def test_return_results_drops_execution_metrics_in_scripts(session: XSOARSession) -> None:
    metrics = CommandResults(execution_metrics=[{"Type": "Successful", "APICallsCount": 1}])
    return_results(metrics)
    return_results([metrics.to_context()])
    return_results(metrics.to_context())
    assert session.entries() == []
    with use_session(XSOARSession(kind="integration", brand="B")) as integ:
        return_results(metrics)
        return_results([metrics.to_context()])
        assert [e["Type"] for e in integ.entries()] == [19, 19]


def test_is_integration_command_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_integration_command_execution() is False
    with use_session(XSOARSession(kind="integration", brand="B")):
        assert is_integration_command_execution() is True
    monkeypatch.setattr(demisto, "callingContext", {"context": {"ScriptName": "S", "ExecutedCommands": None}})
    assert is_integration_command_execution() is False
    monkeypatch.setattr(demisto, "callingContext", {})
    assert is_integration_command_execution() is True


def test_return_error_writes_type_4_and_exits_zero(session: XSOARSession) -> None:
    with pytest.raises(SystemExit) as exc:
        return_error("boom", error="raw detail", outputs={"Err": 1})
    assert exc.value.code == 0
    assert session.entries() == [{"Type": 4, "ContentsFormat": "text", "Contents": "boom", "EntryContext": {"Err": 1}}]
    assert session.context == {"Err": 1}
    assert any("raw detail" in msg for level, msg in session.logs if level == "info")


def test_return_error_with_mocked_results(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(demisto, "results", seen.append)
    with pytest.raises(SystemExit):
        return_error("x" * (csp.MAX_ERROR_MESSAGE_LENGTH + 10))
    assert "...This error body was truncated..." in seen[0]["Contents"]
    assert len(seen[0]["Contents"]) == csp.MAX_ERROR_MESSAGE_LENGTH + len("...This error body was truncated...")


def test_return_error_logs_traceback_in_except(session: XSOARSession) -> None:
    try:
        raise ValueError("inner")
    except ValueError:
        with pytest.raises(SystemExit):
            return_error("outer")
    assert session.entries()[0]["Contents"] == "outer"
    assert any("ValueError: inner" in msg for _, msg in session.logs)


def test_return_error_debug_mode_appends_traceback(monkeypatch: pytest.MonkeyPatch, session: XSOARSession) -> None:
    monkeypatch.setattr(demisto, "is_debug", True)
    try:
        raise ValueError("inner")
    except ValueError:
        with pytest.raises(SystemExit):
            return_error("outer")
    assert session.entries()[0]["Contents"].startswith("outer\n\nTraceback")


@pytest.mark.parametrize("command", ["fetch-incidents", "fetch-indicators", "long-running-execution"])
def test_return_error_raises_for_server_handled_commands(session: XSOARSession, command: str) -> None:
    session.command = command
    with pytest.raises(Exception, match="^fetch failed$"):
        return_error("fetch failed")
    assert session.entries() == []


def test_return_error_get_modified_remote_data(session: XSOARSession) -> None:
    session.command = "get-modified-remote-data"
    with pytest.raises(SystemExit):
        return_error("x", error="e")
    assert session.entries()[0]["Contents"] == "skip update. error: x"


def test_return_warning(session: XSOARSession) -> None:
    return_warning("careful", outputs={"W": 1}, ignore_auto_extract=True)
    assert session.entries() == [
        {
            "Type": 11,
            "ContentsFormat": "text",
            "IgnoreAutoExtract": True,
            "Contents": "careful",
            "EntryContext": {"W": 1},
        }
    ]
    with pytest.raises(SystemExit) as exc:
        return_warning("stop", exit=True, warning="detail")
    assert exc.value.code == 0


def test_return_outputs(session: XSOARSession) -> None:
    return_outputs("md only")
    return_outputs("md", outputs={"A": 1}, timeline={"Value": "x"})
    return_outputs("md", outputs={"A": 2}, raw_response="raw")
    first, second, third = session.entries()
    assert first["Contents"] == "md only" and first["ContentsFormat"] == "text"
    assert second["Contents"] == {"A": 1} and second["IndicatorTimeline"] == [
        {"Value": "x", "Category": "Integration Update"}
    ]
    assert third["Contents"] == "raw" and session.context == {"A": [1, 2]}


# ----------------------------------------------------------------------------------------------
# is_error / get_error / execute_command
# ----------------------------------------------------------------------------------------------

ERR = {"Type": 4, "Contents": "bad thing", "ContentsFormat": "text"}
NOTE = {"Type": 1, "Contents": {"ok": True}, "ContentsFormat": "json"}


def test_is_error_and_get_error() -> None:
    assert is_error(ERR) and not is_error(NOTE) and not is_error(None) and not is_error([])
    assert is_error([NOTE, ERR]) and not is_error([NOTE, "str"])
    assert isError is is_error
    assert get_error(ERR) == "bad thing"
    assert get_error([ERR, NOTE, {"Type": 4, "Contents": "second"}]) == "bad thing\nsecond"
    with pytest.raises(ValueError, match="has no error entry"):
        get_error([NOTE])


def test_execute_command_contents_and_errors(session: XSOARSession) -> None:
    answers = {
        "one": [NOTE],
        "two": [NOTE, {"Type": 1, "Contents": "x"}, {"Type": 16, "Contents": "dbg"}],
        "bad": [NOTE, ERR],
    }
    session.dispatcher = lambda cmd, args: answers[cmd]
    assert execute_command("one", {}) == {"ok": True}
    assert execute_command("two", {}) == [{"ok": True}, "x"]
    assert execute_command("one", {}, extract_contents=False)[0]["Contents"] == {"ok": True}
    assert execute_command("one", {}, fail_on_error=False) == (True, {"ok": True})
    ok, raw = execute_command("one", {}, extract_contents=False, fail_on_error=False)
    assert ok is True and raw[0]["Type"] == 1
    with pytest.raises(DemistoException) as exc:
        execute_command("bad", {"a": 1})
    assert str(exc.value) == "Failed to execute bad. Error details:\nbad thing"
    assert execute_command("bad", {}, fail_on_error=False) == (False, "bad thing")


def test_execute_command_with_patched_execute_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demisto, "executeCommand", lambda cmd, args: [{"Type": 1, "Contents": cmd}])
    assert execute_command("getList", {"listName": "x"}) == "getList"


def test_execute_command_refused_from_integrations() -> None:
    with use_session(XSOARSession(kind="integration", brand="B")), pytest.raises(DemistoException) as exc:
        execute_command("ip", {})
    assert str(exc.value) == "Cannot run demisto.executeCommand() from integrations."


# ----------------------------------------------------------------------------------------------
# appendContext / fileResult / integration context / versions / logger / proxy env
# ----------------------------------------------------------------------------------------------


def test_append_context_variants(session: XSOARSession) -> None:
    appendContext("S", "a")
    appendContext("S", "b")
    assert session.context["S"] == "b,a"  # the platform prepends for strings
    appendContext("D", {"x": 1})
    appendContext("D", {"x": 2})
    assert session.context["D"] == [{"x": 1}, {"x": 2}]
    appendContext("D", [{"x": 3}])
    assert session.context["D"][-1] == {"x": 3}
    appendContext("One", {"x": 1})
    appendContext("One", [{"y": 1}, {"z": 1}])
    assert session.context["One"] == [{"x": 1}, {"y": 1}, {"z": 1}]
    appendContext("L", [1, 2])
    appendContext("L", 2, dedup=True)
    assert sorted(session.context["L"]) == [1, 2]
    appendContext("N", 1)
    appendContext("N", 2)
    assert session.context["N"] == [1, 2]
    appendContext("N", None)
    assert session.context["N"] == [1, 2]
    appendContext("A.B", "x")
    assert session.context["A"] == {"B": "x"}
    with pytest.raises(TypeError):
        appendContext("D2", {"x": 1}) or appendContext("D2", 5)


def test_file_result_writes_file_and_entry(
    session: XSOARSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    entry = fileResult("report.md", "# hi")
    assert entry["Type"] == 3 and entry["File"] == "report.md" and entry["Contents"] == ""
    assert entry["ContentsFormat"] == "text"
    assert (tmp_path / f"1_{entry['FileID']}").read_bytes() == b"# hi"
    demisto.results(entry)
    assert Path(demisto.getFilePath(entry["FileID"])["path"]).read_text() == "# hi"
    info_entry = fileResult("../../x.bin", b"\x00", file_type=entryTypes["entryInfoFile"])
    assert info_entry["File"] == "x.bin" and info_entry["Type"] == 9


def test_file_result_uses_session_files_dir(session: XSOARSession, tmp_path: Path) -> None:
    session.files_dir = str(tmp_path)
    entry = fileResult("a.txt", b"data")
    assert (tmp_path / f"1_{entry['FileID']}").read_bytes() == b"data"


def test_integration_context_helpers(session: XSOARSession) -> None:
    set_integration_context({"k": 1})
    assert get_integration_context() == {"k": 1}
    assert get_integration_context(with_version=True) == {"context": {"k": 1}, "version": 1}
    assert is_versioned_context_available()


def test_integration_context_helpers_on_old_server(monkeypatch: pytest.MonkeyPatch, session: XSOARSession) -> None:
    monkeypatch.setattr(csp, "get_demisto_version", lambda: {"version": "5.5.0", "buildNumber": "1"})
    set_integration_context({"k": 2})
    assert get_integration_context() == {"k": 2} and session.integration_context_version == 1


def test_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csp, "get_demisto_version", lambda: {"version": "6.10.0", "buildNumber": "500"})
    assert is_demisto_version_ge("6.5.0") and is_demisto_version_ge("6.10.0", "400")
    assert not is_demisto_version_ge("6.10.0", "600") and not is_demisto_version_ge("8.0.0")
    assert get_demisto_version_as_str() == "6.10.0-500"
    monkeypatch.setattr(csp, "get_demisto_version", lambda: {"version": "6.10.0", "buildNumber": "dev"})
    assert is_demisto_version_ge("6.10.0", "1") is True  # dev builds are not comparable: treated as new

    def missing() -> dict[str, Any]:
        raise AttributeError("demistoVersion attribute not found.")

    monkeypatch.setattr(csp, "get_demisto_version", missing)
    assert get_demisto_version_as_str() == "Unknown" and is_demisto_version_ge("5.0.0") is False
    with pytest.raises(AttributeError):
        is_demisto_version_ge("4.5.0")


def test_get_demisto_version_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(demisto, "demistoVersion", lambda: calls.append(1) or {"version": "8.1.0"})
    getter = GetDemistoVersion()
    assert getter()["version"] == "8.1.0" and getter()["version"] == "8.1.0" and calls == [1]
    monkeypatch.delattr(demisto, "demistoVersion")
    with pytest.raises(AttributeError):
        GetDemistoVersion()()


def test_calling_context_name_helpers() -> None:
    with use_session(XSOARSession(kind="integration", brand="Gateway", instance="gw1")):
        assert (get_integration_name(), get_integration_instance_name(), get_script_name()) == ("Gateway", "gw1", "")
    with use_session(XSOARSession(script_name="AIReasoningReAct")):
        assert (get_integration_name(), get_script_name()) == ("", "AIReasoningReAct")


def test_integration_logger_masks_and_flushes(session: XSOARSession) -> None:
    logger = IntegrationLogger()
    logger.add_replace_strs("s3cret", "")
    assert logger("token=s3cret") == "token=<XX_REPLACED>"
    logger.print_log(verbose=True)
    assert ("log", "Full Integration Log:\ntoken=<XX_REPLACED>") in session.logs
    assert ("info", "Full Integration Log:\ntoken=<XX_REPLACED>") in session.logs
    logger.set_buffering(False)
    logger("direct")
    assert session.logs[-1] == ("info", "direct")
    debug_logger = IntegrationLogger(debug_logging=True)
    debug_logger("dbg")
    assert session.logs[-1] == ("debug", "dbg")
    add_sensitive_log_strs("pw123")
    assert LOG("x pw123") == "x <XX_REPLACED>"
    LOG.messages.clear()
    assert is_debug_mode() is False


def test_proxy_and_cert_env_helpers(monkeypatch: pytest.MonkeyPatch, session: XSOARSession) -> None:
    assert add_http_prefix_if_missing("proxy:8080") == "http://proxy:8080"
    assert add_http_prefix_if_missing("socks5://p") == "socks5://p" and add_http_prefix_if_missing() == ""
    monkeypatch.setenv("HTTPS_PROXY", "p:1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/x")
    session.params.update({"proxy": True, "insecure": True})
    assert handle_proxy() == {
        "http": os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy", ""),
        "https": "http://p:1",
    }
    assert "REQUESTS_CA_BUNDLE" not in os.environ
    session.params.update({"proxy": False})
    assert handle_proxy(handle_insecure=False) == {} and "HTTPS_PROXY" not in os.environ
    monkeypatch.setenv("CURL_CA_BUNDLE", "/y")
    session.params.update({"my_insecure": True})
    handle_proxy(insecure_param_name="my_insecure")
    assert "CURL_CA_BUNDLE" not in os.environ


def test_scheduled_command() -> None:
    sc = ScheduledCommand("cmd", 5, items_remaining=3)
    assert sc.to_results() == {"PollingCommand": "cmd", "NextRun": "10", "PollingItemsRemaining": 3}
    assert ScheduledCommand.supports_polling()


def test_scheduled_command_old_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csp, "get_demisto_version", lambda: {"version": "6.1.0", "buildNumber": "1"})
    with pytest.raises(DemistoException, match="6.2.0 or later"):
        ScheduledCommand("cmd", 30)


def test_demisto_exception() -> None:
    inner = ValueError("inner")
    e = DemistoException("msg", inner, res="r", error_type="E")
    assert str(e) == "msg" and e.exception is inner and e.res == "r" and e.error_type == "E"
    assert e.args == ("msg", inner, "E")


def test_star_import_exports_platform_names() -> None:
    namespace: dict[str, Any] = {}
    exec("from CommonServerPython import *", namespace)  # noqa: S102
    for name in (
        "demisto",
        "json",
        "re",
        "os",
        "sys",
        "datetime",
        "timedelta",
        "requests",
        "traceback",
        "Any",
        "Dict",
        "List",
        "Optional",
        "Union",
        "cast",
        "BaseClient",
        "CommandResults",
    ):
        assert name in namespace, name
    assert "CommonServerUserPython" in sys.modules or __import__("CommonServerUserPython") is not None


def test_signatures_match_platform() -> None:
    """Signatures from docs/xsoar-platform.md (authoritative)."""
    expected: dict[Any, list[str]] = {
        DemistoException.__init__: ["self", "message", "exception", "res", "error_type", "args"],
        BaseClient.__init__: ["self", "base_url", "verify", "proxy", "ok_codes", "headers", "auth", "timeout"],
        CommandResults.__init__: [
            "self",
            "outputs_prefix",
            "outputs_key_field",
            "outputs",
            "indicators",
            "readable_output",
            "raw_response",
            "indicators_timeline",
            "indicator",
            "ignore_auto_extract",
            "mark_as_note",
            "tags",
            "scheduled_command",
            "relationships",
            "entry_type",
            "content_format",
            "execution_metrics",
            "replace_existing",
        ],
        return_results: ["results"],
        return_error: ["message", "error", "outputs"],
        tableToMarkdown: [
            "name",
            "t",
            "headers",
            "headerTransform",
            "removeNull",
            "metadata",
            "url_keys",
            "date_fields",
            "json_transform_mapping",
            "is_auto_json_transform",
            "sort_headers",
        ],
        argToList: ["arg", "separator", "transform"],
        argToBoolean: ["value"],
        arg_to_number: ["arg", "arg_name", "required"],
        assign_params: ["keys_to_ignore", "values_to_ignore", "kwargs"],
        is_error: ["execute_command_result"],
        get_error: ["execute_command_result"],
        execute_command: ["command", "args", "extract_contents", "fail_on_error"],
        appendContext: ["key", "data", "dedup"],
        fileResult: ["filename", "data", "file_type"],
        dict_safe_get: ["dict_object", "keys", "default_return_value", "return_type", "raise_return_type"],
        ScheduledCommand.__init__: [
            "self",
            "command",
            "next_run_in_seconds",
            "args",
            "timeout_in_seconds",
            "items_remaining",
        ],
    }
    for func, params in expected.items():
        assert list(inspect.signature(func).parameters) == params, func
    http = list(inspect.signature(BaseClient._http_request).parameters)
    assert http[:17] == [
        "self",
        "method",
        "url_suffix",
        "full_url",
        "headers",
        "auth",
        "json_data",
        "params",
        "data",
        "files",
        "timeout",
        "resp_type",
        "ok_codes",
        "return_empty_response",
        "retries",
        "status_list_to_retry",
        "backoff_factor",
    ]
    defaults = inspect.signature(BaseClient._http_request).parameters
    assert defaults["resp_type"].default == "json" and defaults["backoff_factor"].default == 5
    assert inspect.signature(BaseClient.__init__).parameters["timeout"].default == 60


# ----------------------------------------------------------------------------------------------
# Remaining edges
# ----------------------------------------------------------------------------------------------


class _Ctx:
    """Any object with to_context works as an indicator sub-table item (notes, publications, ...)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def to_context(self) -> dict[str, Any]:
        return {"v": self.value}


def test_ip_indicator_optional_tables_and_relationships() -> None:
    rel = EntityRelationship("resolves-to", "1.1.1.1", "IP", "a.com", "Domain")
    ip = Common.IP(
        "1.1.1.1",
        Common.DBotScore("1.1.1.1", DBotScoreType.IP, "V", Common.DBotScore.GOOD),
        region="EU",
        port=443,
        internal=True,
        stix_id="s",
        updated_date="d",
        blocked=True,
        campaign="c",
        description="desc",
        traffic_light_protocol="AMBER",
        community_notes=[_Ctx(1)],
        publications=[_Ctx(2)],
        threat_types=[_Ctx(3)],
        whois_records=[_Ctx(4)],
        feed_related_indicators=[_Ctx(5)],
        geo_description="gd",
        organization_type="ISP",
        malware_family="m",
        organization_prevalence=0,
        organization_first_seen="f",
        last_seen_by_source="l",
        relationships=[rel],
    )
    ctx = ip.to_context()[Common.IP.CONTEXT_PATH]
    assert ctx["Region"] == "EU" and ctx["Port"] == 443 and ctx["Internal"] is True and ctx["Blocked"] is True
    assert ctx["CommunityNotes"] == [{"v": 1}] and ctx["WhoisRecords"] == [{"v": 4}]
    assert ctx["FeedRelatedIndicators"] == [{"v": 5}] and ctx["TrafficLightProtocol"] == "AMBER"
    assert ctx["Geo"] == {"Description": "gd"} and ctx["Organization"] == {"Type": "ISP"}
    assert ctx["OrganizationPrevalence"] == 0 and ctx["LastSeenBySource"] == "l" and "Malicious" not in ctx
    assert ctx["Relationships"] == [rel.to_context()]
    assert Common.Indicator.create_context_table([_Ctx(9)]) == [{"v": 9}]
    with pytest.raises(NotImplementedError):
        Common.Indicator().to_context()


def test_arg_to_list_bytes() -> None:
    assert argToList(b"a, b") == ["a", "b"]
    assert argToList(b'["x"]') == ["x"]


def test_file_result_with_plain_demisto_mock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With a demistomock that has no sessions (the content repo's), files go to the working directory."""
    import types

    monkeypatch.chdir(tmp_path)
    plain = types.SimpleNamespace(uniqueFile=lambda: "u1", investigation=lambda: {"id": "9"}, debug=print)
    monkeypatch.setattr(csp, "demisto", plain)
    assert fileResult("f.txt", "x")["FileID"] == "u1"
    assert (tmp_path / "9_u1").read_text() == "x"


def test_ssl_adapter_proxy_manager_uses_custom_context() -> None:
    adapter = csp.SSLAdapter(verify=False)
    manager = adapter.proxy_manager_for("http://proxy.local:3128")
    assert manager.connection_pool_kw["ssl_context"] is adapter.context
    assert csp.SSLAdapter().context.check_hostname is True
