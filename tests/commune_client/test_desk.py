"""The desk services: receive, every lifecycle action, refusals that change nothing."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from stationkit import APPLICANT, OFFICE, PASS, T0, make_station

from commune_client.desk import act, receive
from commune_client.errors import BadInput, NotFound, NotInitialized, TransitionRefused
from commune_client.queries import list_dossiers, rebuild_and_compare, show_dossier
from commune_client.receipts import decode_qr_payload, qr_payload
from commune_client.station import Session, Station
from ledger.checkpoint import ed25519_verifier
from ledger.encoding import unb64url
from ledger.records import verify_record
from ledger.tlogproof import verify_proof
from ledger.verify import verify_ledger
from schemas.canonical import canonical
from schemas.receipt import Receipt


def _receive(session: Session, minutes: int = 60, **kw: Any) -> dict[str, Any]:
    kw.setdefault("procedure", "1.001193")
    kw.setdefault("applicant", APPLICANT)
    return receive(session, now=T0 + timedelta(minutes=minutes), **kw)


def test_receive_issues_code_due_date_and_verifiable_receipt(
    station: Station, session: Session
) -> None:
    result = _receive(session, summary="Khai sinh cho con thứ hai")
    assert result["code"] == f"{OFFICE}-261123-0001"
    assert result["status"] == "received"
    assert result["due_at"] == "2026-11-25T08:30:00+07:00"  # 24/11 is a holiday
    rec = result["receipt"]
    Receipt.model_validate(rec)
    verify_record(rec["event"], unb64url(rec["cert"]["public_key"]))
    verify_proof(
        rec["proof"],
        canonical(rec["event"]),
        ed25519_verifier(station.info.origin, unb64url(rec["station_cert"]["public_key"])),
        origin=station.info.origin,
    )
    payload = qr_payload(rec)
    assert len(payload) < 1800
    assert decode_qr_payload(payload)["event"] == rec["event"]
    assert result["receipt"]["event"]["data"]["book_row"] == 1


def test_codes_follow_the_daily_sequence(session: Session) -> None:
    codes = [_receive(session, i)["code"] for i in range(3)]
    assert codes == [f"{OFFICE}-261123-000{i}" for i in (1, 2, 3)]
    next_day = receive(
        session, procedure="1.001193", applicant=APPLICANT, now=T0 + timedelta(days=2)
    )
    assert next_day["code"] == f"{OFFICE}-261125-0001"


def test_every_action(session: Session, station: Station) -> None:
    a = _receive(session)["code"]
    steps = [
        ("request-supplement", {"reason": "Thiếu bản sao CCCD", "documents": ["Bản sao CCCD"]}),
        ("supplement", {"documents": [{"name": "Bản sao CCCD", "originals": 0, "copies": 1}]}),
        ("accept", {}),
        ("request-payment", {"amount": 15000}),
        ("pay", {"amount": 15000}),
        ("reschedule", {"new_due": "2026-12-01", "reason": "Cần xác minh thêm"}),
        ("transfer", {"to": "H56.14"}),
        ("accept", {"reason": "Đã nhận lại"}),
        ("resolve", {"reason": "Đã cấp giấy khai sinh"}),
        ("return", {"via": "post"}),
        ("rate", {"rating": 1}),
    ]
    for i, (action, kw) in enumerate(steps):
        state = act(session, a, action, now=T0 + timedelta(hours=2, minutes=i), **kw)
    assert state["status"] == "returned"
    assert state["rating"] == 1 and state["return_via"] == "post"
    assert state["due_at"] == "2026-12-01T17:00:00+07:00"
    assert state["supplement_rounds"] == 1
    for i, (action, kw) in enumerate(
        [("refuse", {"reason": "x"}), ("stop", {"reason": "x"}), ("withdraw", {})]
    ):
        b = _receive(session, 300 + 10 * i)["code"]
        assert act(session, b, action, now=T0 + timedelta(minutes=305 + 10 * i), **kw)[
            "status"
        ] in ("refused", "stopped", "withdrawn")
    report = verify_ledger(
        station.store.leaves(),
        station_cert=station.info.station_cert,
        origin=station.info.origin,
        checkpoints=[station.store.latest_checkpoint()[1]],
        schema=True,
    )
    assert report.ok and report.findings == []


def test_supplement_moves_the_due_date_by_the_working_time_waited(session: Session) -> None:
    code = _receive(session, procedure="1.001699")["code"]  # 10 working days
    due = session.station.dossier(code)["due_at"]
    act(session, code, "request-supplement", reason="Thiếu giấy tờ", now=T0 + timedelta(hours=2))
    # Requested Mon 09:30; supplied Wed 09:30: Tue 24/11 is a holiday, so 8 working hours passed.
    state = act(session, code, "supplement", now=T0 + timedelta(days=2, hours=2))
    assert due == "2026-12-08T08:30:00+07:00"
    assert state["due_at"] == "2026-12-09T08:30:00+07:00"
    assert state["status"] == "received"


def _snapshot(station: Station) -> tuple:
    c = station.store.conn
    return (
        station.store.size(),
        c.execute("SELECT COUNT(*) FROM dossiers").fetchone(),
        c.execute("SELECT COUNT(*) FROM checkpoints").fetchone(),
        c.execute("SELECT * FROM counters ORDER BY name").fetchall(),
    )


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"procedure": "9.999999"}, NotFound, "Không có thủ tục"),
        ({"applicant": {**APPLICANT, "id_number": "12345"}}, BadInput, "CCCD"),
        ({"applicant": {**APPLICANT, "phone": "12"}}, BadInput, "điện thoại"),
        ({"applicant": {**APPLICANT, "name": ""}}, BadInput, "họ tên"),
        ({"channel": "fax"}, BadInput, "kênh"),
    ],
)
def test_bad_intake_changes_nothing(
    session: Session, station: Station, kw: dict, error: type, message: str
) -> None:
    _receive(session)
    before = _snapshot(station)
    with pytest.raises(error, match=message):
        _receive(session, 90, **kw)
    assert _snapshot(station) == before


def test_impossible_transition_changes_nothing(session: Session, station: Station) -> None:
    code = _receive(session)["code"]
    before = _snapshot(station)
    with pytest.raises(TransitionRefused, match="Không thể trả kết quả hồ sơ đang ở trạng thái"):
        act(session, code, "return", now=T0 + timedelta(hours=3))
    with pytest.raises(BadInput, match="lý do"):
        act(session, code, "refuse", now=T0 + timedelta(hours=3))
    with pytest.raises(NotFound):
        act(session, f"{OFFICE}-261123-0099", "resolve", now=T0 + timedelta(hours=3))
    with pytest.raises(BadInput):
        act(session, code, "reschedule", new_due="hôm qua", reason="x", now=T0 + timedelta(hours=3))
    assert _snapshot(station) == before


def test_wrong_passphrase_and_missing_data_dir(station: Station, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="Sai mật khẩu"):
        station.sign_in(None, "sai")
    with pytest.raises(NotInitialized):
        Station.open(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_second_officer_signs_their_own_events(station: Station, session: Session) -> None:
    from ledger.keys import SigningKey

    key_id = session.enrol(SigningKey.generate(), "Trần Văn Nam", "nam-pass", now=T0)
    with pytest.raises(BadInput, match="nhiều cán bộ"):
        station.sign_in(None, PASS)
    nam = station.sign_in("Trần Văn Nam", "nam-pass")
    code = _receive(nam)["code"]
    assert show_dossier(station, code)["timeline"][0]["officer"] == "Trần Văn Nam"
    assert (
        _receive(station.sign_in("Nguyễn Thị Hoa", PASS), 70)["receipt"]["event"]["officer"]
        != key_id
    )


def test_search_ignores_diacritics_including_d(session: Session, station: Station) -> None:
    code = _receive(session)["code"]
    _receive(
        session,
        70,
        applicant={
            **APPLICANT,
            "name": "Trần Thị Lan",
            "id_number": "001088099999",
            "phone": "0987654321",
        },
    )
    for query in (
        "nguyen van duc",
        "Nguyễn",
        "duc",
        "ĐỨC",
        "001088012345",
        "0912345678",
        "261123-0001",
        "khai sinh",
    ):
        found = [r["code"] for r in list_dossiers(station, now=T0, search=query)]
        assert code in found, query
    assert list_dossiers(station, now=T0, search="lan")[0]["applicant"] == "Trần Thị Lan"
    assert list_dossiers(station, now=T0, search='" OR *') == []


def test_list_filters_and_overdue(session: Session, station: Station) -> None:
    a = _receive(session)["code"]
    b = _receive(session, 61)["code"]
    act(session, b, "withdraw", now=T0 + timedelta(hours=2))
    later = T0 + timedelta(days=5)
    assert [r["code"] for r in list_dossiers(station, now=later, overdue=True)] == [a]
    assert [r["code"] for r in list_dossiers(station, now=later, status="withdrawn")] == [b]
    with pytest.raises(BadInput):
        list_dossiers(station, now=later, status="bogus")


def test_rebuild_reproduces_projections(session: Session, station: Station) -> None:
    codes = [_receive(session, i)["code"] for i in range(5)]
    act(session, codes[0], "resolve", now=T0 + timedelta(hours=4))
    act(session, codes[1], "request-supplement", reason="Thiếu", now=T0 + timedelta(hours=4))
    result = rebuild_and_compare(station)
    assert result == {**result, "dossiers": 5, "identical": True}


def test_ledger_tables_are_append_only(station: Station) -> None:
    import sqlite3

    for sql in (
        "DELETE FROM entries",
        "UPDATE entries SET action = 'x'",
        "DELETE FROM checkpoints",
        "UPDATE tree_nodes SET hash = x'00'",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            station.store.conn.execute(sql)


def _receive_many(path: str, n: int, start: int) -> list[str]:
    st = Station.open(Path(path))
    s = st.sign_in(None, PASS)
    return [
        receive(
            s, procedure="1.001193", applicant=APPLICANT, now=T0 + timedelta(minutes=start + i)
        )["code"]
        for i in range(n)
    ]


def test_concurrent_processes_get_unique_codes(tmp_path: Path) -> None:
    make_station(tmp_path / "st").close()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = pool.starmap(
            _receive_many, [(str(tmp_path / "st"), 15, k * 100) for k in range(3)]
        )
    codes = [c for r in results for c in r]
    assert len(codes) == len(set(codes)) == 45
    st = Station.open(tmp_path / "st")
    report = verify_ledger(
        st.store.leaves(),
        station_cert=st.info.station_cert,
        origin=st.info.origin,
        checkpoints=[st.store.latest_checkpoint()[1]],
    )
    assert report.ok and report.size == 47


def test_calendar_update_is_signed_and_moves_due_dates(session: Session, station: Station) -> None:
    from commune_client.desk import calendar, update_calendar

    before = _receive(session)["due_at"]
    # The government declares Wed 25/11 a bridge day off, and Sat 28/11 a make-up working day.
    version = update_calendar(
        session,
        {"version": "vn-2026.2", "holidays": ["2026-11-25"], "makeup_workdays": ["2026-11-28"]},
        now=T0 + timedelta(minutes=60, seconds=30),
    )
    assert version == "vn-2026.2"
    assert calendar(station.store).version.endswith("vn-2026.2")
    after = _receive(session, 61)
    assert before == "2026-11-25T08:30:00+07:00"
    assert after["due_at"] == "2026-11-26T08:31:00+07:00"
    assert after["receipt"]["event"]["data"]["due_inputs"]["calendar_version"].endswith("vn-2026.2")
    with pytest.raises(BadInput):
        update_calendar(
            session,
            {"version": "x", "holidays": ["2026-11-27"], "makeup_workdays": ["2026-11-27"]},
            now=T0 + timedelta(hours=2),
        )
    report = verify_ledger(
        station.store.leaves(),
        station_cert=station.info.station_cert,
        origin=station.info.origin,
        schema=True,
    )
    assert report.ok and not report.findings


def test_hot_queries_use_indexes(station: Station) -> None:
    # Per-receipt lookups must never scan the log: at a busy ward it holds ~500,000 entries
    # (a missing index here once cost 4.7 s per receipt; bench/office.py).
    plans = {
        "calendar": "SELECT leaf FROM entries WHERE action = 'calendar-update' "
        "ORDER BY seq DESC LIMIT 1",
        "dossier": "SELECT leaf FROM entries WHERE dossier = ? ORDER BY seq",
        "state": "SELECT state FROM dossiers WHERE code = ?",
        "overdue": "SELECT code FROM dossiers WHERE status IN ('received') AND due_at < ?",
    }
    for name, sql in plans.items():
        args = ("x",) * sql.count("?")
        plan = " ".join(
            str(r[-1]) for r in station.store.conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)
        )
        assert "SCAN entries" not in plan and "SCAN dossiers" not in plan, (name, plan)
