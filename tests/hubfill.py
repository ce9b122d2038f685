"""Fill a hub with realistic signed offices' logs, in process (for the portal's tests).

Each office is one station whose officer works whole dossier lifecycles (bench/ledger.py's
mix: receive, supplements, transfers... to rating), signed, and pushed through `Hub.push` with
full verification, exactly as over HTTP minus the transport.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ledger.certs import issue_certificate
from ledger.keys import SigningKey
from ledger.log import StationLog, station_origin
from ledger.merkle import MemoryNodeStore
from schemas.samples import dossier_lifecycle, station_open_body
from sync_server.hub import Hub

ROOT = Path(__file__).resolve().parent.parent
HUB_NAME = "hub.test"
T0 = "2026-11-02T07:00:00+07:00"
TRANSFER_TO = "H56.14"  # the provincial department the sample lifecycles transfer to


START = datetime.fromisoformat("2026-11-02T07:30:00+07:00")
PER_DAY = 40  # a rural commune's busy day


def lifecycles(office: str, dossiers: int) -> list[dict[str, Any]]:
    """Whole lifecycles (receipt to return and rating) of `dossiers` dossiers, `PER_DAY`
    received per day, merged into one desk's timeline (claimed times never go back)."""
    out: list[dict[str, Any]] = []
    for i in range(dossiers):
        day, k = divmod(i, PER_DAY)
        start = START + timedelta(days=day, minutes=12 * k)
        out += dossier_lifecycle(i, start, office=office)
    out.sort(key=lambda b: datetime.fromisoformat(b["claimed_time"]))
    return out


class LifecycleStation:
    """One signed station log holding whole lifecycles (like bench/hub.py's BenchStation)."""

    def __init__(self, office: str, dossiers: int) -> None:
        self.office = office
        self.key = SigningKey.generate()
        officer = SigningKey.generate()
        self.origin = station_origin(HUB_NAME, office, 1, 0)
        cert = issue_certificate(
            self.key, self.key.public, role="station", name=f"Xã {office}", office=office,
            station=1, not_before=T0,
        )  # fmt: skip
        ocert = issue_certificate(
            self.key, officer.public, role="officer", name="Nguyễn Thị Hoa", office=office,
            station=1, not_before=T0,
        )  # fmt: skip
        log = StationLog(self.origin, f"{office}/1", self.key, MemoryNodeStore())
        base = {"claimed_time": T0, "beacon": None, "dossier": None}
        self.leaves = [
            log.append(
                station_open_body(cert, T0, office={"code": office, "name": f"Xã {office}"}),
                self.key,
            ).leaf,
            log.append({**base, "action": "officer-enrol", "data": {"cert": ocert}}, self.key).leaf,
        ]
        bodies = lifecycles(office, dossiers)
        half = len(self.leaves) + len(bodies) // 2
        self.checkpoints: dict[int, str] = {}
        for body in bodies:
            self.leaves.append(log.append(body, officer).leaf)
            if log.size == half:
                self.checkpoints[log.size] = log.checkpoint()
        self.checkpoints[log.size] = log.checkpoint()
        self.events = [orjson.loads(leaf) for leaf in self.leaves]

    @property
    def sid(self) -> str:
        return f"{self.office}-1"


def office_code(n: int) -> str:
    return f"000.00.{n:02d}.H56"


class FilledOffice:
    def __init__(self, hub: Hub, office: str, dossiers: int) -> None:
        self.hub = hub
        self.station = LifecycleStation(office, dossiers)
        self.office = office
        self.pushed = 0
        token = hub.add_office(office, f"UBND xã {office}")["token"]
        st = self.station
        status, _ = hub.enrol(
            {
                "token": token,
                "office": office,
                "station": 1,
                "origin": st.origin,
                "public_key": _b64(st.key.public),
                "name": f"Xã {office}",
            },
            st.key.key_id,
        )
        assert status == 201

    @property
    def size(self) -> int:
        return len(self.station.leaves)

    def push(self, upto: int | None = None) -> None:
        """Push the log up to checkpointed size `upto` (default: all of it)."""
        st = self.station
        end = upto or self.size
        assert end in st.checkpoints, f"no checkpoint at {end}"
        batch = {
            "type": "commune.batch/v1",
            "station": f"{self.office}/1",
            "origin": st.origin,
            "from": self.pushed,
            "to": end,
            "entries": st.events[self.pushed : end],
            "checkpoint": st.checkpoints[end],
        }
        with self.hub.storage.transaction() as tx:
            row = tx.station(st.sid)
        assert row is not None
        answer = self.hub.push(row, st.sid, orjson.dumps(batch))
        assert answer["accepted"] == end, answer
        self.pushed = end

    def codes(self) -> set[str]:
        return {e["dossier"] for e in self.station.events if e.get("dossier")}


def _b64(raw: bytes) -> str:
    from ledger.encoding import b64url

    return b64url(raw)


def fill_hub(
    hub: Hub, offices: int, dossiers_per_office: int, *, half: bool = False, first: int = 1
) -> list[FilledOffice]:
    """`offices` enrolled stations with whole lifecycles of `dossiers_per_office` dossiers each,
    pushed (only the first half of each log when `half`; push the rest with `office.push()`)."""
    with hub.storage.transaction() as tx:
        known = tx.office(TRANSFER_TO) is not None
    if not known:
        hub.add_office(TRANSFER_TO, "Sở Tư pháp")
    out = []
    for n in range(first, first + offices):
        office = FilledOffice(hub, office_code(n), dossiers_per_office)
        office.push(min(office.station.checkpoints) if half else None)
        out.append(office)
    return out
