"""`FormPDF`: an fpdf2 document with the bundled DejaVu Sans and the parts every form shares.

The national header (unit names left, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" right), the centred
title, labelled lines, bordered tables that wrap and break across pages, signature blocks and the
QR code. Output is deterministic: the creation date is fixed by the caller (from the record's own
times), so the same input gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.enums import PathPaintRule, XPos, YPos
from fpdf.fonts import FontFace

from commune_client.forms.context import FormContext
from commune_client.forms.text import parse_time, t

__all__ = ["A4", "A5", "FONT", "FONT_DIR", "FormPDF", "Signature"]

FONT_DIR: Final = Path(__file__).resolve().parent / "fonts"
FONT: Final = "DejaVu"

A5: Final = (148.0, 210.0)
"""Page sizes in mm (passed as numbers: fpdf2 2.8 warns on the name "A5")."""
A4: Final = (210.0, 297.0)

NATIONAL_NAME: Final = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
NATIONAL_MOTTO: Final = "Độc lập - Tự do - Hạnh phúc"


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature column: title (e.g. "NGƯỜI TIẾP NHẬN HỒ SƠ"), hint line, printed name."""

    title: str
    name: str = ""
    hint: str = "(Ký, ghi rõ họ tên)"


class FormPDF(FPDF):
    """A form page in mm with DejaVu Sans; `size` is the body font size in points."""

    def __init__(
        self,
        ctx: FormContext,
        *,
        page: tuple[float, float],
        title: str,
        created: str,
        footer: str = "",
        continued: str = "",
        size: float = 9.0,
    ) -> None:
        super().__init__(orientation="portrait", unit="mm", format=page)
        self.ctx = ctx
        self.body_size = size
        self.line_h = size * 0.5
        self._footer = t(footer)
        self._continued = t(continued)
        small = page[0] < 200
        side = 11.0 if small else 18.0
        self.set_margins(side, 9.0 if small else 14.0, side)
        self.set_auto_page_break(True, margin=11.0 if small else 14.0)
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_creation_date(parse_time(created))
        self.set_title(t(title))
        self.set_author(t(ctx.unit_name))
        self.set_creator("commune-ledger")
        self.set_lang("vi")
        self.alias_nb_pages()
        self.set_line_width(0.2)
        self.add_page()
        self.regular()

    # ---------------------------------------------------------------------------------- fonts

    def regular(self, size: float | None = None) -> None:
        self.set_font(FONT, "", size or self.body_size)

    def bold(self, size: float | None = None) -> None:
        self.set_font(FONT, "B", size or self.body_size)

    def mcell(self, w: float, h: float, text: str, align: str = "L") -> None:
        """`multi_cell` that returns to the cell's left edge on the next line."""
        self.multi_cell(w, h, t(text), align=align, new_x=XPos.LEFT, new_y=YPos.NEXT)

    def header(self) -> None:
        """From page 2 on: a small line naming the form, so a loose page is recognisable."""
        if self.page_no() > 1 and self._continued:
            self.regular(6.5)
            self.set_text_color(90)
            self.cell(0, 3.5, f"{self._continued} (tiếp theo)", align="C")
            self.set_text_color(0)
            self.ln(6)
            self.regular()

    def footer(self) -> None:
        self.set_y(-8.5)
        self.regular(6.5)
        self.set_text_color(90)
        label = f"{self._footer} - " if self._footer else ""
        self.cell(0, 3.5, f"{label}Trang {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    # --------------------------------------------------------------------------- header, title

    def national_header(self, number: str | None, date_line: str | None) -> None:
        """Unit names (left) and the national name and motto (right); then `Số:` and the date."""
        ctx = self.ctx
        x0, y0 = self.l_margin, self.get_y()
        left_w = self.epw * 0.42
        right_w = self.epw - left_w
        hs = self.body_size - 0.5
        self.bold(hs)
        hs = min(hs, hs * (right_w - 2) / self.get_string_width(NATIONAL_NAME))
        h = hs * 0.5

        if t(ctx.parent_agency).strip():
            self.regular(hs)
            self.mcell(left_w, h, t(ctx.parent_agency).upper(), align="C")
        self.bold(hs)
        self.set_x(x0)
        self.mcell(left_w, h, t(ctx.unit_name).upper(), align="C")
        rule = min(left_w * 0.4, 22.0)
        y_left = self.get_y() + 0.8
        self.line(x0 + (left_w - rule) / 2, y_left, x0 + (left_w + rule) / 2, y_left)

        self.set_xy(x0 + left_w, y0)
        self.bold(hs)
        self.mcell(right_w, h, NATIONAL_NAME, align="C")
        self.set_x(x0 + left_w)
        self.mcell(right_w, h, NATIONAL_MOTTO, align="C")
        motto = self.get_string_width(NATIONAL_MOTTO)
        y_right = self.get_y() + 0.8
        mid = x0 + left_w + right_w / 2
        self.line(mid - motto / 2, y_right, mid + motto / 2, y_right)

        self.set_y(max(y_left, y_right) + 1.5)
        if number is not None or date_line is not None:
            y = self.get_y()
            self.regular(hs)
            if number is not None:
                self.set_x(x0)
                self.mcell(left_w, h, t(number), align="C")
            y_num = self.get_y()
            if date_line is not None:
                self.set_xy(x0 + left_w, y)
                self.mcell(right_w, h, t(date_line), align="C")
            self.set_y(max(y_num, self.get_y()))
        self.ln(self.line_h * 0.8)
        self.regular()

    def form_title(self, text: str, *subtitles: str, size: float | None = None) -> None:
        self.bold(size or self.body_size + 2.5)
        self.mcell(0, (size or self.body_size + 2.5) * 0.55, t(text), align="C")
        self.regular()
        for line in subtitles:
            self.mcell(0, self.line_h, t(line), align="C")
        self.ln(self.line_h * 0.6)
        self.regular()

    # ------------------------------------------------------------------------------------ text

    def field(self, label: str, value: str, *, bold_value: bool = True, indent: float = 0) -> None:
        """`Label: value` (value in bold), wrapping at the right margin."""
        self.set_x(self.l_margin + indent)
        self.regular()
        self.write(self.line_h, t(label) + (": " if label and value else ""))
        if bold_value:
            self.bold()
        self.write(self.line_h, t(value))
        self.regular()
        self.ln(self.line_h)

    def fields(self, *pairs: tuple[str, str]) -> None:
        """Several short `Label: value` pairs on one line (wraps like `field` if too long)."""
        self.set_x(self.l_margin)
        self.regular()
        for i, (label, value) in enumerate(pairs):
            if i:
                self.write(self.line_h, " " * 3)
            self.write(self.line_h, t(label) + ": ")
            self.bold()
            self.write(self.line_h, t(value))
            self.regular()
        self.ln(self.line_h)

    def paragraph(
        self, text: str, *, bold: bool = False, align: str = "J", indent: float = 0
    ) -> None:
        if bold:
            self.bold()
        self.set_x(self.l_margin + indent)
        self.mcell(self.epw - indent, self.line_h, t(text), align=align)
        self.regular()

    def gap(self, factor: float = 0.5) -> None:
        self.ln(self.line_h * factor)

    # ----------------------------------------------------------------------------------- table

    def table_of(
        self,
        headings: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[float],
        align: Sequence[str],
        size: float | None = None,
    ) -> None:
        """A bordered table; cells wrap, rows break across pages with the headings repeated."""
        size = size or self.body_size - 0.5
        self.regular(size)
        style = FontFace(family=FONT, emphasis="BOLD", size_pt=size, fill_color=(232, 232, 232))
        with self.table(
            col_widths=tuple(widths),
            text_align=tuple(align),
            headings_style=style,
            line_height=size * 0.5,
            padding=(0.9, 1.2),
            v_align="MIDDLE",
            repeat_headings=1,
            first_row_as_headings=True,
        ) as table:
            head = table.row()
            for text in headings:
                head.cell(t(text), align="C")
            for cells in rows:
                row = table.row()
                for text in cells:
                    row.cell(t(text))
        self.regular()
        self.gap(0.6)

    # ------------------------------------------------------------------------------ signatures

    def signatures(
        self,
        blocks: Sequence[Signature | None],
        *,
        space: float = 15.0,
        columns: Sequence[tuple[float, float]] | None = None,
    ) -> float:
        """Signature columns side by side (None: an empty column); kept on one page.

        `columns`: (x offset from the left margin, width) of each block; default: equal
        columns over the page width. Returns the top of the row (the caller may draw beside it).
        """
        height = self.line_h * 4 + space
        if self.will_page_break(height):
            self.add_page()
        y0 = self.get_y()
        if columns is None:
            width = self.epw / len(blocks)
            columns = [(i * width, width) for i in range(len(blocks))]
        bottom = y0
        for block, (offset, width) in zip(blocks, columns, strict=True):
            if block is None:
                continue
            x = self.l_margin + offset
            self.set_xy(x, y0)
            self.bold()
            fit = (width - 2 * self.c_margin) / max(self.get_string_width(t(block.title)), 1)
            self.bold(max(self.body_size - 2, min(self.body_size, self.body_size * fit)))
            self.mcell(width, self.line_h, t(block.title), align="C")
            self.regular(self.body_size - 1)
            self.mcell(width, self.line_h, t(block.hint), align="C")
            self.set_xy(x, self.get_y() + space)
            self.bold()
            self.mcell(width, self.line_h, t(block.name), align="C")
            bottom = max(bottom, self.get_y())
        self.regular()
        self.set_xy(self.l_margin, bottom)
        self.gap(0.5)
        return y0

    # -------------------------------------------------------------------------------- QR code

    def qr_code(self, matrix: Sequence[Sequence[int]], x: float, y: float, module: float) -> None:
        """Dark modules as one filled vector path (no seams between rows), top-left at (x, y).

        The caller leaves the quiet zone (4 modules) white around it.
        """
        with self.new_path(paint_rule=PathPaintRule.FILL_NONZERO) as path:
            path.style.fill_color = "#000000"
            for r, row in enumerate(matrix):
                c, n = 0, len(row)
                while c < n:
                    if not row[c]:
                        c += 1
                        continue
                    start = c
                    while c < n and row[c]:
                        c += 1
                    path.rectangle(x + start * module, y + r * module, (c - start) * module, module)
