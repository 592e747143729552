"""Who did what: the actor behind a change, and the audit log of every creation,
cancellation, revocation and upload (GET /v1/audit, admin keys only)."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.cursors import decode_cursor, encode_cursor
from service.errors import InvalidInput
from service.models import ApiKey, AuditEvent, Owned, utcnow

MAX_PAGE = 500


class AuditAction(StrEnum):
    EVAL_SUBMIT = "eval.submit"
    EVAL_CANCEL = "eval.cancel"
    CALIBRATION_SUBMIT = "calibration.submit"
    CALIBRATION_CANCEL = "calibration.cancel"
    DATASET_IMPORT = "dataset.import"
    FINETUNE_SUBMIT = "finetune.submit"
    FINETUNE_CANCEL = "finetune.cancel"
    MITIGATION_SUBMIT = "mitigation.submit"
    SCHEDULE_CREATE = "schedule.create"
    SCHEDULE_UPDATE = "schedule.update"
    SCHEDULE_DELETE = "schedule.delete"
    SCHEDULE_RUN = "schedule.run"
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: an API key (key_id set) or a local process such as the CLI."""

    name: str
    key_id: int | None = None


def key_actor(key: ApiKey) -> Actor:
    return Actor(f"key {key.id} ({key.name})"[:200], key.id)


def local_actor(via: str = "cli") -> Actor:
    """The user running a local command: the CLI needs no key, it reaches the database."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        user = "unknown"
    return Actor(f"{via}:{user}@{socket.gethostname()}"[:200])


def stamp(row: Owned, actor: Actor) -> None:
    """Record `actor` as the creator of `row`."""
    row.created_by, row.created_by_key_id = actor.name, actor.key_id


def record(session: Session, actor: Actor, action: AuditAction, target_type: str,
           target_id: str | int, **detail: Any) -> None:
    """Add an audit event to the caller's transaction: it commits with the change it
    describes, or not at all."""
    session.add(AuditEvent(at=utcnow(), actor=actor.name, key_id=actor.key_id,
                           action=action.value, target_type=target_type,
                           target_id=str(target_id)[:200], detail=detail))


@dataclass(frozen=True)
class AuditFilter:
    action: AuditAction | None = None
    key_id: int | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None


def list_events(session: Session, where: AuditFilter, limit: int = 100,
                cursor: str | None = None) -> tuple[list[AuditEvent], str | None]:
    """Events newest first and the cursor of the next page (None on the last)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if where.action is not None:
        query = query.where(AuditEvent.action == where.action.value)
    if where.key_id is not None:
        query = query.where(AuditEvent.key_id == where.key_id)
    if where.target_type is not None:
        query = query.where(AuditEvent.target_type == where.target_type)
    if where.target_id is not None:
        query = query.where(AuditEvent.target_id == where.target_id)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if cursor is not None:
        query = query.where(AuditEvent.id < _decode_cursor(cursor))
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1].id) if more and rows else None)


def _decode_cursor(cursor: str) -> int:
    (event_id,) = decode_cursor(cursor, (int,))
    if isinstance(event_id, bool) or not 0 < event_id < 2**62:
        raise InvalidInput("the cursor is not one this API returned")
    return int(event_id)


class AuditEventRead(BaseModel):
    id: int
    at: datetime
    actor: str
    key_id: int | None
    action: AuditAction
    target_type: str
    target_id: str
    detail: dict[str, Any]


class AuditList(BaseModel):
    events: list[AuditEventRead]
    next_cursor: str | None = Field(description="pass as cursor for the next (older) page")


def audit_list(events: list[AuditEvent], next_cursor: str | None) -> AuditList:
    return AuditList(events=[AuditEventRead.model_validate(event, from_attributes=True)
                             for event in events], next_cursor=next_cursor)
