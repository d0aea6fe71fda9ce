"""An integration the scenario disables behaves like one that is not enabled on a tenant."""

from __future__ import annotations

from soc_helpers import TP, make_soc


def test_disabled_brand_commands_are_unavailable() -> None:
    soc = make_soc(TP, disabled_integrations=["Okta v2", "AbuseIPDB"])
    assert not soc.is_available("okta-get-user")
    assert soc.dispatch("okta-get-user", {"username": "m.okafor@example.com"}) is None
    assert soc.dispatch("ip", {"ip": "45.148.10.240"}) is None  # no reputation brand left -> unsupported
    assert soc.is_available("aws-iam-get-user")
    assert soc.dispatch("aws-iam-get-user", {"userName": "ci-deploy"}) is not None
    assert "Okta v2" not in soc.enabled_brands
    assert "okta-suspend-user" not in soc.available_commands()


def test_all_enabled_by_default(tp_soc) -> None:  # type: ignore[no-untyped-def]
    assert tp_soc.is_available("ip") and tp_soc.is_available("splunk-search")
    assert not tp_soc.is_available("not-a-command")
