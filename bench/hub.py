"""Hub benchmark: figures from one run, side by side on this machine.

    .venv/bin/python bench/hub.py [--entries N] [--stations S] [--backend sqlite|postgresql|both]

Prints, per storage backend:
1. hub ingest entries/s over real HTTP (a `sync-server serve` process on loopback, zstd bodies,
   full verification on) divided by raw Ed25519 verify/s measured in this process on the same
   messages (goal >= 0.6 on SQLite);
2. bytes on the wire per entry for a realistic office day (~35 events), as the agent sends it
   (chunks of 16, then 32: compressed body, and body + request headers);
3. S simulated stations (default 3,321, the communes of Vietnam) each pushing a day's backlog
   (~30 entries) at once: all accepted?, total time, p50/p99 request latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))

import httpx
import orjson
import zstandard

from ledger.certs import issue_certificate
from ledger.encoding import b64url
from ledger.httpsig import sign_request
from ledger.keys import SigningKey
from ledger.log import StationLog, station_origin
from ledger.merkle import MemoryNodeStore
from ledger.records import signing_bytes
from ledger.verify import _decode_sig  # the verifier's own strict decoder
from schemas.samples import station_open_body
from sync_server.hub import Hub
from sync_server.storage import open_storage

T0 = "2026-11-23T08:00:00+07:00"
HUB = "hub.bench"


def _ledger_bench() -> Any:
    # bench/ledger.py's realistic event mix; loaded by path, since `ledger` is also our package.
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_ledger", ROOT / "bench" / "ledger.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bodies = _ledger_bench().bodies


class BenchStation:
    def __init__(
        self,
        office: str,
        n: int,
        mix: str = "lifecycle",
        cuts: tuple[int, ...] = (),
        *,
        work: list[dict[str, Any]] | None = None,
        hub: str = HUB,
        t0: str = T0,
    ):
        """`n` event bodies of `mix` (or the given `work`) signed into a log of `hub`."""
        self.office = office
        self.key = SigningKey.generate()
        officer = SigningKey.generate()
        self.origin = station_origin(hub, office, 1, 0)
        cert = issue_certificate(
            self.key,
            self.key.public,
            role="station",
            name=f"Xã {office}",
            office=office,
            station=1,
            not_before=t0,
        )
        ocert = issue_certificate(
            self.key,
            officer.public,
            role="officer",
            name="Cán bộ",
            office=office,
            station=1,
            not_before=t0,
        )
        log = StationLog(self.origin, f"{office}/1", self.key, MemoryNodeStore())
        base = {"claimed_time": t0, "beacon": None, "dossier": None}
        self.leaves = [
            log.append(
                station_open_body(cert, t0, office={"code": office, "name": f"Xã {office}"}),
                self.key,
            ).leaf,
            log.append({**base, "action": "officer-enrol", "data": {"cert": ocert}}, self.key).leaf,
        ]
        self.checkpoints: dict[int, str] = {}
        marks = set(cuts)
        for body in bodies(n, mix) if work is None else work:
            a = log.append(_unique(body, office), officer)
            self.leaves.append(a.leaf)
            if log.size in marks:
                self.checkpoints[log.size] = log.checkpoint()
        self.checkpoints[log.size] = log.checkpoint()
        self.events = [orjson.loads(leaf) for leaf in self.leaves]

    @property
    def sid(self) -> str:
        return f"{self.office}-1"

    def body(self, start: int, end: int, level: int = 3) -> bytes:
        batch = {
            "type": "commune.batch/v1",
            "station": f"{self.office}/1",
            "origin": self.origin,
            "from": start,
            "to": end,
            "entries": self.events[start:end],
            "checkpoint": self.checkpoints[end],
        }
        return zstandard.ZstdCompressor(level=level).compress(orjson.dumps(batch))

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        h = sign_request(
            self.key,
            method=method,
            path=path,
            body=body,
            keyid=self.key.key_id,
            nonce=b64url(os.urandom(12)),
        )
        return {**h, "Content-Type": "application/json", "Content-Encoding": "zstd"}


def _unique(body: dict[str, Any], office: str) -> dict[str, Any]:
    # Dossier codes carry the office: several bench stations must not share codes at the hub.
    if body.get("dossier"):
        body = {**body, "dossier": body["dossier"].replace("000.00.17.H56", office)}
    return body


def raw_rate(st: BenchStation) -> float:
    """Raw `cryptography` verify rate on the very messages this station's officer signed."""
    from ledger.encoding import unb64url
    from ledger.keys import verifier_for

    officer_cert = st.events[1]["data"]["cert"]
    pk = verifier_for(unb64url(officer_cert["public_key"], 32))
    items = [(_decode_sig(ev["sig"]), signing_bytes(ev)) for ev in st.events[2:]]
    t = time.perf_counter()
    for sig, msg in items:
        pk.verify(sig, msg)
    return len(items) / (time.perf_counter() - t)


def start_hub(db: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "sync-server"),
            "--db",
            db,
            "--name",
            HUB,
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("hub did not start")


def enrol(client: httpx.Client, hub: Hub, st: BenchStation) -> None:
    token = hub.add_office(st.office, f"Xã {st.office}")["token"]
    body = orjson.dumps(
        {
            "token": token,
            "office": st.office,
            "station": 1,
            "origin": st.origin,
            "public_key": b64url(st.key.public),
        }
    )
    h = st.headers("POST", "/v1/enrol", body)
    del h["Content-Encoding"]
    r = client.post("/v1/enrol", content=body, headers=h)
    if r.status_code != 201:
        raise SystemExit(f"enrol failed: {r.text}")


def ingest(url: str, hub: Hub, n: int, chunk: int) -> dict[str, Any]:
    cuts = tuple(range(chunk, n + 2, chunk))
    st = BenchStation("H56.900", n, cuts=cuts)
    raw = [raw_rate(st) for _ in range(2)]
    with httpx.Client(base_url=url, timeout=120) as client:
        enrol(client, hub, st)
        ends = [*sorted(k for k in st.checkpoints if k > 0)]
        bodies_ = []
        start = 0
        for end in ends:
            bodies_.append((start, end, st.body(start, end)))
            start = end
        path = f"/v1/stations/{st.sid}/entries"
        t = time.perf_counter()
        for _, end, body in bodies_:
            r = client.post(path, content=body, headers=st.headers("POST", path, body))
            if r.status_code != 200 or r.json()["accepted"] != end:
                raise SystemExit(f"push refused: {r.text[:300]}")
        elapsed = time.perf_counter() - t
    raw.append(raw_rate(st))
    rate = len(st.leaves) / elapsed
    raw_med = statistics.median(raw)
    return {
        "entries": len(st.leaves),
        "chunk": chunk,
        "ingest_per_s": rate,
        "raw_verify_per_s": raw_med,
        "ratio": rate / raw_med,
    }


def wire_bytes(url: str, hub: Hub) -> dict[str, Any]:
    st = BenchStation("H56.901", 33, cuts=(16,))  # 35 entries: a busy commune's day
    with httpx.Client(base_url=url, timeout=60) as client:
        enrol(client, hub, st)
        path = f"/v1/stations/{st.sid}/entries"
        body_total = header_total = 0
        for start, end in ((0, 16), (16, len(st.leaves))):
            body = st.body(start, end, level=19)
            headers = st.headers("POST", path, body)
            req = client.build_request("POST", path, content=body, headers=headers)
            head = (
                f"POST {path} HTTP/1.1\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in req.headers.items())
                + "\r\n"
            )
            r = client.send(req)
            assert r.status_code == 200, r.text
            body_total += len(body)
            header_total += len(head.encode())
    n = len(st.leaves)
    raw_json = sum(len(leaf) for leaf in st.leaves)
    return {
        "entries": n,
        "json_per_entry": raw_json / n,
        "body_per_entry": body_total / n,
        "with_headers_per_entry": (body_total + header_total) / n,
    }


async def _push_all(url: str, stations: list[BenchStation], concurrency: int) -> list[float]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def one(st: BenchStation) -> None:
            body = st.body(0, len(st.leaves))
            path = f"/v1/stations/{st.sid}/entries"
            async with sem:
                t = time.perf_counter()
                r = await client.post(path, content=body, headers=st.headers("POST", path, body))
                latencies.append(time.perf_counter() - t)
            if r.status_code != 200 or r.json()["accepted"] != len(st.leaves):
                raise SystemExit(f"{st.sid} refused: {r.status_code} {r.text[:200]}")

        await asyncio.gather(*(one(s) for s in stations))
    return latencies


def province(url: str, hub: Hub, count: int, concurrency: int) -> dict[str, Any]:
    t = time.perf_counter()
    stations = [BenchStation(f"P{i:05d}.H56", 28) for i in range(count)]
    build = time.perf_counter() - t
    with httpx.Client(base_url=url, timeout=60) as client:
        for st in stations:
            enrol(client, hub, st)
    t = time.perf_counter()
    latencies = asyncio.run(_push_all(url, stations, concurrency))
    total = time.perf_counter() - t
    latencies.sort()
    entries = sum(len(s.leaves) for s in stations)
    return {
        "stations": count,
        "entries": entries,
        "accepted": len(latencies) == count,
        "total_s": total,
        "entries_per_s": entries / total,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "concurrency": concurrency,
        "build_s": build,
    }


def run_backend(db: str, args: argparse.Namespace) -> dict[str, Any]:
    from hubkit import free_port

    storage = open_storage(db)
    hub = Hub(storage, name=HUB)
    port = free_port()
    proc = start_hub(db, port)
    url = f"http://127.0.0.1:{port}"
    try:
        out = {"ingest": ingest(url, hub, args.entries, args.chunk), "wire": wire_bytes(url, hub)}
        if args.stations:
            out["province"] = province(url, hub, args.stations, args.concurrency)
        return out
    finally:
        proc.terminate()
        proc.wait()
        storage.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--entries", type=int, default=20000)
    p.add_argument("--chunk", type=int, default=1000)
    p.add_argument("--stations", type=int, default=3321)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend in ("sqlite", "both"):
            results["sqlite"] = run_backend(f"sqlite:///{tmp}/hub.db", args)
        if args.backend in ("postgresql", "both"):
            from pgserver import PgServer

            server = PgServer()
            server.start()
            try:
                server.create_database("bench")
                results["postgresql"] = run_backend(server.url("bench"), args)
            finally:
                server.stop()
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
        return
    for backend, r in results.items():
        i, w = r["ingest"], r["wire"]
        print(f"[{backend}]")
        print(f"  raw Ed25519 verify (this process)    {i['raw_verify_per_s']:>10,.0f} /s")
        print(
            f"  hub ingest over HTTP (chunks {i['chunk']})  {i['ingest_per_s']:>10,.0f} entries/s"
            f"  ({i['entries']} entries)"
        )
        print(
            f"  ratio ingest / raw                   {i['ratio']:>10.3f}   (goal >= 0.6 on SQLite)"
        )
        print(
            f"  wire bytes per entry, a day of {w['entries']}:  JSON {w['json_per_entry']:.0f} B,"
            f" zstd body {w['body_per_entry']:.0f} B, with headers"
            f" {w['with_headers_per_entry']:.0f} B   (goal <= 300)"
        )
        if "province" in r:
            pr = r["province"]
            print(
                f"  {pr['stations']} stations x ~30 entries at once"
                f" ({pr['concurrency']} in flight):"
                f" all accepted={pr['accepted']}, {pr['entries']} entries in {pr['total_s']:.1f} s"
                f" ({pr['entries_per_s']:,.0f}/s), p50 {pr['p50_ms']:.0f} ms,"
                f" p99 {pr['p99_ms']:.0f} ms"
            )


if __name__ == "__main__":
    main()
