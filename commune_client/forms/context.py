"""`FormContext`: who issues a form (unit names for the header, the officer, the place)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FormContext"]


@dataclass(frozen=True, slots=True)
class FormContext:
    """The issuing office, as printed on every form and spreadsheet.

    - `parent_agency`: the governing body on the first header line, e.g. "UBND TỈNH PHÚ THỌ";
    - `unit_name`: the receiving unit, e.g. "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG XÃ TÂN LẬP";
    - `office_code`: its agency code (mã định danh), e.g. "000.00.17.H56";
    - `place`: the place name of the date line ("Tân Lập, ngày 23 tháng 11 năm 2026");
    - `officer_name`: the officer who issues and signs the form.
    """

    parent_agency: str
    unit_name: str
    office_code: str
    place: str
    officer_name: str
