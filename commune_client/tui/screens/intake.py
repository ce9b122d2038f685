"""F2 Intake (tiếp nhận hồ sơ): a receipt in under a minute, keyboard only, at 80x24.

Type part of the procedure name (no accents needed), Enter; the documents handed in are a
checklist (all ticked: Space unticks one not brought); type the applicant (fields check
themselves as you type); the due date shows before saving; F6 saves in a worker (`desk.receive`)
and shows the receipt; the form is then empty for the next citizen. A refused save keeps it all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from functools import partial
from typing import Any

from pydantic import TypeAdapter
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Footer, Header, Input, Label, Select, SelectionList

from commune_client import deadlines
from commune_client import desk as desk_service
from commune_client.procedures import list_procedures
from commune_client.tui.i18n import get_language, t
from commune_client.tui.screens.base import CommuneScreen, error_text
from commune_client.tui.widgets.procedure_picker import ProcedurePicker
from commune_client.tui.widgets.reattest_dialog import ReattestDialog
from commune_client.tui.widgets.receipt_preview import ReceiptPreview
from schemas.catalog import Procedure
from schemas.types import Email, check_id_number, normalise_phone

__all__ = ["CHOICES", "FIELDS", "IntakeScreen", "Rule"]

FIELDS = ("name", "id-number", "phone", "email", "address", "summary")
"""The text inputs of the form, by id."""
CHOICES: dict[str, Any] = {"id-kind": 1, "channel": "direct", "return-via": "desk"}
"""The drop-downs of the form, by id, with their values for a new dossier."""
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


class Rule(Validator):
    """A validator from a function that returns a short message for a bad value, else None."""

    def __init__(self, check: Callable[[str], str | None]) -> None:
        super().__init__()
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        problem = self.check(value)
        return self.success() if problem is None else self.failure(problem)


def _text(field: str, check: Callable[[str], str | None], placeholder: str = "") -> Input:
    return Input(id=field, placeholder=placeholder, compact=True, valid_empty=True,
                 validators=[Rule(check)])  # fmt: skip


def _choice(field: str, options: list[tuple[str, Any]]) -> Select[Any]:
    return Select(options, id=field, value=CHOICES[field], allow_blank=False, compact=True)


def _field(label: str, widget: Widget) -> Vertical:
    """A label and its control on one line, the control's problem (if any) under them."""
    return Vertical(
        Horizontal(Label(label, classes="field-label"), widget, classes="field-line"),
        Label("", id=f"err-{widget.id}", classes="field-error"),
        classes="field",
    )


class IntakeScreen(CommuneScreen):
    DEFAULT_CSS = """
    IntakeScreen #intake { padding: 0 1; }
    IntakeScreen .section { text-style: bold; color: $accent; margin-top: 1; }
    IntakeScreen #documents { height: auto; max-height: 8; border: none; padding: 0; }
    IntakeScreen .row { height: auto; }
    IntakeScreen .field { width: 1fr; height: auto; margin-right: 1; }
    IntakeScreen .field-line { height: 1; }
    IntakeScreen .field-label { width: 13; }
    IntakeScreen .field-line Input, IntakeScreen .field-line Select { width: 1fr; }
    IntakeScreen .field-line Input { background: $boost; }
    IntakeScreen .field-line Input.-invalid { background: $error 25%; }
    IntakeScreen .field-error { color: $error; margin-left: 13; width: 1fr; display: none; }
    IntakeScreen #actions { height: auto; margin-top: 1; }
    IntakeScreen #intake-status { margin-left: 2; padding-top: 1; color: $text-muted; }
    IntakeScreen #intake-status.-error { color: $error; }
    """

    BINDINGS = [Binding("f6", "save", "Lưu")]

    def __init__(self) -> None:
        super().__init__()
        self._catalogue: list[Procedure] | None = None
        self._calendar: tuple[deadlines.Calendar, deadlines.OfficeHours] | None = None
        self._saving = False

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        self._bindings.key_to_bindings["f6"] = [Binding("f6", "save", t("Lưu"))]
        station = self.desk.station
        if station is not None and station.info.epoch:  # a replacement PC: the lost one's receipts
            self._bindings.key_to_bindings["f4"] = [
                Binding("f4", "reattest", t("Biên nhận máy cũ"))
            ]
        kinds = [("CCCD", 1), ("CMND", 2), (t("Hộ chiếu"), 3)]
        channels = [(t("Trực tiếp"), "direct"), (t("Trực tuyến"), "online"),
                    (t("Bưu chính"), "postal")]  # fmt: skip
        returns = [(t("Tại bộ phận một cửa"), "desk"), (t("Qua bưu chính"), "post")]
        check = {field: partial(self._problem, field) for field in FIELDS}
        rows: list[list[tuple[str, Widget]]] = [
            [(t("Họ tên"), _text("name", check["name"])),
             (t("Loại giấy tờ"), _choice("id-kind", kinds))],
            [(t("Số giấy tờ"), _text("id-number", check["id-number"])),
             (t("Điện thoại"), _text("phone", check["phone"]))],
            [(t("Email"), _text("email", check["email"])),
             (t("Địa chỉ"), _text("address", check["address"]))],
            [(t("Trích yếu"), _text("summary", check["summary"],
                                    t("Nội dung yêu cầu (không bắt buộc)")))],
            [(t("Kênh nộp"), _choice("channel", channels)),
             (t("Nhận kết quả"), _choice("return-via", returns))],
        ]  # fmt: skip
        yield Header()
        with VerticalScroll(id="intake"):
            yield ProcedurePicker(self._load_catalogue, self._due, id="picker")
            yield Label(t("Giấy tờ đã nhận (Space: bỏ chọn giấy tờ không nộp)"),
                        id="documents-title", classes="section")  # fmt: skip
            yield SelectionList[int](id="documents")
            yield Label(t("Người nộp hồ sơ"), classes="section")
            for row in rows:
                with Horizontal(classes="row"):
                    for label, widget in row:
                        yield _field(label, widget)
            with Horizontal(id="actions"):
                yield Button(t("Lưu (F6)"), variant="primary", id="save")
                yield Label("", id="intake-status")
        yield Footer()

    def on_mount(self) -> None:
        self._show_documents(None)
        self.picker.focus_search()

    async def recompose(self) -> None:
        """After a language switch: rebuild the labels, keep what the officer typed and where
        the cursor was (and note the language, so resuming does not rebuild them again)."""
        self._language = get_language()
        snapshot = self._snapshot() if self.is_mounted else None
        focused = self.focused.id if self.focused else None
        await super().recompose()
        if snapshot is not None:
            self._restore(snapshot)
        if focused and (found := self.query(f"#{focused}")):
            found.first().focus()

    @property
    def picker(self) -> ProcedurePicker:
        return self.query_one(ProcedurePicker)

    def _input(self, field: str) -> Input:
        return self.query_one(f"#{field}", Input)

    def _select(self, field: str) -> Select[Any]:
        return self.query_one(f"#{field}", Select)

    # -- catalogue, documents, due date ---------------------------------------------------------
    def _load_catalogue(self) -> list[Procedure]:
        """Called by the picker from its worker thread: the catalogue, read once per screen."""
        if self._catalogue is None:
            self._catalogue = self.call(list_procedures, self.desk.open().store)
        return self._catalogue

    @on(ProcedurePicker.Chosen)
    def _chosen(self, event: ProcedurePicker.Chosen) -> None:
        self._show_documents(event.procedure)
        documents = self.query_one("#documents", SelectionList)
        (documents if documents.option_count else self._input("name")).focus()

    def _show_documents(self, procedure: Procedure | None) -> None:
        documents = self.query_one("#documents", SelectionList)
        documents.clear_options()
        if procedure is not None:
            documents.add_options(
                (f"{d.name} — " + t("bản chính {originals}, bản sao {copies}",
                                    originals=d.originals, copies=d.copies), i, True)
                for i, d in enumerate(procedure.documents)
            )  # fmt: skip
        documents.display = bool(documents.option_count)
        documents.highlighted = 0 if documents.option_count else None  # Space: untick it
        self.query_one("#documents-title").display = documents.display

    def _due(self, procedure: Procedure) -> datetime:
        """The due date if received now (the picker calls it from a worker thread); the
        station's calendar is read once per screen, as `desk.receive` reads it."""
        if self._calendar is None:
            store = self.desk.open().store
            self._calendar = (self.call(desk_service.calendar, store),
                              self.call(desk_service.office_hours, store))  # fmt: skip
        calendar, hours = self._calendar
        cutoff = time.fromisoformat(procedure.cutoff) if procedure.cutoff else None
        return deadlines.compute_due(self.desk.now(), procedure.time_limit, procedure.time_unit,
                                     calendar=calendar, hours=hours, cutoff=cutoff)  # fmt: skip

    # -- validation -----------------------------------------------------------------------------
    def _problem(self, field: str, value: str) -> str | None:
        """What is wrong with `value` in `field` (the record's own rules), as a short message."""
        value = value.strip()
        if not value:
            if field == "name":
                return t("Cần nhập họ tên")
            return t("Cần nhập số giấy tờ") if field == "id-number" else None
        try:
            if field == "name" and len(value) > 200:
                return t("Họ tên tối đa 200 ký tự")
            if field == "id-number":
                kind = self._select("id-kind").value
                check_id_number(kind if isinstance(kind, int) else 1, value)
            elif field == "phone":
                normalise_phone(value)
            elif field == "email":
                _EMAIL.validate_python(value)
        except ValueError:  # pydantic's ValidationError and the schema's errors are ValueErrors
            if field in ("phone", "email"):
                phone = t("Điện thoại: 10 số, bắt đầu bằng 0 hoặc +84")
                return phone if field == "phone" else t("Email không hợp lệ")
            kind = self._select("id-kind").value
            if kind == 1:
                return t("Số CCCD gồm đúng 12 chữ số")
            if kind == 2:
                return t("Số CMND gồm đúng 9 chữ số")
            return t("Số hộ chiếu gồm 6-20 chữ cái hoặc chữ số")
        return None

    def _show_problem(self, field: str, message: str | None) -> None:
        label = self.query_one(f"#err-{field}", Label)
        label.update(message or "")
        label.display = bool(message)
        self._input(field).set_class(bool(message), "-invalid")

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        """As you type: a problem shows under its field (an empty field waits for the save)."""
        if event.input.id in FIELDS:
            result = event.validation_result  # from the field's `Rule`; None when empty
            message = None if result is None or result.is_valid else result.failure_descriptions[0]
            self._show_problem(event.input.id, message)

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        """Enter in a field goes to the next one, as Tab does."""
        if event.input.id in FIELDS:
            self.focus_next()

    @on(Select.Changed, "#id-kind")
    def _kind_changed(self) -> None:
        value = self._input("id-number").value
        self._show_problem("id-number", self._problem("id-number", value) if value else None)

    def _problems(self) -> list[str]:
        """Check every field as a save would, show each problem; the ids of the bad fields."""
        problems = {field: self._problem(field, self._input(field).value) for field in FIELDS}
        for field, message in problems.items():
            self._show_problem(field, message)
        return [field for field, message in problems.items() if message]

    def _status(self, message: str, *, error: bool = False) -> None:
        """The line beside the Save button; a problem is also a notification."""
        status = self.query_one("#intake-status", Label)
        status.update(message)
        status.set_class(error, "-error")
        if error:
            self.notify(message, severity="error", timeout=8)

    # -- saving ---------------------------------------------------------------------------------
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        if self._saving:
            return
        procedure = self.picker.procedure
        if procedure is None:
            self._status(t("Chưa lưu: chưa chọn thủ tục"), error=True)
            self.picker.focus_search()
            return
        if bad := self._problems():
            self._status(t("Chưa lưu: sửa các ô báo lỗi"), error=True)
            self._input(bad[0]).focus()
            return
        self._saving = True
        self._status(t("Đang lưu…"))
        self._receive(self._payload(procedure))

    def _payload(self, procedure: Procedure) -> dict[str, Any]:
        value = {field: self._input(field).value.strip() for field in FIELDS}
        choice = {field: self._select(field).value for field in CHOICES}
        applicant = {"name": value["name"], "id_kind": choice["id-kind"]}
        applicant.update({k.replace("-", "_"): value[k] for k in FIELDS[1:5] if value[k]})
        ticked = self.query_one("#documents", SelectionList).selected
        documents = [d.model_dump() for i, d in enumerate(procedure.documents) if i in ticked]
        return {"procedure": procedure.code, "applicant": applicant, "documents": documents,
                "channel": choice["channel"], "return_via": choice["return-via"],
                "summary": value["summary"] or None}  # fmt: skip

    @work(thread=True, exclusive=True, group="save")
    def _receive(self, payload: dict[str, Any]) -> None:
        try:
            session = self.desk.require_session()
            result = self.call(desk_service.receive, session, now=self.desk.now(), **payload)
        except Exception as exc:  # shown in Vietnamese; the form keeps everything
            self.app.call_from_thread(self._save_failed, error_text(exc))
            return
        self.app.call_from_thread(self._saved, result)

    def _save_failed(self, message: str) -> None:
        self._saving = False
        self._status(t("Chưa lưu: {error}", error=message), error=True)

    def _saved(self, result: dict[str, Any]) -> None:
        self._saving = False
        self.reset_form()
        self._status(t("Đã tiếp nhận hồ sơ {code}", code=result["code"]))
        self.app.push_screen(ReceiptPreview(result), lambda _: self.reset_form())

    def action_reattest(self) -> None:
        def done(result: dict[str, Any] | None) -> None:
            if result is not None:
                self._saved(result)

        self.app.push_screen(ReattestDialog(), done)

    def reset_form(self) -> None:
        """An empty form for the next citizen, the cursor in the procedure search."""
        self.picker.reset()
        self._show_documents(None)
        for field in FIELDS:
            widget = self._input(field)
            with widget.prevent(Input.Changed):
                widget.value = ""
            self._show_problem(field, "")
        for field, default in CHOICES.items():
            self._select(field).value = default
        self.picker.focus_search()

    # -- language switch ------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        controls: dict[str, Any] = {f: self._input(f).value for f in FIELDS}
        controls.update({f: self._select(f).value for f in CHOICES})
        ticked = self.query_one("#documents", SelectionList).selected
        return {"procedure": self.picker.procedure, "search": self.picker.search.value,
                "ticked": ticked, "controls": controls}  # fmt: skip

    def _restore(self, snapshot: dict[str, Any]) -> None:
        self.picker.search.value = snapshot["search"]
        for field, value in snapshot["controls"].items():
            (self._input(field) if field in FIELDS else self._select(field)).value = value
        if snapshot["procedure"] is not None:
            self.picker.choose(snapshot["procedure"], announce=False)
            self._show_documents(snapshot["procedure"])
            documents = self.query_one("#documents", SelectionList)
            documents.deselect_all()
            for index in snapshot["ticked"]:
                documents.select(index)
