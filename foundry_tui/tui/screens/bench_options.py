"""The Benchmark pane's further options: the prompt-length sweep, the usable-context search, cold starts and an SLO.

A view: it edits a `BenchOptions` (text as typed) and dismisses with it; the pane keeps it for the next run, whose
`BenchStartRequested` carries it to the app, where the engine's `build_config` checks it (a bad value is the pane's
one-line status, and nothing runs). Keyboard only: tab moves, space ticks the box, Enter in a field saves, Esc
cancels. Fits 80×24.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from foundry_tui.engine.bench.slo import SLO_METRICS
from foundry_tui.tui.messages import BenchOptions
from foundry_tui.tui.widgets.literal import literal

SLO_EXAMPLE = "ttft_ms<=500,decode_tps>=20,e2e_ms<=4000"


def options_summary(options: BenchOptions) -> str:
    """What the options add to a run, in a few words ('' when nothing): the pane's line over its buttons. The
    sweep's lengths come last, so a narrow line cuts them rather than hide another option."""
    parts = []
    if options.slo.strip():
        parts.append("SLO")
    if options.find_context:
        parts.append("context")
    if options.cold.strip() not in ("", "0"):
        parts.append(f"cold ×{options.cold.strip()}")
    if options.prompt_tokens.strip():
        parts.append(f"sweep {options.prompt_tokens.strip()}")
    return " · ".join(parts)


def options_text(options: BenchOptions) -> str:
    """The options in full, for the status line once they are set."""
    parts = []
    if options.prompt_tokens.strip():
        parts.append(f"sweep {options.prompt_tokens.strip()} tokens (answers ≤ {options.sweep_max_tokens} tokens)")
    if options.find_context:
        parts.append(f"usable context (first token within {options.context_ttft_limit_s} s)")
    if options.cold.strip() not in ("", "0"):
        parts.append(f"{options.cold.strip()} cold starts")
    if options.slo.strip():
        parts.append(f"SLO {options.slo.strip()}")
    return "next run: " + (" · ".join(parts) if parts else "the prompt set only (no sweep, context, cold starts, SLO)")


class BenchOptionsScreen(ModalScreen[BenchOptions | None]):
    DEFAULT_CSS = """
    BenchOptionsScreen { align: center middle; }
    BenchOptionsScreen > Vertical {
        width: 76; max-width: 100%; height: auto; background: $surface; border: thick $panel-lighten-2;
        padding: 0 1;
    }
    BenchOptionsScreen Horizontal { height: 1; margin: 0 0 1 0; }
    BenchOptionsScreen Label { width: 24; color: $text-muted; }
    BenchOptionsScreen Input { width: 1fr; }
    BenchOptionsScreen #options-title { text-style: bold; height: 1; }
    BenchOptionsScreen .options-hint { color: $text-muted; height: auto; margin: 0 0 1 0; }
    BenchOptionsScreen #options-buttons { height: 1; margin: 0; }
    BenchOptionsScreen #options-buttons Button { min-width: 10; height: 1; border: none; margin: 0 1 0 0; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, options: BenchOptions) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        o = self.options
        with Vertical():
            yield Static("More benchmark options · Enter saves · Esc cancels", id="options-title", markup=False)
            with Horizontal():
                yield Label("prompt lengths (tokens)")
                yield Input(o.prompt_tokens, placeholder="128,512,2k · blank: no sweep", id="opt-prompt-tokens",
                            compact=True)  # fmt: skip
            with Horizontal():
                yield Label("sweep max tokens")
                yield Input(o.sweep_max_tokens, id="opt-sweep-max-tokens", compact=True)
            with Horizontal():
                yield Label("find usable context")
                yield Checkbox("longest prompt that works", o.find_context, id="opt-find-context", compact=True)
            with Horizontal():
                yield Label("context TTFT limit (s)")
                yield Input(o.context_ttft_limit_s, id="opt-context-ttft-limit", compact=True)
            with Horizontal():
                yield Label("cold starts (reloads)")
                yield Input(o.cold, id="opt-cold", compact=True)
            with Horizontal():
                yield Label("SLO (goodput)")
                yield Input(o.slo, placeholder=SLO_EXAMPLE, id="opt-slo", compact=True)
            yield Static(
                literal(f"SLO: targets like {SLO_EXAMPLE} on {', '.join(SLO_METRICS)}; "
                        "goodput is the share of requests meeting every one."),
                classes="options-hint", markup=False,
            )  # fmt: skip
            with Horizontal(id="options-buttons"):
                yield Button("Save", id="options-save", variant="primary", compact=True)
                yield Button("Cancel", id="options-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#opt-prompt-tokens", Input).focus()

    def typed(self) -> BenchOptions:
        """The fields as they read now."""

        def text(selector: str) -> str:
            return self.query_one(selector, Input).value

        return BenchOptions(
            prompt_tokens=text("#opt-prompt-tokens"),
            sweep_max_tokens=text("#opt-sweep-max-tokens"),
            find_context=self.query_one("#opt-find-context", Checkbox).value,
            context_ttft_limit_s=text("#opt-context-ttft-limit"),
            cold=text("#opt-cold"),
            slo=text("#opt-slo"),
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#options-save")
    def action_save(self) -> None:
        self.dismiss(self.typed())

    @on(Button.Pressed, "#options-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["SLO_EXAMPLE", "BenchOptionsScreen", "options_summary", "options_text"]
