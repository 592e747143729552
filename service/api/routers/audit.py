"""/v1/audit: who created, cancelled, revoked or imported what (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service import audit
from service.api.deps import AdminKey, SessionDep
from service.api.params import UtcTime
from service.audit import AuditAction, AuditFilter, AuditList

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=AuditList)
def read_audit(
    session: SessionDep,
    _key: AdminKey,
    action: AuditAction | None = None,
    key_id: Annotated[int | None, Query(ge=1, le=2**62, description="the acting API key")] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    since: UtcTime | None = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditList:
    """Audit events, newest first: evals and calibrations submitted and cancelled, datasets
    imported, fine-tunes and studies submitted, schedules changed, keys created and revoked,
    each with the actor (an API key, or the local user of the CLI)."""
    where = AuditFilter(action=action, key_id=key_id, target_type=target_type,
                        target_id=target_id, since=since)
    events, next_cursor = audit.list_events(session, where, limit, cursor)
    return audit.audit_list(events, next_cursor)
