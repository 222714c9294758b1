"""A Hugging Face tokenizer.json that counts tokens exactly like the fake SSE server.

`foundry-tui bench --tokenizer` counts a streamed answer's tokens with a local tokenizer when the server sends no
usage. To test that end to end against ``devtools.sse_server`` the tokenizer must agree with the fake on every
text: a WordLevel model over the fake's vocabulary (:data:`~foundry_tui.devtools.sse_server.FAKE_VOCAB`, same ids)
behind a pre-tokenizer that splits with the fake's own regex, so a piece the vocabulary lacks is still one token
(``<unk>``), as it is on the server. Like a real model's tokenizer it adds a BOS (``<s>``) unless asked not to, so
a caller that forgets ``add_special_tokens=False`` is off by one.

``tokenizers`` is imported lazily (a benchmark extra, not a runtime dependency).

Usage: ``python -m foundry_tui.devtools.fake_tokenizer OUT`` (a directory, or a path ending in .json).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from foundry_tui.devtools.sse_server import FAKE_TOKEN_PATTERN, FAKE_VOCAB
from foundry_tui.devtools.write_cli import write_main

__all__ = ["write_fake_tokenizer"]


def write_fake_tokenizer(path: str | os.PathLike[str]) -> Path:
    """Write the fake's tokenizer.json and return the file's path.

    `path` ending in ``.json`` is the file itself; anything else is a directory (created if needed) that gets a
    ``tokenizer.json``, like a Hugging Face model directory.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

    target = Path(path)
    if target.suffix != ".json":
        target = target / "tokenizer.json"
    vocab = {piece: i for i, piece in enumerate(FAKE_VOCAB)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=FAKE_VOCAB[0]))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(FAKE_TOKEN_PATTERN), behavior="isolated")
    # The BOS is not an added token on purpose: a literal "<s>" in a text is three tokens here, as on the server.
    bos = FAKE_VOCAB[1]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, vocab[bos])]
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(target))
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m foundry_tui.devtools.fake_tokenizer OUT`` writes the file and prints its path."""
    usage = "python -m foundry_tui.devtools.fake_tokenizer OUT_DIR_OR_FILE.json"
    return write_main(argv, usage, write_fake_tokenizer, (ImportError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
