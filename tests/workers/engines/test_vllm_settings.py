"""How Settings become vLLM arguments: dtype choice, prefix caching, KV cache size (no vLLM)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.config import Settings
from workers.engines.vllm_engine import (
    MULTIPROCESSING_ENV,
    cpu_flags,
    engine_kwargs,
    resolve_dtype,
    use_engine_process_setting,
)

AVX2 = frozenset({"sse4_2", "avx2", "fma"})
AVX512_BF16 = AVX2 | {"avx512f", "avx512_bf16"}
AMX = AVX2 | {"amx_tile", "amx_bf16"}


@pytest.mark.parametrize(
    ("requested", "on_cpu", "flags", "expected"),
    [
        ("auto", True, AVX2, "float32"),
        ("auto", True, AVX512_BF16, "bfloat16"),
        ("auto", True, AMX, "bfloat16"),
        ("auto", False, AVX2, "auto"),  # vLLM picks on GPUs
        ("bfloat16", True, AVX2, "bfloat16"),  # an explicit choice always wins
        ("float16", False, AVX2, "float16"),
    ],
)
def test_resolve_dtype(requested: str, on_cpu: bool, flags: frozenset[str], expected: str) -> None:
    assert resolve_dtype(requested, on_cpu, flags) == expected


def test_cpu_flags_reads_proc_cpuinfo_format(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\n"
        "flags\t\t: fpu sse avx2 avx512_bf16\n\nprocessor\t: 1\n"
    )

    assert cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_cpu_kwargs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    settings = Settings(model_cache_dir=tmp_path, dtype="auto", max_model_len=2048, seed=3)

    kwargs = engine_kwargs("/models/m", settings, on_cpu=True, flags=AVX2)

    assert kwargs["model"] == "/models/m"
    assert kwargs["dtype"] == "float32"
    assert kwargs["max_model_len"] == 2048
    assert kwargs["seed"] == 3
    assert kwargs["enable_prefix_caching"] is True
    assert kwargs["structured_outputs_config"] == {
        "backend": "xgrammar",
        "disable_any_whitespace": True,
    }
    assert kwargs["enforce_eager"] is True
    assert kwargs["kv_cache_memory_bytes"] == 2**30
    assert "gpu_memory_utilization" not in kwargs


def test_cpu_kv_cache_size_is_a_setting(tmp_path: Path) -> None:
    settings = Settings(model_cache_dir=tmp_path, cpu_kv_cache_gib=0.5)

    kwargs = engine_kwargs("m", settings, on_cpu=True, flags=AVX2)

    assert kwargs["kv_cache_memory_bytes"] == 2**29


def test_cpu_kv_cache_env_is_left_to_vllm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "6")

    kwargs = engine_kwargs("m", Settings(model_cache_dir=tmp_path), on_cpu=True, flags=AVX2)

    assert "kv_cache_memory_bytes" not in kwargs


def test_gpu_kwargs(tmp_path: Path) -> None:
    settings = Settings(
        model_cache_dir=tmp_path, gpu_memory_utilization=0.5, tensor_parallel_size=2
    )

    kwargs = engine_kwargs("org/model", settings, on_cpu=False, flags=AVX2)

    assert kwargs["dtype"] == "auto"
    assert kwargs["enforce_eager"] is False
    assert kwargs["enable_prefix_caching"] is True
    assert kwargs["gpu_memory_utilization"] == 0.5
    assert kwargs["tensor_parallel_size"] == 2
    assert "kv_cache_memory_bytes" not in kwargs


@pytest.mark.parametrize(
    ("on_cpu", "setting", "expected"),
    [(True, None, "0"), (False, None, "1"), (True, False, "1"), (False, True, "0")],
)
def test_engine_process_follows_the_setting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    on_cpu: bool,
    setting: bool | None,
    expected: str,
) -> None:
    monkeypatch.setenv(MULTIPROCESSING_ENV, "set before the test")  # so undo restores it
    monkeypatch.delenv(MULTIPROCESSING_ENV)
    settings = Settings(model_cache_dir=tmp_path, engine_in_process=setting)

    in_process = use_engine_process_setting(settings, on_cpu)

    assert os.environ[MULTIPROCESSING_ENV] == expected
    assert in_process is (expected == "0")


def test_explicit_vllm_multiprocessing_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROCESSING_ENV, "1")
    settings = Settings(model_cache_dir=tmp_path, engine_in_process=True)

    assert use_engine_process_setting(settings, on_cpu=True) is False
    assert os.environ[MULTIPROCESSING_ENV] == "1"
