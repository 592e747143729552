"""Inference engines for the workers: vLLM (CPU or GPU build) and OpenAI-compatible HTTP.

Importing this package is cheap: vLLM and the OpenAI SDK load only when an engine starts.
"""

from service.model_specs import (
    EngineKind,
    EngineSpec,
    InvalidEngineSpec,
    parse_spec,
    validate_spec,
)
from workers.engines.registry import forget_engines, load_engine, loaded_engines

__all__ = [
    "EngineKind",
    "EngineSpec",
    "InvalidEngineSpec",
    "forget_engines",
    "load_engine",
    "loaded_engines",
    "parse_spec",
    "validate_spec",
]
