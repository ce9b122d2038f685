"""The procedure picker: search-as-you-type over the catalogue, arrow keys and Enter to choose.

Search ignores diacritics and case (`textfold.fold`: "dang ky ket hon" finds "Đăng ký kết hôn")
and matches every word of the query anywhere in the code, name or field. Matches are ranked:
code prefix, then the whole query at the start of the name, then inside the name, then words
scattered; shorter names first within a rank, so "khai sinh" puts "Đăng ký khai sinh" before
"Đăng ký khai sinh kết hợp...". The catalogue (35-300 procedures) is loaded once, in a worker
thread, when the picker is mounted, and filtered in memory on every keystroke.

The list is not focusable: the keys stay in the search box, Up/Down/PageUp/PageDown move the
highlight and Enter chooses, so choosing a procedure is "type, Enter".

Under the choice the picker shows the due date if the dossier were received now ("Hẹn trả:
09 giờ 15 phút, ngày 25/11/2026"), from the `due` function it is given (computed in a worker
thread, since the station's calendar lives in SQLite) and refreshed every 30 seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from commune_client.deadlines import format_vn
from commune_client.textfold import fold
from commune_client.tui.i18n import t
from schemas.catalog import Procedure

__all__ = ["MAX_SHOWN", "ProcedurePicker", "limit_text", "rank"]

MAX_SHOWN = 60
"""Matches listed at most (the best ones): enough to browse, cheap to redraw per keystroke."""


@dataclass(frozen=True, slots=True)
class _Entry:
    procedure: Procedure
    name: str
    """The folded name."""
    text: str
    """The folded code, name and field: what every query word must be found in."""


def _index(procedures: Sequence[Procedure]) -> list[_Entry]:
    return [_Entry(p, fold(p.name), fold(f"{p.code} {p.name} {p.field}")) for p in procedures]


def rank(procedures: Sequence[Procedure], query: str) -> list[Procedure]:
    """The procedures matching `query`, best first (all of them, in order, for no query)."""
    return [e.procedure for e in _rank(_index(procedures), query)]


def _rank(entries: Sequence[_Entry], query: str) -> list[_Entry]:
    needle = " ".join(fold(query).split())
    if not needle:
        return list(entries)
    words = needle.split()
    scored: list[tuple[int, int, str, _Entry]] = []
    for entry in entries:
        if not all(word in entry.text for word in words):
            continue
        position = entry.name.find(needle)
        if fold(entry.procedure.code).startswith(needle):
            tier = 0
        elif position == 0:
            tier = 1
        elif position > 0:
            tier = 2
        else:
            tier = 3
        scored.append((tier, len(entry.name), entry.procedure.code, entry))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored]


def limit_text(procedure: Procedure) -> str:
    """The legal time limit as officers say it: "3 ngày làm việc", "trong ngày"."""
    n = procedure.time_limit
    if n == 0:
        return t("trong ngày")
    if procedure.time_unit == "calendar_days":
        return t("{n} ngày", n=n)
    if procedure.time_unit == "working_hours":
        return t("{n} giờ làm việc", n=n)
    return t("{n} ngày làm việc", n=n)


class _Matches(OptionList, can_focus=False):
    """The match list; never focused (the search box keeps the keys)."""


class ProcedurePicker(Vertical):
    """Search box + match list + the chosen procedure. Posts `Chosen` when one is chosen."""

    DEFAULT_CSS = """
    ProcedurePicker {
        height: auto;
    }
    ProcedurePicker #picker-line {
        height: 1;
    }
    ProcedurePicker .picker-label {
        width: 13;
        text-style: bold;
    }
    ProcedurePicker #procedure-search {
        width: 1fr;
    }
    ProcedurePicker #procedure-list {
        height: auto;
        max-height: 8;
        margin-left: 13;
        border: none;
        padding: 0;
    }
    ProcedurePicker #procedure-chosen {
        margin-left: 13;
        color: $success;
        text-style: bold;
    }
    ProcedurePicker #procedure-due {
        margin-left: 13;
        color: $warning;
        text-style: bold;
    }
    """

    BINDINGS = [
        Binding("down", "move('cursor_down')", show=False),
        Binding("up", "move('cursor_up')", show=False),
        Binding("pagedown", "move('page_down')", show=False),
        Binding("pageup", "move('page_up')", show=False),
    ]

    class Chosen(Message):
        """A procedure was chosen (or the choice cleared: `procedure` is None)."""

        def __init__(self, picker: ProcedurePicker, procedure: Procedure | None) -> None:
            super().__init__()
            self.picker = picker
            self.procedure = procedure

    def __init__(
        self,
        loader: Callable[[], list[Procedure]],
        due: Callable[[Procedure], datetime],
        *,
        id: str | None = None,
    ) -> None:
        """`loader` returns the catalogue (called once), `due` the due date of a procedure
        received now; both are called from worker threads."""
        super().__init__(id=id)
        self._loader = loader
        self._due = due
        self._entries: list[_Entry] = []
        self._matches: list[Procedure] = []
        self.loaded = False
        self.procedure: Procedure | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="picker-line"):
            yield Label(t("Thủ tục"), classes="picker-label")
            yield Input(
                placeholder=t("Gõ tên hoặc mã thủ tục, ví dụ: khai sinh"),
                id="procedure-search",
                compact=True,
            )
        yield _Matches(id="procedure-list")
        yield Label("", id="procedure-chosen")
        yield Label("", id="procedure-due")

    def on_mount(self) -> None:
        self.query_one("#procedure-chosen", Label).display = False
        self._load()
        self.set_interval(30, self._tick)

    @work(thread=True, exclusive=True, group="catalogue")
    def _load(self) -> None:
        try:
            procedures = self._loader()
        except Exception as exc:  # shown to the officer; the picker stays empty
            message = t("Không tải được danh mục thủ tục: {error}", error=str(exc))
            self.app.call_from_thread(self.notify, message, severity="error", timeout=8)
            return
        self.app.call_from_thread(self._loaded, procedures)

    def _loaded(self, procedures: list[Procedure]) -> None:
        self._entries = _index(procedures)
        self.loaded = True
        self._refilter()

    # -- searching ------------------------------------------------------------------------------
    @property
    def search(self) -> Input:
        return self.query_one("#procedure-search", Input)

    @property
    def matches(self) -> list[Procedure]:
        """What the list shows now, best first."""
        return list(self._matches)

    def _refilter(self) -> None:
        self._matches = [e.procedure for e in _rank(self._entries, self.search.value)]
        shown = self._matches[:MAX_SHOWN]
        options = self.query_one(_Matches)
        options.clear_options()
        options.add_options(
            Option(
                Content.assemble(
                    (p.code, "bold"), (f"  {p.name}", ""), (f"  · {limit_text(p)}", "italic")
                ),
                id=p.code,
            )
            for p in shown
        )
        if shown:
            options.highlighted = 0
        options.display = bool(shown) and (self.procedure is None or self.search.has_focus)

    @on(Input.Changed, "#procedure-search")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self._refilter()

    def action_move(self, how: str) -> None:
        options = self.query_one(_Matches)
        options.display = bool(self._matches)
        getattr(options, f"action_{how}")()

    @on(Input.Submitted, "#procedure-search")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one(_Matches)
        index = options.highlighted
        if not options.display and self._matches:  # the list was folded: show it again first
            options.display = True
        elif index is None or index >= len(self._matches):
            self.app.bell()
        else:
            self.choose(self._matches[index])

    @on(OptionList.OptionSelected, "#procedure-list")
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.choose(self._matches[event.option_index])

    # -- due date -----------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.procedure is not None:
            self._update_due(self.procedure)

    @work(thread=True, exclusive=True, group="due")
    def _update_due(self, procedure: Procedure) -> None:
        from commune_client.tui.screens.base import error_text

        try:
            text = t("Hẹn trả: {due}", due=format_vn(self._due(procedure)))
        except Exception as exc:  # shown in place of the date
            text = error_text(exc)
        self.app.call_from_thread(self._show_due, procedure.code, text)

    def _show_due(self, code: str, text: str) -> None:
        if self.procedure is not None and self.procedure.code == code:
            self.query_one("#procedure-due", Label).update(text)

    @property
    def due_text(self) -> str:
        """The due date line as shown ("" when no procedure is chosen)."""
        return str(self.query_one("#procedure-due", Label).content)

    # -- choosing -------------------------------------------------------------------------------
    def choose(self, procedure: Procedure, *, announce: bool = True) -> None:
        """Make `procedure` the choice (and tell the screen, unless `announce` is False)."""
        self.procedure = procedure
        self.query_one(_Matches).display = False
        chosen = self.query_one("#procedure-chosen", Label)
        chosen.update(f"✔ {procedure.code} · {procedure.name} · {limit_text(procedure)}")
        chosen.display = True
        self.query_one("#procedure-due", Label).update(t("Đang tính ngày hẹn trả…"))
        self._update_due(procedure)
        if announce:
            self.post_message(self.Chosen(self, procedure))

    def reset(self) -> None:
        """No procedure chosen, an empty search, the whole catalogue listed."""
        self.procedure = None
        chosen = self.query_one("#procedure-chosen", Label)
        chosen.update("")
        chosen.display = False
        self.query_one("#procedure-due", Label).update("")
        with self.search.prevent(Input.Changed):
            self.search.value = ""
        self._refilter()

    def focus_search(self) -> None:
        self.search.focus()
