"""`commune`: the office app's command line (DESIGN section 8). A thin layer over the service
functions the TUI uses too; every command accepts `--json` and then prints one JSON document."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import platformdirs

from commune_client import __version__
from commune_client.clock import now
from commune_client.errors import BadInput
from ledger.cliutil import emit_json, run

PASS_ENV = "COMMUNE_PASSPHRASE"
# Literal here so `commune --help` does not import pydantic; a test pins it to the lifecycle.
ACT_ACTIONS = (
    "request-supplement",
    "supplement",
    "refuse",
    "transfer",
    "accept",
    "request-payment",
    "pay",
    "stop",
    "withdraw",
    "reschedule",
    "resolve",
    "return",
    "rate",
)


class App:
    """What every command needs: the data dir, output mode, and lazily the station/session."""

    def __init__(self, data_dir: Path, as_json: bool, officer: str | None) -> None:
        self.data_dir = data_dir
        self.json = as_json
        self.officer = officer
        self._station: Any = None

    def station(self) -> Any:
        from commune_client.station import Station

        if self._station is None:
            self._station = Station.open(self.data_dir)
        return self._station

    def session(self) -> Any:
        return self.station().sign_in(self.officer, passphrase("Mật khẩu của cán bộ"))

    def out(self, document: Any, human: Callable[[], str] | str) -> None:
        if self.json:
            emit_json(document)
        else:
            click.echo(human() if callable(human) else human)


def passphrase(prompt: str, env: str = PASS_ENV) -> str:
    value = os.environ.get(env)
    if value is not None:
        return value
    if sys.stdin is None or not sys.stdin.isatty():
        raise BadInput(f"Cần mật khẩu: đặt biến môi trường {env} (không có bàn phím để nhập)")
    return str(click.prompt(prompt, hide_input=True))


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("commune-ledger", appauthor=False))


pass_app = click.make_pass_decorator(App)


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="commune")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="COMMUNE_DATA_DIR",
    help="Thư mục dữ liệu của trạm (COMMUNE_DATA_DIR).",
)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")
@click.option("--officer", envvar="COMMUNE_OFFICER", help="Cán bộ thao tác (tên hoặc mã khóa).")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, as_json: bool, officer: str | None) -> None:
    """Commune one-stop desk: receive dossiers and hand out signed receipts, offline."""
    ctx.obj = App(data_dir or default_data_dir(), as_json, officer)
    if ctx.invoked_subcommand is None:
        if sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty() and not as_json:
            ctx.invoke(tui)  # `commune` alone on a terminal opens the app
        else:
            click.echo(ctx.get_help())


# -- setting up ---------------------------------------------------------------------------------
@cli.command()
@click.option("--office", required=True, help="Mã định danh đơn vị, ví dụ 000.00.17.H56.")
@click.option("--office-name", required=True, help="Tên đơn vị.")
@click.option("--officer", "officer_name", required=True, help="Tên cán bộ đầu tiên.")
@click.option("--station", type=click.IntRange(1, 9), default=1, show_default=True)
@click.option("--server", help="Địa chỉ máy chủ đồng bộ (đăng ký ngay).")
@click.option("--enroll", "token", help="Mã đăng ký một lần do máy chủ cấp.")
@click.option(
    "--epoch",
    type=click.IntRange(0, 9999),
    default=0,
    help="Kỷ nguyên mới của trạm thay máy bị mất (sau `sync-server station replace`).",
)
@pass_app
def init(
    app: App,
    office: str,
    office_name: str,
    officer_name: str,
    station: int,
    server: str | None,
    token: str | None,
    epoch: int,
) -> None:
    """Create a station: keys, certificate, first officer. With --server and --enroll the
    station enrols with the hub first, so its log starts with the hub-issued certificate.
    With --epoch N it replaces a lost PC: its log opens by naming the old one's last
    hub-cosigned checkpoint (docs/audit.md "Lost or stolen station")."""
    from commune_client.station import Station

    if bool(server) != bool(token):
        raise BadInput("Cần cả --server URL và --enroll TOKEN để đăng ký với máy chủ khi khởi tạo")
    if epoch and not server:
        raise BadInput("Trạm thay máy (--epoch) phải đăng ký với máy chủ: thêm --server, --enroll")
    secret = passphrase("Mật khẩu cán bộ mới")
    enrolled: dict[str, Any] = {}
    hub_name = None
    if server and token:
        from commune_client.sync import enroll_new, enrolment_meta

        url = server_url(server)
        Station.check_new(
            app.data_dir,
            office=office,
            office_name=office_name,
            officer_name=officer_name,
            passphrase=secret,
            station=station,
        )
        with http_client() as client:
            enrolment = enroll_new(
                url,
                token,
                office=office,
                station=station,
                office_name=office_name.strip(),
                client=client,
                epoch=epoch,
            )
        hub_name = enrolment.hub.name
        enrolled = {
            "hub": hub_name,
            "station_key": enrolment.station_key,
            "station_cert": enrolment.station_cert,
            "meta": enrolment_meta(enrolment),
            "epoch": epoch,
            "previous": enrolment.previous,
        }
    st = Station.create(
        app.data_dir,
        office=office,
        office_name=office_name,
        officer_name=officer_name,
        passphrase=secret,
        now=now(),
        station=station,
        **enrolled,
    )
    info = st.info
    app.out(
        {
            "office": info.office,
            "station": info.station,
            "origin": info.origin,
            "station_key": info.station_cert["key_id"],
            "data_dir": str(app.data_dir),
            "officers": st.officers(),
            "hub": hub_name,
            "epoch": info.epoch,
        },
        f"Đã khởi tạo trạm {info.ref} ({info.office_name}) tại {app.data_dir}"
        + (f", đã đăng ký với máy chủ {hub_name}" if hub_name else ""),
    )


def server_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"Địa chỉ máy chủ không hợp lệ: {url!r} (dạng http://may-chu:8000)")
    return url.strip().rstrip("/")


def http_client() -> Any:
    import httpx

    # Idle connections are dropped after 2 s, well before the hub closes them (`sync-server
    # serve --keep-alive`, 15 s), so a push never races the hub's close of a reused connection.
    return httpx.Client(
        timeout=httpx.Timeout(30.0, connect=10.0), limits=httpx.Limits(keepalive_expiry=2.0)
    )


@cli.command()
@click.option("--server", required=True, help="Địa chỉ máy chủ đồng bộ, ví dụ http://hub:8000.")
@click.option("--token", required=True, help="Mã đăng ký một lần do máy chủ cấp.")
@pass_app
def enroll(app: App, server: str, token: str) -> None:
    """Enrol this (stand-alone) station with a sync hub; the log is kept as it is."""
    from commune_client.sync import enroll as do_enroll

    url = server_url(server)
    session = app.session()
    with http_client() as client:
        result = do_enroll(app.station(), session, url, token, client=client)
    app.out(
        result,
        f"Đã đăng ký trạm {result['station']} với máy chủ {result['hub']} ({result['url']})",
    )


@cli.command("sync")
@click.option("--server", help="Địa chỉ máy chủ (mặc định: máy chủ đã đăng ký).")
@pass_app
def sync_cmd(app: App, server: str | None) -> None:
    """Send the log to the hub and fetch what other offices sent this one.

    Exit 0: done. Exit 1: the run finished but something needs the officer (entries
    quarantined, feed items refused, a fork). Exit 2: the hub was not reached or refused the
    station (nothing changed but what was already accepted)."""
    from commune_client.sync import SyncError, SyncProgress, sync

    url = server_url(server) if server else None
    session = app.session()
    show = not app.json and sys.stderr is not None and sys.stderr.isatty()

    def progress(p: SyncProgress) -> None:
        click.echo("\r" + p.text().ljust(60), err=True, nl=False)

    with http_client() as client:
        report = sync(
            app.station(),
            session,
            client=client,
            server_url=url,
            progress=progress if show else None,
        )
    if show:
        click.echo("", err=True)
    if report.problem in ("offline", "unauthorized", "hub-changed"):
        raise SyncError(report.message)
    app.out(report.to_dict(), lambda: _sync_text(report.to_dict()))
    if not report.ok:
        raise click.exceptions.Exit(1)


def _sync_text(doc: dict[str, Any]) -> str:
    lines = [
        f"Máy chủ {doc['hub']} ({doc['url']}): đã gửi {doc['pushed']} bản ghi, máy chủ đã lưu "
        f"{doc['accepted'] if doc['accepted'] is not None else '?'}/{doc['local_size']}; "
        f"nhận {doc['pulled']} mục"
    ]
    if doc["problem"]:
        lines.append(f"LỖI: {doc['message']}")
    lines += [f"Cảnh báo: {w}" for w in doc["warnings"]]
    for q in doc["quarantined"]:
        where = f"bản ghi {q['seq']}" if q["source"] == "hub" else f"mục {q.get('cursor')}"
        lines.append(f"Cách ly {where} {q.get('dossier') or ''}: {q['reason_vi']} ({q['detail']})")
    return "\n".join(lines)


@cli.command()
@pass_app
def quarantine(app: App) -> None:
    """Entries the hub did not act on, and feed items this station refused."""
    from commune_client.sync import quarantine_rows

    rows = quarantine_rows(app.station())
    app.out(
        rows,
        lambda: (
            "\n".join(
                f"{r['at']}  {r['station']} #{r['seq']}  {r['dossier'] or ''}  {r['reason_vi']}"
                for r in rows
            )
            or "Không có bản ghi nào bị cách ly"
        ),
    )


@cli.group()
def officer() -> None:
    """Officers of this station."""


@officer.command("add")
@click.option("--name", required=True)
@click.option("--title", help="Chức danh.")
@pass_app
def officer_add(app: App, name: str, title: str | None) -> None:
    """Enrol another officer (needs a signed-in officer and the new officer's passphrase,
    COMMUNE_NEW_PASSPHRASE)."""
    from ledger.keys import SigningKey

    session = app.session()
    key_id = session.enrol(
        SigningKey.generate(),
        name,
        passphrase("Mật khẩu của cán bộ mới", "COMMUNE_NEW_PASSPHRASE"),
        now=now(),
        title=title,
    )
    app.out({"key_id": key_id, "name": name}, f"Đã thêm cán bộ {name} ({key_id})")


@officer.command("list")
@pass_app
def officer_list(app: App) -> None:
    officers = app.station().officers()
    app.out(officers, lambda: "\n".join(f"{o['key_id']}  {o['name']}" for o in officers))


@cli.group()
def catalog() -> None:
    """The procedure catalogue (danh mục thủ tục)."""


@catalog.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def catalog_import(app: App, file: Path) -> None:
    """Import procedures from JSON or CSV (all or nothing)."""
    from commune_client.catalog import parse_catalog
    from commune_client.procedures import save_catalog

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise BadInput(f"Không đọc được tệp {file}: {exc.strerror}") from exc
    procs = parse_catalog(data, file.name)
    count = save_catalog(app.station().store, procs)
    app.out({"imported": count}, f"Đã nhập {count} thủ tục")


@catalog.command("demo")
@pass_app
def catalog_demo(app: App) -> None:
    """Load the demo catalogue (about 30 commune procedures; demo data)."""
    from commune_client.catalog import demo_catalog
    from commune_client.procedures import save_catalog

    count = save_catalog(app.station().store, demo_catalog())
    app.out({"imported": count, "demo": True}, f"Đã nạp {count} thủ tục mẫu (dữ liệu demo)")


@catalog.command("list")
@click.option("--search")
@pass_app
def catalog_list(app: App, search: str | None) -> None:
    from commune_client.procedures import list_procedures

    procs = list_procedures(app.station().store, search)
    app.out(
        [p.model_dump(exclude_none=True) for p in procs],
        lambda: "\n".join(f"{p.code:<24} {p.name}" for p in procs),
    )


@cli.group("calendar")
def calendar_group() -> None:
    """The working calendar: public holidays plus the government's yearly adjustments."""


@calendar_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def calendar_import(app: App, file: Path) -> None:
    """Record an override table: {"version", "holidays": [dates], "makeup_workdays": [dates]}."""
    import orjson

    from commune_client.desk import update_calendar

    try:
        overrides = orjson.loads(file.read_bytes())
    except OSError as exc:
        raise BadInput(f"Không đọc được tệp {file}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"Tệp lịch không phải JSON hợp lệ: {exc}") from exc
    if not isinstance(overrides, dict):
        raise BadInput("Tệp lịch phải là một đối tượng JSON {version, holidays, makeup_workdays}")
    version = update_calendar(app.session(), overrides, now=now())
    app.out({"version": version}, f"Đã cập nhật lịch làm việc, phiên bản {version}")


@calendar_group.command("show")
@click.option("--year", type=int, required=True)
@pass_app
def calendar_show(app: App, year: int) -> None:
    """Holidays and make-up working days of a year."""
    from commune_client.desk import calendar

    cal = calendar(app.station().store)
    doc: dict[str, Any] = {
        "version": cal.version,
        "holidays": {d.isoformat(): name for d, name in sorted(cal.holidays_in(year).items())},
        "makeup_workdays": [d.isoformat() for d in cal.makeup_workdays_in(year)],
    }
    app.out(
        doc,
        lambda: "\n".join(
            [f"Phiên bản lịch: {cal.version}"]
            + [f"  {d}  {n}" for d, n in doc["holidays"].items()]
            + [f"  {d}  (làm bù)" for d in doc["makeup_workdays"]]
        ),
    )


# -- the desk -----------------------------------------------------------------------------------
def vn_time(value: str | None) -> str:
    """RFC 3339 as officers read it: `09 giờ 15 phút, ngày 23/11/2026`."""
    from commune_client.deadlines import format_vn, parse_rfc3339

    return format_vn(parse_rfc3339(value)) if value else "không có"


def status_vi(status: str) -> str:
    from schemas.dossier import STATUS_LABEL_VI, DossierStatus

    return STATUS_LABEL_VI[DossierStatus(status)]


def parse_doc(text: str) -> dict[str, Any]:
    """`NAME[:ORIGINALS:COPIES]`."""
    name, *counts = text.rsplit(":", 2) if text.count(":") >= 2 else [text]
    try:
        originals, copies = (int(counts[0]), int(counts[1])) if counts else (1, 0)
    except ValueError as exc:
        raise BadInput(f"Giấy tờ {text!r}: dạng TÊN[:SỐ_BẢN_CHÍNH:SỐ_BẢN_SAO]") from exc
    return {"name": name, "originals": originals, "copies": copies}


@cli.command()
@click.option("--procedure", required=True, help="Mã thủ tục.")
@click.option("--applicant-name", required=True)
@click.option("--applicant-id", required=True, help="Số CCCD (12 số) hoặc CMND (9 số).")
@click.option(
    "--id-kind",
    type=click.IntRange(1, 3),
    default=None,
    help="1 CCCD, 2 CMND, 3 hộ chiếu (mặc định theo độ dài số).",
)
@click.option("--phone")
@click.option("--email")
@click.option("--address")
@click.option("--channel", type=click.Choice(["direct", "online", "postal"]), default="direct")
@click.option("--summary")
@click.option("--doc", "docs", multiple=True, help='"TÊN[:BẢN_CHÍNH:BẢN_SAO]", lặp lại được.')
@click.option("--return-via", type=click.Choice(["desk", "post"]), default="desk")
@click.option(
    "--scan",
    "scans",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp quét của giấy tờ thứ n (theo thứ tự --doc), lặp lại được; gửi lên máy chủ khi "
    "đồng bộ.",
)
@pass_app
def receive(
    app: App,
    procedure: str,
    applicant_name: str,
    applicant_id: str,
    id_kind: int | None,
    phone: str | None,
    email: str | None,
    address: str | None,
    channel: str,
    summary: str | None,
    docs: tuple[str, ...],
    return_via: str,
    scans: tuple[Path, ...],
) -> None:
    """Receive a dossier and issue its signed receipt (Form 01)."""
    from commune_client.desk import receive as do_receive

    applicant: dict[str, Any] = {
        "name": applicant_name,
        "id_number": applicant_id.strip(),
        "id_kind": id_kind or (2 if len(applicant_id.strip()) == 9 else 1),
    }
    for key, value in (("phone", phone), ("email", email), ("address", address)):
        if value:
            applicant[key] = value
    documents = [parse_doc(d) for d in docs] if docs else None
    session = app.session()
    added: list[str] = []
    if scans:
        documents, added = attach_scans(app.station(), procedure, documents, scans)
    try:
        result = do_receive(
            session,
            procedure=procedure,
            applicant=applicant,
            now=now(),
            channel=channel,
            summary=summary,
            documents=documents,
            return_via=return_via,
        )
    except BaseException:
        if added:  # a refused receipt keeps nothing of its scans
            with app.station().store.write() as conn:
                conn.executemany("DELETE FROM blobs WHERE sha256 = ?", [(h,) for h in added])
        raise
    app.out(result, f"Đã tiếp nhận hồ sơ {result['code']} — hẹn trả {vn_time(result['due_at'])}")


MAX_SCAN = 32 * 1024 * 1024  # the hub's limit for one blob


def attach_scans(
    station: Any, procedure: str, documents: list[dict[str, Any]] | None, scans: tuple[Path, ...]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Keep each scan (content-addressed) and name its SHA-256 in the document at the same
    position; returns the documents and the hashes that were new to the station."""
    import hashlib

    from commune_client.procedures import get_procedure
    from commune_client.sync import add_blob

    if documents is None:
        documents = [
            {"name": d.name, "originals": d.originals, "copies": d.copies}
            for d in get_procedure(station.store, procedure).documents
        ]
    if len(scans) > len(documents):
        raise BadInput(f"Có {len(scans)} tệp quét nhưng chỉ {len(documents)} giấy tờ (--doc)")
    contents = []
    for path in scans:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInput(f"Không đọc được tệp quét {path}: {exc.strerror}") from exc
        if not data or len(data) > MAX_SCAN:
            raise BadInput(f"Tệp quét {path} phải có nội dung và không quá 32 MiB")
        contents.append(data)
    added = []
    for i, data in enumerate(contents):
        known = station.store.conn.execute(
            "SELECT 1 FROM blobs WHERE sha256 = ?",
            (hashlib.sha256(data).hexdigest(),),
        ).fetchone()
        sha = add_blob(station.store, data)
        if known is None:
            added.append(sha)
        documents[i] = {**documents[i], "blob": sha}
    return documents, added


@cli.command()
@click.argument("code")
@click.argument(
    "action",
    type=click.Choice(list(ACT_ACTIONS)),
)
@click.option("--reason")
@click.option("--to", "to_office")
@click.option("--new-due")
@click.option("--amount", type=click.IntRange(min=1))
@click.option("--rating", type=click.IntRange(1, 3))
@click.option("--via", type=click.Choice(["desk", "post"]))
@click.option("--doc", "docs", multiple=True)
@pass_app
def act(
    app: App,
    code: str,
    action: str,
    reason: str | None,
    to_office: str | None,
    new_due: str | None,
    amount: int | None,
    rating: int | None,
    via: str | None,
    docs: tuple[str, ...],
) -> None:
    """Apply a lifecycle action to a dossier."""
    from commune_client.desk import act as do_act

    documents: list[Any] = [parse_doc(d) for d in docs] if action == "supplement" else list(docs)
    state = do_act(
        app.session(),
        code,
        action,
        now=now(),
        reason=reason,
        to=to_office,
        new_due=new_due,
        amount=amount,
        rating=rating,
        via=via,
        documents=documents or None,
    )
    app.out(
        {
            "code": code,
            "status": state["status"],
            "due_at": state.get("due_at"),
            "version": state["version"],
        },
        f"{code}: {status_vi(state['status'])}",
    )


@cli.command()
@click.argument("code")
@pass_app
def show(app: App, code: str) -> None:
    """A dossier with its timeline (control slip)."""
    from commune_client.queries import show_dossier

    doc = show_dossier(app.station(), code)

    def human() -> str:
        d = doc["dossier"]
        lines = [
            f"{d['code']}  {doc['status_vi']}",
            f"  {d['procedure']['name']}",
            f"  {d['applicant']['name']}  {d['applicant']['id_number']}",
            f"  Nhận: {vn_time(d['received_at'])}",
            f"  Hẹn trả: {vn_time(d.get('due_at'))}",
            f"  Đồng bộ: {doc['sync_vi']}",
            "  Quá trình giải quyết:",
        ]
        lines += [f"    {vn_time(r['at'])}  {r['step']}  ({r['officer']})" for r in doc["timeline"]]
        return "\n".join(lines)

    app.out(doc, human)


@cli.command("list")
@click.option("--status")
@click.option("--overdue", is_flag=True)
@click.option("--search")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--offset", type=int, default=0)
@pass_app
def list_cmd(
    app: App, status: str | None, overdue: bool, search: str | None, limit: int, offset: int
) -> None:
    """Dossiers, newest first (one page)."""
    from commune_client.queries import list_dossiers

    rows = list_dossiers(
        app.station(),
        now=now(),
        status=status,
        overdue=overdue,
        search=search,
        limit=limit,
        offset=offset,
    )
    app.out(
        rows,
        lambda: (
            "\n".join(f"{r['code']}  {r['status_vi']:<22} {r['applicant']}" for r in rows)
            or "(không có)"
        ),
    )


@cli.command()
@click.argument("code")
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path), help="Ghi Mẫu 01 ra PDF.")
@click.option("--text", "as_text", is_flag=True, help="In nội dung mã QR.")
@pass_app
def receipt(app: App, code: str, pdf: Path | None, as_text: bool) -> None:
    """The signed receipt of a dossier."""
    from commune_client import printing
    from commune_client.receipts import qr_payload, receipt_for

    st = app.station()
    rec = receipt_for(st, code)
    if pdf:
        printing.write_form(st, code, "receipt", pdf)
    if as_text:
        payload = qr_payload(rec)
        app.out({"code": code, "qr": payload}, payload)
    else:
        app.out(rec, lambda: emit_text(rec))


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@pass_app
def reattest(app: App, file: Path) -> None:
    """Re-attest a receipt the station's lost PC issued (receipt JSON or QR text; - for
    standard input): the same dossier enters this epoch's log and a new receipt is printed."""
    from commune_client.reattest import reattest as do_reattest
    from ledger.errors import ReceiptError
    from ledger.receipt import parse_receipt_input

    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise BadInput(f"Không đọc được tệp {file}: {exc.strerror}") from exc
    try:
        old = parse_receipt_input(data)
    except ReceiptError as exc:
        raise BadInput(exc.message_vi) from exc
    result = do_reattest(app.session(), old, now=now())
    app.out(
        result,
        f"Đã xác nhận lại hồ sơ {result['code']} (bản ghi {result['reattested']['index']} của "
        f"máy cũ) — hẹn trả {vn_time(result['due_at'])}",
    )


def emit_text(document: Any) -> str:
    import orjson

    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


@cli.command("print")
@click.argument("code")
@click.argument(
    "form", type=click.Choice(["receipt", "supplement", "refusal", "apology", "control-slip"])
)
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def print_cmd(app: App, code: str, form: str, out_file: Path) -> None:
    """Write a form of a dossier as PDF (Forms 01/02/03, apology, control slip)."""
    from commune_client import printing

    printing.write_form(app.station(), code, form, out_file)
    app.out({"code": code, "form": form, "file": str(out_file)}, f"Đã ghi {out_file}")


@cli.command()
@click.option("--xlsx", "xlsx", required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def book(app: App, xlsx: Path) -> None:
    """The tracking book (Sổ theo dõi hồ sơ) as xlsx."""
    from commune_client import printing

    count = printing.write_book(app.station(), xlsx)
    app.out({"file": str(xlsx), "dossiers": count}, f"Đã ghi {count} hồ sơ vào {xlsx}")


@cli.command()
@click.option("--from", "date_from", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "date_to", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--xlsx", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def report(app: App, date_from: Any, date_to: Any, xlsx: Path | None) -> None:
    """Biểu 06: received, resolved, pending, withdrawn, by field and in total."""
    from commune_client import printing

    doc = printing.report(app.station(), date_from.date(), date_to.date(), now=now(), xlsx=xlsx)
    app.out(doc, lambda: _report_text(doc))


def _report_text(doc: dict[str, Any]) -> str:
    r, s, p = doc["received"], doc["resolved"], doc["pending"]
    return (
        f"Kỳ {doc['period']['from']} – {doc['period']['to']}\n"
        f"  Nhận: {r['total']} (trực tuyến {r['online']}, trực tiếp/bưu chính "
        f"{r['direct_or_postal']}, kỳ trước {r['carried_over']})\n"
        f"  Đã giải quyết: {s['total']} (trước hạn {s['early']}, đúng hạn {s['on_time']}, "
        f"quá hạn {s['late']})\n"
        f"  Đang giải quyết: {p['total']} (trong hạn {p['within_deadline']}, quá hạn "
        f"{p['overdue']})\n  Rút hồ sơ: {doc['withdrawn']}"
    )


@cli.command()
@click.option("--lang", type=click.Choice(["vi", "en"]), help="Ngôn ngữ giao diện (COMMUNE_LANG).")
@pass_app
def tui(app: App, lang: str | None) -> None:
    """Open the officer's terminal app (also: `commune` with no command)."""
    from commune_client.tui.app import run as run_tui

    run_tui(app.data_dir, language=lang)


# -- the ledger ---------------------------------------------------------------------------------
@cli.command("export-ledger")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def export_ledger_cmd(app: App, file: Path) -> None:
    """Export the signed log for an auditor (JSON lines)."""
    from commune_client.queries import export_ledger

    result = export_ledger(app.station(), file)
    app.out(result, f"Đã xuất {result['entries']} bản ghi ra {file}")


@cli.command("trust-kit")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def trust_kit_cmd(app: App, file: Path) -> None:
    """Write this stand-alone station's trust kit (for auditors)."""
    from commune_client.queries import trust_kit

    session = app.session()
    result = trust_kit(app.station(), session.station_key, file, now=now())
    app.out(result, f"Đã ghi bộ khóa tin cậy ra {file}")


@cli.command()
@pass_app
def rebuild(app: App) -> None:
    """Recompute every projection from the ledger and check it is identical."""
    from commune_client.queries import rebuild_and_compare

    result = rebuild_and_compare(app.station())
    app.out(
        result,
        f"Đã dựng lại {result['dossiers']} hồ sơ; "
        + ("trùng khớp" if result["identical"] else "KHÁC với trước"),
    )
    if not result["identical"]:
        raise click.exceptions.Exit(1)


def main() -> NoReturn:
    run(cli, "commune")


__all__ = ["cli", "main"]
