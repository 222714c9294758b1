"""Exact completion-token counts for answers whose stream did not say how many tokens it carried.

A server may put several tokens in one SSE event and send no usage; counting events then undercounts (3 tokens per
event reads as a third of the truth). A :class:`TokenCounter` re-counts the answer's text after the request, off
the timed path: a local tokenizer (``--tokenizer``: a tokenizer.json or a Hugging Face model directory, via the
``tokenizers`` library, :func:`load_tokenizer`) or the server's own tokenize route
(``foundry_tui.backends.endpoint_tokenize.server_tokenizer``). Counts leave out the special tokens a tokenizer
wraps a text in (BOS/EOS): the completion's tokens are what was generated. A special token written in the text
("<|im_end|>" shown by a server) counts as one, as the servers count it.

Re-tokenizing text can differ from the generated ids by a token where a model produced a non-canonical split; it
is the count the model's own tokenizer gives for the text, which is what usage reports on servers that send it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Protocol

from foundry_tui.errors import BackendError, BadInputError, one_line

__all__ = ["TokenCounter", "load_tokenizer"]

_TOKENIZER_FILE = "tokenizer.json"


class TokenCounter(Protocol):
    """Counts the tokens of a text the way one model does."""

    @property
    def source(self) -> str:
        """Where counts come from: "tokenizer" (a local file) or "server" (the server's tokenize route)."""
        ...

    @property
    def label(self) -> str:
        """For people: "tokenizer.json at /p" or "http://h:p/tokenize"."""
        ...

    def count(self, text: str) -> int:
        """Tokens in `text`, without special (BOS/EOS) tokens; BackendError with a one-line message on failure."""
        ...

    def close(self) -> None:
        """Release what the counter holds (a connection pool); counting after it is an error or reconnects."""
        ...


class _FileCounter:
    source = "tokenizer"

    def __init__(self, tokenizer: Any, path: Path) -> None:
        self._tokenizer = tokenizer
        self.path = path
        self.label = f"{one_line(path.name, 100)} at {one_line(str(path.parent))}"

    def count(self, text: str) -> int:
        if not text:
            return 0
        try:
            return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
        except Exception as exc:  # the Rust side raises plain Exception subclasses
            raise BackendError(one_line(f"tokenizer {self.path}: {exc}", 300), kind="tokenizer") from exc

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<TokenCounter {self.source}: {self.label}>"


def load_tokenizer(path: str | Path) -> TokenCounter:
    """A counter backed by a local tokenizer.json, or the one in a Hugging Face model directory.

    A directory without one at its top is searched one level down (Foundry Local caches keep a variant's files in
    a subfolder); several candidates there are an error rather than a guess. BadInputError (one line, naming the
    path) for a missing path, a directory without a tokenizer.json, a file that is not one, or a missing
    ``tokenizers`` library.
    """
    shown = one_line(str(path), 200)
    file = _tokenizer_file(Path(path).expanduser(), shown)
    try:
        with file.open("rb") as fh:
            head = fh.read(4096).lstrip()
    except OSError as exc:
        raise BadInputError(f"--tokenizer {shown}: cannot read it ({one_line(exc.strerror or str(exc), 120)})") from exc
    if not head.startswith(b"{"):
        # Refuse before handing a multi-GB model file to a JSON parser.
        raise BadInputError(f"--tokenizer {shown}: {file.name} is not a tokenizer.json (not a JSON object)")
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise BadInputError(
            "--tokenizer needs the tokenizers library, which is not installed: pip install tokenizers"
        ) from exc
    try:
        stat = file.stat()
        tokenizer = _parsed(Tokenizer, str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    except Exception as exc:
        raise BadInputError(
            f"--tokenizer {shown}: not a tokenizer.json the tokenizers library reads ({_why(exc)})"
        ) from exc
    return _FileCounter(tokenizer, file)


@functools.lru_cache(maxsize=4)
def _parsed(tokenizer_class: Any, file: str, mtime_ns: int, size: int) -> Any:
    """The file parsed once per version of it: a bench's flag check and its run load the same one (a real
    tokenizer.json is megabytes: ~0.1 s to parse)."""
    tokenizer = tokenizer_class.from_file(file)
    # A tokenizer.json may carry truncation or padding settings (e.g. max_length 512): either would make counts
    # wrong for long answers, so both go.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _tokenizer_file(path: Path, shown: str) -> Path:
    if path.is_file():
        return path
    if not path.exists():
        raise BadInputError(f"--tokenizer {shown}: no such file or directory")
    if not path.is_dir():
        raise BadInputError(f"--tokenizer {shown}: not a file or a directory")
    direct = path / _TOKENIZER_FILE
    if direct.is_file():
        return direct
    try:
        below = sorted(p for p in path.glob(f"*/{_TOKENIZER_FILE}") if p.is_file())
    except OSError:
        below = []
    if len(below) == 1:
        return below[0]
    if below:
        names = ", ".join(one_line(p.parent.name, 60) for p in below[:3]) + (", …" if len(below) > 3 else "")
        raise BadInputError(f"--tokenizer {shown}: {len(below)} tokenizer.json files below it ({names}): name one")
    hint = ""
    if (path / "tokenizer.model").exists():
        hint = " (only a SentencePiece tokenizer.model, which is not supported: give a tokenizer.json)"
    raise BadInputError(f"--tokenizer {shown}: no tokenizer.json there{hint}")


def _why(exc: BaseException) -> str:
    return one_line(str(exc), 160) or type(exc).__name__
