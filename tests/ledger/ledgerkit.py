from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from ledger.certs import issue_certificate
from ledger.keys import SigningKey
from ledger.log import StationLog, station_origin
from ledger.merkle import MemoryNodeStore
from schemas.samples import receive_body, station_open_body

OFFICE = "000.00.17.H56"
ORIGIN = station_origin("hub.example.vn", OFFICE, 1, 0)
T0 = "2026-11-23T08:00:00+07:00"


@dataclass
class Ledger:
    log: StationLog
    station: SigningKey
    station_cert: dict[str, Any]
    officers: list[SigningKey]
    leaves: list[bytes] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)


START = datetime.fromisoformat(T0)


def claimed(i: int) -> datetime:
    return START + timedelta(minutes=7 * i)


def build_ledger(n_dossier_events: int, *, officers: int = 2, checkpoint_every: int = 0) -> Ledger:
    """A realistic little ledger: station-open, officer enrolments, then receive events."""
    station = SigningKey.from_seed(b"s" * 32)
    cert = issue_certificate(
        station,
        station.public,
        role="station",
        name="Xã Tân Lập",
        office=OFFICE,
        station=1,
        not_before=T0,
    )
    log = StationLog(ORIGIN, f"{OFFICE}/1", station, MemoryNodeStore())
    led = Ledger(
        log, station, cert, [SigningKey.from_seed(bytes([i]) * 32) for i in range(officers)]
    )

    def add(body: dict[str, Any], signer: SigningKey) -> None:
        led.leaves.append(log.append(body, signer).leaf)
        if checkpoint_every and log.size % checkpoint_every == 0:
            led.checkpoints.append(log.checkpoint())

    base = {"claimed_time": T0, "beacon": None, "dossier": None}
    add(station_open_body(cert, T0), station)
    for i, off in enumerate(led.officers):
        oc = issue_certificate(
            station,
            off.public,
            role="officer",
            name=f"Cán bộ {i}",
            office=OFFICE,
            station=1,
            not_before=T0,
        )
        add({**base, "action": "officer-enrol", "data": {"cert": oc}}, station)
    for i in range(n_dossier_events):
        add(receive_body(i, claimed(i)), led.officers[i % officers])
    led.checkpoints.append(log.checkpoint())
    return led


@pytest.fixture
def ledger() -> Ledger:
    return build_ledger(40, checkpoint_every=10)
