"""The field scenario (issue 9, docs/field-report.md): three offices work a week offline, their
PCs killed at random moments, then the link comes back at 2G and everything must sync, reach the
portal simulator exactly once, reconcile, and pass the auditor with time brackets.

Used by `bench/field.py` (the whole week, figures) and `tests/e2e/test_field.py` (a bounded
version in `make test`). Everything runs as real processes:

* the hub: this file run as `python fieldkit.py hub ...` (the `Hub` of `sync-server serve`, with
  uvicorn and the portal outbox, on a clock the scenario sets: "Sunday evening" for enrolment,
  "Monday morning a week later" when the link returns; `sync-server serve` has no clock option on
  purpose, since the hub's cosignature times are what auditors trust);
* the portal simulator: `sync-server portal simulate`;
* each office's PC: `python fieldkit.py work DATA PLAN` drives the desk service functions through
  a planned week (`COMMUNE_NOW` semantics: each step carries its own time), printing `ack N`
  once a step returned, i.e. once the officer was told it is saved; the harness SIGKILLs it at
  random moments and starts it again, and it carries on from what its ledger holds;
* sync: the real `commune --json sync` command through a link emulator (`tests/linkemu.py`),
  killed at random moments too;
* the auditor: `sync-server trust-kit`, `commune export-ledger`, `commune-audit ledger`.

What counts as "exactly once": every step acknowledged to the officer is in the station's
ledger; every station's log is at the hub byte for byte (same size and root); every dossier code
received at a station is at the hub and at the portal once, and nothing else is.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for p in (str(ROOT), str(ROOT / "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

BIN = Path(sys.executable).parent
HUB_NAME = "hub.field"
PASSPHRASE = "field-pass"
VN = "+07:00"
PROVINCE = "H56"
OFFICES: tuple[tuple[str, str, str], ...] = (
    ("000.00.31.H56", "UBND xã Tân Lập", "Nguyễn Thị Hoa"),
    ("000.00.32.H56", "UBND xã Hòa Bình", "Trần Văn Đức"),
    ("000.00.33.H56", "UBND xã Minh Tiến", "Lê Thị Lan"),
)
WEEK = ("2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27")
ENROL_AT = "2026-11-22T18:00:00+07:00"  # Sunday evening: the last time the link was up
LINK_BACK_AT = "2026-11-30T07:30:00+07:00"  # Monday morning a week later


# -- the plan -------------------------------------------------------------------------------
# A lifecycle: (procedure, channel, [(minutes after receipt, action, args)]). Minutes count in
# office time loosely: anything past 17:00 moves to the next working day of the week (see
# `_at`); steps past Friday are dropped (the dossier stays open, as in a real week).
LIFECYCLES: tuple[tuple[str, str, tuple[tuple[int, str, dict[str, Any]], ...]], ...] = (
    ("2.000815", "direct", ((10, "resolve", {}), (15, "return", {}), (16, "rate", {"rating": 1}))),
    ("1.001193", "direct", ((20, "resolve", {}), (30, "return", {}))),
    (
        "1.004873",
        "direct",
        ((60, "accept", {}), (1500, "resolve", {}), (1560, "return", {"via": "desk"})),
    ),
    (
        "1.004194",
        "online",
        (
            (30, "request-supplement", {"reason": "Thiếu bản sao giấy tờ tùy thân"}),
            (1440, "supplement", {}),
            (2900, "resolve", {}),
            (2960, "return", {"via": "post"}),
        ),
    ),
    (
        "1.001612",
        "direct",
        (
            (40, "request-payment", {"amount": 100000}),
            (1440, "pay", {"amount": 100000}),
            (2000, "resolve", {}),
            (2100, "return", {}),
            (2101, "rate", {"rating": 2}),
        ),
    ),
    ("1.004194", "postal", ((1440, "withdraw", {"reason": "Công dân rút hồ sơ"}),)),
    ("1.004194", "direct", ((5, "refuse", {"reason": "Hồ sơ không thuộc thẩm quyền"}),)),
    ("1.012753", "direct", ((90, "accept", {}),)),
    (
        "1.003197",
        "direct",
        (
            (
                400,
                "reschedule",
                {"new_due": "2026-12-04", "reason": "Cần xác minh thêm, xin lỗi công dân"},
            ),
        ),
    ),
)
WEIGHTS = (30, 10, 20, 10, 8, 5, 4, 8, 5)


@dataclass
class Step:
    i: int
    at: str
    key: str  # the dossier's key in the plan (its applicant's ID number)
    action: str
    args: dict[str, Any] = field(default_factory=dict)
    code: str | None = None  # a dossier the station did not receive (a transfer to it)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _at(day: int, minute: int) -> tuple[int, int]:
    """(day index, minute of the day) for `minute` minutes after 07:30 of `day`, moving what
    falls after 16:50 to the next day's morning."""
    while minute > 9 * 60 + 20:
        day, minute = day + 1, minute - 24 * 60
        minute = max(minute, 0)
    return day, minute


def _iso(day: str, minute: int) -> str:
    base = datetime.fromisoformat(f"{day}T07:30:00{VN}")
    return (base + timedelta(minutes=minute)).isoformat()


def plan_office(
    number: int,
    rng: random.Random,
    *,
    days: Sequence[str] = WEEK,
    per_day: tuple[int, int] = (15, 40),
    scan_share: float = 0.1,
    transfer_to: str | None = None,
) -> list[Step]:
    """One office's week: `per_day` dossiers a day with whole lifecycles, some with a scan;
    with `transfer_to`, one dossier on the second day goes to that office (liên thông)."""
    steps: list[tuple[int, int, str, str, dict[str, Any]]] = []
    for d in range(len(days)):
        n = rng.randint(*per_day)
        for k in range(n):
            key = f"{number:02d}{d:02d}{k:04d}".rjust(12, "0")
            minute = (k * (9 * 60)) // max(n, 1) + rng.randint(0, 5)
            minute = minute if minute < 240 else minute + 120  # lunch 11:30-13:30
            minute = min(minute, 9 * 60 + 10)
            procedure, channel, life = rng.choices(LIFECYCLES, WEIGHTS)[0]
            args: dict[str, Any] = {"procedure": procedure, "channel": channel}
            if rng.random() < scan_share:
                args["scan"] = rng.randint(100_000, 200_000)
            steps.append((d, minute, key, "receive", args))
            for after, action, extra in life:
                day, m = _at(d, minute + after)
                if day < len(days):
                    steps.append((day, m, key, action, dict(extra)))
    if transfer_to is not None and len(days) > 1:
        key = f"{number:02d}99{0:04d}".rjust(12, "0")
        steps.append((1, 200, key, "receive", {"procedure": "1.012753", "channel": "direct"}))
        steps.append((1, 230, key, "transfer", {"to": transfer_to, "reason": "Liên thông"}))
    steps.sort(key=lambda s: (s[0], s[1]))
    out, last = [], ""
    for i, (d, m, key, action, args) in enumerate(steps):
        at = _iso(days[d], m)
        at = max(at, last)  # a monotone device clock within the day's work
        last = at
        out.append(Step(i, at, key, action, args))
    return out


def transfer_key(number: int) -> str:
    return f"{number:02d}99{0:04d}".rjust(12, "0")


# -- what a station's ledger says was done ----------------------------------------------------
def ledger_actions(db: Path) -> tuple[dict[str, str], Counter[tuple[str, str]]]:
    """(applicant ID -> dossier code for dossiers this station received, count of (code,
    action) in the log), read from the ledger itself (never from projections)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        codes: dict[str, str] = {}
        seen: Counter[tuple[str, str]] = Counter()
        for leaf, action, dossier in conn.execute(
            "SELECT leaf, action, dossier FROM entries ORDER BY seq"
        ):
            if dossier is None:
                continue
            seen[(dossier, action)] += 1
            if action == "receive":
                event = json.loads(leaf)
                key = event["data"]["applicant"]["id_number"]
                if key in codes:
                    raise AssertionError(f"applicant {key} received twice: {dossier}")
                codes[key] = dossier
        return codes, seen
    finally:
        conn.close()


def steps_done(db: Path, plan: Sequence[Step]) -> set[int]:
    """Indexes of the plan's steps that the ledger holds (the k-th (dossier, action) of the
    plan is done when the log has at least k of them)."""
    if not db.exists():
        return set()
    codes, seen = ledger_actions(db)
    done, occurrence = set(), Counter[tuple[str, str]]()
    for step in plan:
        code = step.code or codes.get(step.key)
        if step.action == "receive":
            if step.key in codes:
                done.add(step.i)
            continue
        if code is None:
            continue
        occurrence[(code, step.action)] += 1
        if seen[(code, step.action)] >= occurrence[(code, step.action)]:
            done.add(step.i)
    return done


# -- child: the office PC at work -------------------------------------------------------------
def _work(data_dir: Path, plan_file: Path) -> int:
    from commune_client.cli import attach_scans
    from commune_client.desk import act, receive
    from commune_client.station import Station

    plan = [Step(**s) for s in json.loads(plan_file.read_text(encoding="utf-8"))]
    db = data_dir / "station.db"
    done = steps_done(db, plan)
    station = Station.open(data_dir)
    session = station.sign_in(None, PASSPHRASE)
    print("ready", flush=True)  # the harness times its kill from here: into the work itself
    codes, _ = ledger_actions(db)
    for step in plan:
        if step.i in done:
            continue
        now = datetime.fromisoformat(step.at)
        if step.action == "receive":
            docs = None
            if "scan" in step.args:
                blob = random.Random(step.key).randbytes(int(step.args["scan"]))
                scan = data_dir / f"scan-{step.key}.bin"
                scan.write_bytes(blob)
                docs, _ = attach_scans(station, step.args["procedure"], None, (scan,))
                scan.unlink()
            answer = receive(
                session,
                procedure=step.args["procedure"],
                channel=step.args["channel"],
                applicant={"name": f"Công dân {step.key[-6:]}", "id_number": step.key},
                documents=docs,
                now=now,
            )
            codes[step.key] = answer["code"]
        else:
            code = step.code or codes[step.key]
            args = dict(step.args)
            act(session, code, step.action, now=now, **args)
        print(f"ack {step.i}", flush=True)
    print("done", flush=True)
    return 0


# -- child: the hub on the scenario's clock ---------------------------------------------------
class ScenarioClock:
    """The scenario's time, shared by the harness and the hub process through a small file
    holding `<scenario time RFC 3339> <unix time it was set>`; it runs at real speed from
    there, and `set()` jumps it (forward only: a week passes while the link is down)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1
        self._offset = 0.0

    def set(self, at: str) -> None:
        start = datetime.fromisoformat(at).timestamp()
        if self.path.exists() and start < self.unix():
            raise ValueError(f"the scenario clock only moves forward ({at})")
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{at} {time.time()!r}\n", encoding="utf-8")
        tmp.replace(self.path)

    def unix(self) -> float:
        mtime = os.stat(self.path).st_mtime_ns
        if mtime != self._mtime:
            at, real = self.path.read_text(encoding="utf-8").split()
            self._offset = datetime.fromisoformat(at).timestamp() - float(real)
            self._mtime = mtime
        return time.time() + self._offset

    def __call__(self) -> str:
        """Now, as RFC 3339 in +07:00 (for COMMUNE_NOW: the PC's clock is right)."""
        moment = datetime.fromtimestamp(
            int(self.unix()), tz=datetime.fromisoformat(ENROL_AT).tzinfo
        )
        return moment.isoformat()


def _hub(db: str, port: int, portal_url: str, clock_file: str) -> int:
    import logging

    import uvicorn

    from sync_server.app import create_app
    from sync_server.hub import Hub
    from sync_server.portal.service import PortalService
    from sync_server.settings import PortalSettings
    from sync_server.storage import open_storage

    clock = ScenarioClock(Path(clock_file))
    hub = Hub(open_storage(db), name=HUB_NAME, clock=clock.unix)
    hub.warm()
    settings = PortalSettings(
        url=portal_url,
        public_url=f"http://127.0.0.1:{port}",
        reconcile_every=0,
        backoff_initial=1.0,
        breaker_cooldown=2.0,
    )
    portal = PortalService(hub, settings)
    portal.start()
    logging.getLogger("sync_server").setLevel(logging.WARNING)
    try:
        uvicorn.run(
            create_app(hub, portal),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    finally:
        portal.stop()
    return 0


# -- the parent: processes and their faults ---------------------------------------------------
def _wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


@contextmanager
def process(args: Sequence[str], **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(list(args), **kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def commune_env(data: Path, now: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNE_")}
    env.update(
        {"COMMUNE_DATA_DIR": str(data), "COMMUNE_PASSPHRASE": PASSPHRASE, "COMMUNE_NOW": now}
    )
    return env


def run_json(args: Sequence[str], env: dict[str, str] | None = None, ok: bool = True) -> Any:
    out = subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=600)
    if ok and out.returncode != 0:
        raise RuntimeError(f"{args[:3]} exit {out.returncode}: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout) if out.stdout.strip() else None


@dataclass
class Kills:
    work: int = 0
    sync: int = 0


@dataclass
class Office:
    number: int
    code: str
    name: str
    officer: str
    data: Path
    plan: list[Step] = field(default_factory=list)
    acked: set[int] = field(default_factory=set)
    kills: Kills = field(default_factory=Kills)

    @property
    def db(self) -> Path:
        return self.data / "station.db"


def work(office: Office, steps: Sequence[Step], rng: random.Random, kills: int) -> None:
    """Run `steps` on the office PC, SIGKILLing it `kills` times at random moments; every step
    acknowledged before a kill must still be in the ledger afterwards."""
    plan_file = office.data / "plan.json"
    plan_file.write_text(json.dumps([s.to_json() for s in steps]), encoding="utf-8")
    left = kills
    while True:
        remaining = len(steps) - len(steps_done(office.db, steps))
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__)), "work", str(office.data), str(plan_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        timer = None
        assert proc.stdout is not None
        finished = False
        for line in proc.stdout:
            if line.startswith("ack "):
                office.acked.add(int(line.split()[1]))
            elif line.strip() == "ready" and left > 0:
                # a step takes 10-40 ms: the kill lands somewhere in the remaining work
                delay = rng.uniform(0.0, 0.025 * max(remaining, 1))
                timer = threading.Timer(delay, proc.send_signal, (signal.SIGKILL,))
                timer.start()
            elif line.strip() == "done":
                finished = True
        _, err = proc.communicate(timeout=600)
        if timer is not None:
            timer.cancel()
        if proc.returncode == -signal.SIGKILL:
            left -= 1
            office.kills.work += 1
            lost = office.acked - steps_done(office.db, steps)
            if lost:
                raise AssertionError(f"{office.code}: acknowledged steps lost: {sorted(lost)}")
            continue
        if proc.returncode != 0 or not finished:
            raise RuntimeError(f"{office.code} work failed ({proc.returncode}): {err[-1500:]}")
        if timer is not None and left > 0:
            left = 0  # the day's work ended before the timer fired: no more kills today
        return


def sync_once(office: Office, url: str, now: str, kill_after: float | None) -> dict[str, Any]:
    """One `commune sync` run through `url`; killed after `kill_after` seconds when given.
    Returns its JSON report, or {"killed": True}."""
    proc = subprocess.Popen(
        [str(BIN / "commune"), "--json", "sync", "--server", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=commune_env(office.data, now),
    )
    try:
        out, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        office.kills.sync += 1
        return {"killed": True}
    if not out.strip():
        from commune_client.sync import PROBLEM_VI

        if proc.returncode == 2 and PROBLEM_VI["offline"] in err:
            return {"problem": "offline", "message": err.strip()}  # the link dropped: retry
        raise RuntimeError(f"{office.code} sync exit {proc.returncode}: {err.strip()[-800:]}")
    report: dict[str, Any] = json.loads(out)
    return report


def sync_until_done(
    office: Office,
    url: str,
    clock: Any,
    rng: random.Random,
    *,
    kills: int = 0,
    max_runs: int = 200,
) -> dict[str, Any]:
    """Sync until a run ends with nothing left to push and no problem (the officer presses
    "sync" again after each failure; the TUI does the same every few minutes)."""
    started, runs, offline = time.monotonic(), 0, 0
    resent = {"retries": 0, "bytes_resent": 0, "largest_resent": 0}
    left = kills
    while runs < max_runs:
        runs += 1
        kill_after = rng.uniform(2.0, 25.0) if left > 0 else None
        report = sync_once(office, url, clock(), kill_after)
        if report.get("killed"):
            left -= 1
            continue
        for k in ("retries", "bytes_resent"):
            resent[k] += int(report.get(k, 0))
        resent["largest_resent"] = max(resent["largest_resent"], report.get("largest_resent", 0))
        if report.get("problem") == "offline":
            offline += 1
            time.sleep(1.0)
            continue
        if report.get("problem") or report.get("quarantined"):
            raise AssertionError(f"{office.code} sync: {report}")
        if report["accepted"] == report["local_size"]:
            return {
                "seconds": time.monotonic() - started,
                "runs": runs,
                "offline_runs": offline,
                **resent,
                "report": report,
            }
        left = max(left, 0)
    raise AssertionError(f"{office.code}: sync did not finish in {max_runs} runs")


@dataclass
class FieldConfig:
    days: Sequence[str] = WEEK
    per_day: tuple[int, int] = (15, 40)
    scan_share: float = 0.1
    work_kills_per_day: int = 2  # per office
    sync_kills: int = 2  # per office, during the first sync after the outage
    profile: str = "2g"
    seed: int = 1
    extra_day: str | None = "2026-12-01"  # worked after the big sync, then synced alone (timed)
    portal_timeout: float = 600.0


def _parallel(fns: Sequence[Any]) -> list[Any]:
    """Run the callables at once (one per office); re-raise the first failure."""
    results: list[Any] = [None] * len(fns)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = fns[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


class FieldRun:
    """The whole scenario in `root`; `run()` returns the figures and the checks' results."""

    def __init__(self, root: Path, config: FieldConfig) -> None:
        from hubkit import free_port  # here, not at the top: the PC's child never needs the hub

        self.root = root
        self.config = config
        self.rng = random.Random(config.seed)
        self.hub_db = f"sqlite:///{root / 'hub' / 'hub.db'}"
        self.hub_port = free_port()
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.sim_port = free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.clock = ScenarioClock(root / "clock.txt")
        self.offices = [
            Office(n, code, name, officer, root / f"office-{n}")
            for n, (code, name, officer) in enumerate(OFFICES)
        ]
        self.figures: dict[str, Any] = {
            "config": {
                "days": list(config.days),
                "per_day": list(config.per_day),
                "scan_share": config.scan_share,
                "profile": config.profile,
                "seed": config.seed,
            }
        }

    # -- processes --
    def _server(self, *args: str) -> list[str]:
        return [str(BIN / "sync-server"), "--db", self.hub_db, "--name", HUB_NAME, *args]

    @contextmanager
    def hub(self, start: str) -> Iterator[ScenarioClock]:
        self.clock.set(start)
        args = [sys.executable, str(Path(__file__)), "hub", self.hub_db, str(self.hub_port)]
        with (
            open(self.root / "hub.log", "ab") as log,
            process([*args, self.sim_url, str(self.clock.path)], stdout=log, stderr=log) as proc,
        ):
            _wait_http(f"{self.hub_url}/readyz", proc, "the hub")
            yield self.clock

    @contextmanager
    def portal(self) -> Iterator[None]:
        args = [str(BIN / "sync-server"), "portal", "simulate", "--port", str(self.sim_port)]
        args += ["--db", str(self.root / "portal-sim.db")]
        with process(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            _wait_http(f"{self.sim_url}/_sim/stats", proc, "the portal simulator")
            yield

    # -- phases --
    def enrol(self) -> None:
        (self.root / "hub").mkdir(parents=True, exist_ok=True)
        tokens = [
            run_json([*self._server("--json", "office", "add", o.code, "--name", o.name)])["token"]
            for o in self.offices
        ]
        with self.hub(ENROL_AT) as clock:
            for office, token in zip(self.offices, tokens, strict=True):
                env = commune_env(office.data, clock())
                run_json(
                    [
                        str(BIN / "commune"),
                        "--json",
                        "init",
                        "--office",
                        office.code,
                        "--office-name",
                        office.name,
                        "--officer",
                        office.officer,
                        "--server",
                        self.hub_url,
                        "--enroll",
                        token,
                    ],
                    env,
                )
                run_json([str(BIN / "commune"), "--json", "catalog", "demo"], env)
                # the first sync: the hub's cosignature gives the week's events a not-before
                run_json(
                    [str(BIN / "commune"), "--json", "sync"], commune_env(office.data, clock())
                )
        for office in self.offices:
            transfer = self.offices[1].code if office.number == 0 else None
            office.plan = plan_office(
                office.number,
                random.Random(f"{self.config.seed}-{office.number}"),
                days=self.config.days,
                per_day=self.config.per_day,
                scan_share=self.config.scan_share,
                transfer_to=transfer,
            )

    def offline_week(self) -> None:
        started = time.monotonic()
        for day in self.config.days:

            def one(office: Office, day: str = day) -> None:
                upto = [s for s in office.plan if s.at < f"{day}T23:59"]
                rng = random.Random(f"{self.config.seed}-{office.number}-{day}")
                work(office, upto, rng, self.config.work_kills_per_day)

            _parallel([lambda o=o: one(o) for o in self.offices])
        self.figures["week"] = {
            "seconds": round(time.monotonic() - started, 1),
            "steps": {o.code: len(o.plan) for o in self.offices},
            "acknowledged": {o.code: len(o.acked) for o in self.offices},
            "kills": {o.code: o.kills.work for o in self.offices},
            "entries": {o.code: self._size(o) for o in self.offices},
        }

    def _size(self, office: Office) -> int:
        conn = sqlite3.connect(f"file:{office.db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])
        finally:
            conn.close()

    def _synced(self, links: list[Any], clock: Any) -> dict[str, Any]:
        cfg = self.config
        out: dict[str, Any] = {
            "link": {"mode": links[0].mode, "netem": getattr(links[0], "netem_reason", "")}
        }
        a, b = self.offices[0], self.offices[1]

        def sync(o: Office, kills: int = 0) -> dict[str, Any]:
            rng = random.Random(f"{cfg.seed}-sync-{o.number}-{time.time()}")
            return sync_until_done(o, links[o.number].url, clock, rng, kills=kills)

        first = _parallel([lambda o=o: sync(o, cfg.sync_kills) for o in self.offices])
        out["first_sync"] = {
            o.code: {
                k: (round(v, 1) if isinstance(v, float) else v)
                for k, v in r.items()
                if k != "report"
            }
            for o, r in zip(self.offices, first, strict=True)
        }
        # the transfer: B gets A's dossier (a second round pulls it if B synced first), acts,
        # sends the result back; A pulls it and hands the result to the citizen
        _parallel([lambda o=o: sync(o) for o in self.offices])
        codes, _ = ledger_actions(a.db)
        moved = codes[transfer_key(a.number)]
        now = clock()
        b_steps = [
            Step(0, now, "", "accept", {}, code=moved),
            Step(1, now, "", "resolve", {"reason": "Đã cấp giấy chứng nhận"}, code=moved),
        ]
        work(b, b_steps, self.rng, 0)
        sync(b)
        sync(a)
        work(a, [Step(0, clock(), "", "return", {"via": "desk"}, code=moved)], self.rng, 0)
        sync(a)
        sync(b)  # B learns that A handed the result over
        out["transfer"] = {
            "code": moved,
            "from": a.code,
            "to": b.code,
            "status": {o.code: _status(o.db, moved) for o in (a, b)},
        }
        out["link_stats_week"] = [link.stats.__dict__ for link in links]
        out["payload_week"] = [payload_bytes(o.db) for o in self.offices]
        if cfg.extra_day:
            day_plans = {}
            for o in self.offices:
                plan = plan_office(
                    o.number,
                    random.Random(f"{cfg.seed}-extra-{o.number}"),
                    days=[cfg.extra_day],
                    per_day=cfg.per_day,
                    scan_share=cfg.scan_share,
                )
                for s in plan:
                    s.key = "9" + s.key[1:]  # applicants of the extra day: their own keys
                day_plans[o.code] = plan
            day_start = [self._size(o) for o in self.offices]
            _parallel([lambda o=o: work(o, day_plans[o.code], self.rng, 0) for o in self.offices])
            for link in links:
                link.reset_stats()
            self.clock.set(f"{cfg.extra_day}T17:00:00{VN}")  # the day's end: the PC syncs
            day = _parallel([lambda o=o: sync(o) for o in self.offices])
            out["one_day"] = {}
            for o, r in zip(self.offices, day, strict=True):
                payload = payload_bytes(o.db, day_start[o.number])
                payload["scans"] = sum(int(s.args.get("scan", 0)) for s in day_plans[o.code])
                out["one_day"][o.code] = {
                    "seconds": round(r["seconds"], 1),
                    "runs": r["runs"],
                    "entries": r["report"]["pushed"],
                    "scans": sum(1 for s in day_plans[o.code] if "scan" in s.args),
                    "wire_bytes": links[o.number].stats.wire_bytes,
                    "payload": payload,
                    **{k: r[k] for k in ("retries", "bytes_resent", "largest_resent")},
                }
        out["link_stats"] = [links[o.number].stats.__dict__ for o in self.offices]
        out["hub_metrics"] = _metrics(self.hub_url)
        out["portal"] = self._drain()
        # both offices learn that the portal accepted the transferred dossier
        _parallel([lambda o=o: sync(o) for o in (a, b)])
        out["transfer"]["sync_state"] = {o.code: _sync_state(o.data, moved) for o in (a, b)}
        return out

    def _drain(self) -> dict[str, Any]:
        """Wait until the outbox has forwarded everything, then reconcile."""
        started = time.monotonic()
        status: dict[str, Any] = {}
        while time.monotonic() - started < self.config.portal_timeout:
            status = run_json([*self._server("--json", "portal", "status")])
            if _outbox_empty(status):
                break
            time.sleep(1.0)
        else:
            raise AssertionError(f"the outbox did not drain: {status}")
        drained = time.monotonic() - started
        rec = run_json(
            [*self._server("--json", "reconcile", "--portal-url", self.sim_url)], ok=False
        )
        return {"drain_seconds": round(drained, 1), "status": status, "reconcile": rec}

    # -- checks --
    def portal_check(self) -> dict[str, Any]:
        """Every code received at a station is at the portal once, nothing else is, and no
        progress row is there twice."""
        import httpx

        dump = httpx.get(f"{self.sim_url}/_sim/dump", timeout=60).json()["data"]
        at_portal = Counter(d["MaHoSo"] for d in dump)
        received: set[str] = set()
        for o in self.offices:
            codes, _ = ledger_actions(o.db)
            received |= set(codes.values())
        rows_twice = 0
        for d in dump:
            rows = [json.dumps(r, sort_keys=True) for r in d.get("TienDoXuLy", [])]
            rows_twice += len(rows) - len(set(rows))
        return {
            "dossiers": len(at_portal),
            "received": len(received),
            "missing": sorted(received - set(at_portal))[:20],
            "extra": sorted(set(at_portal) - received)[:20],
            "twice": sorted(c for c, n in at_portal.items() if n > 1),
            "rows": sum(len(d.get("TienDoXuLy", [])) for d in dump),
            "rows_twice": rows_twice,
        }

    def hub_check(self) -> dict[str, Any]:
        """Each station's log is at the hub byte for byte (run with the hub stopped)."""
        from commune_client.station import Station
        from sync_server.storage import open_storage

        storage = open_storage(self.hub_db)
        out: dict[str, Any] = {}
        try:
            for o in self.offices:
                station = Station.open(o.data)
                sid = f"{o.code}-1"
                local = list(station.store.leaves(0, station.store.size()))
                with storage.transaction() as tx:
                    row = tx.station(sid)
                    assert row is not None, sid
                    held = tx.leaves(sid, 0, row.size)
                out[o.code] = {
                    "station": len(local),
                    "hub": len(held),
                    "identical": held == local,
                }
                station.close()
        finally:
            storage.close()
        return out

    def audit(self) -> dict[str, Any]:
        """The auditor: the hub's trust kit, each station's export, `commune-audit ledger`."""
        kit = self.root / "trust-kit.json"
        run_json([*self._server("--json", "trust-kit", str(kit))])
        out: dict[str, Any] = {}
        for o in self.offices:
            export = self.root / f"ledger-{o.number}.jsonl"
            env = commune_env(o.data, LINK_BACK_AT)
            run_json([str(BIN / "commune"), "--json", "export-ledger", str(export)], env)
            started = time.monotonic()
            report = run_json(
                [str(BIN / "commune-audit"), "--json", "ledger", str(export), "--trust", str(kit)],
                ok=False,
            )
            findings = report.get("findings", [])
            out[o.code] = {
                "ok": report.get("ok"),
                "entries": report.get("entries", report.get("size")),
                "errors": [f for f in findings if f.get("severity") == "error"][:10],
                "warnings": [f for f in findings if f.get("severity") == "warning"],
                "brackets": report.get("brackets") or report.get("time_brackets"),
                "seconds": round(time.monotonic() - started, 2),
            }
        return out

    def acked_check(self) -> dict[str, Any]:
        lost = {}
        for o in self.offices:
            missing = o.acked - steps_done(o.db, o.plan)
            lost[o.code] = sorted(missing)
        return lost

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.enrol()
        self.offline_week()
        synced = self.link_back_checked()
        self.figures.update(synced)
        self.figures["hub"] = self.hub_check()
        self.figures["audit"] = self.audit()
        self.figures["lost_acknowledged"] = self.acked_check()
        self.figures["kills"] = {
            "work": {o.code: o.kills.work for o in self.offices},
            "sync": {o.code: o.kills.sync for o in self.offices},
        }
        self.figures["seconds"] = round(time.monotonic() - started, 1)
        return self.figures

    def link_back_checked(self) -> dict[str, Any]:
        from linkemu import PROFILES, LinkEmulator

        cfg = self.config
        with self.portal(), self.hub(LINK_BACK_AT) as clock:
            links = [
                LinkEmulator(
                    "127.0.0.1",
                    self.hub_port,
                    profile=PROFILES[cfg.profile],
                    seed=cfg.seed * 10 + o.number,
                    prefer_netem=True,
                )
                for o in self.offices
            ]
            for link in links:
                link.start()
            try:
                out = self._synced(links, clock)
                out["portal"]["check"] = self.portal_check()
                return out
            finally:
                for link in links:
                    link.stop()


def payload_bytes(db: Path, start: int = 0) -> dict[str, int]:
    """What the link must carry at the least for entries [start, size) and the station's scans:
    the entries as one zstd batch (level 3, as the agent compresses) and the scans' bytes
    (incompressible). The wire figure is compared with this."""
    import orjson
    import zstandard

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        leaves = [
            bytes(r[0])
            for r in conn.execute("SELECT leaf FROM entries WHERE seq >= ? ORDER BY seq", (start,))
        ]
        scans = int(conn.execute("SELECT coalesce(sum(size), 0) FROM blobs").fetchone()[0])
    finally:
        conn.close()
    body = orjson.dumps({"entries": [orjson.Fragment(leaf) for leaf in leaves]})
    return {
        "entries": len(leaves),
        "entries_json": len(body),
        "entries_zstd": len(zstandard.ZstdCompressor(level=3).compress(body)),
        "scans": scans,
    }


def summarize(fig: dict[str, Any]) -> dict[str, Any]:
    """The figures the field report quotes, computed from `FieldRun.run()`'s output."""

    def ratio(wire: float, payload: float) -> float | None:
        return round(wire / payload, 3) if payload else None

    week_wire = sum(s["wire_bytes"] for s in fig["link_stats_week"])
    week_payload = sum(p["entries_zstd"] + p["scans"] for p in fig["payload_week"])
    entries_only = sum(p["entries_zstd"] for p in fig["payload_week"])
    day = fig.get("one_day") or {}
    day_wire = sum(d["wire_bytes"] for d in day.values())
    day_payload = sum(d["payload"]["entries_zstd"] + d["payload"]["scans"] for d in day.values())
    resets = sum(s["resets"] for s in fig["link_stats_week"]) + sum(
        s["resets"] for s in fig["link_stats"]
    )
    sync_kills = sum(fig["kills"]["sync"].values())
    metrics = fig["hub_metrics"]
    runs = [*fig["first_sync"].values(), *day.values()]
    audit = fig["audit"]
    check = fig["portal"]["check"]
    rec = fig["portal"]["reconcile"] or {}
    return {
        "link": fig["link"]["mode"],
        "netem": fig["link"]["netem"],
        "profile": fig["config"]["profile"],
        "dossiers": check["received"],
        "entries": sum(h["station"] for h in fig["hub"].values()),
        "work_kills": sum(fig["week"]["kills"].values()),
        "sync_kills": sync_kills,
        "link_resets": resets,
        "lost_acknowledged": sum(len(v) for v in fig["lost_acknowledged"].values()),
        "hub_identical": all(h["identical"] for h in fig["hub"].values()),
        "portal_exact": not (check["missing"] or check["extra"] or check["twice"])
        and check["rows_twice"] == 0,
        "reconcile_differences": sum(rec.get(k, 0) for k in ("missing", "stale", "extra")),
        "audit_ok": all(a["ok"] and not a["errors"] for a in audit.values()),
        "clock_anomalies": sum(
            1 for a in audit.values() for w in a["warnings"] if w["code"] == "clock-anomaly"
        ),
        "brackets_closed": sum(a["brackets"]["closed"] for a in audit.values()),
        "brackets_entries": sum(a["brackets"]["entries"] for a in audit.values()),
        "wire_week": week_wire,
        "payload_week": week_payload,
        "ratio_week": ratio(week_wire, week_payload),
        "entries_zstd_week": entries_only,
        "scans_week": week_payload - entries_only,
        "wire_day": day_wire,
        "payload_day": day_payload,
        "ratio_day": ratio(day_wire, day_payload),
        "first_sync_seconds": {k: v["seconds"] for k, v in fig["first_sync"].items()},
        "first_sync_runs": {k: v["runs"] for k, v in fig["first_sync"].items()},
        "day_sync_seconds": {k: v["seconds"] for k, v in day.items()},
        "day_sync_runs": {k: v["runs"] for k, v in day.items()},
        "day_entries": {k: v["payload"]["entries"] for k, v in day.items()},
        "day_scans": {k: v["scans"] for k, v in day.items()},
        "retries": sum(r["retries"] for r in runs),
        "bytes_resent": sum(r["bytes_resent"] for r in runs),
        "largest_resent": max((r["largest_resent"] for r in runs), default=0),
        "entries_resent": int(metrics.get("hub_entries_resent_total", 0)),
        "pushes_resending": int(metrics.get("hub_pushes_resending_total", 0)),
        "pushes": int(metrics.get("hub_pushes_total", 0)),
        "portal_drain_seconds": fig["portal"]["drain_seconds"],
        "seconds": fig["seconds"],
    }


def _status(db: Path, code: str) -> str | None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT status FROM dossiers WHERE code = ?", (code,)).fetchone()
        return str(row[0]) if row else None
    finally:
        conn.close()


def _sync_state(data: Path, code: str) -> str | None:
    from commune_client.station import Station
    from commune_client.sync import sync_states

    station = Station.open(data)
    try:
        return sync_states(station, [code]).get(code)
    finally:
        station.close()


def _outbox_empty(status: dict[str, Any]) -> bool:
    if status.get("dossiers_refused"):
        raise AssertionError(f"the portal refused dossiers: {status}")
    return not (
        status.get("outbox_rows")
        or status.get("dossiers_pending")
        or status.get("dossiers_uncertain")
    )


def _metrics(url: str) -> dict[str, float]:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=30).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("hub_") and "{" not in line:
            name, _, value = line.partition(" ")
            out[name] = float(value)
    return out


def main(argv: Sequence[str]) -> int:
    if argv[0] == "work":
        return _work(Path(argv[1]), Path(argv[2]))
    if argv[0] == "hub":
        return _hub(argv[1], int(argv[2]), argv[3], argv[4])
    raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
