"""splunk-search: the documented subset works; anything else is an error entry naming the unsupported part."""

from __future__ import annotations

import json

import pytest
from soc_helpers import one

from localsoc.soc import SimulatedSOC, SplunkQueryError, parse_query


def _results(soc: SimulatedSOC, query: str, **args: str) -> list[dict]:
    entry = one(soc.dispatch("splunk-search", {"query": query, **args}))
    assert entry["Type"] == 1, entry["Contents"]
    assert entry["Brand"] == "SplunkPy"
    return entry["EntryContext"]["Splunk.Result"]


def test_index_and_field_terms_with_implicit_and(tp_soc: SimulatedSOC) -> None:
    rows = _results(tp_soc, 'index=cloudtrail sourceIPAddress=45.148.10.240 eventSource="iam.amazonaws.com"')
    assert [r["eventName"] for r in rows] == ["AttachUserPolicy", "CreateAccessKey", "ListAttachedUserPolicies"]
    row = rows[0]
    assert row["index"] == "cloudtrail" and row["sourcetype"] == "aws:cloudtrail"
    assert json.loads(row["_raw"])["eventName"] == "AttachUserPolicy"
    assert row["_time"] == "2026-08-20T02:15:44.000+00:00"
    assert row["requestParameters.policyArn"] == "arn:aws:iam::aws:policy/AdministratorAccess"


def test_search_prefix_explicit_and_dotted_fields_wildcards_and_head(tp_soc: SimulatedSOC) -> None:
    rows = _results(tp_soc, "search index=cloudtrail AND userIdentity.accessKeyId=AKIAXB7K2QZ4R7V9HW3M "
                            "eventName=*Secret* | head 1")
    assert [r["eventName"] for r in rows] == ["GetSecretValue"]


def test_case_insensitive_values_keywords_and_errorcode(tp_soc: SimulatedSOC) -> None:
    rows = _results(tp_soc, "index=cloudtrail errorCode=accessdenied")
    assert [r["eventName"] for r in rows] == ["ListSecrets"]
    rows = _results(tp_soc, 'index=cloudtrail "stripe-api-key"')
    assert [r["eventName"] for r in rows] == ["GetSecretValue"]


def test_nested_arrays_with_or_without_braces(fp_soc: SimulatedSOC) -> None:
    with_braces = _results(fp_soc, 'index=okta target{}.type=AppInstance')
    without = _results(fp_soc, 'index=okta target.type=AppInstance')
    assert [r["eventType"] for r in with_braces] == [r["eventType"] for r in without] == ["user.authentication.sso"]


def test_time_range_arguments_and_inline_modifiers(tp_soc: SimulatedSOC) -> None:
    # now = 2026-08-20T02:31:29Z; the two CI events are ~11 h earlier
    assert len(_results(tp_soc, "index=cloudtrail", earliest_time="-1h")) == 9
    assert len(_results(tp_soc, "index=cloudtrail", earliest_time="-24h")) == 11
    assert len(_results(tp_soc, "index=cloudtrail earliest=-24h latest=-1h")) == 2
    iso = _results(tp_soc, "index=cloudtrail", earliest_time="2026-08-20T02:20:00Z",
                   latest_time="2026-08-20T02:21:00Z")
    assert [r["eventName"] for r in iso] == ["GetSecretValue"]


def test_event_limit_and_all_indexes(api_soc: SimulatedSOC) -> None:
    assert len(_results(api_soc, "index=api_access sourceIp=80.82.77.33", earliest_time="-7d")) == 100
    assert len(_results(api_soc, "index=api_access sourceIp=80.82.77.33", earliest_time="-7d",
                        event_limit="0")) == 260
    assert len(_results(api_soc, "index=* status=429", earliest_time="-7d")) == 5


def test_update_context_false(tp_soc: SimulatedSOC) -> None:
    entry = one(tp_soc.dispatch("splunk-search", {"query": "index=cloudtrail", "update_context": "false"}))
    assert entry["EntryContext"] == {} and entry["Contents"]


@pytest.mark.parametrize(("query", "fragment"), [
    ("index=cloudtrail | stats count by eventName", "'| stats'"),
    ("index=cloudtrail eventName=A OR eventName=B", "OR"),
    ("index=cloudtrail NOT eventName=A", "NOT"),
    ("index=cloudtrail (eventName=A)", "parentheses"),
    ("index=cloudtrail eventName!=A", "'!='"),
    ("index=api_access status>400", "'>'"),
    ("| tstats count", "'| tstats'"),
    ("index=cloudtrail | head ten", "head"),
    ('index=cloudtrail "unbalanced', "unbalanced"),
    ("index=vpcflow", "index 'vpcflow'"),
    ("index=cloudtrail earliest=-1d@d", "snapping"),
])
def test_unsupported_syntax_is_an_error_entry(tp_soc: SimulatedSOC, query: str, fragment: str) -> None:
    entry = one(tp_soc.dispatch("splunk-search", {"query": query}))
    assert entry["Type"] == 4
    assert entry["Contents"].startswith("Error in 'search' command: ")
    assert fragment in entry["Contents"]


def test_parse_query_structure() -> None:
    parsed = parse_query('search index=okta eventType="user.session.start" Chicago | head 5')
    assert parsed.indexes == ["okta"] and parsed.terms == [("eventType", "user.session.start")]
    assert parsed.keywords == ["Chicago"] and parsed.head == 5
    with pytest.raises(SplunkQueryError):
        parse_query("")
