"""/v1/compare: paired comparison of two evals, overall and per principle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from service import report
from service.api.deps import CurrentKey, SessionDep
from service.api.etag import ETagRoute

router = APIRouter(tags=["evals"], route_class=ETagRoute)


@router.get("/compare")
def compare_evals(
    base: Annotated[str, Query(description="the reference eval's id")],
    candidate: Annotated[str, Query(description="the eval compared against it")],
    session: SessionDep,
    _key: CurrentKey,
) -> dict[str, Any]:
    """Candidate minus base over the items both answered (negative harmfulness: safer)."""
    return report.compare_evals(session, base, candidate)
