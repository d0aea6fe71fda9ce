"""Reading vendor records the way the vendors really write them (shared by state, simulator and UEBA).

The scenario schema admits every documented shape; this module is where the simulator turns those shapes into
the few facts it needs, so no handler indexes a field that a real record may lack:

* CloudTrail Insights events (``eventType`` ``AwsCloudTrailInsight``) describe an unusual *rate* of calls, not
  a call: no ``userIdentity``, no top-level ``eventSource``/``eventName``. They are never a user action.
* A CloudTrail ``userIdentity`` may lack ``type`` (``AWS Internal`` service events), name the anonymous
  principal (``accountId``/``principalId`` ``ANONYMOUS_PRINCIPAL``) or carry placeholders
  (``HIDDEN_DUE_TO_SECURITY_REASONS``): none of these is a user.
* API Gateway access-log lines quote every ``$context`` variable (``"status": "403"``), write ``"-"`` for a
  value that does not apply, and name fields after the variables (``ip``, ``requestTime``, ``resourcePath``,
  ``responseLength``); :func:`api_access_view` maps them onto one view.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localsoc.soc.timeutil import parse_time

__all__ = [
    "ANONYMOUS_PRINCIPAL",
    "ApiAccess",
    "api_access_time",
    "api_access_view",
    "byte_count",
    "http_status",
    "is_anonymous",
    "is_insight",
    "is_user_action",
    "identity_user_name",
    "placeholder_free",
]

ANONYMOUS_PRINCIPAL = "ANONYMOUS_PRINCIPAL"
# Values vendors write where a field does not apply (API Gateway "-", CloudTrail's hidden user name, ...).
_PLACEHOLDERS = {"", "-", "null", "none", "n/a", "unknown", "anonymous", "anonymous_principal",
                 "hidden_due_to_security_reasons"}


def placeholder_free(value: Any) -> str | None:
    """A string field's value, or None when absent, not a string, or a vendor placeholder."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if text.lower() in _PLACEHOLDERS else text


# ---- CloudTrail ---------------------------------------------------------------------------------------


def is_insight(rec: dict[str, Any]) -> bool:
    """A CloudTrail Insights event (API call/error rate anomaly), not a recorded call."""
    return rec.get("eventType") == "AwsCloudTrailInsight" or rec.get("eventCategory") == "Insight"


def is_user_action(rec: dict[str, Any]) -> bool:
    """A record of something a principal did: a call with a name and a source (not an Insights event)."""
    return (not is_insight(rec) and isinstance(rec.get("eventName"), str) and bool(rec.get("eventName"))
            and isinstance(rec.get("eventSource"), str))


_CLOUDTRAIL_NAME_SENTINELS = {ANONYMOUS_PRINCIPAL, "HIDDEN_DUE_TO_SECURITY_REASONS"}


def identity_user_name(identity: Any) -> str | None:
    """userIdentity.userName when it names someone: not absent/empty, not a CloudTrail sentinel."""
    if not isinstance(identity, dict) or is_anonymous(identity):
        return None
    name = identity.get("userName")
    if not isinstance(name, str) or not name.strip() or name in _CLOUDTRAIL_NAME_SENTINELS:
        return None
    return name


def is_anonymous(identity: Any) -> bool:
    """An unauthenticated caller (S3 public access and the like): ``ANONYMOUS_PRINCIPAL`` in any id field."""
    if not isinstance(identity, dict):
        return False
    return any(identity.get(k) == ANONYMOUS_PRINCIPAL for k in ("accountId", "principalId", "userName", "arn"))


# ---- API gateway access logs -----------------------------------------------------------------------


def http_status(value: Any) -> int | None:
    """An HTTP status from an access-log field: 403, 403.0 or "403"; None for "-", "", null, junk."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value != int(value):
            return None
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\d{3}(\.0+)?\s*", value):
        number = int(float(value))
    else:
        return None
    return number if 100 <= number <= 599 else None


def byte_count(value: Any) -> int | None:
    """A byte count: 2048, 2048.0, "2048" or "2048.0"; None for "-", "", null, negatives, junk."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            return None
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        return int(float(value))
    return None


_API_TIME_FIELDS = ("time", "requestTimeEpoch", "requestTime")


def api_access_time(rec: dict[str, Any]) -> datetime | None:
    """The request time: ``time`` (ISO or epoch), ``requestTimeEpoch`` (ms) or ``requestTime`` (CLF)."""
    for key in _API_TIME_FIELDS:
        value = rec.get(key)
        if value not in (None, "", "-"):
            try:
                return parse_time(value)
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class ApiAccess:
    """One access-log line reduced to what the simulator reads; None where the line has no real value."""

    request_id: str | None
    when: datetime | None
    key_id: str | None
    principal: str | None
    source_ip: str | None
    method: str | None
    path: str | None
    status: int | None
    response_bytes: int | None
    user_agent: str | None

    @property
    def denied(self) -> bool:
        return self.status in (401, 403)


def api_access_view(rec: dict[str, Any]) -> ApiAccess:
    """Normalise an access-log line (local ``apiAccessRecord`` names or API Gateway ``$context`` names)."""

    def first(*keys: str) -> str | None:
        for key in keys:
            value = placeholder_free(rec.get(key))
            if value:
                return value
        return None

    size = rec.get("responseBytes")
    if byte_count(size) is None:
        size = rec.get("responseLength")
    return ApiAccess(
        request_id=first("requestId"),
        when=api_access_time(rec),
        key_id=first("keyId", "accessKey", "apiKeyId"),
        principal=first("principal", "userArn", "user", "caller"),
        source_ip=first("sourceIp", "ip"),
        method=first("httpMethod"),
        path=first("path", "resourcePath"),
        status=http_status(rec.get("status")),
        response_bytes=byte_count(size),
        user_agent=first("userAgent"),
    )
