"""Returning a worker's freed heap to the operating system after each shard."""

from __future__ import annotations

import gc
import platform

import psutil
import pytest

from workers import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_goes_back_to_the_operating_system() -> None:
    process = psutil.Process()
    # Many small blocks: glibc serves them from its heap, not from mmap, and keeps the pages
    # when they are freed (the shape of a shard's prompts, token lists and result rows).
    blocks = [bytearray(1024) for _ in range(200_000)]
    del blocks
    gc.collect()
    freed_but_held = process.memory_info().rss
    assert memory.return_free_memory() is True
    assert freed_but_held - process.memory_info().rss > 100 * 2**20


def test_without_malloc_trim_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_libc", lambda: None)
    assert memory.return_free_memory() is False
