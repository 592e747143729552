"""Domain exceptions: each carries the HTTP status and a message a user can act on."""

from __future__ import annotations

import logging
import uuid

log = logging.getLogger("medsafe.errors")

MAX_PUBLIC_CHARS = 500


class MedSafeError(Exception):
    """Base of every error MedSafe reports to a user."""

    status_code = 400
    error = "medsafe_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(MedSafeError):
    status_code = 404
    error = "not_found"


class InvalidInput(MedSafeError):
    status_code = 422
    error = "invalid_input"


class ImportFailed(InvalidInput):
    """A dataset file could not be read; nothing was imported."""

    error = "import_failed"

    def __init__(self, path: str, detail: str, row: int | None = None) -> None:
        where = f"{path}, row {row}" if row is not None else path
        super().__init__(f"{where}: {detail}")
        self.path = path
        self.row = row


class Conflict(MedSafeError):
    status_code = 409
    error = "conflict"


class EngineError(MedSafeError):
    """An inference engine could not be started or failed on a batch."""

    status_code = 502
    error = "engine_error"


def public_error(exc: BaseException, what: str = "the job") -> str:
    """What a reader of an eval or fine-tune may see of an error that ended it. A MedSafe
    error is written for users and is kept (bounded); anything else (a database error that
    quotes its SQL and parameters, a library's traceback text) becomes a short message with
    an error id, and its details go to the log under that id."""
    if isinstance(exc, MedSafeError):
        detail = " ".join(exc.detail.split())
        return detail if len(detail) <= MAX_PUBLIC_CHARS else \
            detail[:MAX_PUBLIC_CHARS - 1] + "…"
    error_id = uuid.uuid4().hex[:12]
    log.error("error %s in %s: %s: %s", error_id, what, type(exc).__name__, exc,
              exc_info=exc)
    return (f"internal error {error_id} ({type(exc).__name__}) in {what}; the log of the "
            "process that ran it has the details under that id")
