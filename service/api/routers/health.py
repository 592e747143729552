"""/healthz and /readyz: open endpoints for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import SettingsDep
from service.api.readiness import check_readiness
from service.api.schemas import HealthRead

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthRead)
def healthz() -> HealthRead:
    """The process is up (it checks nothing else)."""
    return HealthRead(status="ok")


@router.get("/readyz", response_model=HealthRead, responses={503: {"model": HealthRead}})
def readyz(settings: SettingsDep) -> JSONResponse:
    """The database answers `SELECT 1` and the queue's Redis answers PING; else 503, with
    the check that failed."""
    readiness = check_readiness(settings)
    return JSONResponse(readiness.model_dump(), status_code=200 if readiness.status == "ok"
                        else 503)
