"""Side by side: every model's answer to one prompt, with its numbers; 1–5 sets a manual quality score.

A view: a score posts `ScoreRequested`; the app rewrites results.json through the engine and sends the new
results back (`BenchShown`), here and to the Benchmark pane.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from foundry_tui.engine import metrics, units
from foundry_tui.engine.bench import BenchResults, RequestResult
from foundry_tui.tui.messages import BenchShown, ScoreRequested
from foundry_tui.tui.widgets.literal import literal


def first_answers(results: BenchResults, prompt_index: int) -> list[RequestResult]:
    """Each model's first streamed request for the prompt (at temperature 0 the rounds give the same text)."""
    chosen: dict[str, RequestResult] = {}
    for request in results.requests:
        if request.prompt_index != prompt_index or request.mode != "stream":
            continue
        current = chosen.get(request.model)
        if current is None or (not current.ok and request.ok):
            chosen[request.model] = request
    return list(chosen.values())


def card_title(request: RequestResult) -> str:
    quality = request.quality
    parts = [
        request.model,
        f"TTFT {metrics.TTFT.fmt(request.ttft_ms)}",
        metrics.DECODE.fmt(request.decode_tps),
        f"{request.completion_tokens or 0} tokens",
        f"finish {request.finish_reason or request.status}",
        f"rubric {units.percent(quality.rubric * 100)}" if quality.rubric is not None else f"rubric {units.MISSING}",
        f"judge {quality.judge}/5" if quality.judge is not None else "",
        f"manual {quality.manual}/5" if quality.manual is not None else f"manual {units.MISSING}",
    ]
    return " · ".join(p for p in parts if p)


class AnswerCard(Vertical, can_focus=True):
    DEFAULT_CSS = """
    AnswerCard { height: auto; border: round $panel-lighten-2; padding: 0 1; margin: 0 0 1 0; }
    AnswerCard:focus { border: round $accent; }
    AnswerCard .card-title { color: $text-muted; }
    """

    def __init__(self, request: RequestResult) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        yield Static(literal(card_title(self.request)), classes="card-title", markup=False)
        text = self.request.text if self.request.ok else f"error: {self.request.error}"
        yield Static(literal(text or "(empty answer)"), markup=False)


class AnswersScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    AnswersScreen { align: center middle; }
    AnswersScreen > Vertical { width: 95%; height: 95%; background: $surface; border: thick $panel-lighten-2; }
    AnswersScreen #answers-prompt { padding: 0 1; height: auto; max-height: 4; text-style: bold; }
    AnswersScreen #answers-hint { padding: 0 1; color: $text-muted; height: auto; max-height: 2; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("right,n", "move(1)", "Next prompt"),
        Binding("left,p", "move(-1)", "Prev prompt"),
        Binding("1", "score(1)", "1", show=False),
        Binding("2", "score(2)", "2", show=False),
        Binding("3", "score(3)", "3", show=False),
        Binding("4", "score(4)", "4", show=False),
        Binding("5", "score(5)", "5", show=False),
        Binding("0", "score(0)", "Clear score", show=False),
    ]

    def __init__(self, results: BenchResults, path: Path | None) -> None:
        super().__init__()
        self.results = results
        self.path = path
        self.prompt_index = 0
        self._focus_model: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="answers-prompt", markup=False)
            yield Static(
                "←/→ prompt · tab/shift+tab answer · 1–5 score the focused answer · 0 clears · Esc closes",
                id="answers-hint",
                markup=False,
            )
            yield VerticalScroll(id="answers")
        yield Footer()

    def on_mount(self) -> None:
        self._show()

    @property
    def prompt_count(self) -> int:
        return len(self.results.prompts) or 1 + max((r.prompt_index for r in self.results.requests), default=0)

    def _show(self, focus_model: str | None = None) -> None:
        prompts = self.results.prompts
        prompt = prompts[self.prompt_index].prompt if self.prompt_index < len(prompts) else ""
        self.query_one("#answers-prompt", Static).update(
            literal(f"prompt {self.prompt_index + 1}/{self.prompt_count}: {prompt}")
        )
        box = self.query_one("#answers", VerticalScroll)
        box.remove_children()
        cards = [AnswerCard(r) for r in first_answers(self.results, self.prompt_index)]
        box.mount_all(cards)
        target = next((c for c in cards if c.request.model == focus_model), cards[0] if cards else None)
        if target is not None:
            self.call_after_refresh(target.focus)

    def action_move(self, step: int) -> None:
        self.prompt_index = (self.prompt_index + step) % self.prompt_count
        self._show()

    def action_score(self, score: int) -> None:
        card = self.focused if isinstance(self.focused, AnswerCard) else None
        if card is None:
            return
        if self.path is None:
            self.notify(
                "Scores are saved in results.json: run to the end or open a past run first.", severity="warning"
            )
            return
        self._focus_model = card.request.model
        self.post_message(ScoreRequested(self.path, card.request.model, self.prompt_index, score or None))

    def on_bench_shown(self, message: BenchShown) -> None:
        """The app saved the score: results.json was rewritten (the Benchmark pane got the same results)."""
        self.results = message.results
        self._show(focus_model=self._focus_model)

    def action_close(self) -> None:
        self.dismiss(None)
