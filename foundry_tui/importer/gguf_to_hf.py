"""GGUF → Hugging Face checkpoint (fp32), run as a subprocess: `python -m foundry_tui.importer.gguf_to_hf GGUF OUT`.

A subprocess, not a call, so torch and the dequantized weights (4 bytes per parameter) never live in the app's
own process, and a cancel is a kill. The ONNX Runtime GenAI builder cannot read quantized GGUFs itself, hence this
step. Lines starting with `@@` are progress markers for the parent; everything else goes to the import log.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def convert(gguf_path: Path, out_dir: Path) -> None:
    # Imported by name: type-checking torch and transformers would cost mypy minutes for two calls.
    torch: Any = importlib.import_module("torch")
    transformers: Any = importlib.import_module("transformers")

    print("@@ loading and dequantizing", flush=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # transformers refuses to save a model it still considers GGUF-quantized; the weights are plain fp32 now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    print("@@ saving the checkpoint", flush=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    print("@@ done", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foundry_tui.importer.gguf_to_hf")
    parser.add_argument("gguf", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    convert(args.gguf, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
