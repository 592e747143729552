"""Readiness: can this process reach the database and the queue's Redis right now?"""

from __future__ import annotations

import logging

from sqlalchemy import text

from service.api.schemas import HealthRead
from service.config import Settings
from service.db import get_engine
from service.queue.connection import ping

log = logging.getLogger(__name__)


def check_readiness(settings: Settings) -> HealthRead:
    """Each dependency as "ok" or the reason it failed; status "unavailable" if any failed."""
    checks = {"database": _check_database(settings), "queue": _check_queue()}
    healthy = all(result == "ok" for result in checks.values())
    return HealthRead(status="ok" if healthy else "unavailable", checks=checks)


def _check_database(settings: Settings) -> str:
    try:
        with get_engine(settings.resolved_database_url()).connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"
        return _failed("database", exc)
    return "ok"


def _check_queue() -> str:
    return "ok" if ping() else "unreachable (no answer to PING)"


def _failed(check: str, exc: Exception) -> str:
    # /readyz is open: the caller learns which dependency failed and the kind of failure;
    # the message (hosts, ports, user names) goes to the log only.
    log.warning("readiness: %s unreachable: %s", check, exc)
    return f"unreachable ({type(exc).__name__})"
