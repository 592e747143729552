"""Keeping a long-lived worker's memory near what it holds: the engine, not past batches."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache
from typing import Any

log = logging.getLogger(__name__)


@cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def return_free_memory() -> bool:
    """Hand the C heap's free pages back to the operating system (glibc's malloc_trim).

    A shard's prompts, token lists and results are freed when it ends, but glibc keeps the
    pages for reuse, so a worker's resident memory would creep up to its largest shard's
    peak and stay there. Returns whether there was a malloc_trim to call (not on musl or
    macOS, where this does nothing)."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:
        return False
    trim(0)
    return True
