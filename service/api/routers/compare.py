"""/v1/compare: paired comparison of two evals, overall and per principle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import CurrentKey, SessionDep
from service.api.etag import ETagRoute
from service.evals.compare import compare_evals as compare
from service.evals.schemas import EvalComparison

router = APIRouter(tags=["evals"], route_class=ETagRoute)


@router.get("/compare", response_model=EvalComparison)
def compare_evals(
    base: Annotated[str, Query(description="the reference eval's id")],
    candidate: Annotated[str, Query(description="the eval compared against it")],
    session: SessionDep,
    _key: CurrentKey,
) -> EvalComparison:
    """Candidate minus base over the items both answered (negative harmfulness: safer)."""
    return compare(session, base, candidate)
