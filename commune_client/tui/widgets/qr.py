"""The receipt's QR code drawn in the terminal with half blocks.

Each text line carries two rows of modules: "█" both dark, "▀" top dark, "▄" bottom dark, " "
both light, around a quiet zone of 2 modules. The symbol is the paper receipt's own
(`commune_client.forms.qr.make_qr`, segno, error correction M or L), so a phone scans the same
data from the screen as from the printout. It is drawn black on white whatever the theme:
scanners expect dark modules on a light ground.

A receipt payload is ~1.5 KB, a version 30-33 symbol: about 150 columns by 75 lines, larger
than an 80x24 terminal. `QrPanel` shows it in a scrollable container inside a collapsible
section, so the officer can open it for a phone to scan (at 120x40 with a small font) or keep
it folded and print the receipt instead. Encoding takes ~60 ms: it runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import work
from textual.containers import ScrollableContainer
from textual.widgets import Collapsible, Static

from commune_client.forms.qr import make_qr
from commune_client.tui.i18n import t

__all__ = ["QUIET_ZONE", "QrCode", "QrPanel", "half_blocks", "qr_text"]

QUIET_ZONE = 2
"""Light modules around the symbol on screen (the paper receipt has 4; the terminal's own
margin adds to it)."""

_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def half_blocks(matrix: Sequence[Sequence[int]], quiet: int = QUIET_ZONE) -> list[str]:
    """Text lines drawing `matrix` (rows of 0/1, 1 = dark) two rows per line."""
    size = len(matrix)
    side = size + 2 * quiet

    def dark(row: int, col: int) -> bool:
        r, c = row - quiet, col - quiet
        return 0 <= r < size and 0 <= c < size and bool(matrix[r][c])

    return [
        "".join(_BLOCKS[dark(top, col), dark(top + 1, col)] for col in range(side))
        for top in range(0, side, 2)
    ]


def qr_text(payload: str, quiet: int = QUIET_ZONE) -> str:
    """The QR code of `payload` as half-block text (ValueError if it cannot be encoded)."""
    return "\n".join(half_blocks(make_qr(payload).matrix, quiet))


class QrCode(Static):
    """A QR code, encoded in a worker thread when mounted. `text` is "" until it is drawn."""

    DEFAULT_CSS = """
    QrCode {
        width: auto;
        height: auto;
        color: #000000;
        background: #ffffff;
    }
    QrCode.-pending {
        color: $text-muted;
        background: transparent;
    }
    """

    def __init__(self, payload: str, *, id: str | None = None) -> None:
        super().__init__(t("Đang vẽ mã QR…"), markup=False, id=id, classes="-pending")
        self.payload = payload
        self.text = ""

    def on_mount(self) -> None:
        self._encode()

    @work(thread=True, exclusive=True, group="qr")
    def _encode(self) -> None:
        try:
            text = qr_text(self.payload)
        except ValueError as exc:
            message = t("Không vẽ được mã QR: {error}", error=str(exc))
            self.app.call_from_thread(self.update, message)
            return
        self.app.call_from_thread(self._drawn, text)

    def _drawn(self, text: str) -> None:
        self.text = text
        self.remove_class("-pending")
        self.update(text)


class QrPanel(Collapsible):
    """The QR code in a scrollable box, inside a section the officer can fold (Enter on its
    title)."""

    DEFAULT_CSS = """
    QrPanel {
        padding-left: 0;
        padding-bottom: 0;
    }
    QrPanel > Contents {
        padding-left: 0;
    }
    QrPanel ScrollableContainer {
        width: 100%;
        height: auto;
        max-height: 40;
        overflow: auto auto;
    }
    """

    def __init__(self, payload: str, *, collapsed: bool = True, id: str | None = None) -> None:
        super().__init__(
            ScrollableContainer(QrCode(payload, id="qr-code")),
            title=t("Mã QR biên nhận (Enter: mở/đóng)"),
            collapsed=collapsed,
            id=id,
        )

    @property
    def code(self) -> QrCode:
        return self.query_one(QrCode)
