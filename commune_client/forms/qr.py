"""The receipt's QR code: segno, error correction M (L if M cannot hold the payload).

Printed as vector modules of at least 0.5 mm with a quiet zone of 4 modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import segno

__all__ = [
    "MAX_BYTES",
    "MAX_MODULE_MM",
    "MIN_MODULE_MM",
    "QR_ERROR",
    "QR_FALLBACK_ERROR",
    "QUIET_ZONE",
    "QrSymbol",
    "make_qr",
]

QR_ERROR: Final = "m"
"""Error correction level M (15%): survives a crease or a stain on a paper receipt."""
QR_FALLBACK_ERROR: Final = "l"
"""Level L (7%), used only when the payload does not fit one code at level M."""
MAX_BYTES: Final = {"m": 2331, "l": 2953}
"""Capacity of a version 40 code in byte mode (what a JSON payload uses)."""
QUIET_ZONE: Final = 4
"""White border around the symbol, in modules (ISO/IEC 18004)."""
MIN_MODULE_MM: Final = 0.5
"""Smallest module printed: phone cameras and 600 dpi printers handle it (12 dots a module)."""
MAX_MODULE_MM: Final = 1.0
TARGET_SIDE_MM: Final = 40.0
"""Small payloads are drawn about this wide (quiet zone included), large ones grow past it."""


@dataclass(frozen=True, slots=True)
class QrSymbol:
    """A QR symbol's dark/light matrix (no quiet zone) and the size to print it at."""

    version: int
    error: str
    """The error correction level used: "M" (or higher, when segno can boost it) or "L"."""
    matrix: tuple[tuple[int, ...], ...]
    module_mm: float

    @property
    def size(self) -> int:
        """Modules per side, without the quiet zone."""
        return len(self.matrix)

    @property
    def side_mm(self) -> float:
        """Printed side including the quiet zone."""
        return (self.size + 2 * QUIET_ZONE) * self.module_mm


def make_qr(payload: str) -> QrSymbol:
    """Encode `payload` in one QR code (never Micro QR); ValueError if it is empty or too long."""
    if not payload:
        raise ValueError("Dữ liệu mã QR trống (QR payload is empty)")
    for level in (QR_ERROR, QR_FALLBACK_ERROR):
        try:
            code = segno.make(payload, error=level, micro=False)
            break
        except ValueError:  # segno.DataOverflowError: too long for a version 40 code
            continue
    else:
        size = len(payload.encode("utf-8"))
        limit = MAX_BYTES[QR_FALLBACK_ERROR]
        raise ValueError(
            f"Dữ liệu quá dài cho một mã QR: {size} byte, tối đa {limit} byte "
            f"(QR payload too long for one QR code: {size} bytes, at most {limit} "
            "at error correction L)"
        )
    matrix = tuple(tuple(1 if cell else 0 for cell in row) for row in code.matrix)
    total = len(matrix) + 2 * QUIET_ZONE
    module = min(MAX_MODULE_MM, max(MIN_MODULE_MM, TARGET_SIDE_MM / total))
    return QrSymbol(
        version=int(code.version), error=str(code.error), matrix=matrix, module_mm=round(module, 3)
    )
