"""Crash campaign harness: SIGKILL at random moments across receive, act, sync and hub ingest,
then prove that nothing the officer (or the station) was told is saved went missing or twice.

Four kill sites, each a loop of trials (`Campaign.run`):

1. ``receive``: a child process receiving dossiers in a loop (`commune_client.desk.receive`),
   printing each code only after `receive` returned; every `exec_every`-th trial kills the real
   `commune receive` command instead (acknowledged when it printed its JSON).
2. ``act``: a child taking the workflow actions valid in each dossier's state (accept, supplement
   requests, payment, transfer to another campaign office, resolve, return, rate...) on the
   dossiers this station handles, printing each action after `desk.act` returned.
3. ``sync``: a child receiving a backlog, then running `SyncAgent` rounds against the hub (a real
   `sync-server serve` process on loopback over a SQLite file), killed while a sync run is in
   flight (the kill delay follows the measured length of a sync run); every `exec_every`-th trial
   kills the real `commune sync` command. A 200 answer with an accepted size is acknowledged.
4. ``hub``: every station pushes continuously (one pusher child each) while the hub process is
   SIGKILLed at random, checked on disk as the kill left it, then restarted; the pushers sync
   again. Every `exec_every`-th restart runs the real `sync-server` executable.

"Acknowledged" = the function returned / the CLI printed its JSON / the hub answered 200 with
an accepted size. After each batch: every acknowledged receive and action is in its station's
ledger exactly once, no dossier code or event appears twice. After each round and at the end:
`verify_ledger` passes for every station (every signed checkpoint checked against the tree), the
stored Merkle tree has the verified root, the projections rebuild identically, and the hub's
copy of each log holds every acknowledged entry once, byte for byte (same root at its size) and
verifies. After the final sync: each hub copy is exactly the station's log.

Per-trial cost: children are forked from a *zygote* (a Python process that imported everything
once), so a restart costs a fork, opening the station and signing in (~0.15 s), not a Python
start (~1 s). The forked child is an ordinary separate process killed with SIGKILL; the real
executables (`commune receive`, `commune sync`, `sync-server serve`) are still killed every
`exec_every`-th trial. Randomness comes from one seed (`Campaign(seed=...)`, logged first), so
a failing campaign can be rerun with the same choices (kill instants still depend on timing).

Run as a script, this file is the zygote (`python crashkit.py zygote`); the campaign starts it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:
    sys.path.insert(1, str(TESTS))

from hubkit import HUB_NAME, free_port  # noqa: E402
from stationkit import PASS, PROCEDURES, T0  # noqa: E402

SITES = ("receive", "act", "sync", "hub")
OFFICES = ("000.00.17.H56", "000.00.21.H56", "000.00.25.H56", "000.00.29.H56", "000.00.33.H56")
STEP = timedelta(minutes=2)  # claimed time between two events of a station (< 999 codes a day)
BIN = Path(sys.executable).parent
OPEN = ("received", "processing", "supplement_requested", "awaiting_payment", "transferred")
ACT_WEIGHTS = {
    "accept": 4.0,
    "supplement": 4.0,
    "pay": 4.0,
    "resolve": 3.0,
    "return": 3.0,
    "rate": 2.0,
    "request-supplement": 2.0,
    "request-payment": 1.0,
    "reschedule": 1.0,
    "transfer": 1.0,
    "stop": 0.2,
    "withdraw": 0.2,
    "refuse": 0.2,
}
PRELOAD = (  # what the children run: imported once, in the zygote
    "httpx",
    "commune_client.desk",
    "commune_client.queries",
    "commune_client.sync",
    "schemas.lifecycle",
    "sync_server.app",
    "sync_server.cli",
    "sync_server.dashboard.export",
    "sync_server.dashboard.pages",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
)
NAMES = ("Nguyễn Văn Đức", "Lê Thị Hồng", "Trần Minh Khôi", "Phạm Thị Lan", "Hoàng Văn Nam")


class CampaignError(RuntimeError):
    """The harness itself could not go on (a child died by itself, a hub did not start)."""


# -- figures ------------------------------------------------------------------------------------
@dataclass
class Acks:
    """What one station was told is saved."""

    receives: dict[str, str] = field(default_factory=dict)  # code -> claimed time
    actions: list[tuple[str, str, str]] = field(default_factory=list)  # (code, action, time)
    hub_answers: int = 0  # 200 answers with an accepted size
    accepted: int = 0  # the largest accepted size the hub acknowledged


@dataclass
class Figures:
    seed: int
    kills: dict[str, int]
    real_process_kills: dict[str, int]
    real_process_acknowledged: dict[str, int]  # runs of the real commands that printed JSON
    mid_sync_kills: int  # sync-site kills that landed while a sync run was in flight
    hub_kills_during_sync: int  # hub kills while at least one station was syncing
    acknowledged_receives: int
    acknowledged_actions: int
    hub_answers: int
    acknowledged_accepted_entries: int
    lost: int
    duplicates: int
    ledgers: int
    ledgers_verified: int
    hub_copies_verified: int
    checks: int
    station_entries: int
    hub_entries: int
    foreign_entries: int
    quarantined: int
    ledger_warnings: int
    orphaned_workers: int
    hub_restart_seconds: dict[str, float]  # median time to ready: "real" exec'd, "forked"
    seconds: float
    problems: list[str]

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    @property
    def seconds_per_kill(self) -> float:
        return self.seconds / max(1, self.total_kills)

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and self.lost == 0
            and self.duplicates == 0
            and self.ledgers_verified == self.ledgers
            and self.hub_copies_verified == self.ledgers
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if k != "seconds"},
            "total_kills": self.total_kills,
            "seconds": round(self.seconds, 1),
            "seconds_per_kill": round(self.seconds_per_kill, 3),
            "ok": self.ok,
        }

    def _site(self, site: str) -> str:
        text = f"{site} {self.kills[site]}"
        real = self.real_process_kills[site]
        if real and site == "hub":
            return f"{text} ({real} of the real executable)"
        if real:
            printed = self.real_process_acknowledged[site]
            return f"{text} ({real} of the real executable; {printed} of its runs printed)"
        return text

    def lines(self) -> list[str]:
        n = self.ledgers
        kills = ", ".join(self._site(s) for s in SITES)
        return [
            f"crash campaign, seed {self.seed}: {self.total_kills} kills: {kills}",
            f"  sync kills mid-sync run: {self.mid_sync_kills}/{self.kills['sync']}; "
            f"hub kills while a station was syncing: "
            f"{self.hub_kills_during_sync}/{self.kills['hub']}",
            f"  acknowledged: {self.acknowledged_receives} receives, "
            f"{self.acknowledged_actions} actions, {self.hub_answers} hub answers covering "
            f"{self.acknowledged_accepted_entries} accepted entries",
            f"  lost acknowledged entries: {self.lost}; duplicates: {self.duplicates}",
            f"  ledgers verified: {self.ledgers_verified}/{n}; hub copies verified (equal to "
            f"the station log after the final sync): {self.hub_copies_verified}/{n}; "
            f"checks run: {self.checks}",
            f"  entries: {self.station_entries} in the stations, {self.hub_entries} at the hub, "
            f"{self.foreign_entries} imported from feeds; quarantined at the hub: "
            f"{self.quarantined}; ledger warnings: {self.ledger_warnings}; orphaned hub "
            f"workers: {self.orphaned_workers}",
            f"  time: {self.seconds:.1f} s ({self.seconds_per_kill:.2f} s per kill); hub ready "
            f"after a restart in (median): {self.hub_restart_seconds} s",
            *(f"  PROBLEM: {p}" for p in self.problems[:20]),
        ]


# -- processes ----------------------------------------------------------------------------------
def _proc_start(pid: int) -> int | None:
    """The start time of a live (not zombie) process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
    return found


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (no stray children after a crash)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Zygote:
    """A Python process that imported the station and hub code once and forks children on
    request; each child's stdout (JSON lines) and stderr go to files."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.err = open(logs / "zygote.err", "ab")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
        )
        if self._read().get("k") != "ready":
            raise CampaignError("the zygote did not start")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise CampaignError(f"the zygote died: {_tail(self.logs / 'zygote.err')}")
        return dict(json.loads(line))

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def spawn(self, argv: list[str], name: str) -> Child:
        out, err = self.logs / f"{name}.out", self.logs / f"{name}.err"
        out.write_bytes(b"")
        answer = self._ask({"cmd": "spawn", "argv": argv, "out": str(out), "err": str(err)})
        pid = int(answer["pid"])
        return Child(pid, out, err, self)

    def reap(self, pid: int) -> int:
        return int(self._ask({"cmd": "reap", "pid": pid})["code"])

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Child:
    """A forked child whose stdout is a file of JSON lines: markers and acknowledgements."""

    def __init__(self, pid: int, out: Path, err: Path, zygote: Zygote) -> None:
        self.pid, self.out, self.err, self.zygote = pid, out, err, zygote
        self.lines: list[dict[str, Any]] = []
        self.absorbed = 0  # lines already counted by the campaign
        self._offset = 0
        self.code: int | None = None

    def poll(self) -> list[dict[str, Any]]:
        with open(self.out, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # complete lines only
        self._offset += end
        self.lines += [json.loads(line) for line in data[:end].splitlines() if line]
        return self.lines

    def last_kind(self) -> str | None:
        lines = self.poll()
        return str(lines[-1]["k"]) if lines else None

    def wait_for(self, kind: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = self.poll()
            for line in lines[seen:]:
                if line["k"] == kind:
                    return line
            seen = len(lines)
            if _proc_start(self.pid) is None:
                break
            time.sleep(0.002)
        raise CampaignError(f"child {self.pid} never said {kind!r}: {_tail(self.err)}")

    def kill(self) -> int:
        """SIGKILL; returns the exit code (-9 when the kill ended it)."""
        if self.code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # not reaped yet: the pid cannot be reused
            self.code = self.zygote.reap(self.pid)
            self.poll()
        return self.code


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


class HubProcess:
    """`sync-server serve` on loopback over one SQLite file: exec'd (the real executable) or
    forked from the zygote (the same click entry point, without the Python start)."""

    def __init__(self, db: Path, zygote: Zygote, logs: Path) -> None:
        self.db = db
        self.url_db = f"sqlite:///{db}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.zygote = zygote
        self.logs = logs
        self.real: subprocess.Popen[bytes] | None = None
        self.forked: Child | None = None
        self.starts = 0
        self.stopping = False
        self.start_seconds: dict[bool, list[float]] = {True: [], False: []}  # real?: durations
        self.workers: list[tuple[int, int]] = []  # (pid, start time) of killed hubs' workers

    @property
    def args(self) -> list[str]:
        return [
            "--db",
            self.url_db,
            "--name",
            HUB_NAME,
            "serve",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    @property
    def pid(self) -> int | None:
        if self.real is not None:
            return self.real.pid
        return self.forked.pid if self.forked is not None else None

    def start(self, *, real: bool) -> None:
        import httpx

        assert self.pid is None, "the hub is already running"
        began = time.monotonic()
        self.starts += 1
        log = self.logs / f"hub{self.starts}.err"
        if real:
            with open(log, "ab") as err:
                self.real = subprocess.Popen(
                    [str(BIN / "sync-server"), *self.args],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
        else:
            self.forked = self.zygote.spawn(["hub", *self.args], f"hub{self.starts}")
            log = self.forked.err
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    self.start_seconds[real].append(time.monotonic() - began)
                    return
            except httpx.TransportError:
                time.sleep(0.01)
            if self.pid is None or _proc_start(self.pid) is None:
                break
        self.kill()
        raise CampaignError(f"the hub did not become ready: {_tail(log)}")

    def kill(self) -> None:
        """SIGKILL the hub; its signature workers (which stop at EOF) are watched for."""
        pid = self.pid
        if pid is None:
            return
        for child in _children(pid):
            started = _proc_start(child)
            if started is not None:
                self.workers.append((child, started))
        if self.real is not None:
            self.real.kill()
            code = self.real.wait()
            self.real = None
        else:
            assert self.forked is not None
            code = self.forked.kill()
            self.forked = None
        if code != -signal.SIGKILL and not self.stopping:
            raise CampaignError(f"the hub had ended by itself ({code})")

    def stop(self) -> None:
        """A clean stop (SIGTERM), SIGKILL after 10 s."""
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _proc_start(pid) is not None:
            time.sleep(0.02)
        self.stopping = True
        try:
            self.kill()
        finally:
            self.stopping = False

    def orphans(self, grace: float = 10.0) -> int:
        """Workers of killed hubs still running after `grace` seconds (then killed, by pid)."""
        deadline = time.monotonic() + grace
        alive = self.workers
        while alive and time.monotonic() < deadline:
            alive = [(p, s) for p, s in alive if _proc_start(p) == s]
            if alive:
                time.sleep(0.05)
        for pid, _ in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.workers = []
        return len(alive)


# -- the campaign -------------------------------------------------------------------------------
class Campaign:
    """Stations enrolled with one hub process, and the four kill sites (see the module doc).

    Use as a context manager: every process it started is ended in `__exit__`."""

    def __init__(
        self,
        root: Path,
        *,
        seed: int,
        stations: int = 3,
        exec_every: int = 5,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not 2 <= stations <= len(OFFICES):
            raise ValueError(f"2 to {len(OFFICES)} stations")
        self.root = root
        self.seed = seed
        self.offices = OFFICES[:stations]
        self.exec_every = max(1, exec_every)
        self.log = log or (lambda _: None)
        self.logs = root / "logs"
        self.paths = [root / f"station{i}" for i in range(stations)]
        self.acks = [Acks() for _ in self.offices]
        self.kills = dict.fromkeys(SITES, 0)
        self.real_kills = dict.fromkeys(SITES, 0)
        self.real_acked = dict.fromkeys(SITES, 0)
        self.cli_seconds: dict[str, list[float]] = {}  # how long each real command ran
        self.mid_sync = 0
        self.hub_during_sync = 0
        self.lost: set[str] = set()
        self.duplicated: set[str] = set()
        self.problems: list[str] = []
        self.checks = 0
        self.verified: dict[int, bool] = {}
        self.hub_verified: dict[int, bool] = {}
        self.warnings = 0
        self.orphaned = 0
        self.sync_runs: list[float] = []
        self.live: list[Child] = []
        self.zygote: Zygote | None = None
        self.hub: HubProcess | None = None
        self.started = time.monotonic()
        self._names = 0

    # -- setup and teardown ------------------------------------------------------------------
    def __enter__(self) -> Campaign:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        import httpx
        from hubkit import add_office

        from commune_client.procedures import save_catalog
        from commune_client.station import Station
        from commune_client.sync import enroll
        from sync_server.hub import Hub
        from sync_server.storage import open_storage

        self.log(f"crash campaign seed {self.seed} in {self.root}")
        self.logs.mkdir(parents=True, exist_ok=True)
        self.zygote = Zygote(self.logs)
        self.hub = HubProcess(self.root / "hub" / "hub.db", self.zygote, self.logs)
        self.hub.start(real=True)
        storage = open_storage(self.hub.url_db)
        try:
            hub = Hub(storage, name=HUB_NAME)
            tokens = [add_office(hub, code, f"UBND xã {code}") for code in self.offices]
        finally:
            storage.close()
        with httpx.Client(timeout=30) as client:
            for path, code, token in zip(self.paths, self.offices, tokens, strict=True):
                st = Station.create(
                    path,
                    office=code,
                    office_name=f"UBND xã {code}",
                    officer_name="Nguyễn Thị Hoa",
                    passphrase=PASS,
                    now=T0,
                )
                try:
                    save_catalog(st.store, PROCEDURES)
                    enroll(st, st.sign_in(None, PASS), self.hub.url, token, client=client)
                finally:
                    st.close()
        self.started = time.monotonic()

    def close(self) -> None:
        for child in self.live:
            with contextlib.suppress(Exception):
                child.kill()
        self.live = []
        if self.hub is not None:
            with contextlib.suppress(Exception):
                self.hub.stop()
            with contextlib.suppress(Exception):
                self.orphaned += self.hub.orphans(grace=5.0)
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None

    # -- the run -----------------------------------------------------------------------------
    def run(self, kills: int, rounds: int | None = None) -> Figures:
        """`kills` SIGKILLs spread evenly over the four sites, in `rounds` rounds (default: one
        per 100 kills, at least 2); light checks after every batch, full ones after every
        round; then a final sync of every station and the final checks."""
        rounds = rounds or max(2, round(kills / 100))
        plan = _plan(kills, rounds)
        rngs = {site: random.Random(f"{self.seed}/{site}") for site in SITES}
        trial = dict.fromkeys(SITES, 0)
        for r, batch in enumerate(plan):
            for site, n in batch:
                if n == 0:
                    continue
                t = time.monotonic()
                getattr(self, f"_batch_{site}")(n, rngs[site], trial[site])
                trial[site] += n
                self.check_stations(full=False, where=f"round {r + 1} {site}")
                self.log(
                    f"round {r + 1}/{rounds} {site}: {n} kills in {time.monotonic() - t:.1f} s "
                    f"(total {sum(self.kills.values())}, problems {len(self.problems)})"
                )
            t = time.monotonic()
            self.check_stations(full=True, where=f"round {r + 1}")
            self.check_hub(final=False, where=f"round {r + 1}")
            self.log(f"round {r + 1}: full checks in {time.monotonic() - t:.1f} s")
        t = time.monotonic()
        self.final_sync()
        self.check_stations(full=True, where="final", final=True)
        self.check_hub(final=True, where="final")
        assert self.hub is not None
        self.orphaned += self.hub.orphans()
        self.log(f"final sync and checks in {time.monotonic() - t:.1f} s")
        return self.figures()

    def figures(self) -> Figures:
        sizes = self._sizes()
        hub = self._hub_counts()
        return Figures(
            seed=self.seed,
            kills=dict(self.kills),
            real_process_kills=dict(self.real_kills),
            real_process_acknowledged=dict(self.real_acked),
            mid_sync_kills=self.mid_sync,
            hub_kills_during_sync=self.hub_during_sync,
            acknowledged_receives=sum(len(a.receives) for a in self.acks),
            acknowledged_actions=sum(len(a.actions) for a in self.acks),
            hub_answers=sum(a.hub_answers for a in self.acks),
            acknowledged_accepted_entries=sum(a.accepted for a in self.acks),
            lost=len(self.lost),
            duplicates=len(self.duplicated),
            ledgers=len(self.paths),
            ledgers_verified=sum(self.verified.values()),
            hub_copies_verified=sum(self.hub_verified.values()),
            checks=self.checks,
            station_entries=sum(s for s, _ in sizes),
            hub_entries=hub[0],
            foreign_entries=sum(f for _, f in sizes),
            quarantined=hub[1],
            ledger_warnings=self.warnings,
            orphaned_workers=self.orphaned,
            hub_restart_seconds={
                ("real" if real else "forked"): round(statistics.median(times), 2)
                for real, times in (self.hub.start_seconds.items() if self.hub else ())
                if times
            },
            seconds=time.monotonic() - self.started,
            problems=list(self.problems),
        )

    # -- bookkeeping -------------------------------------------------------------------------
    def _name(self, what: str) -> str:
        self._names += 1
        return f"{what}{self._names}"

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)
            self.log(f"PROBLEM: {text}")

    def _absorb(self, i: int, child: Child) -> None:
        lines = child.poll()
        for line in lines[child.absorbed :]:
            self._ack(i, line)
        child.absorbed = len(lines)

    def _ack(self, i: int, line: dict[str, Any]) -> None:
        acks, kind = self.acks[i], line["k"]
        if kind == "r":
            if line["code"] in acks.receives:
                self._problem(f"station {i}: code {line['code']} handed out twice")
                self.duplicated.add(f"{i}:r:{line['code']}")
            acks.receives[line["code"]] = line["t"]
        elif kind == "act":
            acks.actions.append((line["code"], line["action"], line["t"]))
        elif kind == "ok":
            acks.hub_answers += 1
            acks.accepted = max(acks.accepted, int(line["size"]))
        elif kind == "synced":
            if isinstance(line.get("accepted"), int):
                acks.accepted = max(acks.accepted, line["accepted"])
            if line.get("problem") not in (None, "offline"):
                self._problem(f"station {i}: sync answered {line['problem']}")

    def _spawn(self, mode: str, i: int, seed: int, **extra: Any) -> Child:
        assert self.zygote is not None
        args = {"data": str(self.paths[i]), "seed": seed, "offices": self.offices, **extra}
        child = self.zygote.spawn(["child", mode, json.dumps(args)], self._name(f"{mode}{i}-"))
        self.live.append(child)
        return child

    def _end(self, i: int, child: Child, site: str | None) -> str | None:
        """SIGKILL a child (a counted kill at `site`), take its acknowledgements; returns what
        it said last before the kill."""
        last = child.last_kind()
        code = child.kill()
        self.live.remove(child)
        self._absorb(i, child)
        if code != -signal.SIGKILL:
            raise CampaignError(f"child {child.pid} ended by itself ({code}): {_tail(child.err)}")
        if site is not None:
            self.kills[site] += 1
        return last

    def _next_time(self, i: int) -> datetime:
        conn = sqlite3.connect(self.paths[i] / "station.db")
        try:
            (last,) = conn.execute("SELECT MAX(claimed_time) FROM entries").fetchone()
        finally:
            conn.close()
        return datetime.fromisoformat(last) + STEP

    def _sizes(self) -> list[tuple[int, int]]:
        out = []
        for path in self.paths:
            conn = sqlite3.connect(path / "station.db")
            try:
                out.append(
                    (
                        int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]),
                        int(conn.execute("SELECT COUNT(*) FROM foreign_entries").fetchone()[0]),
                    )
                )
            finally:
                conn.close()
        return out

    def _hub_counts(self) -> tuple[int, int]:
        assert self.hub is not None
        conn = sqlite3.connect(self.hub.db)
        try:
            total, quarantined = conn.execute(
                "SELECT COUNT(*), COUNT(quarantine) FROM entries"
            ).fetchone()
        finally:
            conn.close()
        return int(total), int(quarantined)

    # -- site 1: receive ---------------------------------------------------------------------
    def _batch_receive(self, n: int, rng: random.Random, first: int) -> None:
        for k in range(first, first + n):
            i = k % len(self.paths)
            if k % self.exec_every == self.exec_every - 1:
                self._cli_receive(i, rng)
                continue
            child = self._spawn("receive", i, rng.getrandbits(32))
            child.wait_for("ready")
            time.sleep(rng.uniform(0.0, 0.15))
            self._end(i, child, "receive")

    def _cli_receive(self, i: int, rng: random.Random) -> None:
        def run() -> tuple[list[str], dict[str, str], Callable[[dict[str, Any]], None]]:
            at = self._next_time(i)
            cmd = [
                str(BIN / "commune"),
                "--json",
                "receive",
                "--procedure",
                rng.choice(PROCEDURES).code,
                "--applicant-name",
                rng.choice(NAMES),
                "--applicant-id",
                f"0010{rng.randrange(10**8):08d}",
            ]
            env = {**self._env(i), "COMMUNE_NOW": at.isoformat()}
            t = at.isoformat(timespec="seconds")
            return cmd, env, lambda doc: self._ack(i, {"k": "r", "code": doc["code"], "t": t})

        self._cli_trial("receive", run, rng)

    def _env(self, i: int) -> dict[str, str]:
        return {**os.environ, "COMMUNE_DATA_DIR": str(self.paths[i]), "COMMUNE_PASSPHRASE": PASS}

    def _cli_trial(
        self,
        site: str,
        make: Callable[[], tuple[list[str], dict[str, str], Callable[[dict[str, Any]], None]]],
        rng: random.Random,
    ) -> None:
        """Run a real command and SIGKILL it at a random moment of its usual run time, again
        until one run is killed (a run that finished first is acknowledged like any other).
        What it printed as JSON before it ended was acknowledged."""
        times = self.cli_seconds.setdefault(site, [])
        for _ in range(20):
            cmd, env, ack = make()
            typical = statistics.median(times[-10:]) if times else 1.5
            started = time.monotonic()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            try:
                proc.wait(rng.uniform(0.3, max(0.6, 1.1 * typical)))
                times.append(time.monotonic() - started)
            except subprocess.TimeoutExpired:
                proc.kill()
            out, err = proc.communicate()
            if proc.returncode not in (0, 1, -signal.SIGKILL):
                self._problem(f"{' '.join(cmd[2:4])} exited {proc.returncode}: {err[-300:]!r}")
            with contextlib.suppress(ValueError):
                doc = json.loads(out)
                if isinstance(doc, dict):
                    self.real_acked[site] += 1
                    ack(doc)
            if proc.returncode == -signal.SIGKILL:
                self.kills[site] += 1
                self.real_kills[site] += 1
                return
        raise CampaignError(f"{' '.join(cmd[2:4])} always finished before its kill")

    # -- site 2: act -------------------------------------------------------------------------
    def _batch_act(self, n: int, rng: random.Random, first: int) -> None:
        for k in range(first, first + n):
            i = k % len(self.paths)
            child = self._spawn("act", i, rng.getrandbits(32))
            child.wait_for("ready")
            time.sleep(rng.uniform(0.0, 0.2))
            self._end(i, child, "act")

    # -- site 3: sync (station side) ---------------------------------------------------------
    def _batch_sync(self, n: int, rng: random.Random, first: int) -> None:
        assert self.hub is not None
        for k in range(first, first + n):
            i = k % len(self.paths)
            if k % self.exec_every == self.exec_every - 1:
                self._cli_sync(i, rng)
                continue
            child = self._spawn("sync", i, rng.getrandbits(32), backlog=rng.randint(5, 40))
            child.wait_for("sync")
            typical = statistics.median(self.sync_runs[-20:]) if self.sync_runs else 0.3
            time.sleep(rng.uniform(0.0, min(1.5, max(0.03, 1.2 * typical))))
            if self._end(i, child, "sync") in ("sync", "ok"):
                self.mid_sync += 1
            # how long a backlog's sync run takes when it is not killed: the next kill's range
            self.sync_runs += [x["seconds"] for x in child.lines if x["k"] == "took"][:1]

    def _cli_sync(self, i: int, rng: random.Random) -> None:
        def ack(doc: dict[str, Any]) -> None:
            if isinstance(doc.get("accepted"), int):  # the hub holds this many: acknowledged
                self._ack(i, {"k": "ok", "size": doc["accepted"]})

        self._cli_trial(
            "sync", lambda: ([str(BIN / "commune"), "--json", "sync"], self._env(i), ack), rng
        )

    # -- site 4: hub ingest ------------------------------------------------------------------
    def _batch_hub(self, n: int, rng: random.Random, first: int) -> None:
        hub = self.hub
        assert hub is not None
        pushers = [self._spawn("pusher", i, rng.getrandbits(32)) for i in range(len(self.paths))]
        try:
            for p in pushers:
                p.wait_for("ready")
            for k in range(first, first + n):
                time.sleep(rng.uniform(0.05, 0.6))
                if any(p.last_kind() in ("sync", "ok") for p in pushers):
                    self.hub_during_sync += 1
                self.real_kills["hub"] += hub.real is not None
                hub.kill()
                self.kills["hub"] += 1
                for i, p in enumerate(pushers):
                    self._absorb(i, p)  # every 200 counted here came from the killed hub
                self._check_hub_file(f"hub kill {k + 1}")
                hub.start(real=k % self.exec_every == self.exec_every - 1)
        finally:
            for i, p in enumerate(pushers):
                if p in self.live:
                    self._end(i, p, None)

    def _check_hub_file(self, where: str) -> None:
        """The hub's database as the kill left it: every acknowledged size is there, each entry
        once, and the same entries as the station's (same root at the hub's size)."""
        from commune_client.station import Station
        from commune_client.store import SqliteNodeStore
        from ledger.encoding import b64
        from ledger.merkle import MerkleTree

        assert self.hub is not None
        conn = sqlite3.connect(self.hub.db)
        try:
            for i, path in enumerate(self.paths):
                sid = f"{self.offices[i]}-1"
                size, root = conn.execute(
                    "SELECT size, root FROM stations WHERE sid = ?", (sid,)
                ).fetchone()
                count, top = conn.execute(
                    "SELECT COUNT(*), COALESCE(MAX(seq), -1) FROM entries WHERE sid = ?", (sid,)
                ).fetchone()
                if count != size or top != size - 1:
                    self._problem(f"{where}: hub holds {count} rows up to {top} for size {size}")
                    self.duplicated.add(f"hub:{sid}:{count}:{size}")
                if size < self.acks[i].accepted:
                    self._problem(
                        f"{where}: hub lost acknowledged entries of {sid}: "
                        f"{size} < {self.acks[i].accepted}"
                    )
                    for seq in range(size, self.acks[i].accepted):
                        self.lost.add(f"hub:{sid}:{seq}")
                st = Station.open(path)
                try:
                    ours = b64(MerkleTree(SqliteNodeStore(st.store.conn), size).root())
                except ValueError:  # the station has no tree of that size
                    ours = None
                finally:
                    st.close()
                if ours != root:
                    self._problem(f"{where}: hub copy of {sid} differs at size {size}")
        finally:
            conn.close()

    # -- checks ------------------------------------------------------------------------------
    def check_stations(self, *, full: bool, where: str, final: bool = False) -> None:
        """Acknowledged receives and actions present exactly once, no duplicate code or event;
        with `full`, also the ledger verification, the stored tree and the rebuild."""
        from commune_client.queries import rebuild_and_compare
        from commune_client.station import Station
        from commune_client.store import SqliteNodeStore
        from ledger.encoding import b64
        from ledger.merkle import MerkleTree
        from ledger.verify import verify_ledger

        self.checks += 1
        for i, path in enumerate(self.paths):
            st = Station.open(path)
            try:
                conn = st.store.conn
                rows = conn.execute(
                    "SELECT seq, action, dossier, claimed_time FROM entries ORDER BY seq"
                ).fetchall()
                if [r[0] for r in rows] != list(range(len(rows))):
                    self._problem(f"{where}: station {i} log has holes or repeats")
                codes = Counter(r[2] for r in rows if r[1] == "receive")
                events = Counter((r[2], r[1], r[3]) for r in rows if r[2] is not None)
                for key, n in [*codes.items(), *events.items()]:
                    if n > 1:
                        self.duplicated.add(f"{i}:{key}")
                        self._problem(f"{where}: station {i} holds {key} {n} times")
                acks = self.acks[i]
                missing = [
                    (code, "receive", t)
                    for code, t in acks.receives.items()
                    if events[(code, "receive", t)] == 0
                ]
                missing += [a for a in acks.actions if events[a] == 0]
                for key in missing:
                    self.lost.add(f"{i}:{key}")
                    self._problem(f"{where}: station {i} lost acknowledged {key}")
                if not full:
                    continue
                notes = [r[0] for r in conn.execute("SELECT note FROM checkpoints ORDER BY size")]
                size = st.store.size()
                report = verify_ledger(
                    st.store.leaves(),
                    station_cert=st.info.station_cert,
                    origin=st.info.origin,
                    checkpoints=notes,
                )
                try:
                    stored: str | None = b64(MerkleTree(SqliteNodeStore(conn), size).root())
                except ValueError:  # the stored tree lacks a node of this size
                    stored = None
                rebuilt = rebuild_and_compare(st)["identical"]
                checkpointed = not final or st.store.checkpoint_at(size) is not None
                warnings = [f for f in report.findings if f.severity != "error"]
                self.warnings = max(self.warnings, len(warnings))
                good = report.ok and stored == report.root and rebuilt and checkpointed
                self.verified[i] = good
                if not good:
                    self._problem(
                        f"{where}: station {i} ledger: ok={report.ok} "
                        f"{[f.code for f in report.findings][:5]} tree={stored == report.root} "
                        f"rebuild={rebuilt} checkpoint at size={checkpointed}"
                    )
            finally:
                st.close()

    def check_hub(self, *, final: bool, where: str) -> None:
        """Each hub copy: every acknowledged entry once, byte for byte the station's, verified
        with the hub's checkpoints; after the final sync, exactly the station's log."""
        from commune_client.station import Station
        from ledger.verify import verify_ledger

        assert self.hub is not None
        self.checks += 1
        self._check_hub_file(where)
        conn = sqlite3.connect(self.hub.db)
        try:
            for i, path in enumerate(self.paths):
                sid = f"{self.offices[i]}-1"
                size, root, cert, origin = conn.execute(
                    "SELECT size, root, cert, origin FROM stations WHERE sid = ?", (sid,)
                ).fetchone()
                leaves = [
                    bytes(r[0])
                    for r in conn.execute(
                        "SELECT leaf FROM entries WHERE sid = ? AND seq < ? ORDER BY seq",
                        (sid, size),
                    )
                ]
                notes = [
                    r[0]
                    for r in conn.execute(
                        "SELECT cosigned FROM checkpoints WHERE sid = ? ORDER BY size", (sid,)
                    )
                ]
                st = Station.open(path)
                try:
                    ours = list(st.store.leaves(0, size))
                    local = st.store.size()
                finally:
                    st.close()
                report = verify_ledger(
                    leaves, station_cert=json.loads(cert), origin=origin, checkpoints=notes
                )
                same = leaves == ours and report.root == root
                whole = not final or size == local
                self.hub_verified[i] = report.ok and same and whole
                if not self.hub_verified[i]:
                    self._problem(
                        f"{where}: hub copy of {sid}: ok={report.ok} "
                        f"{[f.code for f in report.findings][:5]} same={same} "
                        f"size {size} of {local}"
                    )
            if final:
                self._check_imports(conn, where)
                total = int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
                if total != sum(s for s, _ in self._sizes()):
                    self._problem(f"{where}: the hub holds {total} entries in all")
        finally:
            conn.close()

    def _check_imports(self, hub: sqlite3.Connection, where: str) -> None:
        """Every event a station imported from its feed is byte for byte the hub's entry."""
        for i, path in enumerate(self.paths):
            conn = sqlite3.connect(path / "station.db")
            try:
                rows = conn.execute("SELECT station, seq, leaf FROM foreign_entries").fetchall()
            finally:
                conn.close()
            for ref, seq, leaf in rows:
                held = hub.execute(
                    "SELECT leaf FROM entries WHERE sid = ? AND seq = ?",
                    (ref.replace("/", "-"), seq),
                ).fetchone()
                if held is None or bytes(held[0]) != bytes(leaf):
                    self._problem(f"{where}: station {i} imported {ref}#{seq} unlike the hub's")

    def final_sync(self, rounds: int = 30) -> None:
        """Sync every station until the hub holds its whole log (twice over, so that feed items
        one station's sync routed reach the others)."""
        import httpx

        from commune_client.station import Station
        from commune_client.sync import RetryPolicy, sync

        assert self.hub is not None
        policy = RetryPolicy(attempts=3, initial=0.05, max_wait=0.5)
        for _ in range(2):
            for i, path in enumerate(self.paths):
                st = Station.open(path)
                try:
                    session = st.sign_in(None, PASS)
                    with httpx.Client(timeout=30) as client:
                        for _ in range(rounds):
                            report = sync(st, session, client=client, policy=policy)
                            if report.accepted is not None:
                                self._ack(i, {"k": "ok", "size": report.accepted})
                            if report.problem is None and report.accepted == st.store.size():
                                break
                        else:
                            self._problem(f"station {i} never finished its final sync")
                finally:
                    st.close()


def _plan(kills: int, rounds: int) -> list[list[tuple[str, int]]]:
    """`kills` spread as evenly as possible over the sites, then over the rounds."""
    per_site = [kills // len(SITES) + (s < kills % len(SITES)) for s in range(len(SITES))]
    return [
        [(site, n // rounds + (r < n % rounds)) for site, n in zip(SITES, per_site, strict=True)]
        for r in range(rounds)
    ]


# -- children (run in processes forked from the zygote) -----------------------------------------
def _emit(kind: str, **fields: Any) -> None:
    os.write(1, (json.dumps({"k": kind, "ts": time.monotonic(), **fields}) + "\n").encode())


class _Clock:
    """A station's claimed time: STEP after its newest entry (never backwards in the log)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        (last,) = conn.execute("SELECT MAX(claimed_time) FROM entries").fetchone()
        self.last = datetime.fromisoformat(last)

    def tick(self, after: datetime | None = None) -> datetime:
        self.last = max(self.last, after or self.last) + STEP
        return self.last


class _Desk:
    """One signed-in officer at one station, as a child process uses it."""

    def __init__(self, args: dict[str, Any]) -> None:
        from commune_client.station import Station

        self.station = Station.open(Path(args["data"]))
        self.session = self.station.sign_in(None, PASS)
        self.rng = random.Random(args["seed"])
        self.clock = _Clock(self.station.store.conn)
        self.office = self.station.info.office
        self.others = [o for o in args["offices"] if o != self.office]

    def receive(self) -> None:
        from commune_client.desk import receive

        now = self.clock.tick()
        rng = self.rng
        result = receive(
            self.session,
            procedure=rng.choice(PROCEDURES).code,
            applicant={"name": rng.choice(NAMES), "id_number": f"0010{rng.randrange(10**8):08d}"},
            now=now,
            channel=rng.choice(("direct", "direct", "online", "postal")),
        )
        _emit("r", code=result["code"], t=now.isoformat(timespec="seconds"))

    def act(self) -> None:
        """One valid action on a dossier this office handles (a receive when there is none)."""
        from commune_client.desk import act
        from schemas.lifecycle import allowed_actions

        conn = self.station.store.conn
        rows = conn.execute(
            f"SELECT code FROM dossiers WHERE status IN ({', '.join('?' * len(OPEN))}) "
            "OR (status IN ('resolved', 'returned') AND state NOT LIKE '%\"rating\":%')",
            OPEN,
        ).fetchall()
        codes = sorted(r[0] for r in rows)
        self.rng.shuffle(codes)
        for code in codes[:10]:
            state = self.station.dossier(code)
            assert state is not None
            if state.get("handling_office", self.office) != self.office:
                continue  # transferred away: the other office acts on it now
            choices = [a for a in allowed_actions(state) if a in ACT_WEIGHTS]
            if "handling_office" in state or not self.others:
                choices = [a for a in choices if a != "transfer"]
            if not choices:
                continue
            action = self.rng.choices(choices, [ACT_WEIGHTS[a] for a in choices])[0]
            now = self.clock.tick(after=datetime.fromisoformat(state["updated_at"]))
            kw = self._fields(action, state, now)
            new = act(self.session, code, action, now=now, **kw)
            _emit(
                "act",
                code=code,
                action=action,
                t=now.isoformat(timespec="seconds"),
                v=new["version"],
            )
            return
        self.receive()

    def _fields(self, action: str, state: dict[str, Any], now: datetime) -> dict[str, Any]:
        rng = self.rng
        if action in ("request-supplement", "refuse", "stop"):
            return {"reason": "Thiếu giấy tờ theo quy định"}
        if action == "supplement":
            return {"reason": "Công dân đã bổ sung"}
        if action == "transfer":
            return {"to": rng.choice(self.others), "reason": "Liên thông"}
        if action in ("request-payment", "pay"):
            return {"amount": 50_000}
        if action == "reschedule":
            due = datetime.fromisoformat(state["due_at"]) if state.get("due_at") else now
            return {
                "new_due": (max(due, now) + timedelta(days=7)).isoformat(timespec="seconds"),
                "reason": "Xin lỗi, hẹn lại ngày trả",
            }
        if action == "return":
            return {"via": rng.choice(("desk", "post"))}
        if action == "rate":
            return {"rating": rng.randint(1, 3)}
        return {}

    def sync(self, client: Any, *, timed: bool = False) -> Any:
        """One `SyncAgent` run; each 200 push answer is acknowledged as it comes. `timed`: say
        how long the run took when it finished without a problem."""
        from commune_client.sync import RetryPolicy, SyncAgent

        agent = SyncAgent(
            self.station,
            self.session,
            client=client,
            policy=RetryPolicy(attempts=2, initial=0.01, max_wait=0.05),
        )

        def progress(p: Any) -> None:
            if p.phase == "push" and agent.report.accepted is not None:
                _emit("ok", size=agent.report.accepted)

        agent.progress = progress
        _emit("sync")
        started = time.monotonic()
        report = agent.run()
        _emit(
            "synced",
            accepted=report.accepted,
            problem=report.problem,
            pulled=report.pulled,
            quarantined=len(report.quarantined),
        )
        if timed and report.problem is None:
            _emit("took", seconds=time.monotonic() - started)
        return report


def _child(mode: str, args: dict[str, Any]) -> None:
    import httpx

    if mode not in ("receive", "act", "sync", "pusher"):
        raise SystemExit(f"unknown child mode {mode!r}")
    desk = _Desk(args)
    _emit("ready")
    if mode == "receive":
        while True:
            desk.receive()
    if mode == "act":
        while True:
            desk.act()
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        if mode == "sync":
            for _ in range(int(args["backlog"])):
                desk.receive()
            report = desk.sync(client, timed=True)  # the backlog's run: the one to kill
            while True:
                if report.problem is not None:
                    time.sleep(0.02)
                for _ in range(desk.rng.randint(0, 3)):
                    desk.receive()
                report = desk.sync(client)
        if mode == "pusher":
            while True:
                if desk.rng.random() < 0.4:
                    desk.receive()
                report = desk.sync(client)
                time.sleep(0.02 if report.problem is not None else desk.rng.uniform(0, 0.03))


def _run_spawned(argv: list[str]) -> int:
    if argv[0] == "hub":
        import sync_server.cli
        from ledger.cliutil import run

        run(sync_server.cli.cli, "sync-server", argv[1:])
    if argv[0] == "child":
        _child(argv[1], json.loads(argv[2]))
    raise SystemExit(f"unknown spawn {argv[0]!r}")


def _zygote() -> None:
    """Import everything once, then fork a child per request (see `Zygote`)."""
    import importlib
    import traceback

    _die_with_parent()
    for name in PRELOAD:
        importlib.import_module(name)

    out = sys.stdout
    out.write(json.dumps({"k": "ready"}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "reap":
            _, status = os.waitpid(int(req["pid"]), 0)
            answer = {"code": os.waitstatus_to_exitcode(status)}
        else:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    _die_with_parent()
                    null = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(null, 0)
                    os.dup2(os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND), 1)
                    os.dup2(os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_APPEND), 2)
                    sys.stdin = open(os.devnull)  # noqa: SIM115
                    code = _run_spawned(req["argv"])
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                    if not isinstance(exc.code, int | None):
                        print(exc.code, file=sys.stderr)
                except BaseException:
                    traceback.print_exc()
                finally:
                    with contextlib.suppress(Exception):
                        sys.stderr.flush()
                    os._exit(code)
            answer = {"pid": pid}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__" and sys.argv[1:] == ["zygote"]:
    _zygote()
