"""Untrusted text is made visible, never obeyed; native SDK messages lose their C++ prefix."""

from __future__ import annotations

from foundry_tui.backends.foundry_errors import map_sdk_error, strip_native_prefix
from foundry_tui.errors import BackendError, BadInputError, CancelledError
from foundry_tui.text import escape_controls, middle_ellipsis, safe_line, strip_controls


def test_escape_sequences_become_visible() -> None:
    text = "a\x1b[2Jb\x1b]0;title\x07c\x9bd\x00e"
    escaped = escape_controls(text)
    assert "\x1b" not in escaped and "\x07" not in escaped and "\x9b" not in escaped and "\x00" not in escaped
    assert escaped == "a\\x1b[2Jb\\x1b]0;title\\x07c\\x9bd\\x00e"


def test_newlines_tabs_and_unicode_survive() -> None:
    assert escape_controls("line 1\n\tline 2 — ünïcode 🙂") == "line 1\n\tline 2 — ünïcode 🙂"


def test_safe_line_is_one_line_and_bounded() -> None:
    line = safe_line("a\nb\r\nc" + "x" * 1000, limit=50)
    assert "\n" not in line and "\r" not in line
    assert len(line) == 50 and line.endswith("…")


def test_strip_controls_leaves_only_printable_text_newlines_and_tabs() -> None:
    hostile = (
        "\x1b[2Jclear\x1b[38;5;196mred\x1b[0m"  # CSI with parameters
        "\x1b]0;title\x07\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\"  # OSC ended by BEL and by ST
        "\x9b31mc1\x9d0;t\x9c"  # one-byte CSI and OSC (C1)
        "\x1b7save\x1bc"  # two-byte ESC sequences
        "\x00\x07\x08\x7f\x85"  # lone controls
        "\r\nline\ttab — ünïcode 🙂"
    )
    assert strip_controls(hostile) == "clearredlinkc1save\nline\ttab — ünïcode 🙂"
    assert strip_controls("[bold]not markup[/bold]") == "[bold]not markup[/bold]"
    assert strip_controls("a\x1b") == "a"  # a lone ESC at the end


def test_middle_ellipsis_keeps_both_ends() -> None:
    model = "smollm2-135m-instruct-int8-generic-cpu:1"
    assert middle_ellipsis(model, 40) == model
    cut = middle_ellipsis(model, 24)
    assert cut == "smollm2-135…eneric-cpu:1" and len(cut) == 24
    assert middle_ellipsis(model, 1) == "…" and middle_ellipsis(model, 0) == ""


def test_strip_native_prefix() -> None:
    message = (
        "local_model_catalog.cc:255 virtual fl::Model* fl::LocalModelCatalog::RegisterModel(const std::string&, "
        "const std::string&, const fl::ModelInfo&) model_path must be an existing directory"
    )
    assert strip_native_prefix(message) == "model_path must be an existing directory"
    nested = "x.cc:90 fl::{anonymous}::P fl::{anonymous}::Parse(const std::function<void(int)>&) const bad id"
    assert strip_native_prefix(nested) == "bad id"
    assert strip_native_prefix("plain message") == "plain message"


class FakeSdkError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.error_code = code


def test_sdk_error_codes_map_to_our_types() -> None:
    assert isinstance(map_sdk_error(FakeSdkError("a.cc:1 f() bad", 3), "register"), BadInputError)
    assert isinstance(map_sdk_error(FakeSdkError("x", 5), "download"), CancelledError)
    network = map_sdk_error(FakeSdkError("x", 6), "download m")
    assert isinstance(network, BackendError) and network.kind == "network"
    error = map_sdk_error(FakeSdkError("a.cc:1 void f() it broke\nbadly", 2), "load m")
    assert str(error) == "load m: it broke badly"
