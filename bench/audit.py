"""Audit benchmark: figures from one run on this machine, as ratios measured side by side.

    .venv/bin/python bench/audit.py [--events N] [--rounds R] [--receipts K] [--json]

Prints:
- raw `cryptography` Ed25519 verify/s on the very messages the entries sign (one core);
- the ledger audit (`audit.ledger.audit_ledger` over an export file: every entry's signature,
  chain, tree, every station checkpoint, the hub's cosignatures, time brackets, revocations,
  the fold of every dossier against the office's states, Biểu 06) in events/s, and its ratio to
  the raw rate (goal >= 0.85, single process). The export is what a station writes: one signed
  checkpoint per entry, so checking every checkpoint's signature is a second Ed25519 verify per
  entry; the run with `checkpoint_signatures="evidence"` (only the latest and any disagreeing
  checkpoint's signature, every checkpoint still compared with the tree) is shown beside it,
  and so is the signature rate (all signatures verified / s) of the complete audit;
- the same audit with one process per core (`workers=cores`: the entries' signatures verified
  by ranges in worker processes, the rest in the main pass), divided by cores x raw (goal >=
  0.8);
- receipt checks (`ledger.receipt.verify_receipt`, trust kit signature included) on real
  receipts of the same log, proved against hub-cosigned checkpoints: p50 and p99 (goal p99 <=
  5 ms).

The ledger is generated in memory like `bench/ledger.py` (realistic dossier lifecycles) by the
real `StationLog`, with a hub issuer, a cosigner that cosigns every 64th checkpoint and beacons
that name the latest cosigned checkpoint, then written as `commune export-ledger` would. Raw and
audit rates alternate over several rounds; each ratio quoted is the median of the per-round
ratios, so machine drift (other processes on a shared machine) cancels out as far as it can.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.ledger import AuditReport, audit_ledger
from ledger.certs import cert_public_key, issue_certificate
from ledger.checkpoint import Checkpoint, cosign, sign_checkpoint
from ledger.encoding import b64, b64url, unb64url
from ledger.keys import SigningKey
from ledger.log import StationLog, station_origin
from ledger.merkle import MemoryNodeStore
from ledger.receipt import verify_receipt
from ledger.records import sign_record, signing_bytes
from schemas.lifecycle import TransitionError, apply_event
from schemas.samples import station_open_body

OFFICE = "000.00.17.H56"
HUB = "hub.example.vn"
T0 = "2026-11-23T08:00:00+07:00"
COSIGN_EVERY = 64


def _bench_ledger() -> Any:
    # bench/ledger.py's event mix (its module name would shadow the `ledger` package)
    spec = importlib.util.spec_from_file_location(
        "bench_ledger", Path(__file__).resolve().parent / "ledger.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(n: int, path: Path) -> dict[str, Any]:
    """Write an export of a station log of `n` dossier events (plus the two opening entries);
    return its kit, the raw verify items and receipts."""
    issuer, cosigner = SigningKey.generate(), SigningKey.generate()
    station, officer = SigningKey.generate(), SigningKey.generate()
    origin = station_origin(HUB, OFFICE, 1, 0)
    issuer_cert = issue_certificate(
        issuer, issuer.public, role="issuer", name=HUB, office=None, station=None, not_before=T0
    )
    cert = issue_certificate(
        issuer, station.public, role="station", name="Xã Tân Lập", office=OFFICE, station=1,
        not_before=T0,
    )  # fmt: skip
    ocert = issue_certificate(
        station, officer.public, role="officer", name="Nguyễn Thị Hoa", office=OFFICE, station=1,
        not_before=T0,
    )  # fmt: skip
    log = StationLog(origin, f"{OFFICE}/1", station, MemoryNodeStore())
    base = {"claimed_time": T0, "beacon": None, "dossier": None}
    appended = [
        log.append(station_open_body(cert, T0), station),
        log.append({**base, "action": "officer-enrol", "data": {"cert": ocert}}, station),
    ]
    # one signed checkpoint per entry, as the station signs them
    checkpoints = [
        sign_checkpoint(Checkpoint(origin, 1, log.root(1)), station),
        log.checkpoint(),
    ]
    cosigned: list[tuple[int, int, str]] = []
    beacon: dict[str, Any] | None = None
    states: dict[str, dict[str, Any]] = {}
    receipts_at: list[int] = []
    for body in _bench_ledger().bodies(n, "lifecycle"):
        body["beacon"] = beacon
        done = log.append(body, officer)
        appended.append(done)
        checkpoints.append(log.checkpoint())
        code = body["dossier"]
        try:
            states[code] = apply_event(states.get(code), done.event)
        except TransitionError:
            if code in states:
                states[code] = {**states[code], "conflicts": states[code].get("conflicts", 0) + 1}
        if body["action"] == "receive":
            receipts_at.append(done.index)
        if log.size % COSIGN_EVERY == 0:
            when = int(datetime.fromisoformat(body["claimed_time"]).timestamp()) + 1
            note = checkpoints[-1]
            line = cosign(note, cosigner, HUB, when).line
            cosigned.append((log.size, when, note + line))
            beacon = {"origin": origin, "size": log.size, "root": b64(log.root())}
    header = {
        "type": "commune.ledger-export/v1",
        "origin": origin,
        "station": f"{OFFICE}/1",
        "station_cert": cert,
        "entries": log.size,
        "checkpoints": len(checkpoints),
        "cosigned": len(cosigned),
        "foreign": 0,
        "dossiers": len(states),
    }
    with path.open("wb") as out:
        out.write(orjson.dumps(header) + b"\n")
        for done in appended:
            out.write(done.leaf + b"\n")
        for size, when, note in cosigned:
            item = {"type": "commune.cosigned/v1", "size": size, "hub_unix": when, "note": note}
            out.write(orjson.dumps(item) + b"\n")
        for code in sorted(states):
            item = {"type": "commune.dossier-state/v1", "code": code, "state": states[code]}
            out.write(orjson.dumps(item) + b"\n")
        for note in checkpoints:
            out.write(orjson.dumps(note) + b"\n")
    kit = sign_record(
        {
            "type": "commune.trust-kit/v1",
            "issued_at": T0,
            "issuer": issuer_cert,
            "hub": {
                "name": HUB,
                "cosigner": b64url(cosigner.public),
                "cosigner_key_id": cosigner.key_id,
            },
            "stations": [cert],
            "origins": [{"origin": origin, "station": f"{OFFICE}/1", "key_id": cert["key_id"]}],
            "revocations": [],
        },
        issuer,
    )
    keys = {cert["key_id"]: cert_public_key(cert), ocert["key_id"]: cert_public_key(ocert)}
    items = [
        (
            Ed25519PublicKey.from_public_bytes(keys[d.event["officer"]]),
            unb64url(d.event["sig"]),
            signing_bytes(d.event),
        )
        for d in appended
    ]
    # receipts of intakes, each proved against the first cosigned checkpoint that covers it
    receipts = []
    for index in receipts_at:
        cover = next((c for c in cosigned if c[0] > index), None)
        if cover is None:
            continue
        size, _, note = cover
        receipts.append(
            {
                "type": "commune.receipt/v1",
                "event": appended[index].event,
                "cert": ocert,
                "station_cert": cert,
                "proof": log.proof(index, note, size),
            }
        )
    last = datetime.fromisoformat(appended[-1].event["claimed_time"])
    return {
        "kit": kit,
        "items": items,
        "receipts": receipts,
        "entries": log.size,
        "now": last + timedelta(days=1),  # the audit's time: after the log
    }


def raw_rate(items: list[tuple[Ed25519PublicKey, bytes, bytes]]) -> float:
    t = time.perf_counter()
    for pk, sig, msg in items:
        pk.verify(sig, msg)
    return len(items) / (time.perf_counter() - t)


def audit_rate(
    path: Path, kit: dict[str, Any], now: datetime, **options: Any
) -> tuple[float, AuditReport]:
    t = time.perf_counter()
    report = audit_ledger(path, kit, now=now, **options)
    elapsed = time.perf_counter() - t
    if not report.ok or report.findings:
        raise SystemExit(f"benchmark ledger did not pass the audit: {report.findings[:3]}")
    return report.entries / elapsed, report


def signatures(report: AuditReport) -> int:
    """Ed25519 verifications of a complete audit: entries, station checkpoints, and the
    station's signature and the hub's cosignature on each cosigned checkpoint."""
    return report.entries + report.checkpoint_signatures_verified + 2 * report.cosigned_verified


def receipt_latencies(receipts: list[dict[str, Any]], kit: dict[str, Any]) -> list[float]:
    out = []
    for receipt in receipts:
        t = time.perf_counter()
        verdict = verify_receipt(receipt, kit)
        out.append(time.perf_counter() - t)
        if not verdict.genuine:
            raise SystemExit(f"a benchmark receipt is not genuine: {verdict.reason}")
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--receipts", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.jsonl"
        t = time.perf_counter()
        built = build(args.events, path)
        build_s = time.perf_counter() - t
        kit, items = built["kit"], built["items"]
        raws, full, evidence, parallel, sig_ratios = [], [], [], [], []
        par_raws = []
        report = None
        for _ in range(args.rounds):
            raw = raw_rate(items)
            rate, report = audit_rate(path, kit, built["now"])
            raws.append(raw)
            full.append(rate / raw)
            sig_ratios.append(rate * signatures(report) / report.entries / raw)
            rate_e, _ = audit_rate(path, kit, built["now"], checkpoint_signatures="evidence")
            evidence.append(rate_e / raw)
            rate_p, _ = audit_rate(path, kit, built["now"], workers=cores)
            raw2 = raw_rate(items)
            par_raws.append(raw2)
            parallel.append(rate_p / (cores * (raw + raw2) / 2))
        assert report is not None
        receipts = built["receipts"][: args.receipts]
        receipt_latencies(receipts[:20], kit)  # warm up
        lat = receipt_latencies(receipts, kit)
    raw_med = statistics.median(raws)
    result = {
        "events": built["entries"],
        "build_s": round(build_s, 1),
        "cores": cores,
        "station_checkpoints": report.checkpoints,
        "cosigned_checkpoints": report.cosigned,
        "dossiers": report.dossiers_compared,
        "raw_ed25519_verify_per_s": round(raw_med),
        "audit_events_per_s": round(statistics.median(full) * raw_med),
        "ratio_audit_to_raw": round(statistics.median(full), 3),
        "ratio_per_round": [round(x, 3) for x in full],
        "signatures_per_event": round(signatures(report) / report.entries, 3),
        "ratio_signatures_to_raw": round(statistics.median(sig_ratios), 3),
        "ratio_evidence_checkpoints_to_raw": round(statistics.median(evidence), 3),
        "evidence_per_round": [round(x, 3) for x in evidence],
        "ratio_parallel_to_cores_x_raw": round(statistics.median(parallel), 3),
        "parallel_per_round": [round(x, 3) for x in parallel],
        "receipts_checked": len(lat),
        "receipt_p50_ms": round(percentile(lat, 0.5) * 1000, 2),
        "receipt_p99_ms": round(percentile(lat, 0.99) * 1000, 2),
        "goals": {"single": 0.85, "parallel": 0.8, "receipt_p99_ms": 5},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    r = result
    print(
        f"audit benchmark: {r['events']} events ({r['station_checkpoints']} station checkpoints,"
        f" {r['cosigned_checkpoints']} cosigned, {r['dossiers']} dossiers), {args.rounds} "
        f"alternating rounds, {cores} cores; built in {r['build_s']} s"
    )
    print(f"  raw Ed25519 verify (one core)              {r['raw_ed25519_verify_per_s']:>8,} /s")
    print(f"  ledger audit, one process                  {r['audit_events_per_s']:>8,} events/s")
    print(
        f"  ratio audit / raw                          {r['ratio_audit_to_raw']:>8}   "
        f"(goal >= 0.85; rounds {r['ratio_per_round']})"
    )
    print(
        f"    signatures verified per event            {r['signatures_per_event']:>8}   "
        f"(signature rate / raw {r['ratio_signatures_to_raw']})"
    )
    print(
        f"  ratio with --checkpoint-signatures evidence {r['ratio_evidence_checkpoints_to_raw']:>7}"
        f"   (rounds {r['evidence_per_round']})"
    )
    print(
        f"  ratio {cores} processes / ({cores} x raw)           "
        f"{r['ratio_parallel_to_cores_x_raw']:>8}   (goal >= 0.8; rounds {r['parallel_per_round']})"
    )
    print(
        f"  receipt check p50 {r['receipt_p50_ms']} ms, p99 {r['receipt_p99_ms']} ms over "
        f"{r['receipts_checked']} receipts   (goal p99 <= 5 ms)"
    )


if __name__ == "__main__":
    main()
