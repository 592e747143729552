"""The CLI's two streams: results on stdout, progress and messages on stderr."""

from __future__ import annotations

from rich.console import Console

out = Console()
err = Console(stderr=True)
def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and its message, whitespace folded."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


# Set by `medsafe --debug`: errors show their traceback instead of one line.
DEBUG = {"on": False}
