"""A station: one reception point of an office, its keys and its signed log (DESIGN section 4).

`Station.create` sets up a station: the station key and its certificate (self-signed for a
stand-alone station; issued by the hub when `commune init --server URL --enroll TOKEN` enrolled
the key first, see `commune_client.sync.enroll_new`), the first officer, and the log's first
entries (`station-open`, `officer-enrol`).
`Station.sign_in` unlocks an officer: their key file opens with their passphrase, and their key
unwraps the station secret that opens the station key, so checkpoints are only ever signed
while an officer is signed in. `Session.record` is the one write path for every event.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from commune_client.clock import iso
from commune_client.deadlines import VN_TZ
from commune_client.errors import (
    BadInput,
    CommuneError,
    NotFound,
    NotInitialized,
    TransitionRefused,
)
from commune_client.projection import dossier_state, project
from commune_client.store import SqliteNodeStore, Store, open_store
from ledger.certs import issue_certificate
from ledger.encoding import b64url
from ledger.errors import LedgerError
from ledger.keys import SigningKey
from ledger.log import Appended, StationLog, station_origin
from schemas.lifecycle import TransitionError, apply_event, check_transition
from schemas.types import OfficeCode

__all__ = ["Session", "Station", "StationInfo"]

LOCAL_HUB = "local"  # the hub domain in a stand-alone station's origin, until it enrols


@dataclass(frozen=True)
class StationInfo:
    office: str
    office_name: str
    station: int
    epoch: int
    origin: str
    station_cert: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.office}/{self.station}"


class Station:
    def __init__(self, store: Store, info: StationInfo) -> None:
        self.store = store
        self.info = info

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, data_dir: Path) -> Station:
        try:
            store = open_store(data_dir)
        except FileNotFoundError as exc:
            raise NotInitialized(
                f"Chưa có dữ liệu trạm ở {data_dir}. Chạy `commune init` trước."
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise CommuneError(f"Không mở được cơ sở dữ liệu {data_dir}: {exc}") from exc
        raw = store.meta("station")
        if raw is None:
            store.close()
            raise NotInitialized(f"Trạm ở {data_dir} chưa được khởi tạo xong. Chạy `commune init`.")
        return cls(store, StationInfo(**orjson.loads(raw)))

    @classmethod
    def create(
        cls,
        data_dir: Path,
        *,
        office: str,
        office_name: str,
        officer_name: str,
        passphrase: str,
        now: datetime,
        station: int = 1,
        title: str | None = None,
        hub: str = LOCAL_HUB,
        station_key: SigningKey | None = None,
        station_cert: dict[str, Any] | None = None,
        meta: Mapping[str, str] | None = None,
        epoch: int = 0,
        previous: Mapping[str, Any] | None = None,
    ) -> Station:
        """A new station. Stand-alone by default (`hub` = "local", a fresh key, a self-signed
        certificate). An enrolled station passes the key the hub certified, the hub's
        certificate for it, the hub's name, and the hub details to keep in `meta` (written in
        the same transaction as the station itself).

        A replacement PC (epoch >= 1, enrolled after `sync-server station replace`) passes
        what the hub said of the previous epoch (`previous`: its origin and the last checkpoint
        the hub cosigned in it); its log then opens with `station-open` and a `continuity`
        event naming that checkpoint (DESIGN 4 "Keys")."""
        if epoch and (previous is None or station_cert is None):
            raise BadInput("Trạm thay thế (kỷ nguyên mới) phải đăng ký với máy chủ khi khởi tạo")
        cls.check_new(
            data_dir,
            office=office,
            office_name=office_name,
            officer_name=officer_name,
            passphrase=passphrase,
            station=station,
        )
        at = iso(now)
        if (station_key is None) != (station_cert is None):
            raise BadInput("Khóa trạm và chứng thư trạm phải đi cùng nhau")
        officer_key = SigningKey.generate()
        secret = os.urandom(32)
        if station_key is None or station_cert is None:
            station_key = SigningKey.generate()
            cert = issue_certificate(
                station_key,
                station_key.public,
                role="station",
                name=office_name.strip(),
                office=office,
                station=station,
                not_before=at,
            )
        else:
            cert = dict(station_cert)
            if (
                cert.get("key_id") != station_key.key_id
                or cert.get("role") != "station"
                or cert.get("office") != office
                or cert.get("station") != station
            ):
                raise BadInput("Chứng thư trạm không khớp với khóa, đơn vị hoặc số trạm")
        info = StationInfo(
            office,
            office_name.strip(),
            station,
            epoch,
            station_origin(hub, office, station, epoch),
            cert,
        )
        store = open_store(data_dir, create=True)
        with store.write() as conn:
            store.set_meta("station", orjson.dumps(info.__dict__).decode())
            for key, value in (meta or {}).items():
                store.set_meta(key, value)
            if epoch:
                # The lost PC may have issued codes today that no one else knows of: this
                # epoch takes today's numbers from the upper half of the station's block.
                store.set_meta("epoch_day", f"{now.astimezone(VN_TZ):%y%m%d}")
            conn.execute(
                "INSERT INTO station_key (id, key_file) VALUES (1, ?)",
                (station_key.seal(b64url(secret), cost=2),),
            )
        self = cls(store, info)
        session = Session(self, station_key, station_key, office_name)
        body = {
            "claimed_time": at,
            "beacon": None,
            "dossier": None,
            "action": "station-open",
            "data": {
                "office": {"code": office, "name": office_name.strip()},
                "station": station,
                "station_cert": cert,
                "epoch": epoch,
            },
        }
        session.record(lambda _: body, signer=station_key)
        if previous is not None and previous.get("checkpoint"):
            session.record(
                lambda _: {
                    "claimed_time": at,
                    "beacon": None,
                    "dossier": None,
                    "action": "continuity",
                    "data": {
                        "previous_origin": previous["origin"],
                        "checkpoint": previous["checkpoint"],
                        "reason": "Thay máy trạm bị mất hoặc hỏng (kỷ nguyên mới)",
                    },
                },
                signer=station_key,
            )
        session.enrol(officer_key, officer_name, passphrase, secret, now=now, title=title)
        return self

    @staticmethod
    def check_new(
        data_dir: Path,
        *,
        office: str,
        office_name: str,
        officer_name: str,
        passphrase: str,
        station: int,
    ) -> None:
        """Everything `create` refuses, checked without writing anything (so `commune init
        --enroll` spends its one-time token only on a station that will be created)."""
        _check_office(office)
        if not office_name.strip():
            raise BadInput("Tên đơn vị không được để trống")
        if not 1 <= station <= 9:
            raise BadInput("Số trạm phải từ 1 đến 9 (mỗi trạm một khối số hồ sơ trong ngày)")
        if not officer_name.strip():
            raise BadInput("Tên cán bộ không được để trống")
        if not passphrase:
            raise BadInput("Cần mật khẩu của cán bộ (COMMUNE_PASSPHRASE hoặc nhập khi được hỏi)")
        if (data_dir / "station.db").exists():
            existing = open_store(data_dir)
            initialised = existing.meta("station") is not None
            existing.close()
            if initialised:
                raise BadInput(f"Trạm ở {data_dir} đã được khởi tạo")

    def close(self) -> None:
        self.store.close()

    # -- officers -----------------------------------------------------------------------------
    def officers(self) -> list[dict[str, Any]]:
        rows = self.store.conn.execute(
            "SELECT key_id, name, title, retired_seq FROM officers ORDER BY enrolled_seq"
        )
        return [{"key_id": r[0], "name": r[1], "title": r[2], "active": r[3] is None} for r in rows]

    def sign_in(self, who: str | None, passphrase: str) -> Session:
        """Unlock an officer (by key id or name; the only active officer when `who` is None)."""
        active = [o for o in self.officers() if o["active"]]
        if who:
            matches = [o for o in active if who in (o["key_id"], o["name"])]
        else:
            matches = active if len(active) == 1 else []
            if len(active) > 1:
                raise BadInput("Trạm có nhiều cán bộ: chọn cán bộ bằng --officer TÊN")
        if not matches:
            raise NotFound(f"Không có cán bộ đang làm việc tên {who!r}")
        key_id = matches[0]["key_id"]
        key_file, wrapped = self.store.conn.execute(
            "SELECT key_file, station_secret FROM officers WHERE key_id = ?", (key_id,)
        ).fetchone()
        station_file = self.store.conn.execute(
            "SELECT key_file FROM station_key WHERE id = 1"
        ).fetchone()[0]
        try:
            officer = SigningKey.unseal(bytes(key_file), passphrase)
            secret = officer.unwrap(bytes(wrapped))
            station_key = SigningKey.unseal(bytes(station_file), b64url(secret))
        except LedgerError as exc:
            raise BadInput(f"Sai mật khẩu của cán bộ {matches[0]['name']}") from exc
        return Session(self, officer, station_key, matches[0]["name"], secret)

    @property
    def receipt_cert(self) -> dict[str, Any]:
        """The station certificate receipts carry: the hub-issued one once the station has
        enrolled (same key as the log's `station-open` certificate), else the log's own."""
        raw = self.store.meta("hub_station_cert")
        return orjson.loads(raw) if raw else self.info.station_cert

    def dossier(self, code: str) -> dict[str, Any] | None:
        return dossier_state(self.store.conn, code)

    def officer_cert(self, key_id: str) -> dict[str, Any] | None:
        if key_id == self.info.station_cert["key_id"]:
            return self.info.station_cert
        row = self.store.conn.execute(
            "SELECT cert FROM officers WHERE key_id = ?", (key_id,)
        ).fetchone()
        return orjson.loads(row[0]) if row else None


class Session:
    """A signed-in officer at a station: the keys are unlocked for as long as it lives."""

    def __init__(
        self,
        station: Station,
        officer: SigningKey,
        station_key: SigningKey,
        officer_name: str,
        secret: bytes | None = None,
    ) -> None:
        self.station = station
        self.officer = officer
        self.station_key = station_key
        self.officer_name = officer_name
        self._secret = secret

    @property
    def store(self) -> Store:
        return self.station.store

    def beacon(self) -> dict[str, Any] | None:
        """The latest hub checkpoint this station has seen ({origin, size, root}), or None
        while it has never synced: it gives each event a provable not-before time."""
        raw = self.store.meta("beacon")
        return orjson.loads(raw) if raw else None

    def record(
        self, prepare: Callable[[Store], dict[str, Any]], *, signer: SigningKey | None = None
    ) -> tuple[Appended, dict[str, Any] | None]:
        """Append one event in one durable transaction and sign a checkpoint after it.

        `prepare` runs inside the write transaction (so counters and the current state it
        reads cannot change under it) and returns the event body. A dossier event must be a
        valid transition from the dossier's current state, or nothing is written.
        """
        signer = signer or self.officer
        info = self.station.info
        with self.store.write() as conn:
            body = prepare(self.store)
            code = body.get("dossier")
            before = dossier_state(conn, code) if code else None
            if code:
                data = body.get("data") or {}
                at = data.get("received_at", body["claimed_time"])
                try:
                    check_transition(before, body["action"], data, at)
                except TransitionError as exc:
                    raise TransitionRefused(exc.message_vi) from exc
            log = StationLog(
                info.origin, info.ref, self.station_key, SqliteNodeStore(conn), self.store.size()
            )
            appended = log.append(body, signer)
            self.store.add_entry(
                appended.index,
                appended.leaf,
                body["action"],
                code,
                signer.key_id,
                body["claimed_time"],
            )
            after = apply_event(before, appended.event) if code else None
            if after is not None:
                project(conn, after)
        self.sign_checkpoint()
        return appended, after

    def sign_checkpoint(self) -> tuple[int, str]:
        """A signed checkpoint of the current size, after the append is durable."""
        info = self.station.info
        with self.store.write() as conn:
            size = self.store.size()
            latest = self.store.latest_checkpoint()
            if latest is not None and latest[0] == size:
                return latest
            log = StationLog(info.origin, info.ref, self.station_key, SqliteNodeStore(conn), size)
            note = log.checkpoint()
            self.store.add_checkpoint(size, note)
        return size, note

    def enrol(
        self,
        key: SigningKey,
        name: str,
        passphrase: str,
        secret: bytes | None = None,
        *,
        now: datetime,
        title: str | None = None,
    ) -> str:
        """Certify a new officer key with the station key and write it to the log."""
        secret = secret or self._secret
        if secret is None:
            raise CommuneError("Phiên làm việc không mở được khóa trạm")
        if not name.strip():
            raise BadInput("Tên cán bộ không được để trống")
        if not passphrase:
            raise BadInput("Cán bộ mới cần một mật khẩu")
        info = self.station.info
        certified = {o["key_id"] for o in self.station.officers()}
        cert = issue_certificate(
            self.station_key,
            key.public,
            role="officer",
            name=name.strip(),
            office=info.office,
            station=info.station,
            not_before=iso(now),
            certified=certified,
        )
        body: dict[str, Any] = {
            "claimed_time": iso(now),
            "beacon": None,
            "dossier": None,
            "action": "officer-enrol",
            "data": {"cert": cert},
        }
        if title:
            body["data"]["title"] = title
        key_file = key.seal(passphrase)
        wrapped = key.wrap(secret)

        def prepare(store: Store) -> dict[str, Any]:
            store.conn.execute(
                "INSERT INTO officers (key_id, name, title, cert, key_file, station_secret, "
                "enrolled_seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    name.strip(),
                    title,
                    orjson.dumps(cert).decode(),
                    key_file,
                    wrapped,
                    store.size(),
                ),
            )
            return body

        self.record(prepare, signer=self.station_key)
        return key.key_id


def _check_office(code: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(OfficeCode).validate_python(code)
    except ValidationError as exc:
        raise BadInput(f"Mã đơn vị không hợp lệ: {code!r}") from exc
