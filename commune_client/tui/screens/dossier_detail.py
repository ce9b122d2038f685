"""One dossier (pushed over the list; Escape goes back): who, what, when, its sync state, the
control slip (the timeline), a button for each action its state allows (each opens an
`ActionForm`) and printing of its forms (PDF under `<data_dir>/forms/`)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.widgets import Button, DataTable, Footer, Header, Label, Static

from commune_client.deadlines import format_vn, parse_rfc3339
from commune_client.printing import write_form
from commune_client.queries import show_dossier
from commune_client.station import Station
from commune_client.tui.i18n import get_language, t
from commune_client.tui.opener import hand_to_system
from commune_client.tui.screens.base import CommuneScreen
from commune_client.tui.screens.dossiers import short_time
from commune_client.tui.widgets.action_form import ACTION_TITLE, RATINGS, ActionForm
from schemas.dossier import STATUS_LABEL_VI, DossierStatus
from schemas.lifecycle import OPEN_STATES

__all__ = ["FORMS", "DossierDetailScreen", "load_detail", "open_file"]

TIMELINESS = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}
FORMS = {  # form -> (key, footer text, the timeline action it needs)
    "receipt": ("1", "In mẫu 01", None),
    "supplement": ("2", "In mẫu 02", "request-supplement"),
    "refusal": ("3", "In mẫu 03", "refuse"),
    "apology": ("x", "In thư xin lỗi", "reschedule"),
    "control-slip": ("k", "In phiếu kiểm soát", None),
}


def load_detail(station: Station, code: str, now: datetime) -> dict[str, Any]:
    """`show_dossier` plus overdue, the station's sync state and the last requested payment."""
    data = show_dossier(station, code)
    state = data["dossier"]
    due = state.get("due_at")
    data["overdue"] = bool(due and state["status"] in OPEN_STATES and parse_rfc3339(due) < now)
    data["hub"] = station.store.meta("hub") is not None
    data["requested_amount"] = None
    for leaf in reversed(station.store.dossier_leaves(code)):
        event = orjson.loads(leaf)
        if event["action"] == "request-payment":
            data["requested_amount"] = event["data"]["amount"]
            break
    return data


def open_file(path: Path) -> None:
    """Open a printed form in the desktop's viewer when there is one (no printer fallback)."""
    hand_to_system(path, print_without_viewer=False)


def when(text: str | None) -> str:
    if not text:
        return "—"
    value = parse_rfc3339(text)
    return format_vn(value) if get_language() == "vi" else f"{value:%H:%M, %d/%m/%Y}"


class DossierDetailScreen(CommuneScreen):
    DEFAULT_CSS = """
    DossierDetailScreen #detail-body { padding: 0 1; }
    DossierDetailScreen #summary { height: auto; margin-top: 1; }
    DossierDetailScreen .section { text-style: bold; margin-top: 1; }
    DossierDetailScreen #actions {
        grid-size: 3; grid-rows: 1; grid-gutter: 0 1; height: auto; margin-top: 1;
    }
    DossierDetailScreen #actions Button { width: 100%; min-width: 0; }
    DossierDetailScreen #timeline { height: auto; max-height: 16; }
    """

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code
        self.data: dict[str, Any] | None = None
        self._render_lock = asyncio.Lock()

    def compose(self) -> ComposeResult:
        self._language = get_language()  # also when the app recomposes this screen directly
        self._localise_bindings()
        yield Header()
        with VerticalScroll(id="detail-body"):
            yield Static(t("Đang tải hồ sơ {code}…", code=self.code), id="summary")
            yield Label(t("Thao tác"), classes="section")
            yield Grid(id="actions")
            yield Label(t("Phiếu kiểm soát quá trình giải quyết hồ sơ"), classes="section")
            timeline: DataTable[Any] = DataTable(id="timeline", cursor_type="row")
            yield timeline
        yield Footer()

    def _localise_bindings(self) -> None:
        keys = [("escape", "back", "Quay lại")]
        keys += [(key, f"print_form('{form}')", text) for form, (key, text, _) in FORMS.items()]
        for key, action, text in keys:
            self._bindings.key_to_bindings[key] = [Binding(key, action, t(text))]
        self.refresh_bindings()

    def on_mount(self) -> None:
        self.reload()

    async def recompose(self) -> None:
        await super().recompose()
        await self._render_data()

    def on_resize(self) -> None:
        if self.data is not None:
            self._fill_timeline(self.data)

    # -- loading ----------------------------------------------------------------------------------
    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="dossier-detail")
    def _load(self) -> None:
        try:
            data = self.call(load_detail, self.desk.open(), self.code, self.desk.now())
        except Exception as exc:  # shown to the officer
            self.notify_error(exc)
            return
        self.app.call_from_thread(self._loaded, data)

    def _loaded(self, data: dict[str, Any]) -> None:
        self.data = data
        self.call_later(self._render_data)
        self.refresh_bindings()

    async def _render_data(self) -> None:
        async with self._render_lock:  # two reloads must not mount the same buttons twice
            if self.data is not None:
                await self._fill(self.data)

    async def _fill(self, data: dict[str, Any]) -> None:
        self.query_one("#summary", Static).update(self._summary(data))
        actions = self.query_one("#actions", Grid)
        await actions.remove_children()
        buttons = [
            Button(t(ACTION_TITLE[a]), id=f"act-{a}", compact=True) for a in data["next_actions"]
        ]
        if buttons:
            await actions.mount_all(buttons)
        else:
            await actions.mount(
                Label(t("Hồ sơ đã kết thúc, không còn thao tác nào"), classes="muted")
            )
        self._fill_timeline(data)

    def _fill_timeline(self, data: dict[str, Any]) -> None:
        table = self.query_one("#timeline", DataTable)
        table.clear(columns=True)
        # Step and note wrap (rows grow); the note takes what is left of the width.
        step = 22 if self.size.width >= 110 else 16
        note = max(16, self.size.width - 48 - step)
        columns = [("Bước", step), ("Cán bộ", 14), ("Thời điểm", 11), ("Tiến độ", 9)]
        columns.append(("Ghi chú", note))
        for label, width in columns:
            table.add_column(t(label), width=width)
        for row in data["timeline"]:
            late = "bold red" if row["timeliness"] == "late" else ""
            table.add_row(
                t(ACTION_TITLE.get(row["action"], row["step"])),
                row["officer"],
                short_time(row["at"]),
                Text(t(TIMELINESS[row["timeliness"]]), late),
                row["note"],
                height=None,
            )

    def _summary(self, data: dict[str, Any]) -> Text:
        d = data["dossier"]
        who, proc = d["applicant"], d["procedure"]
        rating = d.get("rating")
        person = " · ".join(x for x in (who["name"], who["id_number"], who.get("phone")) if x)
        sync = t(data["sync_vi"]) if data["hub"] else t("Chỉ lưu tại trạm (chưa đồng bộ)")
        lines: list[list[tuple[str, str]]] = [
            [("Mã hồ sơ", d["code"])],
            [("Trạng thái", t(data["status_vi"]) + (t(" · ⚠ Quá hạn") if data["overdue"] else ""))],
            [("Thủ tục", f"{proc['code']} — {proc['name']}")],
            [("Chủ hồ sơ", person)],
            [("Địa chỉ", who.get("address") or "—")],
            [("Ngày tiếp nhận", when(d.get("received_at")))],
            [("Hẹn trả", when(d.get("due_at")))],
            [
                ("Bổ sung", t("{n} lần", n=d.get("supplement_rounds", 0))),
                ("Đánh giá", t(RATINGS[rating - 1]) if rating else t("Chưa đánh giá")),
            ],
            [("Đồng bộ", sync)],
        ]
        if d.get("handling_office"):
            lines.insert(3, [("Đơn vị xử lý", d["handling_office"])])
        text = Text()
        for i, line in enumerate(lines):
            for k, (key, value) in enumerate(line):
                text.append(("   " if k else "") + t(key) + ": ", style="bold")
                text.append(value)
            if i < len(lines) - 1:
                text.append("\n")
        return text

    # -- actions ------------------------------------------------------------------------------
    @on(Button.Pressed, "#actions Button")
    def _action_pressed(self, event: Button.Pressed) -> None:
        action = (event.button.id or "").removeprefix("act-")
        self.open_form(action)

    def open_form(self, action: str) -> None:
        """Open the form of `action`, if the dossier's state allows it."""
        if self.data is None or action not in self.data["next_actions"]:
            return
        form = ActionForm(
            self.code,
            action,
            amount=self.data["requested_amount"],
            via=self.data["dossier"].get("return_via", "desk"),
        )
        self.app.push_screen(form, self._acted)

    def _acted(self, state: dict[str, Any] | None) -> None:
        if state is not None:
            self.notify(
                t(
                    "Đã ghi nhận: {status}",
                    status=t(STATUS_LABEL_VI[DossierStatus(state["status"])]),
                )
            )
            self.reload()

    def action_back(self) -> None:
        self.dismiss(None)

    def show_filter(self, **filters: Any) -> None:
        """`CommuneApp.open_dossiers` landed here: go back to the list and filter it."""
        stack = self.app.screen_stack
        below = stack[-2] if len(stack) > 1 else None
        self.dismiss(None)
        show = getattr(below, "show_filter", None)
        if show is not None:
            show(**filters)

    # -- printing -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "print_form":
            return True
        if self.data is None:
            return False
        needs = FORMS[str(parameters[0])][2]
        return needs is None or any(r["action"] == needs for r in self.data["timeline"])

    def action_print_form(self, form: str) -> None:
        self.notify(t("Đang in…"), timeout=2)
        self._print(form)

    @work(thread=True, group="print")
    def _print(self, form: str) -> None:
        folder = self.desk.data_dir / "forms"
        path = folder / f"{self.code}-{form}.pdf"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.call(write_form, self.desk.open(), self.code, form, path)
        except Exception as exc:  # shown to the officer
            self.notify_error(exc)
            return
        self.app.call_from_thread(self.notify, t("Đã lưu {path}", path=str(path)), timeout=8)
        open_file(path)
