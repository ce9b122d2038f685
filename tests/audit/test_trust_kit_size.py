"""A province's trust kit (`sync-server trust-kit`) stays under 1 MB (issue 8), built by the
real hub: the largest province after the 2025 merger has 166 communes; each here has three
reception points, and one station in ten was replaced after a loss (a revoked epoch 0 and its
epoch 1), so the kit carries both certificates, both origins and the revocation."""

from __future__ import annotations

from pathlib import Path

from ledger.encoding import b64url
from ledger.keys import SigningKey
from ledger.trustkit import load_kit
from schemas.canonical import canonical
from sync_server.hub import Hub, station_sid
from sync_server.storage import open_storage

COMMUNES = 166
STATIONS = 3
LIMIT = 1024 * 1024


def _enrol(hub: Hub, office: str, number: int, epoch: int, token: str) -> None:
    key = SigningKey.generate()
    status, _ = hub.enrol(
        {
            "token": token,
            "office": office,
            "station": number,
            "origin": f"{hub.name}/office/{office}/{number}/e{epoch}",
            "public_key": b64url(key.public),
            "name": f"UBND xã {office}",
        },
        key.key_id,
    )
    assert status == 201


def test_a_province_kit_is_under_one_megabyte(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'hub.db'}")
    hub = Hub(storage, name="hub.thanhhoa.gov.vn")
    n = 0
    for c in range(COMMUNES):
        office = f"000.{c // 100:02d}.{c % 100:02d}.H38"
        hub.add_office(office, f"UBND xã số {c}")
        for number in range(1, STATIONS + 1):
            token = hub.add_office(office, f"UBND xã số {c}")["token"]
            _enrol(hub, office, number, 0, token)
            n += 1
            if n % 10 == 0:
                again = hub.replace(station_sid(office, number), "Máy bị mất")
                _enrol(hub, office, number, 1, again["token"])
    kit = hub.trust_kit()
    size = len(canonical(kit))
    storage.close()
    loaded = load_kit(kit)  # signed by the issuer, and well-formed
    stations = COMMUNES * STATIONS
    assert len(loaded.model.origins) == stations + stations // 10
    assert len(loaded.model.revocations) == stations // 10
    print(f"trust kit: {size:,} bytes for {stations} stations ({size // stations} B each)")
    assert size <= LIMIT, f"{size} bytes for {stations} stations"
