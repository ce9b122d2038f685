"""Load run: the day after a province-wide outage, on PostgreSQL with two hub processes.

    .venv/bin/python bench/load.py [--stations 3321] [--in-flight 64] [--keep DIR] [--json]

Set-up (not measured):
1. a throwaway PostgreSQL server (tests/pgserver.py, Debian's binaries, through
   bench/dashboard.py's `BenchPg`: production-like memory settings) made *durable* here:
   fsync, synchronous_commit and full_page_writes on, as a production hub runs it;
2. `--stations` simulated stations (bench/hub.py's `BenchStation`, one per office: the station's
   opening, its officer's enrolment and 28 events of a realistic day, ~30 signed entries);
3. TWO `sync-server serve` processes (bench/hub.py's `start_hub`) on the same database, so the
   hub is stateless across processes as DESIGN section 6 says. There is no load balancer: the
   stations are split between the two ports alternately (station i talks to hub i % 2), a
   stand-in for a round-robin balancer, whose pool of connections to each hub drops idle ones
   after 2 s, under the hub's 5 s keep-alive, as a balancer must be set up. Each station enrols
   through the *other* hub process than the one it then syncs with (no affinity);
4. the hub publishes one holiday-calendar update to every office, so each office's feed holds
   one signed record to pull; a dashboard account (role aggregator) is created.

The burst (measured): every station syncs its day at once, at most `--in-flight` stations in
flight over both hubs together: one POST of its whole backlog (~30 entries, zstd, signed
request; bench/hub.py's province run does the same), then one GET of its office feed. Every
non-200 answer, wrong answer (accepted size, missing feed record) and transport error counts
as an error, by kind (a transport error says whether it came on a new or a reused
connection); nothing is retried. Meanwhile a logged-in dashboard user (a separate
process, so it does not share this process's GIL) requests the overview and an office page
every 0.5 s, alternating between the two hub processes.

Reported: stations accepted / total, errors by kind, push and feed latency p50/p95/p99/max
(per request), wall time and entries/s; CPU from /proc (utime+stime) before and after the
burst of each hub process tree (the `sync-server` process and its signature worker
processes, idle here: a run under 64 entries is checked in the request thread) and of the
PostgreSQL server (postmaster and backends), as CPU seconds per 1,000 entries (the hubs'
figure includes the dashboard pages and feed pulls they served during the burst); the
dashboard pages' p50/p95/max idle before the burst, loaded, and idle after it (the same data
as at the end of the burst, a fair comparison); what the database holds afterwards; raw
Ed25519 verify/s in this process, for context.

`--keep DIR` leaves the (stopped) PostgreSQL cluster in DIR for inspection
(`pg_ctl -D DIR/data start`); DIR must be empty or absent. Every hub process and the
PostgreSQL server are stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import math
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))
sys.path.insert(2, str(ROOT / "bench"))  # after ROOT: bench/ledger.py must not hide `ledger`

import httpx
import psycopg
from dashkit import AGGREGATOR, PASSWORD, login
from hubkit import free_port

from sync_server.dashboard import accounts
from sync_server.hub import Hub
from sync_server.storage import open_storage


def _bench(name: str) -> ModuleType:
    # bench/NAME.py by path, under its own name: `hub` and `dashboard` are common names.
    if f"bench_{name}" in sys.modules:
        return sys.modules[f"bench_{name}"]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench_hub = _bench("hub")
BenchStation = bench_hub.BenchStation
HUB: str = bench_hub.HUB
BenchPg = _bench("dashboard").BenchPg

DB = "hub"
DAY_EVENTS = 28  # + the station's opening and its officer's enrolment: 30 entries
DASH_INTERVAL = 0.5  # seconds between the dashboard user's rounds under load
IDLE_ROUNDS = 12
# The balancer's pool of connections to the hubs drops a connection idle this long. It must be
# well under the hub's keep-alive timeout (uvicorn's default, 5 s), as for a real balancer:
# with httpx's default (also 5 s) a request now and then goes out on a connection the hub is
# closing at that moment and is reset (seen: 2 of 3,321 pushes, `ReadError`).
POOL_IDLE = 2.0
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
CALENDAR: dict[str, Any] = {
    "version": "vn-2026.9",
    "holidays": ["2026-12-31"],
    "makeup_workdays": [],
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


class LoadPg(BenchPg):
    """bench/dashboard.py's server (production memory settings, optional kept directory) with
    durability on: an accepted push must survive a power cut at the hub too."""

    def _initdb(self) -> None:
        super()._initdb()
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# bench/load.py: durable, as in production\n")
            conf.writelines(f"{k} = {v}\n" for k, v in DURABLE.items())


# -- CPU from /proc ---------------------------------------------------------------------------
ProcTable = dict[int, tuple[int, int, int]]


def proc_table() -> ProcTable:
    """pid -> (ppid, own ticks utime+stime, reaped children's ticks cutime+cstime)."""
    table: ProcTable = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces
        ppid, utime, stime, cutime, cstime = (int(fields[i]) for i in (1, 11, 12, 13, 14))
        table[int(entry.name)] = (ppid, utime + stime, cutime + cstime)
    return table


def tree_cpu(root: int, table: ProcTable) -> tuple[float, float]:
    """CPU seconds of `root` itself, and of all its descendants: the live ones and those
    already reaped (which the kernel adds to their parent's cutime/cstime)."""
    if root not in table:
        return 0.0, 0.0
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    own, rest = table[root][1], table[root][2]
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        rest += table[pid][1] + table[pid][2]
        todo.extend(children.get(pid, []))
    return own / CLK_TCK, rest / CLK_TCK


@dataclass
class CpuSnapshot:
    hubs: list[tuple[float, float]]  # per hub: (the sync-server process, its worker processes)
    postgres: float  # postmaster and every backend
    client: float  # this process: the stations' side (signing requests, reading answers)


def cpu_snapshot(hub_pids: list[int], pg_pid: int) -> CpuSnapshot:
    table = proc_table()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return CpuSnapshot(
        hubs=[tree_cpu(pid, table) for pid in hub_pids],
        postgres=sum(tree_cpu(pg_pid, table)),
        client=usage.ru_utime + usage.ru_stime,
    )


# -- statistics -------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def latency_ms(seconds: list[float]) -> dict[str, Any]:
    """n, p50, p95, p99 and max in milliseconds (nearest rank); just n when empty."""
    if not seconds:
        return {"n": 0}
    ms = [1000 * s for s in seconds]
    return {
        "n": len(ms),
        "p50": pct(ms, 0.5),
        "p95": pct(ms, 0.95),
        "p99": pct(ms, 0.99),
        "max": max(ms),
    }


# -- the dashboard user -----------------------------------------------------------------------
PAGES = ("overview", "office")


class DashUser:
    """A logged-in aggregator who looks at the overview, then an office page, on hub
    `round % 2`. The session is made on the first hub; it lives in the database, so the other
    hub process must know it too (redirects are not followed: a 303 to the login page would
    count as an error)."""

    def __init__(self, urls: list[str], offices: list[str]) -> None:
        self.urls = urls
        self.offices = offices
        self.http = httpx.Client(base_url=urls[0], follow_redirects=False, timeout=120)
        answer = login(self.http, AGGREGATOR, PASSWORD)
        if answer.status_code != 303:
            raise RuntimeError(f"dashboard login failed: HTTP {answer.status_code}")

    def round(self, i: int) -> list[dict[str, Any]]:
        hub = i % len(self.urls)
        office = self.offices[(i * 7919) % len(self.offices)]
        out = []
        for page, path in zip(PAGES, ("/dashboard/", f"/dashboard/offices/{office}"), strict=True):
            started = time.monotonic()
            t = time.perf_counter()
            try:
                status = self.http.get(self.urls[hub] + path).status_code
                error = "" if status == 200 else f"dashboard {page}: HTTP {status}"
            except httpx.TransportError as exc:
                status, error = 0, f"dashboard {page}: {type(exc).__name__}"
            spent = time.perf_counter() - t
            sample = {"page": page, "hub": hub, "s": spent, "status": status, "error": error}
            out.append({**sample, "started": started})
        return out

    def close(self) -> None:
        self.http.close()


def dashboard_loop(
    urls: list[str], offices: list[str], ready: Any, go: Any, stop: Any, out: Any
) -> None:
    """The dashboard user under load, in a process of its own (not this one's GIL): a round
    every DASH_INTERVAL seconds from `go` until `stop`; the samples go to `out` at the end."""
    try:
        user = DashUser(urls, offices)
    except Exception as exc:
        out.put({"fatal": repr(exc)})
        ready.set()
        return
    ready.set()
    go.wait()
    samples: list[dict[str, Any]] = []
    i = 0
    due = time.monotonic()
    while not stop.is_set():
        samples += user.round(i)
        i += 1
        due += DASH_INTERVAL
        stop.wait(max(0.0, due - time.monotonic()))
    user.close()
    out.put({"samples": samples})


def idle_pages(urls: list[str], offices: list[str]) -> list[dict[str, Any]]:
    user = DashUser(urls, offices)
    try:
        user.round(0)  # warm-up (templates, first connections), not counted
        user.round(1)
        return [s for i in range(IDLE_ROUNDS) for s in user.round(i)]
    finally:
        user.close()


def page_stats(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for page in PAGES:
        mine = [s for s in samples if s["page"] == page]
        stats = latency_ms([s["s"] for s in mine])
        stats["statuses"] = dict(Counter(str(s["status"]) for s in mine))
        stats["hubs"] = sorted({s["hub"] for s in mine})
        out[page] = stats
    return out


# -- the burst --------------------------------------------------------------------------------
@dataclass
class Burst:
    push: list[tuple[int, float]] = field(default_factory=list)  # (hub, seconds) per request
    feed: list[tuple[int, float]] = field(default_factory=list)
    accepted: int = 0
    pulled: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # kind -> one station's answer
    wall_s: float = 0.0

    def error(self, kind: str, example: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, example[:300])


async def _signed(
    client: httpx.AsyncClient, st: Any, method: str, path: str, body: bytes, **kw: Any
) -> tuple[float, httpx.Response | None, str]:
    """(seconds, the answer or None, what failed): a transport error is named with whether the
    request went on a new or a reused keep-alive connection, and after how long it failed."""
    headers = st.headers(method, path, body)  # signed now: the hub refuses stale signatures
    if not body:
        del headers["Content-Type"], headers["Content-Encoding"]
    connected: list[str] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.startswith("connection.connect_tcp"):
            connected.append(event)

    t = time.perf_counter()
    try:
        answer = await client.request(
            method,
            path,
            content=body or None,
            headers=headers,
            extensions={"trace": trace},
            **kw,
        )
    except httpx.TransportError as exc:
        spent = time.perf_counter() - t
        how = "a new" if connected else "a reused keep-alive"
        return spent, None, f"{type(exc).__name__} on {how} connection: {exc!r}, {spent:.3f} s"
    return time.perf_counter() - t, answer, ""


def _refusal(answer: httpx.Response) -> str:
    try:
        code = answer.json().get("error", "")
    except ValueError:
        code = "not JSON"
    return f"HTTP {answer.status_code} {code}".strip()


async def burst(urls: list[str], stations: list[Any], bodies: list[bytes], in_flight: int) -> Burst:
    """Every station at once, `in_flight` at most over both hubs: push the day, pull the feed."""
    result = Burst()
    sem = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(
        max_connections=in_flight,
        max_keepalive_connections=in_flight,
        keepalive_expiry=POOL_IDLE,
    )
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=600, limits=limits)
            )
            for url in urls
        ]

        async def one(i: int, st: Any, body: bytes) -> None:
            hub = i % len(clients)
            async with sem:
                path = f"/v1/stations/{st.sid}/entries"
                spent, answer, failed = await _signed(clients[hub], st, "POST", path, body)
                if answer is None:
                    result.error(f"push: {failed.split(':')[0]}", f"{st.sid}: {failed}")
                else:
                    result.push.append((hub, spent))
                    got = answer.json().get("accepted") if answer.status_code == 200 else None
                    if answer.status_code != 200:
                        result.error(f"push: {_refusal(answer)}", f"{st.sid}: {answer.text}")
                    elif got != len(st.leaves):
                        result.error(
                            "push: wrong accepted size", f"{st.sid}: {got} of {len(st.leaves)}"
                        )
                    else:
                        result.accepted += 1
                path = f"/v1/offices/{st.office}/feed"
                spent, answer, failed = await _signed(
                    clients[hub], st, "GET", path, b"", params={"after": 0, "limit": 200}
                )
                if answer is None:
                    result.error(f"feed: {failed.split(':')[0]}", f"{st.sid}: {failed}")
                    return
                result.feed.append((hub, spent))
                if answer.status_code != 200:
                    result.error(f"feed: {_refusal(answer)}", f"{st.sid}: {answer.text}")
                elif str(CALENDAR["version"]).encode() not in answer.content:
                    result.error("feed: published record missing", f"{st.sid}: {answer.text}")
                else:
                    result.pulled += 1

        t = time.perf_counter()
        await asyncio.gather(
            *(one(i, s, b) for i, (s, b) in enumerate(zip(stations, bodies, strict=True)))
        )
        result.wall_s = time.perf_counter() - t
    return result


# -- the run ----------------------------------------------------------------------------------
def database_check(url: str, stations: list[Any]) -> dict[str, Any]:
    """What the hub's database holds after the burst, compared with what was sent."""
    expected = {st.sid: len(st.leaves) for st in stations}
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT sid, size, cosigned IS NOT NULL FROM stations").fetchall()
        entries, quarantined = conn.execute(
            "SELECT COUNT(*), COUNT(quarantine) FROM entries"
        ).fetchall()[0]
        dossiers = conn.execute("SELECT COUNT(*) FROM dossiers").fetchall()[0][0]
        forks = conn.execute("SELECT COUNT(*) FROM forks").fetchall()[0][0]
    complete = sum(1 for sid, size, cosigned in rows if cosigned and expected.get(sid) == size)
    return {
        "entries": int(entries),
        "entries_expected": sum(expected.values()),
        "stations_complete": complete,
        "dossiers": int(dossiers),
        "forks": int(forks),
        "quarantined": int(quarantined),
    }


def _stop_hubs(procs: list[Any]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
            proc.wait()


def _stray_hubs(known: list[int]) -> list[int]:
    """Our own children running sync-server that we hold no handle of (a `start_hub` that gave
    up waiting leaves its process running): found by parent pid, never by name alone."""
    me, found = os.getpid(), []
    for pid, (ppid, _, _) in proc_table().items():
        if ppid != me or pid in known:
            continue
        with contextlib.suppress(OSError):
            if b"sync-server" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        raise SystemExit(f"--keep {args.keep}: the directory is not empty")
    load_before = os.getloadavg()
    server = LoadPg(args.keep)
    procs: list[Any] = []
    storage = None
    child = None
    out: dict[str, Any] = {"stations": args.stations, "in_flight": args.in_flight}
    try:
        server.start()
        url = server.create_database(DB)
        with psycopg.connect(url) as conn:
            out["postgres"] = {
                name: conn.execute(f"SHOW {name}").fetchall()[0][0]
                for name in ("server_version", "shared_buffers", "fsync", "synchronous_commit")
            }
        storage = open_storage(url)
        hub = Hub(storage, name=HUB)  # makes the hub's keys: both processes read them
        with storage.transaction() as tx:
            accounts.add_user(tx, AGGREGATOR, PASSWORD, "aggregator")

        t = time.perf_counter()
        stations = [BenchStation(f"P{i:05d}.H56", DAY_EVENTS) for i in range(args.stations)]
        bodies = [st.body(0, len(st.leaves)) for st in stations]
        out["build_s"] = time.perf_counter() - t
        out["entries"] = sum(len(st.leaves) for st in stations)
        out["raw_verify_per_s"] = statistics.median(
            bench_hub.raw_rate(stations[0]) for _ in range(3)
        )

        ports = [free_port(), free_port()]
        while ports[1] == ports[0]:
            ports[1] = free_port()
        for port in ports:
            procs.append(bench_hub.start_hub(url, port))
        urls = [f"http://127.0.0.1:{port}" for port in ports]

        t = time.perf_counter()
        clients = [httpx.Client(base_url=u, timeout=60) for u in urls]
        try:
            for i, st in enumerate(stations):  # through the other hub than it syncs with
                bench_hub.enrol(clients[(i + 1) % 2], hub, st)
        finally:
            for client in clients:
                client.close()
        hub.publish("calendar", CALENDAR)
        out["enrol_s"] = time.perf_counter() - t
        offices = [st.office for st in stations]

        idle_before = idle_pages(urls, offices)
        ctx = mp.get_context("spawn")
        ready, go, stop, queue = ctx.Event(), ctx.Event(), ctx.Event(), ctx.Queue()
        child = ctx.Process(
            target=dashboard_loop, args=(urls, offices, ready, go, stop, queue), daemon=True
        )
        child.start()
        if not ready.wait(120):
            raise SystemExit("the dashboard user did not log in")

        pg_pid = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        hub_pids = [proc.pid for proc in procs]
        before = cpu_snapshot(hub_pids, pg_pid)
        go.set()
        done = asyncio.run(burst(urls, stations, bodies, args.in_flight))
        ended = time.monotonic()
        after = cpu_snapshot(hub_pids, pg_pid)
        stop.set()
        got = queue.get(timeout=300)
        child.join(60)
        if "fatal" in got:
            raise SystemExit(f"the dashboard user failed: {got['fatal']}")
        # a round started before the burst ended is under load; the one after is not
        loaded = [s for s in got["samples"] if s["started"] < ended]
        idle_after = idle_pages(urls, offices)

        for n, proc in enumerate(procs):
            if proc.poll() is not None:
                done.error("hub process exited", f"hub {n} exited with {proc.returncode}")
        for s in idle_before + loaded + idle_after:
            if s["error"]:
                done.error(s["error"], f"hub {s['hub']}")

        hubs_cpu = [
            {"process_s": a[0] - b[0], "workers_s": a[1] - b[1]}
            for a, b in zip(after.hubs, before.hubs, strict=True)
        ]
        hub_total = sum(h["process_s"] + h["workers_s"] for h in hubs_cpu)
        pg_total = after.postgres - before.postgres
        per_k = 1000 / out["entries"]
        out.update(
            {
                "accepted": done.accepted,
                "feeds_pulled": done.pulled,
                "errors": dict(done.errors),
                "error_examples": done.examples,
                "push_ms": latency_ms([s for _, s in done.push]),
                "feed_ms": latency_ms([s for _, s in done.feed]),
                "per_hub": [
                    {
                        "url": urls[n],
                        "pushes": sum(1 for h, _ in done.push if h == n),
                        "push_p50_ms": latency_ms([s for h, s in done.push if h == n]).get("p50"),
                    }
                    for n in range(len(urls))
                ],
                "wall_s": done.wall_s,
                "entries_per_s": out["entries"] / done.wall_s,
                "cpu": {
                    "hubs": hubs_cpu,
                    "hubs_s": hub_total,
                    "hubs_s_per_1000_entries": hub_total * per_k,
                    "postgres_s": pg_total,
                    "postgres_s_per_1000_entries": pg_total * per_k,
                    "client_s": after.client - before.client,
                },
                "dashboard": {
                    "interval_s": DASH_INTERVAL,
                    "idle_before": page_stats(idle_before),
                    "loaded": page_stats(loaded),
                    "idle_after": page_stats(idle_after),
                },
                "database": database_check(url, stations),
                "cores": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
            }
        )
        if args.keep is not None:
            out["kept"] = str(server.data_dir)
        return out
    finally:
        if child is not None and child.is_alive():
            child.terminate()
            child.join(10)
        _stop_hubs(procs)
        for pid in _stray_hubs([p.pid for p in procs]):
            with contextlib.suppress(OSError):
                os.kill(pid, 15)
        if storage is not None:
            storage.close()
        server.stop()


# -- report -----------------------------------------------------------------------------------
def _lat(stats: dict[str, Any], keys: tuple[str, ...] = ("p50", "p95", "p99", "max")) -> str:
    if not stats.get("n"):
        return "no samples"
    return "  ".join(f"{k} {stats[k]:,.0f}" for k in keys) + f" ms  (n={stats['n']})"


def report(r: dict[str, Any]) -> None:
    pg = r["postgres"]
    print(
        f"load run: {r['stations']:,} stations x ~30 entries ({r['entries']:,} entries) after an"
        f" outage, {r['in_flight']} in flight, two hub processes on PostgreSQL"
        f" {pg['server_version']} (fsync {pg['fsync']}, synchronous_commit"
        f" {pg['synchronous_commit']}, shared_buffers {pg['shared_buffers']})"
    )
    errors = ", ".join(f"{k} x{n}" for k, n in sorted(r["errors"].items())) or "none"
    print(
        f"  accepted         {r['accepted']:,} / {r['stations']:,} stations;"
        f" feed pulled {r['feeds_pulled']:,} / {r['stations']:,}; errors: {errors}"
    )
    for kind, example in r["error_examples"].items():
        print(f"    e.g. {kind}: {example}")
    print(f"  push latency     {_lat(r['push_ms'])}")
    print(f"  feed latency     {_lat(r['feed_ms'])}")
    split = "; ".join(
        f"hub {n}: {h['pushes']:,} pushes, p50 {h['push_p50_ms'] or 0:,.0f} ms"
        for n, h in enumerate(r["per_hub"])
    )
    print(f"  per hub          {split}")
    print(
        f"  wall             {r['wall_s']:.1f} s for the burst: {r['entries_per_s']:,.0f} entries/s"
    )
    c = r["cpu"]
    hubs = "; ".join(
        f"hub {n} {h['process_s']:.1f} s + workers {h['workers_s']:.1f} s"
        for n, h in enumerate(c["hubs"])
    )
    print(
        f"  CPU              hubs {c['hubs_s']:.1f} s ({hubs})"
        f" = {c['hubs_s_per_1000_entries']:.2f} s per 1,000 entries"
    )
    print(
        f"                   PostgreSQL {c['postgres_s']:.1f} s"
        f" = {c['postgres_s_per_1000_entries']:.2f} s per 1,000 entries;"
        f" the stations' side (this process) {c['client_s']:.1f} s; {r['cores']} cores"
    )
    d = r["dashboard"]
    print(
        f"  dashboard        p50 / p95 / max ms (n): idle before the burst | loaded (a round"
        f" every {d['interval_s']} s, hubs alternating) | idle after"
    )
    for page in PAGES:
        cells = []
        for phase in ("idle_before", "loaded", "idle_after"):
            s = d[phase][page]
            cells.append(
                f"{s['p50']:>6,.0f} {s['p95']:>6,.0f} {s['max']:>6,.0f} ({s['n']})"
                if s["n"]
                else "no samples"
            )
        statuses = sorted(
            {k for phase in d.values() if isinstance(phase, dict) for k in phase[page]["statuses"]}
        )
        print(f"    {page:<9}  {' | '.join(cells)}   HTTP {','.join(statuses)}")
    db = r["database"]
    print(
        f"  database         {db['entries']:,} entries stored of {db['entries_expected']:,} sent;"
        f" {db['stations_complete']:,} / {r['stations']:,} stations at full size and cosigned;"
        f" {db['dossiers']:,} dossiers, {db['forks']} forks, {db['quarantined']} quarantined"
    )
    la = " -> ".join(
        "/".join(f"{x:.2f}" for x in r[k]) for k in ("load_average_before", "load_average_after")
    )
    print(
        f"  context          raw Ed25519 verify {r['raw_verify_per_s']:,.0f}/s in this process;"
        f" build {r['build_s']:.1f} s, enrol {r['enrol_s']:.1f} s;"
        f" load average (1/5/15 min) before -> after {la}"
    )
    if "kept" in r:
        print(
            f"  kept             the stopped cluster: pg_ctl -D {r['kept']} start"
            " (as the postgres user when run as root)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stations", type=int, default=3321)
    p.add_argument("--in-flight", type=int, default=64)
    p.add_argument("--keep", type=Path, help="leave the stopped PostgreSQL cluster in DIR")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    args = p.parse_args()
    if args.stations < 2 or args.in_flight < 1:
        p.error("--stations >= 2 (one per hub at least) and --in-flight >= 1")
    result = run(args)
    if args.json:
        import orjson

        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        report(result)


if __name__ == "__main__":
    main()
