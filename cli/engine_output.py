"""Where the engines' own output goes while a `medsafe` command runs them: a log file, so
the terminal shows MedSafe's progress and results only (or stderr, with --verbose)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console


def engine_log_file(data_dir: Path) -> Path:
    return data_dir / "logs" / "engines.log"


@contextmanager
def engine_output(log_file: Path | None) -> Iterator[Console]:
    """Send everything written to file descriptors 1 and 2 (vLLM, torch, progress bars of
    libraries, spawned engine processes) to log_file, appended, or to stderr when None, so
    stdout stays MedSafe's own. Yields a console on the terminal's stderr for progress."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_err), "w")
    if log_file is None:
        target = os.dup(saved_err)
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        target = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)
    try:
        yield Console(file=terminal)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        terminal.close()
