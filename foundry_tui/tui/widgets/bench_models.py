"""The Benchmark pane's model picker: a SelectionList whose box reads ✓ when a model is selected and stays blank
when it is not, so the choice is visible without colour (Textual draws the same `X` in both states and tells them
apart by colour alone)."""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Checkbox, SelectionList
from textual.widgets.option_list import OptionDoesNotExist

SELECTED = "✓"
UNSELECTED = " "


class BenchModelList(SelectionList[str]):
    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        # SelectionList draws ▐X▌ then a space before the prompt; only the box's inner character changes here.
        if len(segments) < 3 or segments[1].text != Checkbox.BUTTON_INNER:
            return strip
        _, scroll_y = self.scroll_offset
        try:
            value = self.get_option_at_index(scroll_y + y).value
        except OptionDoesNotExist:  # a line past the options
            return strip
        mark = SELECTED if value in self.selected else UNSELECTED
        segments[1] = Segment(mark, segments[1].style, segments[1].control)
        return Strip(segments, strip.cell_length)

    def marks(self) -> list[str]:
        """Each option as it reads without colour: '✓ id' or '  id' (tests, the hint)."""
        chosen = set(self.selected)
        out = []
        for index in range(self.option_count):
            value = self.get_option_at_index(index).value
            out.append(f"{SELECTED if value in chosen else UNSELECTED} {value}")
        return out


__all__ = ["SELECTED", "UNSELECTED", "BenchModelList"]
