"""Ledger benchmark: figures from one run on this machine, as ratios measured side by side.

    .venv/bin/python bench/ledger.py [--events N] [--rounds R] [--json]

Prints: raw `cryptography` Ed25519 verify/s on the very messages the ledger signs; whole-ledger
verification events/s (`ledger.verify.verify_ledger`: parse, canonical check, envelope, prev
chain, signer, signature, tree, checkpoint) and its ratio to the raw rate (goal >= 0.85); the
append rate (sign event + tree update + signed checkpoint, in memory); inclusion-proof and
tlog-proof sizes at n = 2**20 (goals: proof <= 32 x ceil(log2 n) bytes; tlog-proof <= 1.8 KB).
Raw and ledger rates alternate over several rounds; the ratio quoted is the median of the
per-round ratios, so machine drift cancels out. Two ledgers: realistic dossier lifecycles (the
mix a commune desk writes: intake, payments, supplements, resolve, return, rating), and intakes
only (the largest events: the worst case, since parsing and hashing cost per byte).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.certs import issue_certificate
from ledger.checkpoint import Checkpoint, sign_checkpoint
from ledger.encoding import unb64url
from ledger.keys import SigningKey
from ledger.log import StationLog, station_origin
from ledger.merkle import MemoryNodeStore, MerkleTree
from ledger.records import signing_bytes
from ledger.tlogproof import TlogProof, encode_proof
from ledger.verify import verify_ledger
from schemas.canonical import loads
from schemas.samples import dossier_lifecycle, receive_body, station_open_body

OFFICE = "000.00.17.H56"
T0 = "2026-11-23T08:00:00+07:00"
START = datetime.fromisoformat(T0)


def bodies(n: int, mix: str) -> list[dict[str, Any]]:
    """`n` event bodies: whole dossier lifecycles interleaved as a desk works ("lifecycle"),
    or intakes only ("receive": the largest events, the worst case for per-byte costs)."""
    beacon = {
        "origin": "hub.example.vn/hub",
        "size": 81234,
        "root": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    }
    if mix == "receive":
        return [receive_body(i, START + timedelta(seconds=20 * i), beacon=beacon) for i in range(n)]
    out: list[dict[str, Any]] = []
    open_lifecycles: list[list[dict[str, Any]]] = []
    i = 0
    while len(out) < n:
        # A new dossier arrives, and one event of an older open dossier moves on.
        open_lifecycles.append(dossier_lifecycle(i, START, beacon=beacon))
        i += 1
        for lifecycle in (open_lifecycles[-1], open_lifecycles[0]):
            if lifecycle:
                out.append(lifecycle.pop(0))
        open_lifecycles = [lc for lc in open_lifecycles if lc]
    for k, body in enumerate(out[:n]):  # one clock for the whole desk: strictly increasing
        t = (START + timedelta(seconds=20 * k)).isoformat()
        body["claimed_time"] = t
        if body["action"] == "receive":
            body["data"]["received_at"] = t
    return out[:n]


def build(n: int, mix: str) -> tuple[list[bytes], dict[str, Any], str, list[str], float]:
    station = SigningKey.generate()
    officer = SigningKey.generate()
    origin = station_origin("hub.example.vn", OFFICE, 1, 0)
    cert = issue_certificate(
        station,
        station.public,
        role="station",
        name="Xã Tân Lập",
        office=OFFICE,
        station=1,
        not_before=T0,
    )
    ocert = issue_certificate(
        station,
        officer.public,
        role="officer",
        name="Nguyễn Thị Hoa",
        office=OFFICE,
        station=1,
        not_before=T0,
    )
    log = StationLog(origin, f"{OFFICE}/1", station, MemoryNodeStore())
    base = {"claimed_time": T0, "beacon": None, "dossier": None}
    leaves = [
        log.append(station_open_body(cert, T0), station).leaf,
        log.append({**base, "action": "officer-enrol", "data": {"cert": ocert}}, station).leaf,
    ]
    todo = bodies(n, mix)
    t = time.perf_counter()
    for body in todo:
        leaves.append(log.append(body, officer).leaf)
        checkpoint = log.checkpoint()  # the station signs one after every append
    append_rate = n / (time.perf_counter() - t)
    return leaves, cert, origin, [checkpoint], append_rate


def raw_verify_rate(items: list[tuple[Ed25519PublicKey, bytes, bytes]]) -> float:
    t = time.perf_counter()
    for pk, sig, msg in items:
        pk.verify(sig, msg)
    return len(items) / (time.perf_counter() - t)


def ledger_verify_rate(
    leaves: list[bytes], cert: dict[str, Any], origin: str, cps: list[str], schema: bool = False
) -> float:
    t = time.perf_counter()
    report = verify_ledger(leaves, station_cert=cert, origin=origin, checkpoints=cps, schema=schema)
    elapsed = time.perf_counter() - t
    if not report.ok or report.findings:
        raise SystemExit(f"benchmark ledger did not verify: {report.findings[:3]}")
    return len(leaves) / elapsed


def proof_sizes(n: int = 2**20) -> dict[str, Any]:
    tree = MerkleTree(MemoryNodeStore())
    seed = hashlib.sha256(b"bench").digest()
    t = time.perf_counter()
    for i in range(n):
        tree.append_hash(hashlib.sha256(seed + i.to_bytes(8, "big")).digest())
    tree_rate = n / (time.perf_counter() - t)
    station = SigningKey.generate()
    origin = station_origin("hub.example.vn", OFFICE, 1, 0)
    note = sign_checkpoint(Checkpoint(origin, n, tree.root()), station)
    worst_hashes, worst_text = 0, 0
    for index in (0, n // 2 + 12345, n - 1):
        hashes = tree.inclusion_proof(index, n)
        text = encode_proof(TlogProof(index, tuple(hashes), note))
        worst_hashes = max(worst_hashes, len(hashes))
        worst_text = max(worst_text, len(text.encode()))
    bound = 32 * math.ceil(math.log2(n))
    return {
        "n": n,
        "inclusion_proof_bytes": 32 * worst_hashes,
        "proof_bound_bytes": bound,
        "tlog_proof_text_bytes": worst_text,
        "tree_append_hashes_per_s": round(tree_rate),
    }


def measure(n: int, mix: str, rounds: int) -> dict[str, Any]:
    leaves, cert, origin, cps, append_rate = build(n, mix)
    keys = {cert["key_id"]: unb64url(cert["public_key"])}
    for leaf in leaves[:2]:
        ev = loads(leaf)
        if ev["action"] == "officer-enrol":
            keys[ev["data"]["cert"]["key_id"]] = unb64url(ev["data"]["cert"]["public_key"])
    raw_items = []
    for leaf in leaves:
        ev = loads(leaf)
        raw_items.append(
            (
                Ed25519PublicKey.from_public_bytes(keys[ev["officer"]]),
                unb64url(ev["sig"]),
                signing_bytes(ev),
            )
        )
    raws, vers, ratios, schema_ratios = [], [], [], []
    for _ in range(rounds):
        r = raw_verify_rate(raw_items)
        v = ledger_verify_rate(leaves, cert, origin, cps)
        raws.append(r)
        vers.append(v)
        ratios.append(v / r)
    for _ in range(max(1, rounds // 2)):
        r = raw_verify_rate(raw_items)
        schema_ratios.append(ledger_verify_rate(leaves, cert, origin, cps, schema=True) / r)
    return {
        "events": len(leaves),
        "mean_leaf_bytes": round(sum(map(len, leaves)) / len(leaves)),
        "raw_ed25519_verify_per_s": round(statistics.median(raws)),
        "ledger_verify_events_per_s": round(statistics.median(vers)),
        "ratio_ledger_to_raw": round(statistics.median(ratios), 3),
        "ratio_per_round": [round(x, 3) for x in ratios],
        "ratio_with_schema_validation": round(statistics.median(schema_ratios), 3),
        "append_per_s": round(append_rate),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    result = {
        "lifecycle": measure(args.events, "lifecycle", args.rounds),
        "receive_only": measure(args.events, "receive", args.rounds),
        "ratio_goal": 0.85,
        **proof_sizes(),
        "tlog_proof_goal_bytes": 1800,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"ledger benchmark: {args.events} events per ledger, {args.rounds} alternating rounds "
        "(raw verify, then ledger verify, on the same messages)"
    )
    for name, label in (("lifecycle", "realistic lifecycles"), ("receive_only", "intakes only")):
        m = result[name]
        print(f"  [{label}: {m['events']} events, mean leaf {m['mean_leaf_bytes']} B]")
        print(f"    raw Ed25519 verify (cryptography)   {m['raw_ed25519_verify_per_s']:>9,} /s")
        print(
            f"    whole-ledger verification            {m['ledger_verify_events_per_s']:>9,}"
            " events/s"
        )
        print(
            f"    ratio ledger / raw                   {m['ratio_ledger_to_raw']:>9}   "
            f"(goal >= 0.85; rounds {m['ratio_per_round']})"
        )
        print(f"    ratio with schema validation on      {m['ratio_with_schema_validation']:>9}")
        print(f"    append (sign + tree + checkpoint)    {m['append_per_s']:>9,} events/s")
    print(
        f"  tree append (hash only, in memory)     {result['tree_append_hashes_per_s']:>9,}"
        " leaves/s"
    )
    print(
        f"  inclusion proof at n=2^20              {result['inclusion_proof_bytes']:>9} B"
        f"   (bound 32 x ceil(log2 n) = {result['proof_bound_bytes']} B)"
    )
    print(
        f"  tlog-proof text at n=2^20              {result['tlog_proof_text_bytes']:>9} B"
        "   (goal <= 1800 B)"
    )


if __name__ == "__main__":
    main()
