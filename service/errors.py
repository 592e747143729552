"""Domain exceptions: each carries the HTTP status and a message a user can act on."""

from __future__ import annotations


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
