"""Procedure catalogue import (`commune catalog import FILE`) and the demo catalogue.

Pure functions, no I/O except reading this package's own demo file. The import format is
DESIGN section 8:

- **JSON**: a list of procedure objects, or an object whose `"procedures"` key holds that list
  (other top-level keys such as `type`, `version`, `note` are ignored). Each object has `code`,
  `name`, `field`, `time_limit`, `time_unit` (`working_days` | `calendar_days` |
  `working_hours`), `fee` (integer đồng), `documents` (`[{"name", "originals", "copies"}]`),
  `on_the_spot` (bool), and optionally `field_code`, `cutoff` (`HH:MM`), `agency`, `demo`;
  further keys are ignored (`schemas.catalog.Procedure`).
- **CSV**: the same columns, a header row first (column names in any order and case; comma,
  semicolon or tab separated, UTF-8 with or without BOM, or UTF-16 with BOM). Empty cells are
  absent values. `documents` is `name|originals|copies` items joined by `;`, e.g.
  `Tờ khai|1|0;Giấy chứng sinh|1|0`; `name` alone means 1 original, 0 copies, and `name|n`
  means n originals, 0 copies. A `;`, `|` or `\\` inside a name is written `\\;`, `\\|`, `\\\\`.
  `on_the_spot`/`demo` accept true/false, 1/0, có/không, yes/no; `fee` accepts thousands
  separators (`2.000`, `2,000`, `2 000`); `time_unit` also accepts the Vietnamese wording
  ("ngày làm việc", "ngày", "giờ làm việc") in both formats.

`parse_catalog` validates the whole file before returning anything: a file with any error is
refused as a whole (`CatalogError`, with every problem in `.errors` and the first in the
message, which names the row/item number and the column/field in Vietnamese).

`demo_catalog()` loads `commune_client/data/demo_catalog.json`: about 30 real commune-level
procedures (thủ tục hành chính cấp xã) with codes as published in the national procedure
database. Their fees, time limits and document lists are realistic demo values, NOT an
authoritative catalogue: in production replace them with the province's catalogue
(`LayDanhSachTTHC` from the provincial system, or its export imported with
`commune catalog import`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import PurePath
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ledger.errors import LedgerError
from schemas.catalog import Procedure

__all__ = [
    "CATALOG_CSV_COLUMNS",
    "DEMO_CATALOG_VERSION",
    "MAX_CATALOG_BYTES",
    "REQUIRED_COLUMNS",
    "CatalogError",
    "catalog_to_csv",
    "demo_catalog",
    "parse_catalog",
]

CATALOG_CSV_COLUMNS: Final[tuple[str, ...]] = (
    "code",
    "name",
    "field",
    "field_code",
    "time_limit",
    "time_unit",
    "fee",
    "on_the_spot",
    "cutoff",
    "agency",
    "demo",
    "documents",
)
"""Every column the CSV template has, in order (`catalog_to_csv` writes them all)."""

REQUIRED_COLUMNS: Final[tuple[str, ...]] = (
    "code",
    "name",
    "field",
    "time_limit",
    "time_unit",
    "fee",
)
"""Columns a CSV header must have (the others may be left out)."""

MAX_CATALOG_BYTES: Final = 16 * 1024 * 1024
"""A catalogue file larger than this is refused (a province lists a few thousand procedures)."""

DEMO_CATALOG_VERSION: Final = "demo-2026.1"
"""`version` of the demo catalogue (the `version` key of `data/demo_catalog.json`)."""

_MAX_LISTED_ERRORS = 200


class CatalogError(LedgerError):
    """The catalogue file was refused; nothing of it was imported.

    `message` is the first problem (plus how many more); `errors` lists every problem found.
    """

    title = "Lỗi danh mục thủ tục"

    def __init__(self, message: str, *, errors: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.errors: list[str] = list(errors) if errors else [message]


def _refuse(errors: Sequence[str]) -> CatalogError:
    shown = list(errors[:_MAX_LISTED_ERRORS])
    message = shown[0]
    if len(errors) > 1:
        message += f" (và {len(errors) - 1} lỗi khác)"
    return CatalogError(message, errors=shown)


# --------------------------------------------------------------------------------------------
# Values shared by both formats

_TIME_UNITS: Final[dict[str, str]] = {
    "working_days": "working_days",
    "calendar_days": "calendar_days",
    "working_hours": "working_hours",
    "ngày làm việc": "working_days",
    "ngay lam viec": "working_days",
    "ngày": "calendar_days",
    "ngay": "calendar_days",
    "giờ làm việc": "working_hours",
    "gio lam viec": "working_hours",
}
_TIME_UNIT_HELP = (
    "chỉ nhận working_days (ngày làm việc), calendar_days (ngày) hoặc working_hours (giờ làm việc)"
)

_NON_NEGATIVE = "phải là số nguyên không âm"

_PATTERN_HELP: Final[dict[str, str]] = {
    "code": "mã thủ tục chỉ gồm chữ, số và dấu chấm (tối đa 40 ký tự), ví dụ 1.001193",
    "field_code": "mã lĩnh vực chỉ gồm chữ, số, dấu chấm, gạch ngang, gạch dưới (tối đa 40 ký tự)",
    "cutoff": "giờ phải có dạng HH:MM, ví dụ 15:00",
    "agency": "mã đơn vị chỉ gồm chữ, số và dấu chấm (2 đến 40 ký tự), ví dụ 000.00.17.H56",
}


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _time_unit(value: str) -> str:
    """The canonical unit for a known spelling, else the value unchanged (pydantic refuses it)."""
    return _TIME_UNITS.get(" ".join(_norm(value).casefold().split()), value)


def _error_text(error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    name = str(loc[-1]) if loc else ""
    if kind == "missing":
        return "thiếu, bắt buộc phải có"
    if kind in {"int_type", "int_parsing", "int_from_float", "greater_than_equal"}:
        return _NON_NEGATIVE
    if kind == "less_than_equal":
        return "số quá lớn"
    if kind in {"bool_type", "bool_parsing"}:
        return "phải là true hoặc false"
    if kind == "string_type":
        return "phải là chuỗi ký tự"
    if kind == "literal_error" and name == "time_unit":
        return f"đơn vị thời hạn không hợp lệ {error.get('input')!r}: {_TIME_UNIT_HELP}"
    if kind == "string_pattern_mismatch":
        return _PATTERN_HELP.get(name, "không đúng định dạng")
    if kind == "list_type":
        return "phải là một danh sách"
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return "phải là một đối tượng"
    return error["msg"]  # the schema's own messages are Vietnamese (text length, control chars)


def _json_where(item: int, loc: tuple[int | str, ...]) -> str:
    if not loc:
        return f"Mục {item}"
    path = str(loc[0])
    for part in loc[1:]:
        path += f"[{part + 1}]" if isinstance(part, int) else f".{part}"
    return f"Mục {item}, trường {path}"


def _csv_where(line: int, loc: tuple[int | str, ...]) -> str:
    if not loc:
        return f"Dòng {line}"
    where = f"Dòng {line}, cột {loc[0]}"
    if loc[0] == "documents" and len(loc) > 1 and isinstance(loc[1], int):
        where += f", giấy tờ thứ {loc[1] + 1}"
        if len(loc) > 2:
            where += f" ({loc[2]})"
    return where


# --------------------------------------------------------------------------------------------
# Decoding and format detection


def _decode(data: bytes) -> str:
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"Tệp không phải văn bản UTF-8 (byte lỗi ở vị trí {exc.start}): "
            "hãy lưu lại tệp với mã hóa UTF-8"
        ) from None


def _format(filename: str, text: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in {".csv", ".tsv", ".txt"}:
        return "csv"
    if suffix in {".xlsx", ".xls", ".xlsm", ".ods"}:
        raise CatalogError(
            f"Chưa nhận tệp bảng tính {suffix}: hãy lưu thành CSV UTF-8 hoặc dùng tệp JSON"
        )
    return "json" if text.lstrip()[:1] in {"[", "{"} else "csv"


def parse_catalog(data: bytes, filename: str) -> list[Procedure]:
    """Parse and validate a whole catalogue file (JSON or CSV, by extension, else by content).

    Returns the procedures in file order, or raises `CatalogError` without returning any of
    them: malformed JSON/CSV, an empty file, a bad value, a duplicate code.
    """
    if len(data) > MAX_CATALOG_BYTES:
        raise CatalogError(
            f"Tệp danh mục quá lớn ({len(data)} byte, tối đa {MAX_CATALOG_BYTES} byte)"
        )
    text = _decode(data)
    if not text.strip():
        raise CatalogError("Tệp danh mục trống: không có thủ tục nào")
    kind = _format(filename, text)
    if kind == "json":
        return _parse_json(text)
    return _parse_csv(text)


def _finish(
    procedures: list[tuple[int, Procedure]], errors: list[str], where: str, field: str
) -> list[Procedure]:
    """Check codes are unique, then either return the procedures or refuse everything."""
    first_seen: dict[str, int] = {}
    for number, procedure in procedures:
        earlier = first_seen.setdefault(procedure.code, number)
        if earlier != number:
            errors.append(
                f"{where} {number}, {field} code: mã thủ tục {procedure.code} bị trùng "
                f"với {where.lower()} {earlier}"
            )
    if errors:
        raise _refuse(errors)
    return [procedure for _, procedure in procedures]


# --------------------------------------------------------------------------------------------
# JSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"giá trị {name} không được phép trong JSON")


def _parse_json(text: str) -> list[Procedure]:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"Tệp JSON không hợp lệ: dòng {exc.lineno}, cột {exc.colno}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise CatalogError(f"Tệp JSON không hợp lệ: {exc}") from None
    items = document.get("procedures") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise CatalogError(
            'Tệp JSON phải là một danh sách thủ tục, hoặc một đối tượng có khóa "procedures" '
            "chứa danh sách đó"
        )
    if not items:
        raise CatalogError("Danh mục không có thủ tục nào")
    errors: list[str] = []
    procedures: list[tuple[int, Procedure]] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.append(f"Mục {number}: phải là một đối tượng JSON {{...}} mô tả thủ tục")
            continue
        if isinstance(item.get("time_unit"), str):
            item = {**item, "time_unit": _time_unit(item["time_unit"])}
        try:
            procedures.append((number, Procedure.model_validate(item)))
        except ValidationError as exc:
            errors.extend(
                f"{_json_where(number, e['loc'])}: {_error_text(e)}" for e in exc.errors()
            )
    return _finish(procedures, errors, "Mục", "trường")


# --------------------------------------------------------------------------------------------
# CSV

_TRUE = {"true", "1", "có", "co", "yes", "x", "đúng"}
_FALSE = {"false", "0", "không", "khong", "no", "sai"}
_GROUPED = re.compile(r"\d{1,3}(?:([.,\u00a0 ])\d{3})(?:\1\d{3})*")


def _delimiter(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    best, best_score = ",", -1
    for candidate in (",", ";", "\t"):
        cells = next(csv.reader([first], delimiter=candidate), [])
        score = sum(1 for cell in cells if _header_name(cell) in CATALOG_CSV_COLUMNS)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _header_name(cell: str) -> str:
    return _norm(cell.replace("\ufeff", "")).casefold()


def _integer(value: str, *, grouped: bool) -> int | None:
    text = value.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    if grouped and _GROUPED.fullmatch(text):
        return int(re.sub(r"\D", "", text))
    return None


def _boolean(value: str) -> bool | None:
    text = _norm(value).casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


_DOCS_HELP = "dạng tên|số bản chính|số bản sao, các giấy tờ cách nhau bởi dấu ;"


def _split_documents(cell: str) -> list[list[str]]:
    """Items (split on `;`) of parts (split on `|`), honouring `\\;`, `\\|`, `\\\\`."""
    items: list[list[str]] = [[]]
    buffer: list[str] = []
    chars = iter(cell)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            if following in {";", "|", "\\"}:
                buffer.append(following)
            else:
                buffer.append("\\" + following)
        elif char == "|":
            items[-1].append("".join(buffer))
            buffer = []
        elif char == ";":
            items[-1].append("".join(buffer))
            buffer = []
            items.append([])
        else:
            buffer.append(char)
    items[-1].append("".join(buffer))
    if len(items) > 1 and items[-1] == [""]:
        items.pop()  # a trailing ";"
    return items


def _documents(cell: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The documents of a CSV cell, or the problems (`giấy tờ thứ N: ...`)."""
    documents: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, parts in enumerate(_split_documents(cell), start=1):
        parts = [part.strip() for part in parts]
        label = f"giấy tờ thứ {number}"
        if len(parts) > 3:
            problems.append(f"{label}: có {len(parts)} phần, {_DOCS_HELP}")
            continue
        name, *counts = parts
        if not name:
            problems.append(f"{label}: thiếu tên giấy tờ ({_DOCS_HELP})")
            continue
        values: list[int] = []
        for what, text in zip(("số bản chính", "số bản sao"), counts, strict=False):
            value = _integer(text, grouped=False)
            if value is None:
                problems.append(f"{label} ({name}): {what} {_NON_NEGATIVE}, không phải {text!r}")
            else:
                values.append(value)
        if len(values) != len(counts):
            continue
        document: dict[str, Any] = {"name": name}
        if values:
            document["originals"] = values[0]
            document["copies"] = values[1] if len(values) > 1 else 0
        documents.append(document)
    return documents, problems


def _csv_item(row: Mapping[str, str], line: int) -> tuple[dict[str, Any], list[str], set[str]]:
    """Convert one CSV row to a procedure object; also the problems and the columns they hit."""
    item: dict[str, Any] = {}
    problems: list[str] = []
    failed: set[str] = set()
    for column, raw in row.items():
        value = raw.strip()
        if not value:
            continue
        where = f"Dòng {line}, cột {column}"
        if column in {"time_limit", "fee"}:
            number = _integer(value, grouped=column == "fee")
            if number is None:
                problems.append(f"{where}: {_NON_NEGATIVE}, không phải {value!r}")
                failed.add(column)
            else:
                item[column] = number
        elif column in {"on_the_spot", "demo"}:
            flag = _boolean(value)
            if flag is None:
                problems.append(
                    f"{where}: phải là true/false, 1/0 hoặc có/không, không phải {value!r}"
                )
                failed.add(column)
            else:
                item[column] = flag
        elif column == "documents":
            documents, bad = _documents(value)
            problems.extend(f"{where}: {problem}" for problem in bad)
            if bad:
                failed.add(column)
            else:
                item[column] = documents
        elif column == "time_unit":
            item[column] = _time_unit(value)
        else:
            item[column] = value
    return item, problems, failed


def _parse_csv(text: str) -> list[Procedure]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        rows = _read_rows(reader)
    except csv.Error as exc:
        raise CatalogError(f"Tệp CSV không hợp lệ ở dòng {reader.line_num}: {exc}") from None
    if not rows:
        raise CatalogError("Tệp danh mục trống: không có thủ tục nào")
    header_line, header = rows[0]
    names = [_header_name(cell) for cell in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        raise CatalogError(
            f"Dòng {header_line} phải là dòng tiêu đề; thiếu cột bắt buộc: {', '.join(missing)} "
            f"(các cột: {', '.join(CATALOG_CSV_COLUMNS)})"
        )
    for column in CATALOG_CSV_COLUMNS:
        if names.count(column) > 1:
            raise CatalogError(f"Dòng {header_line} (tiêu đề): cột {column} xuất hiện hai lần")
    # columns we do not know are ignored, like unknown JSON keys (the first of a repeated one)
    names = [
        name if name in CATALOG_CSV_COLUMNS or name not in names[:index] else ""
        for index, name in enumerate(names)
    ]
    if len(rows) == 1:
        raise CatalogError("Tệp CSV chỉ có dòng tiêu đề, không có thủ tục nào")
    errors: list[str] = []
    procedures: list[tuple[int, Procedure]] = []
    for line, cells in rows[1:]:
        if len(cells) > len(names):
            errors.append(
                f"Dòng {line}: có {len(cells)} ô, nhiều hơn {len(names)} cột của dòng tiêu đề"
            )
            continue
        row = {name: cell for name, cell in zip(names, cells, strict=False) if name}
        item, problems, failed = _csv_item(row, line)
        errors.extend(problems)
        try:
            procedure = Procedure.model_validate(item)
        except ValidationError as exc:
            errors.extend(
                f"{_csv_where(line, e['loc'])}: {_error_text(e)}"
                for e in exc.errors()
                if not (e["loc"] and e["loc"][0] in failed)
            )
            continue
        if not problems:
            procedures.append((line, procedure))
    return _finish(procedures, errors, "Dòng", "cột")


def _read_rows(reader: Any) -> list[tuple[int, list[str]]]:
    """Non-blank rows with the line number each starts on."""
    rows: list[tuple[int, list[str]]] = []
    line = 1
    for cells in reader:
        if any(cell.strip() for cell in cells):
            rows.append((line, cells))
        line = reader.line_num + 1
    return rows


# --------------------------------------------------------------------------------------------
# Writing the CSV template


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace(";", "\\;").replace("|", "\\|")


def _cell(procedure: Procedure, column: str) -> str:
    if column == "documents":
        return ";".join(
            f"{_escape(doc.name)}|{doc.originals}|{doc.copies}" for doc in procedure.documents
        )
    value = getattr(procedure, column)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def catalog_to_csv(procedures: Iterable[Procedure]) -> str:
    """The procedures as CSV with every column of `CATALOG_CSV_COLUMNS` (a template to fill in).

    `parse_catalog(catalog_to_csv(ps).encode(), "x.csv") == ps`. Write it with a UTF-8 BOM
    (`encoding="utf-8-sig"`) if the file is meant to be opened in Excel.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CATALOG_CSV_COLUMNS)
    for procedure in procedures:
        writer.writerow([_cell(procedure, column) for column in CATALOG_CSV_COLUMNS])
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# The demo catalogue


@cache
def _demo() -> tuple[Procedure, ...]:
    data = resources.files("commune_client").joinpath("data/demo_catalog.json").read_bytes()
    return tuple(parse_catalog(data, "demo_catalog.json"))


def demo_catalog() -> list[Procedure]:
    """The demo catalogue (`commune catalog demo`): about 30 commune-level procedures, all with
    `demo=True`. Fees and time limits are realistic demo values, to be replaced by the
    province's catalogue (LayDanhSachTTHC) in production."""
    return list(_demo())
