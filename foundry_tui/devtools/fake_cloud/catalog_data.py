"""The fake cloud's catalog: one :class:`CloudModel` per catalog entry, the entry JSON, and the filter matching.

The default catalog is a realistic-looking list (names, licences, context lengths and device variants in the style
of the public Foundry Local catalog). A few CPU variants are backed by the real tiny ONNX model so they download,
load and chat; every other variant is a placeholder whose download answers 404.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from foundry_tui.devtools.tiny_model import build_tiny_model

FOUNDRY_LOCAL_DEPLOYMENT = "Foundry Local on Devices"
"""The deployment option the runtime filters the catalog on."""

TINY_CONTEXT = 512
"""Context of the tiny model: variants it backs must not advertise more (the runtime budgets output from it)."""

PADDING_BLOB = "padding.bin"
"""Name of the generated filler blob that makes a downloadable model span many 2 MiB chunks."""

_GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class CloudModel:
    """One catalog entry: one version of one variant (``name``) of a model family (``alias``)."""

    name: str
    version: int
    alias: str
    display_name: str
    publisher: str
    license: str
    license_description: str
    task: str
    device: str  # "cpu" | "gpu" | "npu"
    execution_provider: str
    context_length: int
    max_output_tokens: int
    capabilities: str  # comma-separated, e.g. "tool-calling" or ""
    file_size_bytes: int
    files: Path | None  # directory served as the model's blobs; None → placeholder (404 on download)
    parent: str  # the alias' parent asset name
    padding_bytes: int = 0  # a generated PADDING_BLOB of this size is served next to `files`
    model_type: str = "ONNX"
    quantization: str = "int4"
    input_modalities: str = "text"
    output_modalities: str = "text"
    min_fl_version: str = ""
    archived: bool = False
    deployment_options: tuple[str, ...] = (FOUNDRY_LOCAL_DEPLOYMENT,)
    created: str = "2025-06-01T00:00:00Z"  # ISO 8601; the runtime reads properties.creationContext

    @property
    def id(self) -> str:
        """The runtime's model id, ``name:version``."""
        return f"{self.name}:{self.version}"

    @property
    def asset_id(self) -> str:
        return f"azureml://registries/azureml/models/{self.name}/versions/{self.version}"

    @property
    def downloadable(self) -> bool:
        return self.files is not None


def latest_versions(models: Iterable[CloudModel]) -> dict[str, int]:
    """Highest version per variant name: those entries carry the ``latest`` label."""
    latest: dict[str, int] = {}
    for model in models:
        latest[model.name] = max(latest.get(model.name, 0), model.version)
    return latest


def catalog_entry(model: CloudModel, *, latest: bool) -> dict[str, Any]:
    """The entry as the asset gallery returns it (``value[i]``), with every field the runtime reads."""
    return {
        "assetId": model.asset_id,
        "type": "models",
        "kind": "Versioned",
        "name": model.name,
        "version": str(model.version),
        "labels": ["latest"] if latest else [],
        "createdTime": model.created,
        "annotations": {
            "archived": model.archived,
            "description": f"{model.display_name} ({model.device.upper()}, {model.execution_provider}).",
            "tags": {
                "alias": model.alias,
                "foundryLocal": "",
                "task": model.task,
                "license": model.license,
                "author": model.publisher,
            },
            "systemCatalogData": {
                "alias": model.alias,
                "displayName": model.display_name,
                "publisher": model.publisher,
                "license": model.license,
                "licenseDescription": model.license_description,
                "inferenceTasks": [model.task],
                # Lists: the runtime ignores these three when they are strings (then capabilities is None and
                # supports_tool_calling is None even for "tool-calling").
                "modelCapabilities": _csv_list(model.capabilities),
                "textContextWindow": model.context_length,
                "maxOutputTokens": model.max_output_tokens,
                "inputModalities": _csv_list(model.input_modalities),
                "outputModalities": _csv_list(model.output_modalities),
                "minFLVersion": model.min_fl_version,
                "deploymentOptions": list(model.deployment_options),
            },
        },
        "properties": {
            "name": model.name,
            "version": str(model.version),
            # created_at_unix comes from here (a top-level createdTime is not read).
            "creationContext": {"createdAt": model.created, "createdTime": model.created, "createdBy": "azureml"},
            "variantInfo": {
                "parents": [
                    {"assetId": f"azureml://registries/azureml/models/{model.parent}/versions/{model.version}"}
                ],
                "variantMetadata": {
                    "device": model.device,
                    "executionProvider": model.execution_provider,
                    "modelType": model.model_type,
                    "fileSizeBytes": model.file_size_bytes,
                    "quantization": [model.quantization],
                },
            },
        },
    }


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class FilterError(ValueError):
    """A filter the fake does not know: answered 400 so an unexpected runtime request is loud, not silently empty."""


_DEVICE = "properties/variantInfo/variantMetadata/device"
_EP = "properties/variantInfo/variantMetadata/executionProvider"


def field_values(model: CloudModel, *, latest: bool) -> dict[str, tuple[str, ...]]:
    """The values each filterable field has for this entry (all as lower-cased strings)."""
    values = {
        "type": ("models",),
        "kind": ("versioned",),
        "name": (model.name,),
        "version": (str(model.version),),
        "labels": ("latest",) if latest else (),
        "annotations/archived": ("true" if model.archived else "false",),
        "annotations/systemCatalogData/deploymentOptions": model.deployment_options,
        "annotations/tags/alias": (model.alias,),
        "annotations/tags/foundryLocal": ("",),
        "annotations/tags/task": (model.task,),
        "annotations/systemCatalogData/publisher": (model.publisher,),
        _DEVICE: (model.device,),
        _EP: (model.execution_provider,),
    }
    return {k: tuple(v.lower() for v in vs) for k, vs in values.items()}


def matches(model: CloudModel, filters: Sequence[Mapping[str, Any]], *, latest: bool) -> bool:
    """Whether the entry passes every filter (filters are ANDed; a filter's values are ORed)."""
    have = field_values(model, latest=latest)
    for flt in filters:
        field = str(flt.get("field", ""))
        operator = str(flt.get("operator", "eq")).lower()
        wanted = [str(v).lower() for v in flt.get("values", [])]
        if field not in have:
            raise FilterError(f"unknown filter field {field!r}")
        actual = have[field]
        if operator in ("eq", "equals"):
            ok = any(v in actual for v in wanted)
        elif operator in ("ne", "notequals"):
            ok = not any(v in actual for v in wanted)
        elif operator == "contains":
            ok = any(w in a for w in wanted for a in actual)
        else:
            raise FilterError(f"unknown filter operator {operator!r}")
        if not ok:
            return False
    return True


# --- the default catalog -----------------------------------------------------------------------------------------

# Variant suffix → (device, execution provider), as in the public catalog's variant names.
VARIANTS: dict[str, tuple[str, str]] = {
    "generic-cpu": ("cpu", "CPUExecutionProvider"),
    "generic-gpu": ("gpu", "WebGpuExecutionProvider"),
    "cuda-gpu": ("gpu", "CUDAExecutionProvider"),
    "trtrtx-gpu": ("gpu", "NvTensorRTRTXExecutionProvider"),
    "openvino-gpu": ("gpu", "OpenVINOExecutionProvider"),
    "qnn-npu": ("npu", "QNNExecutionProvider"),
    "openvino-npu": ("npu", "OpenVINOExecutionProvider"),
    "vitis-npu": ("npu", "VitisAIExecutionProvider"),
}

LICENSES: dict[str, str] = {
    "MIT": "Permission is hereby granted, free of charge, to any person obtaining a copy of this software ...",
    "Apache-2.0": "Licensed under the Apache License, Version 2.0. You may not use this file except in compliance ...",
    "Llama 3.2 Community License": "Llama 3.2 is licensed under the Llama 3.2 Community License Agreement ...",
    "Llama 3.1 Community License": "Llama 3.1 is licensed under the Llama 3.1 Community License Agreement ...",
    "Gemma Terms of Use": "Gemma is provided under and subject to the Gemma Terms of Use ...",
    "Qwen Research License": "Qwen RESEARCH LICENSE AGREEMENT: non-commercial research use only ...",
    "TII Falcon License 2.0": "Falcon 3 TII Falcon License 2.0, based on Apache 2.0 with an acceptable use policy ...",
}

# One model family per line: alias | parent (base name; "=" → alias) | display name ("=" → parent) | publisher |
# licence | task | context | max output tokens | tools or - | size GiB (placeholders) | versions | other variants
# (c cuda-gpu, g generic-gpu, o openvino-gpu, t trtrtx-gpu, q qnn-npu, n openvino-npu, v vitis-npu; - none).
_TABLE = """
phi-4-mini | phi-4-mini-instruct | Phi-4-mini-instruct | Microsoft | MIT | chat | 131072 | 4096 | tools | 3.6 | 2 | cgotqnv
phi-4-mini-reasoning | = | Phi-4-mini-reasoning | Microsoft | MIT | chat | 131072 | 32768 | - | 3.0 | 1 | cq
phi-4 | = | Phi-4 | Microsoft | MIT | chat | 16384 | 16384 | - | 8.4 | 1 | cg
phi-4-reasoning | = | Phi-4-reasoning | Microsoft | MIT | chat | 32768 | 32768 | - | 8.4 | 1 | c
phi-3.5-mini | phi-3.5-mini-instruct | Phi-3.5-mini-instruct | Microsoft | MIT | chat | 131072 | 4096 | - | 2.5 | 3 | cgq
phi-3-mini-4k | phi-3-mini-4k-instruct | Phi-3-mini-4k-instruct | Microsoft | MIT | chat | 4096 | 2048 | - | 2.2 | 2 | cgn
phi-3-mini-128k | phi-3-mini-128k-instruct | Phi-3-mini-128k-instruct | Microsoft | MIT | chat | 131072 | 4096 | - | 2.3 | 2 | cg
qwen2.5-0.5b | qwen2.5-0.5b-instruct | Qwen2.5-0.5B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 4096 | tools | 0.5 | 3 | cgoq
qwen2.5-1.5b | qwen2.5-1.5b-instruct | Qwen2.5-1.5B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 4096 | tools | 1.3 | 3 | cgq
qwen2.5-3b | qwen2.5-3b-instruct | Qwen2.5-3B-Instruct | Microsoft | Qwen Research License | chat | 32768 | 4096 | tools | 2.1 | 1 | c
qwen2.5-7b | qwen2.5-7b-instruct | Qwen2.5-7B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 8192 | tools | 4.9 | 2 | cgt
qwen2.5-14b | qwen2.5-14b-instruct | Qwen2.5-14B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 8192 | tools | 9.3 | 1 | c
qwen2.5-coder-0.5b | qwen2.5-coder-0.5b-instruct | Qwen2.5-Coder-0.5B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 4096 | tools | 0.5 | 2 | cg
qwen2.5-coder-1.5b | qwen2.5-coder-1.5b-instruct | Qwen2.5-Coder-1.5B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 4096 | tools | 1.3 | 2 | cg
qwen2.5-coder-3b | qwen2.5-coder-3b-instruct | Qwen2.5-Coder-3B-Instruct | Microsoft | Qwen Research License | chat | 32768 | 4096 | tools | 2.1 | 1 | c
qwen2.5-coder-7b | qwen2.5-coder-7b-instruct | Qwen2.5-Coder-7B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 8192 | tools | 4.7 | 3 | cgtq
qwen2.5-coder-14b | qwen2.5-coder-14b-instruct | Qwen2.5-Coder-14B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 8192 | tools | 8.8 | 1 | c
qwen3-0.6b | = | Qwen3-0.6B | Microsoft | Apache-2.0 | chat | 40960 | 8192 | tools | 0.6 | 1 | cg
qwen3-1.7b | = | Qwen3-1.7B | Microsoft | Apache-2.0 | chat | 40960 | 8192 | tools | 1.4 | 1 | cg
qwen3-4b | = | Qwen3-4B | Microsoft | Apache-2.0 | chat | 40960 | 8192 | tools | 2.9 | 1 | cgq
qwen3-8b | = | Qwen3-8B | Microsoft | Apache-2.0 | chat | 40960 | 8192 | tools | 5.4 | 1 | ct
qwen3-14b | = | Qwen3-14B | Microsoft | Apache-2.0 | chat | 40960 | 8192 | tools | 9.1 | 1 | c
deepseek-r1-1.5b | deepseek-r1-distill-qwen-1.5b | DeepSeek-R1-Distill-Qwen-1.5B | Microsoft | MIT | chat | 131072 | 32768 | - | 1.4 | 2 | cgq
deepseek-r1-7b | deepseek-r1-distill-qwen-7b | DeepSeek-R1-Distill-Qwen-7B | Microsoft | MIT | chat | 131072 | 32768 | - | 5.3 | 3 | cgqn
deepseek-r1-14b | deepseek-r1-distill-qwen-14b | DeepSeek-R1-Distill-Qwen-14B | Microsoft | MIT | chat | 131072 | 32768 | - | 9.8 | 2 | cg
deepseek-r1-8b | deepseek-r1-distill-llama-8b | DeepSeek-R1-Distill-Llama-8B | Microsoft | MIT | chat | 131072 | 32768 | - | 5.6 | 1 | c
mistral-7b-v0.2 | mistralai-Mistral-7B-Instruct-v0-2 | Mistral-7B-Instruct-v0.2 | Microsoft | Apache-2.0 | chat | 32768 | 4096 | - | 4.1 | 2 | cgo
mistral-nemo-12b | mistral-nemo-instruct-2407 | Mistral-Nemo-Instruct-2407 | Microsoft | Apache-2.0 | chat | 131072 | 8192 | tools | 7.3 | 1 | c
ministral-3b | ministral-3b-instruct | Ministral-3B-Instruct | Microsoft | Apache-2.0 | chat | 32768 | 4096 | tools | 2.2 | 1 | cq
llama-3.2-1b | llama-3.2-1b-instruct | Llama-3.2-1B-Instruct | Meta | Llama 3.2 Community License | chat | 131072 | 4096 | tools | 1.2 | 2 | cgq
llama-3.2-3b | llama-3.2-3b-instruct | Llama-3.2-3B-Instruct | Meta | Llama 3.2 Community License | chat | 131072 | 4096 | tools | 2.4 | 2 | cg
llama-3.1-8b | llama-3.1-8b-instruct | Llama-3.1-8B-Instruct | Meta | Llama 3.1 Community License | chat | 131072 | 8192 | tools | 5.5 | 1 | ct
gpt-oss-20b | = | = | OpenAI | Apache-2.0 | chat | 131072 | 32768 | tools | 12.3 | 1 | ct
gemma-2-2b | gemma-2-2b-it | Gemma-2-2B-IT | Google | Gemma Terms of Use | chat | 8192 | 4096 | - | 1.8 | 1 | cg
gemma-3-1b | gemma-3-1b-it | Gemma-3-1B-IT | Google | Gemma Terms of Use | chat | 32768 | 8192 | - | 0.9 | 1 | c
gemma-3-4b | gemma-3-4b-it | Gemma-3-4B-IT | Google | Gemma Terms of Use | chat | 131072 | 8192 | - | 3.1 | 1 | cg
smollm2-135m | SmolLM2-135M-Instruct | = | HuggingFaceTB | Apache-2.0 | chat | 8192 | 2048 | - | 0.1 | 1 | -
smollm2-360m | SmolLM2-360M-Instruct | = | HuggingFaceTB | Apache-2.0 | chat | 8192 | 2048 | - | 0.3 | 1 | -
smollm2-1.7b | SmolLM2-1.7B-Instruct | = | HuggingFaceTB | Apache-2.0 | chat | 8192 | 2048 | - | 1.2 | 1 | c
tinyllama-1.1b | TinyLlama-1.1B-Chat-v1.0 | = | TinyLlama | Apache-2.0 | chat | 2048 | 1024 | - | 0.7 | 1 | -
granite-3.1-2b | granite-3.1-2b-instruct | Granite-3.1-2B-Instruct | IBM | Apache-2.0 | chat | 131072 | 8192 | tools | 1.6 | 1 | c
granite-3.3-8b | granite-3.3-8b-instruct | Granite-3.3-8B-Instruct | IBM | Apache-2.0 | chat | 131072 | 8192 | tools | 5.2 | 1 | c
olmo-2-1b | OLMo-2-0425-1B-Instruct | OLMo-2-1B-Instruct | AllenAI | Apache-2.0 | chat | 4096 | 2048 | - | 0.9 | 1 | -
falcon3-1b | Falcon3-1B-Instruct | = | TII | TII Falcon License 2.0 | chat | 8192 | 4096 | - | 0.9 | 1 | c
falcon3-3b | Falcon3-3B-Instruct | = | TII | TII Falcon License 2.0 | chat | 32768 | 4096 | - | 2.0 | 1 | c
whisper-tiny | openai-whisper-tiny | Whisper-Tiny | OpenAI | MIT | asr | 448 | 448 | - | 0.15 | 1 | c
whisper-base | openai-whisper-base | Whisper-Base | OpenAI | MIT | asr | 448 | 448 | - | 0.3 | 1 | c
whisper-small | openai-whisper-small | Whisper-Small | OpenAI | MIT | asr | 448 | 448 | - | 0.9 | 1 | c
whisper-large-v3-turbo | openai-whisper-large-v3-turbo | Whisper-Large-v3-Turbo | OpenAI | MIT | asr | 448 | 448 | - | 1.6 | 1 | cq
nomic-embed-text-v1.5 | = | Nomic-Embed-Text-v1.5 | Nomic AI | Apache-2.0 | embed | 8192 | 0 | - | 0.5 | 1 | -
bge-small-en-v1.5 | = | BGE-Small-EN-v1.5 | BAAI | MIT | embed | 512 | 0 | - | 0.1 | 1 | -
tiny-chat | = | Tiny Chat (test model) | Microsoft | MIT | chat | 512 | 512 | - | 0 | 1 | -
phi-2 | = | Phi-2 | Microsoft | MIT | chat | 2048 | 2048 | - | 1.6 | 1 | c
gpt-4o-mini | = | GPT-4o mini | OpenAI | MIT | chat | 131072 | 16384 | tools | 0 | 1 | -
deepseek-r1-distill-qwen-14b-instruct-reasoning-extended-context-preview | = | DeepSeek-R1-Distill-Qwen-14B-Instruct Reasoning (extended context, preview build for very long name rendering) | Microsoft | MIT | chat | 131072 | 32768 | - | 9.9 | 1 | c
"""  # noqa: E501

_SHORT_VARIANTS = {"c": "cuda-gpu", "g": "generic-gpu", "o": "openvino-gpu", "t": "trtrtx-gpu", "q": "qnn-npu",
                   "n": "openvino-npu", "v": "vitis-npu"}  # fmt: skip
_TASKS = {"chat": "chat-completion", "asr": "automatic-speech-recognition", "embed": "embeddings"}


@dataclasses.dataclass(frozen=True)
class _Family:
    alias: str
    parent: str
    display: str
    publisher: str
    license: str
    task: str
    context: int
    max_output: int
    tools: bool
    size_gib: float
    versions: int
    extra: tuple[str, ...]


def _parse_table(text: str) -> list[_Family]:
    families = []
    for line in text.strip().splitlines():
        alias, parent, display, pub, lic, task, ctx, max_out, tools, size, versions, extra = (
            f.strip() for f in line.split("|")
        )
        parent = alias if parent == "=" else parent
        families.append(
            _Family(
                alias=alias,
                parent=parent,
                display=parent if display == "=" else display,
                publisher=pub,
                license=lic,
                task=_TASKS[task],
                context=int(ctx),
                max_output=int(max_out),
                tools=tools == "tools",
                size_gib=float(size),
                versions=int(versions),
                extra=tuple(_SHORT_VARIANTS[c] for c in extra if c != "-"),
            )
        )
    return families


FAMILIES: tuple[_Family, ...] = tuple(_parse_table(_TABLE))

TINY_CHAT_ALIAS = "tiny-chat"
BIG_ALIAS = "phi-4-mini"
SMALL_ALIAS = "qwen2.5-0.5b"
ARCHIVED_ALIAS = "phi-2"
CLOUD_ONLY_ALIAS = "gpt-4o-mini"


def _is_real(family: _Family, suffix: str, version: int) -> bool:
    """CPU variants backed by the tiny model: the small alias' v2 and v3, the big alias' latest, tiny-chat."""
    if suffix != "generic-cpu":
        return False
    if family.alias == SMALL_ALIAS:
        return version >= 2
    return family.alias in (BIG_ALIAS, TINY_CHAT_ALIAS) and version == family.versions


def _family_models(family: _Family, tiny: Path, tiny_size: int, padding_bytes: int) -> list[CloudModel]:
    out: list[CloudModel] = []
    for suffix in ("generic-cpu", *family.extra):
        device, ep = VARIANTS[suffix]
        for version in range(1, family.versions + 1):
            real = _is_real(family, suffix, version)
            padding = padding_bytes if real and family.alias == BIG_ALIAS else 0
            out.append(
                CloudModel(
                    name=f"{family.parent}-{suffix}",
                    version=version,
                    alias=family.alias,
                    display_name=family.display,
                    publisher=family.publisher,
                    license=family.license,
                    license_description=LICENSES[family.license],
                    task=family.task,
                    device=device,
                    execution_provider=ep,
                    context_length=TINY_CONTEXT if real else family.context,
                    max_output_tokens=min(family.max_output, TINY_CONTEXT) if real else family.max_output,
                    capabilities="tool-calling" if family.tools else "",
                    file_size_bytes=tiny_size + padding if real else int(family.size_gib * _GIB),
                    files=tiny if real else None,
                    parent=family.parent,
                    padding_bytes=padding,
                    quantization="int8" if device == "npu" else "int4",
                    input_modalities="audio" if family.task == "automatic-speech-recognition" else "text",
                    archived=family.alias == ARCHIVED_ALIAS,
                    deployment_options=("Serverless API",)
                    if family.alias == CLOUD_ONLY_ALIAS
                    else (FOUNDRY_LOCAL_DEPLOYMENT,),
                    created=f"2025-{1 + version * 2:02d}-15T08:00:00Z",
                )
            )
    return out


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in sorted(path.iterdir()) if p.is_file())


def default_catalog(workdir: Path, *, padding_mib: int = 24) -> list[CloudModel]:
    """A realistic catalog; builds the tiny model under ``workdir/tiny-model`` once (reused when present).

    Downloadable (tiny model, context 512): ``qwen2.5-0.5b`` CPU v2 and v3 (small, quick), ``phi-4-mini`` CPU v2
    (plus a ``padding_mib`` MiB padding blob: many 2 MiB chunks, for progress/cancel/resume) and ``tiny-chat`` CPU v1.
    ``phi-2`` is archived and ``gpt-4o-mini`` is a cloud-only deployment: neither appears in ``list_models()``.
    """
    tiny = workdir / "tiny-model"
    if not (tiny / "genai_config.json").is_file():
        build_tiny_model(tiny, context_length=TINY_CONTEXT)
    tiny_size = dir_size(tiny)
    padding = padding_mib * 1024 * 1024
    return [m for family in FAMILIES for m in _family_models(family, tiny, tiny_size, padding)]
