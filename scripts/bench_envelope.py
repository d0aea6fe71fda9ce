#!/usr/bin/env python3
"""Envelope benchmark: how long ``detect_injection`` takes on one investigation's tool outputs.

Workload: the tool outputs a ReAct investigation of ``tests/scenarios/api_key_abuse_scraping_tp.json`` gets
from the simulated SOC (``splunk-search index=api_access`` with every record, ``aws-cloudtrail-lookup-events``,
``ip`` for every source IP), redacted first as the engine does, plus the benign records of the envelope test
data. Each repeat starts with a cold per-string cache (one investigation = one cold pass); ``seconds`` is the
best cold pass, ``warm_seconds`` the same workload scanned again with the cache filled.

When the CyberSecEval prompt-injection set is present (``/work/shared/data/prompt-injection`` or
``--dataset``), also prints the detection rate on its ``user_input`` texts and the number of benign test
records flagged (false positives). Not a test: prints ONE JSON line.

    .venv/bin/python scripts/bench_envelope.py [--repeat 3] [--dataset PATH]
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
for _path in [str(REPO_ROOT), *sorted(glob.glob(str(REPO_ROOT / "Packs" / "ApiModules" / "Scripts" / "*ApiModule")))]:
    if _path not in sys.path:
        sys.path.append(_path)

import AIReasoningEnvelopeApiModule as envelope  # noqa: E402

from localsoc.soc import SimulatedSOC, load_scenario  # noqa: E402

SCENARIO = REPO_ROOT / "tests" / "scenarios" / "api_key_abuse_scraping_tp.json"
ENVELOPE_DIR = REPO_ROOT / "Packs" / "ApiModules" / "Scripts" / "AIReasoningEnvelopeApiModule"
BENIGN = ENVELOPE_DIR / "test_data" / "benign_records.json"
DATASET = Path("/work/shared/data/prompt-injection/cyberseceval_prompt_injection.json")


def workload() -> tuple[list[Any], int]:
    """(redacted tool outputs and benign records, number of records in them)."""
    scenario = load_scenario(SCENARIO)
    soc = SimulatedSOC(scenario, reputation_feed=False)
    records = scenario.datasets.get("api_access", [])
    ips = sorted({r["sourceIp"] for r in records if r.get("sourceIp")}
                 | {label["value"] for label in scenario.incident.get("labels", []) if label["type"] == "sourceIp"})
    calls: list[tuple[str, dict[str, Any]]] = [
        ("splunk-search", {"query": "index=api_access", "event_limit": "0"}),
        ("aws-cloudtrail-lookup-events", {}),
        *[("ip", {"ip": ip}) for ip in ips],
    ]
    outputs: list[Any] = []
    count = 0
    for command, args in calls:
        entries = soc.dispatch(command, args) or []
        outputs.append(entries)
        for entry in entries:
            contents = entry.get("Contents") if isinstance(entry, dict) else None
            count += len(contents) if isinstance(contents, list) else 1
    benign = json.loads(BENIGN.read_text(encoding="utf-8"))
    outputs += list(benign.values())
    count += sum(len(v) for v in benign.values())
    redactor = envelope.Redactor()
    return [redactor.redact(o) for o in outputs], count


def _clear_cache() -> None:
    for name in dir(envelope):
        clear = getattr(getattr(envelope, name), "cache_clear", None)
        if name.startswith("_inj_") and callable(clear):
            clear()


def _scan(outputs: list[Any]) -> float:
    start = time.perf_counter()
    for output in outputs:
        envelope.detect_injection(output)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="cold passes; the best one is reported (default 3)")
    parser.add_argument("--dataset", type=Path, default=DATASET, help="CyberSecEval prompt-injection JSON")
    args = parser.parse_args(argv)

    outputs, records = workload()
    size = sum(len(json.dumps(o, ensure_ascii=False, default=str).encode("utf-8")) for o in outputs)
    cold = []
    warm = 0.0
    for _ in range(max(1, args.repeat)):
        _clear_cache()
        cold.append(_scan(outputs))
        warm = _scan(outputs)
    seconds = min(cold)
    result: dict[str, Any] = {
        "records": records, "bytes": size, "seconds": round(seconds, 4),
        "per_mb_ms": round(seconds * 1000 / (size / 1_000_000), 1), "warm_seconds": round(warm, 4),
        "findings": sum(len(envelope.detect_injection(o)) for o in outputs),
        "python": sys.version.split()[0],
    }
    benign = json.loads(BENIGN.read_text(encoding="utf-8"))
    result["false_positives"] = sum(1 for rows in benign.values() for row in rows if envelope.detect_injection(row))
    if args.dataset.exists():
        cases = json.loads(args.dataset.read_text(encoding="utf-8"))
        hits = sum(1 for case in cases if envelope.detect_injection(case["user_input"]))
        result["detection_rate"] = round(hits / len(cases), 4)
        result["detected"] = f"{hits}/{len(cases)}"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
