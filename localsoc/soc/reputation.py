"""IP reputation from the IPsum feed plus the scenario's own overrides.

The feed (``ip<TAB>count``, ``#`` comments, ~120k lines) lives in ``../shared/data`` which a user's clone does
not have, so the feed is optional: the scenario's ``reputation`` block alone must give the same verdicts for
the IPs the scenario cares about. The feed is parsed once per process into a dict and only when the first
lookup needs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_FEED",
    "IPReputation",
    "ReputationService",
    "count_to_dbot",
    "default_feed_path",
    "load_ipsum",
]

ENV_FEED = "LOCALSOC_REPUTATION_FEED"
REPO_ROOT = Path(__file__).resolve().parents[2]
_FEED_CACHE: dict[str, dict[str, int]] = {}


def default_feed_path() -> Path | None:
    """``$LOCALSOC_REPUTATION_FEED`` (empty string disables), else ``../shared/data/ipsum/ipsum.txt``."""
    env = os.environ.get(ENV_FEED)
    if env is not None:
        return Path(env) if env.strip() else None
    candidate = REPO_ROOT.parent / "shared" / "data" / "ipsum" / "ipsum.txt"
    return candidate if candidate.is_file() else None


def load_ipsum(path: Path) -> dict[str, int]:
    """Parse an IPsum file into {ip: blocklist count}; cached per resolved path for the process."""
    key = str(Path(path).resolve())
    cached = _FEED_CACHE.get(key)
    if cached is not None:
        return cached
    table: dict[str, int] = {}
    with open(key, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line or line[0] == "#":
                continue
            ip, _, count = line.partition("\t")
            if count:
                try:
                    table[ip.strip()] = int(count)
                except ValueError:
                    continue
    _FEED_CACHE[key] = table
    return table


def count_to_dbot(count: int, known_good: bool = False) -> int:
    """Blocklist count -> DBot score: 0 -> 1 if known good else 0, 1-2 -> 2 (suspicious), >=3 -> 3 (bad)."""
    if count <= 0:
        return 1 if known_good else 0
    return 2 if count <= 2 else 3


def abuse_confidence(count: int) -> int:
    """A plausible AbuseIPDB confidence for a blocklist count, consistent with AbuseIPDB's own DBot mapping
    (score < 20 -> 1, < threshold 80 -> 2, else 3) so Contents and DBotScore never disagree."""
    if count <= 0:
        return 0
    if count == 1:
        return 25
    if count == 2:
        return 50
    return min(100, 75 + 5 * count)


@dataclass(frozen=True)
class IPReputation:
    """What the simulated reputation brands know about one IP."""

    ip: str
    count: int
    dbot_score: int
    known_good: bool
    source: str  # "override" | "feed" | "none"
    country: str | None = None
    asn: int | None = None
    as_org: str | None = None
    isp: str | None = None
    domain: str | None = None
    usage_type: str | None = None


class ReputationService:
    """Lookups over overrides first, then the feed; the feed path is resolved but not read until needed."""

    def __init__(self, overrides: dict[str, Any] | None = None, feed_path: Path | None | bool = None) -> None:
        self.overrides = dict(overrides or {})
        if feed_path is None or feed_path is True:
            self.feed_path = default_feed_path()
        elif feed_path is False:
            self.feed_path = None
        else:
            self.feed_path = Path(feed_path)
        self._feed: dict[str, int] | None = None

    @property
    def feed_available(self) -> bool:
        return self.feed_path is not None and self.feed_path.is_file()

    def _feed_table(self) -> dict[str, int]:
        if self._feed is None:
            self._feed = load_ipsum(self.feed_path) if self.feed_available else {}  # type: ignore[arg-type]
        return self._feed

    def lookup(self, ip: str) -> IPReputation:
        """Reputation of one IP; overrides win over the feed, a missing IP is unknown (DBot 0)."""
        ip = ip.strip()
        override = self.overrides.get(ip)
        if isinstance(override, int) and not isinstance(override, bool):
            return IPReputation(ip, override, count_to_dbot(override), False, "override")
        if isinstance(override, dict):
            feed_count = self._feed_table().get(ip, 0)
            count = int(override.get("count", feed_count))
            known_good = bool(override.get("known_good", False))
            score = override.get("dbot_score")
            dbot = int(score) if score is not None else count_to_dbot(count, known_good)
            return IPReputation(
                ip, count, dbot, known_good, "override",
                country=override.get("country"), asn=override.get("asn"), as_org=override.get("as_org"),
                isp=override.get("isp"), domain=override.get("domain"), usage_type=override.get("usage_type"),
            )
        count = self._feed_table().get(ip)
        if count is None:
            return IPReputation(ip, 0, 0, False, "none")
        return IPReputation(ip, count, count_to_dbot(count), False, "feed")
