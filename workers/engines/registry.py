"""Engines by spec: started on first use and kept warm for the life of the process."""

from __future__ import annotations

import atexit
import logging
import os
import threading

from service.config import Settings
from service.errors import EngineError
from service.model_specs import EngineKind, EngineSpec, parse_spec
from service.pipeline.engine import Engine

log = logging.getLogger(__name__)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()  # held while an engine starts, so a spec never starts twice


def load_engine(spec: str, settings: Settings) -> Engine:
    """The engine for a spec, started once per process and shared by every caller.

    A target and a judge with the same spec get the same engine. The settings of the first
    call are the ones the engine runs with.
    """
    parsed = parse_spec(spec)
    if parsed.adapter is not None:
        return _adapter_engine(parsed, load_engine(parsed.serving_spec, settings), settings)
    with _lock:
        engine = _engines.get(parsed.text)
        if engine is not None and getattr(engine, "dead", False):
            log.warning("Restarting the engine for %s, which died", parsed.text)
            _close(engine)
            engine = None
        if engine is None:
            engine = _engines[parsed.text] = _start(parsed, settings)
            _close_at_exit()
        return engine


def loaded_engines() -> dict[str, Engine]:
    """The engines this process holds, by spec."""
    with _lock:
        return dict(_engines)


def forget_engines() -> None:
    """Drop every cached engine (a worker shutting down, or a test starting clean)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        _close(engine)


def _close(engine: Engine) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # a dead engine may fail to stop; it must not block the others
            log.exception("Could not close the engine for %s", engine.spec)


def _close_at_exit() -> None:
    # Registered after vLLM imported multiprocessing, so it runs before multiprocessing's own
    # exit handler, which would otherwise wait forever on the engine's still-running process.
    atexit.unregister(_forget_engines_at_exit)
    atexit.register(_forget_engines_at_exit)


def _forget_engines_at_exit() -> None:
    # A test runner may have closed the streams vLLM's log handlers write to by now.
    logging.raiseExceptions = False
    forget_engines()


def _start(spec: EngineSpec, settings: Settings) -> Engine:
    if spec.kind is EngineKind.BUNDLED:
        return _bundled_engine(spec, settings)
    if spec.kind is EngineKind.OPENAI:
        return _openai_engine(spec, settings)
    return _vllm_engine(spec, settings)


def _adapter_engine(spec: EngineSpec, base: Engine, settings: Settings) -> Engine:
    """The adapter of a fine-tune on its base's engine (no engine of its own)."""
    from service.finetunes.store import adapter_dir
    from workers.engines.vllm_engine import AdapterEngine, VLLMEngine

    if not isinstance(base, VLLMEngine) or spec.adapter is None:
        raise EngineError(f"{spec.text}: adapters are served by vLLM engines only")
    return AdapterEngine(spec.text, base, spec.adapter, adapter_dir(settings, spec.adapter))


def _bundled_engine(spec: EngineSpec, settings: Settings) -> Engine:
    from workers.engines.bundled import bundled_model_path, bundled_revision
    from workers.engines.vllm_engine import VLLMEngine

    path = bundled_model_path(settings.model_cache_dir)
    return VLLMEngine(spec.text, str(path), settings, revision=bundled_revision(path))


def _openai_engine(spec: EngineSpec, settings: Settings) -> Engine:
    from workers.engines.http_engine import OpenAIEngine

    api_key = settings.openai_api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        if not settings.openai_base_url:
            raise EngineError(
                f"{spec.text} needs an API key: set MEDSAFE_OPENAI_API_KEY (or "
                "OPENAI_API_KEY), or MEDSAFE_OPENAI_BASE_URL for another server."
            )
        api_key = "EMPTY"  # a self-hosted server (vLLM without --api-key) takes any key
    return OpenAIEngine(
        spec.text,
        spec.name,
        settings.openai_base_url,
        api_key,
        concurrency=settings.http_concurrency,
        max_retries=settings.http_max_retries,
        max_model_len=settings.http_max_model_len,
    )


def _vllm_engine(spec: EngineSpec, settings: Settings) -> Engine:
    from workers.engines.vllm_engine import VLLMEngine

    path = spec.local_path()
    if path is not None and not (path / "config.json").is_file():
        raise EngineError(
            f"{spec.text}: no model folder at {path} (a folder with config.json "
            "and weights, as saved by save_pretrained)."
        )
    return VLLMEngine(spec.text, str(path) if path else spec.name, settings)
