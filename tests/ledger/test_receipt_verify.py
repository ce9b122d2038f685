"""Offline receipt verification (`ledger.receipt`) over real receipts.

A stand-alone station (real SQLite station, `commune trust-kit` kit) and a station enrolled with a
real hub on loopback and synced (the hub's `sync-server trust-kit` kit, its real cosignature)
issue the receipts; each test breaks one link and asserts the exact `reason`.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stationkit import APPLICANT, OFFICE, PASS, T0, make_station

from commune_client.desk import receive
from commune_client.errors import BadInput
from commune_client.queries import trust_kit
from commune_client.receipts import decode_qr_payload as client_decode
from commune_client.receipts import receipt_for
from commune_client.station import Session, Station
from commune_client.sync import RetryPolicy, enroll, station_id, sync
from ledger.certs import issue_certificate
from ledger.checkpoint import Checkpoint, cosign, parse_checkpoint_text, sign_checkpoint
from ledger.encoding import b64, b64url, unb64, unb64url
from ledger.errors import ReceiptError
from ledger.keys import SigningKey
from ledger.note import parse_note
from ledger.receipt import (
    CHECKS,
    QR_PREFIX,
    ReceiptVerdict,
    decode_qr_payload,
    parse_receipt_input,
    qr_payload,
    verify_receipt,
)
from ledger.records import sign_record
from ledger.tlogproof import TlogProof, encode_proof, parse_proof

FAST = RetryPolicy(attempts=4, initial=0.01, max_wait=0.05, sleep=lambda _: None)


@dataclass
class Desk:
    station: Station
    session: Session
    receipts: list[dict[str, Any]]
    kit: dict[str, Any]


def _receive(session: Session, n: int) -> list[dict[str, Any]]:
    return [
        receive(
            session,
            procedure="1.001193",
            applicant={**APPLICANT, "name": f"Người nộp {i}"},
            now=T0 + timedelta(minutes=5 + i),
        )["receipt"]
        for i in range(n)
    ]


def _desk(path: Path) -> Desk:
    station = make_station(path)
    session = station.sign_in(None, PASS)
    receipts = _receive(session, 2)
    kit_file = path.parent / f"{path.name}-kit.json"
    trust_kit(station, session.station_key, kit_file, now=T0)
    return Desk(station, session, receipts, json.loads(kit_file.read_text()))


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    desk = _desk(tmp_path_factory.mktemp("alone") / "station")
    yield desk
    desk.station.close()


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """Another stand-alone station with the same office code and station number."""
    desk = _desk(tmp_path_factory.mktemp("other") / "station")
    yield desk
    desk.station.close()


@dataclass
class Synced:
    receipt: dict[str, Any]  # after sync, against the checkpoint the hub cosigned
    cosigned_note: str
    hub_unix: int
    kit: dict[str, Any]
    revoked_at_index: dict[str, Any]  # kit: station key valid through size = receipt index
    revoked_later: dict[str, Any]  # kit: valid through the cosigned size
    pre_enrolment_cert: dict[str, Any]  # the station's self-signed certificate, same key


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    from hubkit import add_office, running_hub  # here: the stand-alone tests need no hub app

    root = tmp_path_factory.mktemp("synced")
    (root / "hub").mkdir()
    with running_hub(root / "hub") as hub:
        station = make_station(root / "station")
        s = station.sign_in(None, PASS)
        code = receive(s, procedure="1.001193", applicant=APPLICANT, now=T0)["code"]
        with httpx.Client() as client:
            enroll(station, s, hub.url, add_office(hub.hub, OFFICE), client=client, policy=FAST)
            assert sync(station, s, client=client, policy=FAST).ok
        receipt = receipt_for(station, code)
        cp = parse_checkpoint_text(parse_note(parse_proof(receipt["proof"]).checkpoint).text)
        row = station.store.conn.execute(
            "SELECT note, hub_unix FROM cosigned WHERE size = ?", (cp.size,)
        ).fetchone()
        assert row is not None, "the receipt's checkpoint is the one the hub cosigned"
        kit = hub.hub.trust_kit()
        sid = station_id(station)
        hub.hub.revoke(sid, "Máy bị mất", through=receipt["event"]["seq"])
        at_index = hub.hub.trust_kit()
        hub.hub.revoke(sid, "Máy bị mất", through=cp.size)
        later = hub.hub.trust_kit()
        yield Synced(receipt, row[0], int(row[1]), kit, at_index, later, station.info.station_cert)
        station.close()


HUB_NAME = "hub.test"  # hubkit's


def _hub_lines(note: str) -> list[str]:
    return [line for line in note.splitlines() if line.startswith(f"\u2014 {HUB_NAME} ")]


def _assert(verdict: ReceiptVerdict, reason: str | None) -> None:
    assert verdict.reason == reason, verdict.checks
    assert verdict.genuine is (reason is None)
    if reason is not None:
        failed = next(c for c in verdict.checks if c.ok is False)
        assert failed.name == reason and failed.message_vi and failed.message_en


def _with_checkpoint(proof: str, note: str) -> str:
    p = parse_proof(proof)
    return encode_proof(TlogProof(p.index, p.hashes, note))


# -- genuine receipts ---------------------------------------------------------------------------
def test_genuine_stand_alone_receipt(alone: Desk) -> None:
    receipt = alone.receipts[0]
    verdict = verify_receipt(receipt, alone.kit)
    _assert(verdict, None)
    assert [c.name for c in verdict.checks] == ["schema", *CHECKS]
    hub = verdict.checks[-1]
    assert (hub.name, hub.ok) == ("hub-cosignature", None)  # a stand-alone kit names no hub
    event = receipt["event"]
    assert (verdict.code, verdict.station, verdict.office) == (
        event["dossier"],
        f"{OFFICE}/1",
        OFFICE,
    )
    assert verdict.index == event["seq"] == 2
    assert verdict.received_at == event["data"]["received_at"]
    assert verdict.procedure == {"code": "1.001193", "name": "Đăng ký khai sinh"}
    assert verdict.checkpoint_size == 3
    assert (verdict.cosigned_at, verdict.not_before, verdict.not_after) == (None, None, None)
    _assert(verify_receipt(alone.receipts[1], alone.kit), None)


def test_genuine_enrolled_receipt_before_and_after_the_cosignature(synced: Synced) -> None:
    receipt = synced.receipt
    assert receipt["station_cert"]["issuer"] == synced.kit["issuer"]["key_id"]  # hub-issued
    # after the sync, `commune receipt` proves against the hub-cosigned checkpoint
    synced_verdict = verify_receipt(receipt, synced.kit)
    _assert(synced_verdict, None)
    assert synced_verdict.checks[-1].ok is True
    assert synced_verdict.cosigned_at == synced.hub_unix
    lines = _hub_lines(synced.cosigned_note)
    assert len(lines) == 1
    bare_note = synced.cosigned_note.replace(lines[0] + "\n", "")
    bare = {**receipt, "proof": _with_checkpoint(receipt["proof"], bare_note)}
    plain = verify_receipt(bare, synced.kit)
    _assert(plain, None)
    hub = plain.checks[-1]
    assert (hub.name, hub.ok, hub.message_en) == (
        "hub-cosignature",
        None,
        "not yet synced (no hub cosignature)",
    )
    upgraded = {**bare, "cosignatures": lines}  # the `cosignatures` field of the schema
    verdict = verify_receipt(upgraded, synced.kit)
    _assert(verdict, None)
    assert verdict.checks[-1].ok is True
    assert verdict.cosigned_at == synced.hub_unix
    assert verdict.not_after is not None and verdict.not_after.endswith("+07:00")


def test_a_receipt_printed_before_enrolment_stays_genuine_under_the_hub_kit(
    synced: Synced,
) -> None:
    # same station key, self-signed certificate: the hub kit vouches for the key
    old = {**synced.receipt, "station_cert": synced.pre_enrolment_cert}
    assert old["station_cert"]["issuer"] == old["station_cert"]["key_id"]
    _assert(verify_receipt(old, synced.kit), None)


# -- QR payload ---------------------------------------------------------------------------------
def test_qr_payload_round_trip_takes_the_station_cert_from_the_kit(
    alone: Desk, synced: Synced
) -> None:
    for receipt, kit in ((alone.receipts[0], alone.kit), (synced.receipt, synced.kit)):
        payload = qr_payload(receipt)
        assert payload.startswith(QR_PREFIX) and len(payload) < 1800
        decoded = decode_qr_payload(payload)
        assert "station_cert" not in decoded and decoded["event"] == receipt["event"]
        wrapped = "\n".join(payload[i : i + 60] for i in range(0, len(payload), 60))
        for text in (payload, f"  {wrapped}\r\n", wrapped.encode()):
            parsed = parse_receipt_input(text)
            assert parsed == decoded
            _assert(verify_receipt(parsed, kit), None)
    as_json = orjson.dumps(alone.receipts[0])
    assert parse_receipt_input(as_json) == alone.receipts[0]
    assert parse_receipt_input(b"\xef\xbb\xbf" + as_json + b"\n") == alone.receipts[0]


def test_qr_receipt_of_a_station_the_kit_does_not_list(alone: Desk, other: Desk) -> None:
    parsed = parse_receipt_input(qr_payload(alone.receipts[0]))
    _assert(verify_receipt(parsed, other.kit), "station-cert")


@pytest.mark.parametrize(
    ("text", "vi"),
    [
        ("CLR1.", "bị hỏng"),
        ("CLR1.@@@", "bị hỏng"),
        (QR_PREFIX + b64url(zlib.compress(b'{"type": "x"}')), "không chứa biên nhận"),
        (QR_PREFIX + b64url(zlib.compress(b"[]")), "không chứa biên nhận"),
        (QR_PREFIX + b64url(zlib.compress(b"{}")[:-3]), "bị hỏng"),  # cut short
        ("not json", "không phải JSON"),
        ("[1, 2]", "đối tượng JSON"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_unreadable_input_is_a_receipt_error(text: str | bytes, vi: str) -> None:
    with pytest.raises(ReceiptError) as err:
        parse_receipt_input(text)
    assert vi in err.value.message_vi and err.value.message_en


def test_a_deflate_bomb_is_refused() -> None:
    bomb = QR_PREFIX + b64url(zlib.compress(b"{" + b" " * (4 * 1024 * 1024) + b"}", 9))
    with pytest.raises(ReceiptError):
        decode_qr_payload(bomb)


def test_the_office_app_keeps_its_error_type() -> None:
    with pytest.raises(BadInput, match="thiếu tiền tố CLR1"):
        client_decode("xyz")


# -- broken links -------------------------------------------------------------------------------
def test_tampered_event_field(alone: Desk) -> None:
    receipt = copy.deepcopy(alone.receipts[0])
    receipt["event"]["data"]["applicant"]["name"] = "Nguyễn Văn Giả"
    _assert(verify_receipt(receipt, alone.kit), "event-signature")


def test_foreign_officer_certificate(alone: Desk, other: Desk) -> None:
    # another station certifies the real officer's public key: right key, wrong certifier
    cert = alone.receipts[0]["cert"]
    forged = issue_certificate(
        other.session.station_key,
        unb64url(cert["public_key"], 32),
        role="officer",
        name=cert["name"],
        office=OFFICE,
        station=1,
        not_before=cert["not_before"],
    )
    _assert(verify_receipt({**alone.receipts[0], "cert": forged}, alone.kit), "officer-cert")
    # another station's own officer: the certificate does not name the event's signer
    theirs = other.receipts[0]["cert"]
    _assert(verify_receipt({**alone.receipts[0], "cert": theirs}, alone.kit), "schema")


def test_proof_from_another_tree_or_for_another_index(alone: Desk, other: Desk) -> None:
    receipt = alone.receipts[0]
    assert other.receipts[0]["event"]["seq"] == receipt["event"]["seq"]
    foreign = {**receipt, "proof": other.receipts[0]["proof"]}
    _assert(verify_receipt(foreign, alone.kit), "inclusion-proof")
    neighbour = {**receipt, "proof": alone.receipts[1]["proof"]}  # index 3, not 2
    _assert(verify_receipt(neighbour, alone.kit), "inclusion-proof")
    p = parse_proof(alone.receipts[1]["proof"])  # the right index, another entry's path
    moved = encode_proof(TlogProof(2, p.hashes, p.checkpoint))
    _assert(verify_receipt({**receipt, "proof": moved}, alone.kit), "inclusion-proof")
    no_path = encode_proof(TlogProof(2, (), parse_proof(receipt["proof"]).checkpoint))
    _assert(verify_receipt({**receipt, "proof": no_path}, alone.kit), "inclusion-proof")
    _assert(verify_receipt({**receipt, "proof": "garbage"}, alone.kit), "inclusion-proof")


def test_checkpoint_signed_by_another_key(alone: Desk) -> None:
    receipt = alone.receipts[0]
    p = parse_proof(receipt["proof"])
    cp = parse_checkpoint_text(parse_note(p.checkpoint).text)
    resigned = sign_checkpoint(cp, SigningKey.generate())  # same tree, same origin
    forged = {**receipt, "proof": _with_checkpoint(receipt["proof"], resigned)}
    _assert(verify_receipt(forged, alone.kit), "checkpoint-signature")


def test_wrong_station_certificate(alone: Desk, other: Desk, synced: Synced) -> None:
    wrong = {**alone.receipts[0], "station_cert": other.receipts[0]["station_cert"]}
    _assert(verify_receipt(wrong, alone.kit), "station-cert")
    # a self-signed certificate is no substitute for the hub's when the kit does not list it
    rogue = {**synced.receipt, "station_cert": other.receipts[0]["station_cert"]}
    _assert(verify_receipt(rogue, synced.kit), "station-cert")
    # the receipt of a station the hub kit does not know
    _assert(verify_receipt(alone.receipts[0], synced.kit), "station-cert")


def test_log_origin_must_be_the_kit_s(alone: Desk) -> None:
    kit = copy.deepcopy(alone.kit)
    kit["origins"][0]["origin"] = kit["origins"][0]["origin"].replace("/e0", "/e1")
    kit = sign_record(kit, alone.session.station_key)
    _assert(verify_receipt(alone.receipts[0], kit), "origin")


def test_revoked_station_key_by_position(synced: Synced) -> None:
    assert synced.revoked_at_index["revocations"][0]["through"] == synced.receipt["event"]["seq"]
    _assert(verify_receipt(synced.receipt, synced.revoked_at_index), "revocation")
    _assert(verify_receipt(synced.receipt, synced.revoked_later), None)  # entry < through


def test_revoked_officer_key_by_position(alone: Desk) -> None:
    officer = alone.receipts[0]["cert"]["key_id"]
    origin = alone.kit["origins"][0]["origin"]

    def kit_revoking(through: int) -> dict[str, Any]:
        rev = {"key_id": officer, "station": f"{OFFICE}/1", "origin": origin, "through": through}
        return sign_record({**alone.kit, "revocations": [rev]}, alone.session.station_key)

    _assert(verify_receipt(alone.receipts[0], kit_revoking(2)), "revocation")  # index 2
    _assert(verify_receipt(alone.receipts[0], kit_revoking(3)), None)
    _assert(verify_receipt(alone.receipts[1], kit_revoking(3)), "revocation")


def test_tampered_or_foreign_cosignature(synced: Synced) -> None:
    (line,) = _hub_lines(synced.cosigned_note)
    head, _, value = line.rpartition(" ")
    raw = bytearray(unb64(value))
    raw[-1] ^= 1
    tampered = f"{head} {b64(bytes(raw))}"
    bad = {**synced.receipt, "cosignatures": [tampered]}
    _assert(verify_receipt(bad, synced.kit), "hub-cosignature")
    later = bytearray(unb64(value))
    later[4:12] = (int.from_bytes(later[4:12], "big") + 1).to_bytes(8, "big")  # time moved
    moved = {**synced.receipt, "cosignatures": [f"{head} {b64(bytes(later))}"]}
    _assert(verify_receipt(moved, synced.kit), "hub-cosignature")
    # a cosignature in the hub's name by another key
    note = parse_proof(synced.receipt["proof"]).checkpoint
    impostor = cosign(note, SigningKey.generate(), HUB_NAME, synced.hub_unix).line.rstrip("\n")
    _assert(
        verify_receipt({**synced.receipt, "cosignatures": [impostor]}, synced.kit),
        "hub-cosignature",
    )
    # one good and one bad: still not genuine
    both = {**synced.receipt, "cosignatures": [line, tampered]}
    _assert(verify_receipt(both, synced.kit), "hub-cosignature")
    # a cosignature of another checkpoint does not cover this one
    other_cp = Checkpoint("x/office/y/1/e0", 1, bytes(32))
    stray = cosign(sign_checkpoint(other_cp, SigningKey.generate()), SigningKey.generate(), "w", 1)
    ignored = {**synced.receipt, "cosignatures": [stray.line.rstrip("\n")]}
    _assert(verify_receipt(ignored, synced.kit), None)  # another name: ignored, as notes do


def test_kit_signature(alone: Desk, synced: Synced) -> None:
    for receipt, kit in ((alone.receipts[0], alone.kit), (synced.receipt, synced.kit)):
        edited = {**kit, "issued_at": "2030-01-01T00:00:00+07:00"}
        _assert(verify_receipt(receipt, edited), "kit")
        unchecked = verify_receipt(receipt, edited, verify_kit_signature=False)
        _assert(unchecked, None)
        assert unchecked.checks[1].name == "kit" and unchecked.checks[1].ok is None


@pytest.mark.parametrize(
    "kit",
    [None, [], "kit", {}, {"type": "commune.trust-kit/v1"}, {"type": "x", "stations": []}],
)
def test_malformed_kit(alone: Desk, kit: Any) -> None:
    _assert(verify_receipt(alone.receipts[0], kit), "kit")


def _drop(key: str) -> Any:
    return lambda r: {k: v for k, v in r.items() if k != key}


GARBAGE = {
    "none": lambda r: None,
    "string": lambda r: "CLR1.abc",
    "list": lambda r: [r],
    "number": lambda r: 42,
    "empty": lambda r: {},
    "wrong-type": lambda r: {**r, "type": "commune.cert/v1"},
    "no-event": _drop("event"),
    "no-cert": _drop("cert"),
    "no-proof": _drop("proof"),
    "empty-proof": lambda r: {**r, "proof": ""},
    "event-not-object": lambda r: {**r, "event": "x"},
    "not-a-receive": lambda r: {**r, "event": {**r["event"], "action": "refuse"}},
    "bad-seq": lambda r: {**r, "event": {**r["event"], "seq": -1}},
    "extra-field": lambda r: {**r, "extra": 1},
    "cosignatures-not-lines": lambda r: {**r, "cosignatures": ["no dash"]},
    "cert-no-key": lambda r: {**r, "cert": {**r["cert"], "public_key": None}},
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_is_a_schema_verdict_never_an_exception(alone: Desk, name: str) -> None:
    bad = GARBAGE[name](copy.deepcopy(alone.receipts[0]))
    verdict = verify_receipt(bad, alone.kit)
    _assert(verdict, "schema")
    assert verdict.checks[0].message_vi.startswith("Biên nhận sai cấu trúc")


# -- any single change ----------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [at] + [p for k, v in value.items() for p in _paths(v, (*at, k))]
    if isinstance(value, list):
        return [at] + [p for i, v in enumerate(value) for p in _paths(v, (*at, i))]
    return [at]


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copied = copy.copy(value)
    copied[path[0]] = _replace(value[path[0]], path[1:], new)
    return copied


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_single_change_is_refused_without_an_exception(
    alone: Desk, synced: Synced, data: st.DataObject
) -> None:
    receipt, kit = data.draw(
        st.sampled_from(
            [
                (alone.receipts[0], alone.kit),
                ({**synced.receipt, "cosignatures": _hub_lines(synced.cosigned_note)}, synced.kit),
            ]
        )
    )
    in_kit = data.draw(st.booleans())
    target = kit if in_kit else receipt
    path = data.draw(st.sampled_from(_paths(target)))
    new = data.draw(JSON)
    changed = _replace(target, path, new)
    verdict = verify_receipt(receipt, changed) if in_kit else verify_receipt(changed, kit)
    assert verdict.reason in {None, "schema", *CHECKS}
    if not in_kit and path == ("cosignatures",) and new in (None, []):
        assert verdict.genuine and verdict.cosigned_at is None  # back to "not yet synced"
    elif changed != target:
        assert not verdict.genuine, (path, new)
