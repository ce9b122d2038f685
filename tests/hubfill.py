"""Fill a hub with realistic signed offices' logs, in process (for the portal's tests).

Each office is one station whose officer works whole dossier lifecycles (bench/ledger.py's
mix: receive, supplements, transfers... to rating), signed, and pushed through `Hub.push` with
full verification, exactly as over HTTP minus the transport.
"""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ledger.encoding import b64url
from schemas.samples import dossier_lifecycle
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


def lifecycle_station(office: str, dossiers: int) -> Any:
    """bench/hub.py's station, holding whole lifecycles, checkpointed at half and at the end."""
    work = lifecycles(office, dossiers)
    half = 2 + len(work) // 2  # station-open and officer-enrol come first
    return BenchStation(office, 0, cuts=(half,), work=work, hub=HUB_NAME, t0=T0)


def _bench_station() -> Any:
    spec = importlib.util.spec_from_file_location("bench_hub", ROOT / "bench" / "hub.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.BenchStation


BenchStation = _bench_station()


def office_code(n: int) -> str:
    return f"000.00.{n:02d}.H56"


class FilledOffice:
    def __init__(self, hub: Hub, office: str, dossiers: int) -> None:
        self.hub = hub
        self.station = lifecycle_station(office, dossiers)
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
                "public_key": b64url(st.key.public),
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
