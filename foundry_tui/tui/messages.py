"""Typed messages between workers, the app and the panes. Data flows backend → engine → message → pane."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from foundry_tui.engine.downloads import DownloadJob
from foundry_tui.engine.lifecycle import LoadReport, UnloadReport
from foundry_tui.tui.state import ModelsSnapshot


@dataclass
class ModelsUpdated(Message):
    """The app refreshed what it knows about models; every pane re-renders from the snapshot."""

    snapshot: ModelsSnapshot


@dataclass
class ModelSelected(Message):
    """A pane's current model changed; app-wide actions (load, unload) act on it."""

    model_id: str | None


@dataclass
class BackendStateChanged(Message):
    state: str  # starting | ready | failed
    detail: str = ""


@dataclass
class ModelLoaded(Message):
    report: LoadReport


@dataclass
class ModelUnloaded(Message):
    report: UnloadReport


@dataclass
class StreamStats(Message):
    """Live figures of the current (or last) chat stream, for the strip."""

    rate_tps: float
    ttft_ms: float | None
    streaming: bool


@dataclass
class DownloadsChanged(Message):
    """The download queue changed (posted from the queue's thread)."""

    jobs: list[DownloadJob]
