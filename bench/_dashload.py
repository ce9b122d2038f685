"""Bulk loader for bench/dashboard.py: a hub database as ingest would have left it.

Each office gets one enrolled station whose log holds real signed events (Ed25519 by two
officers certified by the station key, `prev` = the Merkle root before the entry, canonical
bytes as leaves), pushed once per working day at close of business (one cosigned checkpoint a
push). The dossiers of those events are folded with `schemas.lifecycle.apply_event` exactly as
`hub._Router.route` does (conflicts quarantined, participants, dossier_events), their facts and
counters computed with `sync_server.aggregates.Aggregates`, and portal rows written as the
outbox would have left them. Everything is written with COPY (text format), the tables' indexes
dropped during the load and rebuilt after it.

Not written (the dashboard reads none of them): `feed`/`feed_counters` (transfer items to the
province's department), `tokens`, `nonces`, `blobs`, users and sessions.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar

import orjson
import psycopg

from ledger.certs import issue_certificate
from ledger.checkpoint import Checkpoint, cosign, sign_checkpoint
from ledger.encoding import b64, b64url
from ledger.keys import SigningKey
from ledger.log import station_origin
from ledger.merkle import MemoryNodeStore, MerkleTree, leaf_hash
from ledger.records import sign_record
from schemas.canonical import canonical_parsed
from schemas.event import EVENT_TYPE
from schemas.lifecycle import TransitionError, apply_event
from schemas.samples import dossier_lifecycle, station_open_body
from sync_server.aggregates import FACT_COLUMNS, Aggregates
from sync_server.portal.mapping import portal_day, portal_status

__all__ = ["DEPARTMENT", "HUB_NAME", "LoadConfig", "bulk_load", "office_code"]

VN = timezone(timedelta(hours=7))
HUB_NAME = "hub.phutho.gov.vn"
DEPARTMENT = ("H56.14", "Sở Tư pháp tỉnh Phú Thọ")  # where the sample lifecycles transfer to
WINDOW_DAYS = 182
EVENTS_PER_DOSSIER = 4.3  # first guess; each office adds or drops dossiers to hit its target
BIG_TABLES = (
    "entries",
    "nodes",
    "checkpoints",
    "certs",
    "forks",
    "dossiers",
    "dossier_events",
    "dossier_facts",
    "portal_dossiers",
    "outbox",
    "office_counts",
    "stations",
    "station_reports",
)
_PREFIX = ["Tân", "Phú", "Hưng", "An", "Bình", "Long", "Hòa", "Vĩnh", "Minh", "Thạch", "Sơn",
           "Đồng", "Cẩm", "Xuân", "Thanh", "Văn", "Hương", "Kim", "Phúc", "Quang"]  # fmt: skip
_SUFFIX = ["Lập", "Sơn", "Thịnh", "Phú", "Lộc", "Tiến", "Khê", "Cường", "Hà", "Lương", "Xá",
           "Nghĩa", "Đức", "Mỹ", "Thủy", "Trung", "Vinh", "Hải", "Quế", "Yên"]  # fmt: skip
_OFFICERS = ["Nguyễn Thị Hồng", "Trần Văn Nam", "Lê Thị Thu", "Phạm Minh Đức", "Hoàng Thị Mai"]


def office_code(n: int) -> str:
    """3,321 distinct codes shaped like `000.00.17.H56`."""
    return f"000.{n // 100:02d}.{n % 100:02d}.H56"


def office_name(n: int) -> str:
    kind = "phường" if n % 9 == 0 else "xã"
    return f"UBND {kind} {_PREFIX[n % 20]} {_SUFFIX[(n // 20) % 20]}"


@dataclass(frozen=True)
class LoadConfig:
    url: str
    offices: int
    events: int
    now: int
    issuer_seed: bytes
    cosigner_seed: bytes
    issuer_cert: dict[str, Any]
    targets: tuple[int, ...]  # entries per office (index n - 1)
    seed: int = 2026


# -- COPY text format -------------------------------------------------------------------------


def _t(value: Any) -> str:
    if value is None:
        return "\\N"
    s = value if isinstance(value, str) else str(value)
    if "\\" in s or "\n" in s or "\t" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return s


def _b(value: bytes | bytearray) -> str:
    return "\\\\x" + value.hex()


def _line(*values: str) -> str:
    return "\t".join(values) + "\n"


def _json(value: Any) -> str:
    return _t(orjson.dumps(value).decode())


class Tables:
    """COPY text per table for one batch of offices."""

    COLUMNS: ClassVar[dict[str, str]] = {
        "entries": "sid, seq, leaf, dossier, action, officer, claimed_time, quarantine, detail",
        "nodes": "sid, level, idx, hash",
        "checkpoints": "sid, size, note, cosigned, hub_unix",
        "certs": "key_id, sid, cert",
        "forks": "sid, n, at_unix, evidence",
        "stations": (
            "sid, ref, office, number, origin, key_id, public_key, cert, size, root, "
            "verify_state, checkpoint, cosigned, forked, revoked_through, enrolled_at, "
            "last_push_unix, clock_offset, enrol_answer"
        ),
        "station_reports": "sid, local_size, reported_unix",
        "dossiers": (
            "code, office, status, version, state, participants, events, conflicts, updated_unix"
        ),
        "dossier_events": "code, n, sid, seq",
        "bench_facts_stage": "k, " + ", ".join(FACT_COLUMNS),
        "portal_dossiers": (
            "code, office, day, pstatus, version, pending, next_unix, attempts, at_portal, "
            "sent_version, rows_sent, uncertain, refused, last_error, accepted_version, "
            "accepted_unix, updated_unix"
        ),
        "outbox": "code, version, enqueued_unix",
        "office_counts": "office, key, n",
    }

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {name: [] for name in self.COLUMNS}
        self.rows: dict[str, int] = dict.fromkeys(self.COLUMNS, 0)

    def add(self, table: str, *values: str) -> None:
        self.parts[table].append(_line(*values))
        self.rows[table] += 1

    def copy(self, conn: psycopg.Connection[Any]) -> None:
        with conn.cursor() as cur:
            for table, lines in self.parts.items():
                if not lines:
                    continue
                with cur.copy(f"COPY {table} ({self.COLUMNS[table]}) FROM STDIN") as cp:
                    for start in range(0, len(lines), 2000):
                        cp.write("".join(lines[start : start + 2000]))


# -- time model -------------------------------------------------------------------------------


def _unix(day: date, minutes: int) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=VN).timestamp()) + 60 * minutes


def working_days(now: int) -> list[date]:
    today = datetime.fromtimestamp(now, VN).date()
    first = today - timedelta(days=WINDOW_DAYS)
    days = (first + timedelta(days=i) for i in range(WINDOW_DAYS + 1))
    return [d for d in days if d.weekday() < 5]


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _reshape(events: list[dict[str, Any]], rng: random.Random) -> None:
    """Stretch a sample lifecycle (whose steps are minutes apart) to a commune's pace: the
    citizen brings a supplement days later, the department answers a transfer in days, most
    dossiers are resolved before their due date, some on it, a few late, a very few get stuck
    for months; results are collected a few days after. Whole days, kept off weekends."""
    first = events[0]["data"]
    limit = int(first["procedure"]["time_limit"])
    due = datetime.fromisoformat(first["due_at"])
    r = rng.random()
    if limit == 0:
        resolve = 0 if r < 0.96 else rng.randint(1, 4)
    elif r < 0.35:
        resolve = 0
    elif r < 0.88:
        resolve = rng.randint(0, max(0, limit - 1))
    elif r < 0.97:
        resolve = limit
    else:
        resolve = limit + rng.randint(1, 10)
    if rng.random() < 0.0015:
        resolve += rng.randint(30, 120)
    slow_supplement = rng.random() < 0.6
    shift = timedelta(0)
    for ev in events[1:]:
        action = ev["action"]
        extra = 0
        if action == "supplement" and slow_supplement:
            extra = rng.randint(1, 15)
        elif action == "accept":
            extra = rng.randint(1, 5)
        elif action == "resolve":
            extra = resolve
        elif action == "return":
            extra = rng.choice((0, 0, 0, 1, 1, 2, 3, 6))
        if extra:
            shift += timedelta(days=extra)
        if not shift and action != "reschedule":
            continue
        t = datetime.fromisoformat(ev["claimed_time"]) + shift
        if extra and t.weekday() >= 5:
            bump = timedelta(days=7 - t.weekday())
            shift += bump
            t += bump
        ev["claimed_time"] = _iso(t)
        if action == "supplement" and extra:
            due += timedelta(days=extra)  # the station moves the appointment by the wait
            ev["data"]["due_at"] = _iso(due)
        elif action == "reschedule":
            ev["data"]["new_due"] = _iso(max(due, t) + timedelta(days=3))
    last = events[-1]
    if last["action"] == "rate" and rng.random() < 0.004:  # a second rating: a conflict
        again = datetime.fromisoformat(last["claimed_time"]) + timedelta(
            minutes=rng.randint(10, 600)
        )
        events.append({**last, "claimed_time": _iso(again), "data": {"rating": 3}})


# -- one office -------------------------------------------------------------------------------


@dataclass
class _Dossier:
    start: datetime
    events: list[dict[str, Any]]
    times: list[int]
    held: int


def _seed_key(*parts: Any) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256("/".join(map(str, parts)).encode()).digest())


class OfficeBuilder:
    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.issuer = SigningKey.from_seed(cfg.issuer_seed)
        self.cosigner = SigningKey.from_seed(cfg.cosigner_seed)
        self.days = working_days(cfg.now)
        forks = {1 + (k * cfg.offices) // 3 + 7 for k in range(3)}
        self.forked = {n for n in forks if n <= cfg.offices}

    # station push schedule: once per working day at close of business
    def _pushes(self, rng: random.Random) -> list[int]:
        now = self.cfg.now
        pushes = [_unix(d, 17 * 60 + 5) + rng.randrange(0, 85 * 60) for d in self.days]
        pushes = [p for p in pushes if p < now - 60]
        local = datetime.fromtimestamp(now, VN)
        minutes = local.hour * 60 + local.minute
        if local.weekday() < 5 and 7 * 60 + 40 <= minutes < 17 * 60 + 5:
            pushes.append(now - rng.randrange(60, 1800))  # offices open: pushed a moment ago
        return pushes

    def _start(self, rng: random.Random) -> datetime:
        while True:
            day = rng.choice(self.days)
            m = rng.randrange(450)
            m = 7 * 60 + 30 + m if m < 240 else 13 * 60 + 30 + (m - 240)
            t = datetime(day.year, day.month, day.day, m // 60, m % 60, tzinfo=VN)
            if t.timestamp() < self.cfg.now - 3600:
                return t

    def _candidate(self, rng: random.Random, seed: int, office: str, cutoff: int) -> _Dossier:
        start = self._start(rng)
        events = dossier_lifecycle(seed, start, office=office)
        _reshape(events, rng)
        times = [int(datetime.fromisoformat(ev["claimed_time"]).timestamp()) for ev in events]
        return _Dossier(start, events, times, bisect.bisect_right(times, cutoff))

    def build(self, n: int, out: Tables) -> dict[str, int]:
        cfg = self.cfg
        rng = random.Random(cfg.seed * 1_000_003 + n)
        office, name = office_code(n), office_name(n)
        sid, ref = f"{office}-1", f"{office}/1"
        origin = station_origin(HUB_NAME, office, 1, 0)
        key = _seed_key("station", cfg.seed, n)
        officers = [_seed_key("officer", cfg.seed, n, j) for j in range(2)]

        # pushes, and how far this station got (most pushed today; a few lag; 3 forked)
        pushes = self._pushes(rng)
        profile = rng.random()
        last = len(pushes) - 1
        if n in self.forked:
            last -= rng.randint(2, 6)
        elif profile < 0.02:
            last -= rng.randint(5, 30)
        elif profile < 0.05:
            last -= rng.randint(1, 3)
        pushes = pushes[: max(1, last + 1)]
        cutoff = pushes[-1]

        # dossiers until the log holds its target (3 entries are station-open and enrolments)
        target = cfg.targets[n - 1] - 3
        kept: list[_Dossier] = []
        held = 0
        k = 0
        while held < target:
            batch = max(1, int((target - held) / EVENTS_PER_DOSSIER))
            for _ in range(batch):
                d = self._candidate(rng, n * 100_000 + k, office, cutoff)
                k += 1
                if d.held:
                    kept.append(d)
                    held += d.held
        excess = held - target
        for i in rng.sample(range(len(kept)), len(kept)):
            if excess == 0:
                break
            if kept[i].held <= excess:
                excess -= kept[i].held
                kept[i].held = 0
        kept = [d for d in kept if d.held]
        kept.sort(key=lambda d: d.start)
        for i, d in enumerate(kept):
            code = f"{office}-{d.start:%y%m%d}-{i % 9999 + 1:04d}"
            for ev in d.events:
                ev["dossier"] = code
            d.events[0]["data"]["book_row"] = i + 1

        # the station's log: enrolment entries, then every held dossier event in time order
        enrolled = _unix(self.days[0] - timedelta(days=3), 9 * 60)
        enrolled_iso = _iso(datetime.fromtimestamp(enrolled, VN))
        open_iso = _iso(datetime.fromtimestamp(enrolled + 1800, VN))
        cert = issue_certificate(
            self.issuer,
            key.public,
            role="station",
            name=name,
            office=office,
            station=1,
            not_before=enrolled_iso,
        )
        ocerts = [
            issue_certificate(
                key,
                o.public,
                role="officer",
                name=_OFFICERS[(n + j) % len(_OFFICERS)],
                office=office,
                station=1,
                not_before=enrolled_iso,
            )
            for j, o in enumerate(officers)
        ]
        base = {"claimed_time": open_iso, "beacon": None, "dossier": None}
        log: list[tuple[int, int, int, dict[str, Any], SigningKey]] = [
            (enrolled + 1800, -1, 0, station_open_body(
                cert, open_iso, office={"code": office, "name": name}
            ), key),
            *((enrolled + 1800, -1, 1 + j, {**base, "action": "officer-enrol",
               "data": {"cert": c}}, key) for j, c in enumerate(ocerts)),
        ]  # fmt: skip
        for di, d in enumerate(kept):
            signer = officers[di % 2]
            for j in range(d.held):
                log.append((d.times[j], di, j, d.events[j], signer))
        log.sort(key=lambda e: (e[0], e[1], e[2]))

        store = MemoryNodeStore()
        tree = MerkleTree(store)
        per_dossier: list[list[tuple[int, dict[str, Any], int]]] = [[] for _ in kept]
        entry_rows: list[tuple[int, bytes, dict[str, Any]]] = []
        checkpoints: list[tuple[int, bytes, int]] = []
        push_of = [max(bisect.bisect_left(pushes, e[0]), 0) for e in log]
        for seq, (_, di, _, body, signer) in enumerate(log):
            ev = {
                **body,
                "type": EVENT_TYPE,
                "station": ref,
                "seq": seq,
                "prev": b64(tree.root()),
                "officer": signer.key_id,
            }
            ev["sig"] = b64url(signer.sign(canonical_parsed(ev)))
            leaf = canonical_parsed(ev)
            tree.append_hash(leaf_hash(leaf))
            at = pushes[push_of[seq]]
            entry_rows.append((seq, leaf, ev))
            if di >= 0:
                per_dossier[di].append((seq, ev, at))
            if seq + 1 == len(log) or push_of[seq + 1] != push_of[seq]:
                checkpoints.append((seq + 1, tree.root(), at))
        size = len(log)

        # route: fold each dossier as the hub does, with its facts and counters
        agg = Aggregates()
        quarantine: dict[int, tuple[str, str]] = {}
        outage = rng.random() < 0.02
        stats = {"dossiers": 0, "conflicts": 0}
        for di, d in enumerate(kept):
            code = d.events[0]["dossier"]
            state: dict[str, Any] | None = None
            conflicts = 0
            participants = [office]
            for count, (seq, ev, _) in enumerate(per_dossier[di]):
                action = ev["action"]
                if action == "transfer" and DEPARTMENT[0] not in participants:
                    participants.append(DEPARTMENT[0])
                try:
                    state = apply_event(state, ev)
                except TransitionError as exc:
                    conflicts += 1
                    quarantine[seq] = ("conflict", exc.message_en)
                out.add("dossier_events", code, str(count), sid, str(seq))
            assert state is not None
            updated = per_dossier[di][-1][2]
            version = int(state.get("version", len(per_dossier[di])))
            nev = len(per_dossier[di])
            out.add(
                "dossiers",
                code,
                office,
                _t(state["status"]),
                str(version),
                _json(state),
                _json(participants),
                str(nev),
                str(conflicts),
                str(updated),
            )
            agg.dossier(office, None, state)
            fact = agg.facts[-1]
            out.add("bench_facts_stage", f"{updated:011d}{code}", *(_t(v) for v in fact))
            self._portal(out, rng, code, office, state, version, per_dossier[di], outage)
            stats["dossiers"] += 1
            stats["conflicts"] += conflicts

        # the log's rows
        for seq, leaf, ev in entry_rows:
            held_q = quarantine.get(seq)
            out.add(
                "entries",
                sid,
                str(seq),
                _b(leaf),
                _t(ev.get("dossier")),
                _t(str(ev.get("action"))),
                _t(str(ev.get("officer"))),
                _t(str(ev.get("claimed_time"))),
                _t(held_q[0] if held_q else None),
                _t(held_q[1] if held_q else None),
            )
        for level, row in enumerate(store._levels):
            for idx in range(len(row) // 32):
                out.add("nodes", sid, str(level), str(idx), _b(row[idx * 32 : idx * 32 + 32]))
        for c in ocerts:
            out.add("certs", c["key_id"], sid, _json(c))
        note = cosigned = ""
        for cp_size, root, at in checkpoints:
            note = sign_checkpoint(Checkpoint(origin, cp_size, root), key)
            cosigned = note + cosign(note, self.cosigner, HUB_NAME, at).line
            out.add("checkpoints", sid, str(cp_size), _t(note), _t(cosigned), str(at))

        # the station row and what it last reported
        conflicts = sum(1 for r, _ in quarantine.values() if r == "conflict")
        agg.add(office, "entries", size)
        agg.add(office, "quarantined", len(quarantine))
        agg.add(office, "conflicts", conflicts)
        clock_offset = None
        if rng.random() < 0.01:
            clock_offset = rng.choice((-1, 1)) * rng.randint(150, 3600)
            agg.add(office, "clock_anomalies", rng.randint(1, 20))
        forked = n in self.forked
        if forked:
            bad = sign_checkpoint(
                Checkpoint(origin, size, hashlib.sha256(b"other" + office.encode()).digest()), key
            )
            evidence = {
                "type": "commune.fork/v1",
                "origin": origin,
                "station_cert": cert,
                "accepted": cosigned,
                "conflicting": bad,
                "index": None,
                "held_leaf": None,
                "sent_leaf": None,
                "found_at": _iso(datetime.fromtimestamp(cutoff + 86400, VN)),
            }
            out.add("forks", sid, "1", str(cutoff + 86400), _json(evidence))
        signers = {
            key.key_id: {"public": b64url(key.public), "name": name, "station": True,
                         "retired_at": None},
            **{c["key_id"]: {"public": c["public_key"], "name": c["name"], "station": False,
                             "retired_at": None} for c in ocerts},
        }  # fmt: skip
        verify_state = {
            "size": size,
            "stack": [b64(h) for h in _frontier(store, size)],
            "last_time": log[-1][3]["claimed_time"],
            "signers": signers,
        }
        out.add(
            "stations",
            sid,
            ref,
            office,
            "1",
            origin,
            key.key_id,
            b64url(key.public),
            _json(cert),
            str(size),
            b64(tree.root()),
            _json(verify_state),
            _t(note),
            _t(cosigned),
            str(int(forked)),
            "\\N",
            enrolled_iso,
            str(cutoff),
            _t(clock_offset),
            _json(self._enrol_answer(cert, office, name, origin, key, enrolled)),
        )
        waiting = rng.randint(5, 80) if rng.random() < 0.04 else 0
        out.add("station_reports", sid, str(size + waiting), str(cutoff))

        # counters: the dossiers' contributions (ingest deletes a counter back at zero)
        counts = agg.deltas.get(office, {})
        keys = {k for k, n in counts.items() if n}
        for k in sorted(keys):
            out.add("office_counts", office, _t(k), str(int(counts.get(k, 0))))
        stats["entries"] = size
        return stats

    def _portal(
        self,
        out: Tables,
        rng: random.Random,
        code: str,
        office: str,
        state: dict[str, Any],
        version: int,
        events: Sequence[tuple[int, dict[str, Any], int]],
        outage: bool,
    ) -> None:
        """The portal's view: most accepted; an office whose portal agency is down has the last
        three days waiting; a few uncertain or refused; anything pushed in the last minutes
        still due."""
        now = self.cfg.now
        updated = events[-1][2]
        day = portal_day(state["received_at"])
        pstatus = portal_status(state["status"])
        r = rng.random()
        pending = outage and updated >= now - 3 * 86400
        uncertain = not pending and r < 0.0004
        refused = not pending and 0.0004 <= r < 0.0008
        fresh = updated >= now - 300
        if not (pending or uncertain or refused or fresh):
            accepted = updated + rng.randint(5, 180)
            out.add(
                "portal_dossiers", code, office, day, str(pstatus), str(version), "0", "0", "0",
                "1", str(version), str(version), "0", "0", "\\N", str(version), str(accepted),
                str(updated),
            )  # fmt: skip
            return
        before = sum(1 for _, _, at in events if at < now - 3 * 86400) if pending else version - 1
        accepted_version = max(0, min(version - 1, before))
        error = None
        if pending:
            error = "ConnectTimeout: cổng DVC của tỉnh không trả lời"
        elif refused:
            error = "portal refused: MaTTHC không có trong danh mục của cơ quan"
        attempts = rng.randint(1, 9) if error else 0
        next_unix = updated if fresh and not error else now + rng.randint(60, 3600)
        out.add(
            "portal_dossiers", code, office, day, str(pstatus), str(version), "1", str(next_unix),
            str(attempts), str(int(accepted_version > 0 or uncertain)),
            str(accepted_version), str(accepted_version), str(int(uncertain)), str(int(refused)),
            _t(error), str(accepted_version), "\\N" if not accepted_version else str(updated - 60),
            str(updated),
        )  # fmt: skip
        out.add("outbox", code, str(version), str(updated))

    def _enrol_answer(
        self, cert: dict[str, Any], office: str, name: str, origin: str, key: SigningKey, at: int
    ) -> dict[str, Any]:
        hub = {
            "name": HUB_NAME,
            "issuer_cert": self.cfg.issuer_cert,
            "cosigner": {
                "name": HUB_NAME,
                "public_key": b64url(self.cosigner.public),
                "key_id": self.cosigner.key_id,
            },
            "hub_time": _iso(datetime.fromtimestamp(at, VN)),
            "hub_unix": at,
        }
        kit = {
            "type": "commune.trust-kit/v1",
            "issued_at": hub["hub_time"],
            "issuer": self.cfg.issuer_cert,
            "hub": {
                "name": HUB_NAME,
                "cosigner": b64url(self.cosigner.public),
                "cosigner_key_id": self.cosigner.key_id,
            },
            "stations": [cert],
            "origins": [{"origin": origin, "station": f"{office}/1", "key_id": key.key_id}],
            "revocations": [],
        }
        return {
            "station_cert": cert,
            "hub": hub,
            "office": {"code": office, "name": name},
            "trust_kit": sign_record(kit, self.issuer),
        }


def _frontier(store: MemoryNodeStore, size: int) -> list[bytes]:
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append(store.get(level, start >> level))
            start += 1 << level
    return out


# -- workers ----------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(cfg: LoadConfig) -> None:
    _WORKER["builder"] = OfficeBuilder(cfg)
    _WORKER["conn"] = psycopg.connect(cfg.url, autocommit=False)


def _work(offices: Sequence[int]) -> dict[str, int]:
    builder: OfficeBuilder = _WORKER["builder"]
    conn = _WORKER["conn"]
    out = Tables()
    totals: dict[str, int] = {"offices": 0}
    t = time.perf_counter()
    for n in offices:
        for k, v in builder.build(n, out).items():
            totals[k] = totals.get(k, 0) + v
        totals["offices"] += 1
    totals["gen_ms"] = int(1000 * (time.perf_counter() - t))
    t = time.perf_counter()
    out.copy(conn)
    conn.commit()
    totals["copy_ms"] = int(1000 * (time.perf_counter() - t))
    return totals


# -- the whole load ---------------------------------------------------------------------------


def targets(offices: int, events: int, seed: int) -> tuple[int, ...]:
    """Entries per office: communes differ (lognormal), summing to exactly `events`."""
    rng = random.Random(seed)
    weights = [rng.lognormvariate(0, 0.45) for _ in range(offices)]
    total = sum(weights)
    raw = [events * w / total for w in weights]
    out = [max(40, int(x)) for x in raw]
    short = events - sum(out)
    order = sorted(range(offices), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    for i in range(abs(short)):
        out[order[i % offices]] += 1 if short > 0 else -1
    return tuple(out)


def _index_ddl(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(drop, create) statements of the load tables' keys and indexes, from the catalog."""
    out: list[tuple[str, str]] = []
    names = list(BIG_TABLES)
    cons = conn.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c WHERE c.contype IN ('p', 'u') "
        "AND c.conrelid::regclass::text = ANY(%s)",
        (names,),
    ).fetchall()
    owned = {name for _, name, _ in cons}
    for table, name, definition in cons:
        out.append(
            (
                f"ALTER TABLE {table} DROP CONSTRAINT {name}",
                f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}",
            )
        )
    for name, definition in conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "AND tablename = ANY(%s)",
        (names,),
    ).fetchall():
        if name not in owned:
            out.append((f"DROP INDEX {name}", definition))
    return out


def bulk_load(
    cfg: LoadConfig, workers: int, progress: Callable[[str], None], chunk: int = 8
) -> dict[str, float]:
    """Fill the (empty, schema-created) database of `cfg.url`; returns phase timings."""
    import multiprocessing as mp

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with psycopg.connect(cfg.url, autocommit=True) as conn:
        ddl = _index_ddl(conn)
        for drop, _ in ddl:
            conn.execute(drop)
        conn.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS bench_facts_stage (k TEXT NOT NULL, "
            + ", ".join(
                f"{c} {'BIGINT' if c in ('supplement_rounds', 'is_open', 'due_unix') else 'TEXT'}"
                for c in FACT_COLUMNS
            )
            + ")"
        )
        with conn.cursor().copy("COPY offices (code, name, created_at) FROM STDIN") as cp:
            created = _iso(datetime.fromtimestamp(cfg.now - (WINDOW_DAYS + 5) * 86400, VN))
            cp.write(_line(DEPARTMENT[0], DEPARTMENT[1], created))
            for n in range(1, cfg.offices + 1):
                cp.write(_line(office_code(n), office_name(n), created))
    batches = [
        list(range(s, min(s + chunk, cfg.offices + 1))) for s in range(1, cfg.offices + 1, chunk)
    ]
    done: dict[str, int] = {}
    step = max(chunk, cfg.offices // 20)
    shown = 0
    t = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg,)) as pool:
        for got in pool.imap_unordered(_work, batches):
            for k, v in got.items():
                done[k] = done.get(k, 0) + v
            if done["offices"] - shown >= step or done["offices"] == cfg.offices:
                shown = done["offices"]
                rate = done.get("entries", 0) / (time.perf_counter() - t)
                progress(
                    f"  {done['offices']:>5}/{cfg.offices} offices, {done.get('entries', 0):>11,}"
                    f" entries, {done.get('dossiers', 0):>10,} dossiers"
                    f"  ({rate:,.0f} entries/s; worker time generating"
                    f" {done['gen_ms'] / 1000:.0f} s, copying {done['copy_ms'] / 1000:.0f} s)"
                )
    timings["generate_and_copy_s"] = time.perf_counter() - t
    with psycopg.connect(cfg.url, autocommit=True) as conn:
        t = time.perf_counter()
        progress("  dossier_facts in order of last change (as updates leave them)...")
        cols = ", ".join(FACT_COLUMNS)
        conn.execute(
            f"INSERT INTO dossier_facts ({cols}) SELECT {cols} FROM bench_facts_stage ORDER BY k"
        )
        conn.execute("DROP TABLE bench_facts_stage")
        timings["facts_s"] = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        for _, create in ddl:
            progress(f"  {create[:100]}")
            conn.execute(create)
        timings["indexes_s"] = time.perf_counter() - t
        t = time.perf_counter()
        progress("  VACUUM ANALYZE...")
        conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = time.perf_counter() - t
        loaded = {"offices": cfg.offices, "events": cfg.events, "now": cfg.now}
        conn.execute(
            "INSERT INTO hub_meta (key, value) VALUES ('bench:loaded', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (orjson.dumps(loaded).decode(),),
        )
    timings["total_s"] = time.perf_counter() - t0
    return timings


def summary(rows: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{name} {n:,}" for name, n in rows)
