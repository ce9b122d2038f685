"""The weekly trend as a server-rendered SVG: two bar series, no JavaScript, readable on a
phone (it scales with its container)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

__all__ = ["trend_svg"]

WIDTH, HEIGHT, PAD = 640, 220, 28


def trend_svg(weeks: Sequence[dict[str, Any]], labels: tuple[str, str]) -> str:
    """Bars of `received` and `resolved` per week; `labels` name the two series."""
    top = max([1, *(max(w["received"], w["resolved"]) for w in weeks)])
    n = max(1, len(weeks))
    slot = (WIDTH - 2 * PAD) / n
    bar = slot * 0.38
    scale = (HEIGHT - 2 * PAD) / top
    parts = [
        f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(labels[0])} / {escape(labels[1])}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'class="axis"/>',
        f'<text x="{PAD}" y="{PAD - 10}" class="tick">{top}</text>',
    ]
    for i, week in enumerate(weeks):
        x = PAD + i * slot + slot * 0.1
        for j, key in enumerate(("received", "resolved")):
            value = int(week[key])
            h = value * scale
            parts.append(
                f'<rect class="{key}" x="{x + j * bar:.1f}" y="{HEIGHT - PAD - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(week["week"])}: '
                f"{escape(labels[j])} {value}</title></rect>"
            )
        if i % 2 == 0 or n <= 8:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" class="tick">'
                f"{escape(str(week['week'])[-3:])}</text>"
            )
    parts.append(
        f'<rect class="received" x="{WIDTH - 190}" y="6" width="10" height="10"/>'
        f'<text x="{WIDTH - 176}" y="15" class="tick">{escape(labels[0])}</text>'
        f'<rect class="resolved" x="{WIDTH - 100}" y="6" width="10" height="10"/>'
        f'<text x="{WIDTH - 86}" y="15" class="tick">{escape(labels[1])}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
