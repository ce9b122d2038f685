"""Dashboard benchmark: the aggregator dashboard's server time on PostgreSQL at province size.

    .venv/bin/python bench/dashboard.py [--offices 3321] [--events 10000000] [--small]
                                        [--keep DIR] [--runs 20] [--workers 2]

1. starts a throwaway PostgreSQL (tests/pgserver.py, Debian's binaries) and bulk-loads a hub
   database shaped exactly as ingest leaves it (bench/_dashload.py): `--offices` offices with
   one station each, `--events` signed log entries in total, their dossiers folded with
   `apply_event`, facts and counters from `sync_server.aggregates`, portal rows, checkpoints;
2. times, each `--runs` times after 2 warm-ups, the dashboard's query functions inside one
   transaction as the page handlers call them: `queries.overview` plus the page's sort and
   paging over all offices, `queries.office_view` for random offices (this month so far, the
   page's default period), `queries.dossier_view` (plus the office names the page reads) for
   random dossiers; prints p50/p95/max server time and the part spent in SQL statements
   (goal: overview and office page <= 300 ms each).

These are query times; template rendering and HTTP are not included.
`--small` is 100 offices and 300,000 events (a quick check). `--keep DIR` keeps the database
cluster in DIR and reuses it when it already holds a load of the same size (skips loading).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))
sys.path.insert(2, str(ROOT / "bench"))

import orjson
import psycopg
from _dashload import HUB_NAME, VN, LoadConfig, bulk_load, targets
from pgserver import PG_USER, PgServer, _make_traversable, find_pg_bin

from sync_server.dashboard import queries
from sync_server.hub import Hub
from sync_server.storage import Storage, Tx, open_storage

DB = "hub"
GOAL_MS = 300
# A production-like server (tests/pgserver.py's own settings are for a churning test suite).
BENCH_SETTINGS = {
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
    "max_parallel_maintenance_workers": "2",
}


class BenchPg(PgServer):
    """tests/pgserver.py's server with production-like memory settings; with `keep`, the
    cluster lives in that directory, is reused when present and survives `stop()`."""

    def __init__(self, keep: Path | None) -> None:
        super().__init__()
        self.keep = keep

    def _initdb(self) -> None:
        super()._initdb()
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# bench/dashboard.py\n")
            conf.writelines(f"{k} = {v}\n" for k, v in BENCH_SETTINGS.items())

    def start(self, tmpdir: Path | str | None = None) -> PgServer:
        if self.keep is None:
            return super().start(tmpdir)
        self.bin_dir = self.bin_dir or find_pg_bin()
        keep = self.keep.resolve()
        keep.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            import pwd

            pw = pwd.getpwnam(PG_USER)
            _make_traversable(keep.parent)
            os.chown(keep, pw.pw_uid, pw.pw_gid)
        keep.chmod(0o700)
        self.tmpdir = keep
        if not (self.data_dir / "PG_VERSION").exists():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self._initdb()
        self._start_postgres()
        return self

    def stop(self) -> None:
        if self.keep is None:
            super().stop()
            return
        if self.tmpdir is not None and self._running:
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", timeout=120)
        self._running = False
        self.tmpdir = None


# -- load -------------------------------------------------------------------------------------


def prepare(server: BenchPg, args: argparse.Namespace) -> tuple[str, int, dict[str, Any]]:
    """The database URL and the bench's `now`, loading the data unless it is there already."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone()
    url = server.url(DB) if exists else server.create_database(DB)
    storage = open_storage(url)
    with storage.transaction() as tx:
        loaded = tx.meta("bench:loaded")
        has_rows = tx.one("SELECT EXISTS (SELECT 1 FROM entries)")[0]
    if loaded is not None:
        info = orjson.loads(loaded)
        storage.close()
        if (info["offices"], info["events"]) != (args.offices, args.events):
            raise SystemExit(
                f"{args.keep} holds a load of {info['offices']} offices and {info['events']:,}"
                " events: use another --keep directory for this size"
            )
        print(f"reusing the load in {args.keep} (made for now = {_when(info['now'])})")
        return url, int(info["now"]), {}
    if has_rows:
        raise SystemExit(f"{args.keep} holds an unfinished load: remove the directory")
    now = int(time.time())
    hub = Hub(storage, name=HUB_NAME, clock=lambda: now)
    cfg = LoadConfig(
        url=url,
        offices=args.offices,
        events=args.events,
        now=now,
        issuer_seed=hub.issuer.seed(),
        cosigner_seed=hub.cosigner.seed(),
        issuer_cert=hub.issuer_cert,
        targets=targets(args.offices, args.events, 2026),
    )
    storage.close()  # no open connection across the workers' fork
    print(
        f"loading {args.offices:,} offices, {args.events:,} events with {args.workers} worker"
        f" processes (now = {_when(now)})"
    )
    timings = bulk_load(cfg, args.workers, lambda line: print(line, flush=True))
    return url, now, timings


def _when(unix: int) -> str:
    return datetime.fromtimestamp(unix, VN).strftime("%Y-%m-%d %H:%M %Z")


# -- measure ----------------------------------------------------------------------------------


class _TimedConn:
    """The transaction's connection, timing each `execute` (the SQL and the transfer of its
    rows: psycopg fetches a result whole) by statement text."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.spent: dict[str, float] = {}
        self.statements = 0

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return self._conn.execute(query, *args, **kwargs)
        finally:
            key = " ".join(str(query).split())
            self.spent[key] = self.spent.get(key, 0.0) + 1000 * (time.perf_counter() - t)
            self.statements += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@dataclass
class Sample:
    total: float  # ms, the whole transaction, commit included
    sql: float  # ms in `execute`
    statements: int
    by_statement: dict[str, float]
    result: Any


def timed(storage: Storage, work: Callable[[Tx], Any]) -> Sample:
    t = time.perf_counter()
    with storage.transaction() as tx:
        conn = _TimedConn(tx.conn)
        tx.conn = conn
        result = work(tx)
    total = 1000 * (time.perf_counter() - t)
    return Sample(total, sum(conn.spent.values()), conn.statements, conn.spent, result)


def overview_page(now: int) -> Callable[[Tx], Any]:
    def work(tx: Tx) -> Any:
        rows = queries.overview(tx, now)
        # the page's default: sorted by last sync, oldest first; stale count; first page
        rows.sort(key=lambda r: -1 if r.last_sync_unix is None else r.last_sync_unix)
        stale = sum(1 for r in rows if r.stale)
        return rows, stale, rows[:100]

    return work


def office_page(office: str, now: int) -> Callable[[Tx], Any]:
    today = datetime.fromtimestamp(now, VN).date()

    def work(tx: Tx) -> Any:
        return queries.office_view(tx, office, today.replace(day=1), today, now)

    return work


def dossier_page(code: str) -> Callable[[Tx], Any]:
    def work(tx: Tx) -> Any:
        view = queries.dossier_view(tx, code)
        tx.offices()  # the page shows office names
        return view

    return work


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


class Result:
    def __init__(self, label: str) -> None:
        self.label = label
        self.samples: list[Sample] = []
        self.notes: list[Any] = []

    def add(self, sample: Sample, note: Any) -> None:
        sample.result = None
        self.samples.append(sample)
        self.notes.append(note)

    def row(self) -> str:
        total = [s.total for s in self.samples]
        sql = _pct([s.sql for s in self.samples], 0.5)
        stmts = _pct([s.statements for s in self.samples], 0.5)
        return (
            f"  {self.label:<34} {_pct(total, 0.5):>8.1f} {_pct(total, 0.95):>8.1f}"
            f" {max(total):>8.1f}   {sql:>8.1f}   {stmts:>5.0f}"
        )

    def slowest(self, top: int = 3) -> list[tuple[float, str]]:
        """The statements taking longest (p50 over the runs of their time per page)."""
        texts = {k for s in self.samples for k in s.by_statement}
        p50 = {k: _pct([s.by_statement.get(k, 0.0) for s in self.samples], 0.5) for k in texts}
        return sorted(((ms, k) for k, ms in p50.items()), reverse=True)[:top]


def measure(url: str, now: int, runs: int, seed: int) -> list[Result]:
    storage = open_storage(url)
    rng = random.Random(seed)
    with storage.transaction() as tx:
        offices = [r[0] for r in tx.all("SELECT office FROM stations ORDER BY office")]

    def sample(k: int) -> list[str]:
        return rng.sample(offices, k) if k <= len(offices) else rng.choices(offices, k=k)

    picked = sample(runs + 2)
    codes = []
    with storage.transaction() as tx:
        for office in sample(runs + 2):
            row = tx.one(
                "SELECT code FROM dossiers WHERE office = ? ORDER BY md5(code || ?) LIMIT 1",
                (office, str(seed)),
            )
            codes.append(row[0])

    overview = Result("overview (+ sort, stale, page 1)")
    office = Result("office page (this month)")
    dossier = Result("dossier page (re-verified)")
    for i in range(runs + 2):
        # interleaved, as a dashboard's users would: each page sees the others' cache effects
        got = timed(storage, overview_page(now))
        if i >= 2:
            rows, stale, _ = got.result
            note = (len(rows), stale, sum(r.open for r in rows), sum(r.overdue for r in rows))
            overview.add(got, note)
        got = timed(storage, office_page(picked[i], now))
        if i >= 2:
            view = got.result
            note = (
                len(view["stations"]),
                view["overdue_total"],
                len(view["awaiting_supplement"]),
                view["report"],
            )
            office.add(got, note)
        got = timed(storage, dossier_page(codes[i]))
        if i >= 2:
            view = got.result
            dossier.add(got, (len(view["timeline"]), view["verified"]))
    storage.close()
    return [overview, office, dossier]


def measure_http(url: str, now: int, runs: int, seed: int) -> dict[str, list[float]]:
    """The pages as a browser gets them: a real uvicorn on loopback serving the hub's app
    (templates included), a logged-in session, wall time of each GET from this process."""
    import re

    import httpx
    from hubkit import HubServer

    from sync_server.dashboard import accounts

    hub = Hub(open_storage(url), name=HUB_NAME, clock=lambda: float(now))
    with hub.storage.transaction() as tx:
        if accounts.get_user(tx, "bench") is None:
            accounts.add_user(tx, "bench", "bench-password-1", "auditor")
        offices = [r[0] for r in tx.all("SELECT office FROM stations ORDER BY office")]
        codes = [
            r[0]
            for r in tx.all(
                "SELECT code FROM dossiers ORDER BY md5(code || ?) LIMIT ?", (str(seed), runs + 2)
            )
        ]
    rng = random.Random(seed)
    server = HubServer(hub).start()
    times: dict[str, list[float]] = {"overview": [], "office": [], "dossier": []}
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            form = client.get("/dashboard/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf is not None
            client.post(
                "/dashboard/login",
                data={"username": "bench", "password": "bench-password-1", "csrf": csrf[1]},
            )
            for i in range(runs + 2):
                for name, path in (
                    ("overview", "/dashboard/"),
                    ("office", f"/dashboard/offices/{rng.choice(offices)}"),
                    ("dossier", f"/dashboard/dossiers/{codes[i]}"),
                ):
                    t = time.perf_counter()
                    answer = client.get(path)
                    spent = 1000 * (time.perf_counter() - t)
                    assert answer.status_code == 200, (path, answer.status_code)
                    if i >= 2:
                        times[name].append(spent)
    finally:
        server.stop()
        hub.storage.close()
    return times


# -- report -----------------------------------------------------------------------------------


def table_sizes(url: str) -> list[tuple[str, int, int]]:
    names = [
        "entries",
        "nodes",
        "dossier_events",
        "dossiers",
        "dossier_facts",
        "office_counts",
        "portal_dossiers",
        "checkpoints",
        "stations",
        "offices",
    ]
    out = []
    with psycopg.connect(url) as conn:
        for name in names:
            n = conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            size = conn.execute("SELECT pg_total_relation_size(%s)", (name,)).fetchone()[0]
            out.append((name, int(n), int(size)))
    return out


def _du(path: Path) -> str:
    try:
        return subprocess.run(
            ["du", "-sh", str(path)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--offices", type=int, default=3321)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--small", action="store_true", help="100 offices, 300,000 events")
    p.add_argument("--keep", type=Path, help="keep (and reuse) the database cluster in DIR")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--workers", type=int, default=2, help="loader processes")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    if args.small:
        args.offices, args.events = 100, 300_000

    load_before = os.getloadavg()
    server = BenchPg(args.keep)
    server.start()
    try:
        t = time.perf_counter()
        url, now, timings = prepare(server, args)
        if timings:
            print(
                f"loaded in {time.perf_counter() - t:.0f} s: generate + COPY"
                f" {timings['generate_and_copy_s']:.0f} s, facts in update order"
                f" {timings['facts_s']:.0f} s, keys and indexes {timings['indexes_s']:.0f} s,"
                f" VACUUM ANALYZE {timings['vacuum_analyze_s']:.0f} s"
            )
        sizes = table_sizes(url)
        with psycopg.connect(url) as conn:
            db_size = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
            version = conn.execute("SHOW server_version").fetchone()[0]
            shared = conn.execute("SHOW shared_buffers").fetchone()[0]
        results = measure(url, now, args.runs, args.seed)
        pages = measure_http(url, now, args.runs, args.seed)
        load_after = os.getloadavg()
        assert server.tmpdir is not None
        print()
        print(f"PostgreSQL {version} (shared_buffers {shared}), data in {server.data_dir}")
        print(f"  database {db_size / 2**30:.1f} GiB; cluster directory {_du(server.data_dir)}")
        for name, n, size in sizes:
            print(f"  {name:<16} {n:>12,} rows  {size / 2**20:>9,.0f} MiB")
        print()
        print(
            f"server time of the dashboard's query functions, {args.runs} runs each after 2"
            " warm-ups, one transaction per page (query time: no template, no HTTP)"
        )
        print(f"  now = {_when(now)}; goal: overview and office page <= {GOAL_MS} ms")
        head = ("p50 ms", "p95 ms", "max ms")
        print(f"  {'':<34} {head[0]:>8} {head[1]:>8} {head[2]:>8}   {'SQL p50':>8}   {'stmts':>5}")
        for r in results:
            print(r.row())
        overview, office, dossier = results
        rows, stale, open_, overdue = overview.notes[-1]
        print()
        print(
            f"  overview: {rows:,} offices, {stale} stale, {open_:,} open dossiers,"
            f" {overdue:,} overdue"
        )
        stations = sum(n[0] for n in office.notes)
        print(
            f"  office pages: {len(office.notes)} offices ({stations} stations), overdue per office"
            f" p50 {_pct([n[1] for n in office.notes], 0.5):.0f}, awaiting supplement p50"
            f" {_pct([n[2] for n in office.notes], 0.5):.0f}; one Biểu 06:"
            f" {_bieu06_line(office.notes[-1][3])}"
        )
        verified = sum(1 for _, ok in dossier.notes if ok)
        print(
            f"  dossier pages: {len(dossier.notes)} dossiers, {verified} fully re-verified"
            f" (signature, certificate, inclusion), events per dossier p50"
            f" {_pct([n[0] for n in dossier.notes], 0.5):.0f}"
        )
        print()
        print(
            "the pages over real HTTP (uvicorn on loopback, logged in, templates rendered;"
            " wall time of each GET)"
        )
        print(f"  {'':<34} {head[0]:>8} {head[1]:>8} {head[2]:>8}")
        for name, values in pages.items():
            print(
                f"  GET {name:<30} {_pct(values, 0.5):>8.1f} {_pct(values, 0.95):>8.1f}"
                f" {max(values):>8.1f}"
            )
        print()
        print("slowest statements (p50 ms per page, summed when a page runs one several times)")
        for r in results:
            print(f"  {r.label}")
            for ms, text in r.slowest():
                print(f"    {ms:>7.1f}  {text[:110]}")
        print(
            f"  machine: {os.cpu_count()} cores, load average {load_before[0]:.1f} before,"
            f" {load_after[0]:.1f} after (other work shares the machine: figures are noisy)"
        )
    finally:
        server.stop()


def _bieu06_line(report: Any) -> str:
    rate = report.get("on_time_rate")
    parts = [
        f"{key} {orjson.dumps(report.get(key)).decode()}"
        for key in ("received", "resolved", "pending", "refused", "withdrawn")
    ]
    parts.append("on-time rate " + ("-" if rate is None else f"{rate:.1%}"))
    return "; ".join(parts)


if __name__ == "__main__":
    main()
