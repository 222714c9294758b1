"""What the terminal shows, row by row: the SVG screenshot's text placed back on its grid (for assertions about
what sits on one line, such as a settings row at 80 columns)."""

from __future__ import annotations

import html
import re
from typing import Any

from textual.pilot import Pilot

CELL_PX = 12.2  # Rich's SVG export: one terminal cell is 12.2 px wide
_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
    r'clip-path="url\(#[\w-]*-line-(\d+)\)">([^<]*)</text>'
)


def svg_rows(svg: str) -> list[str]:
    rows: dict[int, list[tuple[float, str]]] = {}
    for match in _TEXT.finditer(svg):
        text = html.unescape(match.group(3)).replace("\xa0", " ")
        rows.setdefault(int(match.group(2)), []).append((float(match.group(1)), text))
    out: list[str] = []
    for row in range(max(rows, default=-1) + 1):
        line = ""
        for x, text in sorted(rows.get(row, [])):
            line = line.ljust(round(x / CELL_PX)) + text
        out.append(line.rstrip())
    return out


def screen_lines(pilot: Pilot[Any]) -> list[str]:
    return svg_rows(pilot.app.export_screenshot())
