"""Time parsing shared by the simulated integrations.

Vendors disagree on time formats (CloudTrail ``2024-05-14T02:13:07Z``, Okta ``...07.123Z``, the AWS
integrations' ``%Y-%m-%dT%H:%M:%S`` arguments, Splunk's relative ``-24h``), so every simulated command goes
through these helpers and compares tz-aware UTC datetimes only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = [
    "Clock",
    "FixedClock",
    "aws_time",
    "iso_z",
    "parse_relative_or_absolute",
    "parse_time",
    "splunk_time",
]


class Clock(Protocol):
    """Same shape as the engine's Clock: the simulator only needs ``now()``."""

    def now(self) -> datetime: ...


class FixedClock:
    """A clock frozen at the scenario's 'now', so runs are reproducible."""

    def __init__(self, now: datetime) -> None:
        self._now = now.astimezone(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        self._mono += 0.001
        return self._mono

    def advance(self, seconds: float) -> None:
        """Let a test move time forward (e.g. SLA expiry) without sleeping."""
        self._now += timedelta(seconds=seconds)


_RELATIVE = re.compile(r"^([+-])(\d+)\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|"
                       r"d|day|days|w|week|weeks|mon|month|months|y|year|years)$")
_UNIT_SECONDS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
    "mon": 2592000, "month": 2592000, "months": 2592000,
    "y": 31536000, "year": 31536000, "years": 31536000,
}


_CLF = re.compile(r"^\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$")


def parse_time(value: str | int | float | datetime) -> datetime:
    """Parse an absolute time (ISO 8601 with or without zone, epoch seconds or milliseconds, or the Common Log
    Format time API Gateway writes as ``$context.requestTime``) into aware UTC.

    A naive time is UTC: the AWS integrations' ``startTime`` format (``%Y-%m-%dT%H:%M:%S``) has no zone and
    the AWS APIs read it as UTC.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError(f"cannot parse time {value!r}: a boolean is not a time")
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"\d{9,13}(\.\d+)?", value)):
        return _from_epoch(value)
    text = str(value).strip()
    if _CLF.match(text):  # API Gateway $context.requestTime: 14/May/2024:02:10:05 +0000
        try:
            return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC)
        except ValueError as exc:
            raise ValueError(f"cannot parse time {value!r}: {exc}") from exc
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    text = text.replace(" ", "T", 1) if re.match(r"^\d{4}-\d{2}-\d{2} \d", text) else text
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"cannot parse time {value!r}: expected ISO 8601 (e.g. 2024-05-14T02:13:07Z)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Epoch numbers at or above this are milliseconds (API Gateway's requestTimeEpoch, CloudWatch, many JSON logs):
# 1e11 seconds is the year 5138, 1e11 milliseconds is March 1973.
_EPOCH_MILLIS_FROM = 1e11


def _from_epoch(value: str | int | float) -> datetime:
    """Epoch seconds or milliseconds -> aware UTC; anything out of range is a ValueError, never OverflowError."""
    try:
        seconds = float(value)
        if abs(seconds) >= _EPOCH_MILLIS_FROM:
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"cannot parse time {value!r}: not a representable epoch time ({exc})") from exc


def parse_relative_or_absolute(value: str, now: datetime) -> datetime:
    """Parse Splunk-style time: ``now``, ``-24h``, ``-7d``, ``+30m``, or an absolute time.

    Snapping (``-1d@d``) is not part of the documented subset and raises ValueError naming it.
    """
    text = str(value).strip()
    if text.lower() == "now" or text == "":
        return now
    if "@" in text:
        raise ValueError(f"time snapping ('{text}') is not supported; use -<n><unit> or an ISO time")
    match = _RELATIVE.match(text)
    if match:
        sign, amount, unit = match.groups()
        delta = timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])
        return now - delta if sign == "-" else now + delta
    return parse_time(text)


def iso_z(moment: datetime, millis: bool = False) -> str:
    """UTC ISO text with a Z suffix (CloudTrail without millis, Okta with)."""
    moment = moment.astimezone(UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def aws_time(moment: datetime) -> str:
    """The AWS integrations' context date format (``datetime.strftime(x, '%Y-%m-%dT%H:%M:%S')``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def splunk_time(moment: datetime) -> str:
    """Splunk's ``_time`` rendering in results (``2020-03-28T23:21:43.000-07:00``), in UTC."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"
