from AIReasoningArtApiModule import *  # noqa: F403, I001

# AI Reasoning engine - alert grouping layer (alert storms).
#
# A SOC in an alert storm sees the same situation over and over: one detection rule firing for the same
# user, key and attacker IP every few seconds, a campaign touching many hosts, scanners repeating themselves.
# Asking a model about each alert wastes money and time and, worse, lets the answers for identical situations
# drift apart. This module answers three questions without a model:
#
# * ``situation_key(alert)`` - which alerts describe the *same situation*? A fingerprint of the rule / alert
#   type, the normalised entity set that decides the verdict (users, access keys, attacker-side IPs) and the
#   category. Timestamps, alert ids, counters, byte sizes, free-text titles with numbers in them and victim
#   hosts are deliberately left out: they change between repetitions of one situation and do not change its
#   verdict. Two alerts whose entity sets differ in any way never share a key.
# * ``group_alerts(alerts)`` / ``AlertGrouper`` - stream alerts into ``AlertGroup`` s (representative alert,
#   member ids, count, first / last seen). Every alert id lands in exactly one group; a repeated delivery of an
#   id already seen is counted, not grouped twice.
# * ``VerdictCache`` / ``triage_groups`` - ask the (expensive) triage once per key, single-flight even under
#   threads, and fan the group's verdict out to every member so each alert is accounted for.
#
# Platform-neutral: nothing here imports demistomock or CommonServerPython, nor the reasoners - the triage
# itself is a plain callable the caller provides (the bench and the scripts pass ``run_triage``).

import ipaddress
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SITUATION_KEY_VERSION = "sk1"
# What the grouping functions accept: an XSOAR incident / flat vendor alert dict, or a normalised IncidentInput.
AlertLike = dict[str, Any] | IncidentInput

# Fields that name the detection rule / alert type, most specific first. XSOAR incidents carry it in
# CustomFields.alertname; vendor records in their own field (GuardDuty ``type``, Splunk ``search_name`` /
# ``rule_name``, CloudTrail ``eventName``, Okta ``eventType``, custom detectors ``detector``).
RULE_FIELDS: tuple[str, ...] = (
    "alertname", "alert_name", "rule", "rule_name", "rulename", "ruleName", "alert_type", "alertType",
    "detector", "search_name", "signature", "type", "eventName", "eventType",
)
CATEGORY_FIELDS: tuple[str, ...] = ("category", "alertcategory", "alert_category", "security_domain")

# Keys whose values are the *acting* (attacker-side) address in the records we ingest. Destination /
# target addresses are victims: the same attacker hitting many of them is one situation.
SOURCE_IP_KEYS = frozenset({
    "sourceipaddress", "sourceip", "src_ip", "srcip", "src", "clientip", "client_ip", "remoteip", "remote_ip",
    "remoteaddress", "callerip", "caller_ip", "actorip", "ipaddress", "ip", "ipaddressv4", "ipv4", "source_ip",
    "remoteipaddress", "src_addr",
})
# Keys naming users that the model layer's extractor does not know (XSOAR's multi-valued ``usernames`` field,
# Splunk CIM ``src_user``); their values may be lists.
EXTRA_USER_KEYS = frozenset({"usernames", "user_names", "users", "src_user", "srcuser", "source_user"})
DEST_KEY_RE = re.compile(r"dest|dst|target|victim|server|local", re.IGNORECASE)
_DIGITS_RE = re.compile(r"\d+")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Situation:
    """The parts a situation key is made of (kept so people can see *why* two alerts were merged)."""

    rule: str
    category: str
    users: tuple[str, ...]
    keys: tuple[str, ...]
    ips: tuple[str, ...]
    hosts: tuple[str, ...] = ()

    def key(self) -> str:
        """Stable text key: version + sha256 digest of the canonical parts (short, safe in context paths)."""
        parts = {"rule": self.rule, "category": self.category, "users": list(self.users), "keys": list(self.keys),
                 "ips": list(self.ips)}
        if self.hosts:
            parts["hosts"] = list(self.hosts)
        return f"{SITUATION_KEY_VERSION}:{digest(parts).split(':', 1)[-1][:32]}"

    def describe(self) -> str:
        """One human line, for war-room notes and bench output."""
        ents = ", ".join(f"{k}={','.join(v)}" for k, v in (("users", self.users), ("keys", self.keys),
                                                            ("ips", self.ips), ("hosts", self.hosts)) if v)
        return f"{self.rule or '(no rule)'} [{self.category or '-'}] {ents or '(no entities)'}"


def _norm_text(value: Any) -> str:
    return _SPACE_RE.sub(" ", str(value or "")).strip().lower()


def _norm_user(value: str) -> str:
    """``CORP\\Alice`` / ``alice`` / ``Alice`` are one user; ARNs name the user by their last segment."""
    text = str(value).strip()
    if ":user/" in text:
        text = text.rsplit("/", 1)[-1]
    if "\\" in text:
        text = text.rsplit("\\", 1)[-1]
    return text.lower()


def _norm_ip(value: str) -> str | None:
    try:
        return ipaddress.ip_address(str(value).strip()).compressed
    except ValueError:
        return None


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _views(alert: AlertLike) -> tuple[list[dict[str, Any]], str, str]:
    """(records to read fields from, most specific first; incident type; incident name)."""
    if isinstance(alert, IncidentInput):
        labels = {str(lab.get("type", "")): lab.get("value") for lab in alert.labels}
        return [alert.custom_fields, _as_dict(alert.raw_alert), labels], alert.type, alert.name
    if not isinstance(alert, dict):
        raise TypeError(f"an alert is a dict or an IncidentInput, not {type(alert).__name__}")
    if any(k in alert for k in ("rawJSON", "CustomFields", "customFields", "labels")):
        custom = alert.get("CustomFields") or alert.get("customFields") or {}
        labels_list = alert.get("labels") if isinstance(alert.get("labels"), list) else []
        labels = {str(lab.get("type", "")): lab.get("value") for lab in labels_list if isinstance(lab, dict)}
        return ([custom if isinstance(custom, dict) else {}, _as_dict(alert.get("rawJSON")), labels],
                str(alert.get("type") or ""), str(alert.get("name") or ""))
    return [alert], "", str(alert.get("name") or alert.get("title") or "")


def _first_field(records: list[dict[str, Any]], names: tuple[str, ...]) -> str:
    for name in names:
        for record in records:
            value = record.get(name)
            if isinstance(value, (str, int)) and str(value).strip():
                return str(value)
    return ""


def _source_ips(value: Any, found: list[str], key: str = "", depth: int = 0, dest: bool = False) -> None:
    """IPs under source-side keys anywhere in a record (not under a destination / target parent)."""
    if depth > 20:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _source_ips(v, found, str(k), depth + 1, dest or bool(DEST_KEY_RE.search(str(k))))
    elif isinstance(value, list):
        for item in value:
            _source_ips(item, found, key, depth + 1, dest)
    elif isinstance(value, str) and not dest:
        norm_key = key.lower().replace("-", "").replace(" ", "")
        if norm_key in SOURCE_IP_KEYS or norm_key.endswith("sourceipaddress"):
            ip = _norm_ip(value)
            if ip and ip not in found:
                found.append(ip)


def situation_of(alert: AlertLike, *, include_hosts: bool = False) -> Situation:
    """The normalised parts of an alert's situation (see the module comment for what is left out and why).

    rule: the first rule/alert-type field found (custom fields, then the raw vendor record, then labels);
    without one, the alert name with its entities and digits blanked out, so "... 45.1.2.3 x 12" and
    "... 45.1.2.3 x 13" agree. category: the incident type (XSOAR's classification), else an explicit
    category field of a flat alert. users / keys / ips: sorted, deduplicated, normalised (users lower-case
    without domain, keys upper-case, IPs compressed); ips are attacker-side only (source keys), falling back
    to every IP in the alert when no source key names one. Hosts (victim assets)
    join the key only when ``include_hosts`` is set.
    """
    records, incident_type, name = _views(alert)
    entities = Entities()
    for record in records:
        entities = extract_entities(record, entities)
        for key, value in record.items():
            if str(key).lower() in EXTRA_USER_KEYS:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and item.strip().lower() not in NOT_A_USER and len(item) <= 128:
                        entities.add("users", item)
    users = sorted({_norm_user(u) for u in entities.users if _norm_user(u)})
    keys = sorted({k.strip().upper() for k in entities.access_keys if k.strip()})
    ips: list[str] = []
    for record in records:
        _source_ips(record, ips)
    if not ips:
        ips = [ip for ip in (_norm_ip(v) for v in entities.ips) if ip]
    rule = _norm_text(_first_field(records, RULE_FIELDS))
    if not rule:
        blanked = name
        for value in [*entities.users, *entities.access_keys, *entities.ips, *entities.hosts]:
            blanked = blanked.replace(value, "")
        rule = _norm_text(_DIGITS_RE.sub("#", blanked))
    category = _norm_text(incident_type or _first_field(records, CATEGORY_FIELDS))
    hosts = tuple(sorted({h.strip().lower() for h in entities.hosts if h.strip()})) if include_hosts else ()
    return Situation(rule=rule, category=category, users=tuple(users), keys=tuple(keys),
                     ips=tuple(sorted(set(ips))), hosts=hosts)


def situation_key(alert: AlertLike, *, include_hosts: bool = False) -> str:
    """Fingerprint of the distinct situation an alert describes (equal keys <=> same verdict expected).

    Deterministic across processes and Python versions (sha256 of canonical JSON, not ``hash()``).
    """
    return situation_of(alert, include_hosts=include_hosts).key()


# --------------------------------------------------------------------------------------------
# Grouping
# --------------------------------------------------------------------------------------------

ID_FIELDS: tuple[str, ...] = ("id", "alert_id", "alertId", "event_id", "eventID", "finding_id", "uuid")
TIME_FIELDS: tuple[str, ...] = ("occurred", "timestamp", "time", "_time", "eventTime", "published", "created",
                                "created_at", "@timestamp")


def alert_id(alert: AlertLike) -> str:
    """The alert's own id; without one, a digest of its content (so a redelivered copy gets the same id)."""
    if isinstance(alert, IncidentInput):
        return alert.id or f"anon-{digest(alert.model_dump(mode='json'))[:20]}"
    for name in ID_FIELDS:
        value = alert.get(name)
        if isinstance(value, (str, int)) and str(value).strip():
            return str(value)
    return f"anon-{digest(alert)[:20]}"


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(float(value) / (1000 if value > 1e11 else 1), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def alert_time(alert: AlertLike) -> datetime | None:
    if isinstance(alert, IncidentInput):
        return _parse_time(alert.occurred)
    for name in TIME_FIELDS:
        if name in alert:
            parsed = _parse_time(alert.get(name))
            if parsed is not None:
                return parsed
    return None


def _severity(alert: AlertLike) -> float:
    value = alert.severity if isinstance(alert, IncidentInput) else alert.get("severity")
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


@dataclass
class AlertGroup:
    """All alerts of one situation. The representative is what triage looks at (the first alert seen,
    replaced by a later member only when that one is more severe - a burst that escalates is triaged at its
    worst)."""

    key: str
    situation: Situation
    representative: Any
    member_ids: list[str] = field(default_factory=list)
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    max_severity: float = 0.0
    duplicates: int = 0  # deliveries of an id already in this group

    @property
    def representative_id(self) -> str:
        return alert_id(self.representative)

    def summary(self) -> dict[str, Any]:
        return {"key": self.key, "situation": self.situation.describe(), "representative_id": self.representative_id,
                "count": self.count, "members": len(self.member_ids), "duplicates": self.duplicates,
                "first_seen": self.first_seen.isoformat() if self.first_seen else None,
                "last_seen": self.last_seen.isoformat() if self.last_seen else None,
                "max_severity": self.max_severity}


class AlertGrouper:
    """Streaming grouper: feed alerts one at a time (memory is one group per situation plus one id each)."""

    def __init__(self, *, include_hosts: bool = False) -> None:
        self.include_hosts = include_hosts
        self._groups: dict[str, AlertGroup] = {}
        self._index: dict[str, str] = {}  # alert id -> group key
        self.received = 0

    def add(self, alert: AlertLike) -> tuple[AlertGroup, bool]:
        """Place one alert; returns (its group, True when this alert opened a new situation)."""
        self.received += 1
        ident = alert_id(alert)
        known = self._index.get(ident)
        if known is not None:  # redelivery of an alert already placed: account for it once
            group = self._groups[known]
            group.duplicates += 1
            return group, False
        situation = situation_of(alert, include_hosts=self.include_hosts)
        key = situation.key()
        when = alert_time(alert)
        severity = _severity(alert)
        group = self._groups.get(key)
        opened = group is None
        if group is None:
            group = AlertGroup(key=key, situation=situation, representative=alert, max_severity=severity)
            self._groups[key] = group
        elif severity > group.max_severity:
            group.representative = alert
            group.max_severity = severity
        group.member_ids.append(ident)
        group.count += 1
        if when is not None:
            group.first_seen = when if group.first_seen is None or when < group.first_seen else group.first_seen
            group.last_seen = when if group.last_seen is None or when > group.last_seen else group.last_seen
        self._index[ident] = key
        return group, opened

    def extend(self, alerts: Iterable[AlertLike]) -> "AlertGrouper":
        for alert in alerts:
            self.add(alert)
        return self

    def groups(self) -> list[AlertGroup]:
        """Groups in the order their situation first appeared."""
        return list(self._groups.values())

    def group_of(self, ident: str) -> AlertGroup | None:
        key = self._index.get(ident)
        return self._groups.get(key) if key is not None else None

    @property
    def alert_ids(self) -> int:
        return len(self._index)

    def __len__(self) -> int:
        return len(self._groups)


def group_alerts(alerts: Iterable[AlertLike], *, include_hosts: bool = False) -> list[AlertGroup]:
    """Group alerts by situation (first-appearance order). Accepts any iterable, including generators."""
    return AlertGrouper(include_hosts=include_hosts).extend(alerts).groups()


# --------------------------------------------------------------------------------------------
# Verdict cache and fan-out
# --------------------------------------------------------------------------------------------


def verdict_summary(deliverable: Any) -> dict[str, Any]:
    """The part of a Deliverable that can be reused for another alert of the same situation.

    Accepts a Deliverable or its dict dump. Evidence and trace stay with the representative's run (they
    name its ids); the summary carries the run id so every member can point at it.
    """
    data = deliverable.model_dump(mode="json") if hasattr(deliverable, "model_dump") else dict(deliverable or {})
    assessment = data.get("assessment") or {}
    auto_close = data.get("auto_close") or {}
    identity = data.get("identity") or {}
    return {
        "run_id": data.get("run_id", ""),
        "status": data.get("status", ""),
        "verdict": assessment.get("verdict", "inconclusive"),
        "threat_level": assessment.get("threat_level", "none"),
        "confidence": assessment.get("confidence", 0.0),
        "summary": assessment.get("summary", ""),
        "attack_ids": list(assessment.get("attack_ids") or []),
        "affected_accounts": list(assessment.get("affected_accounts") or []),
        "affected_keys": list(assessment.get("affected_keys") or []),
        "affected_ips": list(assessment.get("affected_ips") or []),
        "auto_close": bool(auto_close.get("allowed")) if isinstance(auto_close, dict) else False,
        "auto_close_reason": auto_close.get("reason", "") if isinstance(auto_close, dict) else "",
        "recommended_actions": [r.get("action") for r in data.get("recommendations") or [] if isinstance(r, dict)],
        "reasoner": identity.get("reasoner", ""),
        "deterministic": bool(identity.get("deterministic")),
    }


@dataclass
class CachedVerdict:
    key: str
    summary: dict[str, Any]
    stored_at: float
    hits: int = 0


class VerdictCache:
    """situation key -> verdict summary; ``get_or_compute`` runs the computation at most once per key.

    Single-flight: a second thread asking for a key being computed waits for the first result instead of
    asking the model again. ``max_age_seconds`` (optional, with a monotonic ``clock``) lets a long-running
    storm re-ask about a situation whose verdict is old; a failed computation is not cached.
    """

    def __init__(self, *, max_age_seconds: float | None = None, clock: Callable[[], float] | None = None) -> None:
        self.max_age_seconds = max_age_seconds
        self.clock = clock or time.monotonic
        self._entries: dict[str, CachedVerdict] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.computations = 0

    def _fresh(self, entry: CachedVerdict | None) -> bool:
        if entry is None:
            return False
        return self.max_age_seconds is None or self.clock() - entry.stored_at <= self.max_age_seconds

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._entries.get(key)
        return entry.summary if self._fresh(entry) else None

    def put(self, key: str, value: Any) -> dict[str, Any]:
        summary = value if isinstance(value, dict) and "verdict" in value and "assessment" not in value \
            else verdict_summary(value)
        self._entries[key] = CachedVerdict(key=key, summary=summary, stored_at=self.clock())
        return summary

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> tuple[dict[str, Any], bool]:
        """(summary, computed_now). ``compute`` returns a Deliverable, its dict, or a summary dict."""
        with self._guard:
            entry = self._entries.get(key)
            if self._fresh(entry):
                entry.hits += 1  # type: ignore[union-attr]
                self.hits += 1
                return entry.summary, False  # type: ignore[union-attr]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                entry = self._entries.get(key)
                if self._fresh(entry):  # another thread computed it while we waited
                    entry.hits += 1  # type: ignore[union-attr]
                    self.hits += 1
                    return entry.summary, False  # type: ignore[union-attr]
                self.misses += 1
                self.computations += 1
            value = compute()
            with self._guard:
                return self.put(key, value), True

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class AlertVerdict:
    """One alert's verdict, and where it came from (its own triage, or its group's representative)."""

    alert_id: str
    key: str
    verdict: str
    threat_level: str
    auto_close: bool
    run_id: str
    representative_id: str
    fanned_out: bool


@dataclass
class BatchResult:
    groups: list[AlertGroup]
    verdicts: dict[str, AlertVerdict]
    triage_calls: int
    cache_hits: int
    received: int

    @property
    def alerts_covered(self) -> int:
        return len(self.verdicts)

    def by_verdict(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for v in self.verdicts.values():
            counts[v.verdict] = counts.get(v.verdict, 0) + 1
        return dict(sorted(counts.items()))


def fan_out(group: AlertGroup, summary: dict[str, Any]) -> Iterator[AlertVerdict]:
    """The group's verdict for each member (the representative is marked as not fanned out)."""
    rep = group.representative_id
    for ident in group.member_ids:
        yield AlertVerdict(alert_id=ident, key=group.key, verdict=str(summary.get("verdict", "inconclusive")),
                           threat_level=str(summary.get("threat_level", "none")),
                           auto_close=bool(summary.get("auto_close")), run_id=str(summary.get("run_id", "")),
                           representative_id=rep, fanned_out=ident != rep)


def triage_groups(alerts: Iterable[AlertLike], triage: Callable[[Any], Any], *,
                  cache: VerdictCache | None = None, include_hosts: bool = False) -> BatchResult:
    """Group, triage each distinct situation once (through the cache), fan verdicts out to every alert.

    ``triage(representative_alert)`` returns a Deliverable (or its dict). Grouping completes before triage
    so the representative is the most severe member of its group; for a live stream, use ``AlertGrouper`` and
    ``VerdictCache.get_or_compute`` directly as alerts arrive.
    """
    cache = cache if cache is not None else VerdictCache()
    grouper = AlertGrouper(include_hosts=include_hosts).extend(alerts)
    verdicts: dict[str, AlertVerdict] = {}
    calls_before, hits_before = cache.computations, cache.hits
    for group in grouper.groups():
        summary, _ = cache.get_or_compute(group.key, lambda g=group: triage(g.representative))
        for verdict in fan_out(group, summary):
            verdicts[verdict.alert_id] = verdict
    return BatchResult(groups=grouper.groups(), verdicts=verdicts, triage_calls=cache.computations - calls_before,
                       cache_hits=cache.hits - hits_before, received=grouper.received)
