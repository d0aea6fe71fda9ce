"""IP reputation with the IPsum feed, with a small feed file, and with no feed at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from soc_helpers import TP, one

from localsoc.soc import ReputationService, SimulatedSOC, count_to_dbot, default_feed_path, load_scenario
from localsoc.soc import reputation as rep_module

SHARED_FEED = Path(__file__).resolve().parents[3] / "shared" / "data" / "ipsum" / "ipsum.txt"


def _score(soc: SimulatedSOC, ip: str) -> int:
    return one(soc.dispatch("ip", {"ip": ip}))["EntryContext"]["DBotScore"][0]["Score"]


def test_count_to_dbot_mapping() -> None:
    assert [count_to_dbot(c) for c in (0, 1, 2, 3, 9)] == [0, 2, 2, 3, 3]
    assert count_to_dbot(0, known_good=True) == 1


def test_small_feed_file_and_lazy_loading(tmp_path: Path) -> None:
    feed = tmp_path / "ipsum.txt"
    feed.write_text("# IPsum\n#\n203.0.113.66\t1\n203.0.113.77\t2\n203.0.113.88\t4\n")
    service = ReputationService({}, feed)
    assert service._feed is None  # nothing read before the first lookup
    assert [service.lookup(ip).dbot_score for ip in ("203.0.113.66", "203.0.113.77", "203.0.113.88", "192.0.2.1")] \
        == [2, 2, 3, 0]
    assert service.lookup("203.0.113.88").source == "feed"
    assert str(feed.resolve()) in rep_module._FEED_CACHE  # parsed once per process


def test_overrides_win_over_feed(tmp_path: Path) -> None:
    feed = tmp_path / "ipsum.txt"
    feed.write_text("198.51.100.9\t5\n")
    service = ReputationService({"198.51.100.9": {"dbot_score": 1, "known_good": True}, "192.0.2.5": 2}, feed)
    assert service.lookup("198.51.100.9").dbot_score == 1
    assert service.lookup("192.0.2.5").dbot_score == 2 and service.lookup("192.0.2.5").source == "override"


def test_without_feed_scenario_overrides_still_decide(tp_soc: SimulatedSOC) -> None:
    assert tp_soc.reputation.feed_path is None
    assert _score(tp_soc, "45.148.10.240") == 3
    assert _score(tp_soc, "198.51.100.23") == 1
    assert _score(tp_soc, "80.82.77.33") == 0  # not in this scenario's overrides, no feed -> unknown


def test_env_var_selects_or_disables_feed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    feed = tmp_path / "f.txt"
    feed.write_text("192.0.2.200\t3\n")
    monkeypatch.setenv(rep_module.ENV_FEED, str(feed))
    assert default_feed_path() == feed
    soc = SimulatedSOC(load_scenario(TP))
    assert _score(soc, "192.0.2.200") == 3
    monkeypatch.setenv(rep_module.ENV_FEED, "")
    assert default_feed_path() is None


@pytest.mark.skipif(not SHARED_FEED.is_file(), reason="../shared/data/ipsum/ipsum.txt not present in this checkout")
def test_with_the_shared_ipsum_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rep_module.ENV_FEED, raising=False)
    assert default_feed_path() == SHARED_FEED
    soc = SimulatedSOC(load_scenario(TP))
    assert soc.reputation.feed_available
    assert _score(soc, "80.82.77.33") == 3  # in the feed with count 9, not in the scenario's overrides
    assert len(rep_module.load_ipsum(SHARED_FEED)) > 100_000
