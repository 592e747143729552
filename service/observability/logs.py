"""Logs for people (text) or for log pipelines (one JSON object a line), chosen by
MEDSAFE_LOG_FORMAT and applied by `medsafe serve`, `medsafe worker`, `medsafe scheduler` and
`medsafe up` at startup.

Whatever runs inside log_context(...) (a worker running a shard binds eval_id, stage and
shard_index) has those fields on every record it logs, from any logger in the same thread or
task: the context lives in a contextvar, and ContextFilter, on the handler, copies it onto
each record. JSON lines carry them as keys; text lines end with them as key=value.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from functools import wraps
from types import MappingProxyType
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class LogFormat(StrEnum):
    """MEDSAFE_LOG_FORMAT: "text" for a terminal, "json" for a log pipeline."""

    TEXT = "text"
    JSON = "json"


TEXT_FORMAT = "%(asctime)s %(name)s %(message)s"
CONTEXT_ATTRIBUTE = "log_context"
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("medsafe_log_context", default=_EMPTY)
# What every LogRecord has of its own: anything else on a record came from extra={...}.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "color_message", CONTEXT_ATTRIBUTE}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields to every record logged inside the block (nested blocks add to it)."""
    token = _context.set(MappingProxyType({**_context.get(), **fields}))
    try:
        yield
    finally:
        _context.reset(token)


def bound_context() -> dict[str, Any]:
    """The fields bound here and now."""
    return dict(_context.get())


def shard_log_context(stage: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a shard function of (eval_id, index, ...) so that everything it logs carries
    eval_id, stage and shard_index."""
    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @wraps(function)
        def bound(*args: P.args, **kwargs: P.kwargs) -> R:
            eval_id = args[0] if args else kwargs.get("eval_id")
            index = args[1] if len(args) > 1 else kwargs.get("index")
            with log_context(eval_id=eval_id, stage=str(stage), shard_index=index):
                return function(*args, **kwargs)
        return bound
    return decorate


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (on a handler, so records that propagate
    from any logger get it); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = dict(_context.get())
        existing = getattr(record, CONTEXT_ATTRIBUTE, None)
        if isinstance(existing, dict):  # a record that passed another handler already
            context.update(existing)
        setattr(record, CONTEXT_ATTRIBUTE, context)
        return True


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's bound context and its extra={...} fields."""
    fields: dict[str, Any] = dict(getattr(record, CONTEXT_ATTRIBUTE, None) or {})
    for name, value in vars(record).items():
        if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
            fields.setdefault(name, value)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (UTC, ISO 8601), level, logger, message, the bound context
    (eval_id, stage, shard_index, job_id, ...), extra fields, and exc_info with the
    traceback. uvicorn's access lines also get method, path and status."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) \
                and len(record.args) == 5:
            client, method, path, _version, status = record.args
            payload.update(client=client, method=method, path=path, status=status)
        for name, value in _record_fields(record).items():
            payload.setdefault(name, value)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The format people read ("time logger message"), followed by the bound context as
    key=value where there is one."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = getattr(record, CONTEXT_ATTRIBUTE, None) or {}
        if not context:
            return text
        suffix = " ".join(f"{key}={value}" for key, value in context.items())
        first, newline, rest = text.partition("\n")  # a traceback stays below the line
        return f"{first} [{suffix}]{newline}{rest}"


def logging_config(log_format: LogFormat | str, level: int | str = logging.INFO) -> dict[str,
                                                                                          Any]:
    """A logging.config.dictConfig for the format: one stderr handler on the root logger,
    with the context filter; uvicorn's loggers propagate to it (uvicorn takes this as its
    log_config, in every worker process it starts)."""
    formatter = JsonFormatter if LogFormat(log_format) == LogFormat.JSON else TextFormatter
    name = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.ContextFilter"}},
        "formatters": {"medsafe": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "medsafe",
                                "filters": ["context"], "stream": "ext://sys.stderr"}},
        "loggers": {logger: {"handlers": [], "propagate": True, "level": name}
                    for logger in ("uvicorn", "uvicorn.error", "uvicorn.access")},
        "root": {"handlers": ["stderr"], "level": name},
    }


def configure_logging(log_format: LogFormat | str, level: int | str = logging.INFO, *,
                      force: bool = False) -> None:
    """Log to stderr in the format. As logging.basicConfig, nothing changes where the root
    logger has handlers already (an embedding program's, a test runner's) unless force."""
    LogFormat(log_format)  # an unknown format fails here, whatever the root has
    if logging.getLogger().handlers and not force:
        return
    logging.config.dictConfig(logging_config(log_format, level))


def handler_for(log_format: LogFormat | str, stream: Any = None) -> logging.Handler:
    """A stream handler (stderr unless named) in the format, with the context filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if LogFormat(log_format) == LogFormat.JSON
                         else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler
