"""/v1/calibrations: run a judge over a labelled set and read how far it agrees with people."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import CurrentKey, SessionDep, SettingsDep, WriteKey
from service.audit import key_actor
from service.auth import require_owner
from service.calibration import store
from service.calibration.schemas import (
    CalibrationCreate,
    CalibrationList,
    CalibrationRead,
    LabelledSetRead,
)
from service.evals import calibrations, lifecycle
from service.evals import service as evals
from service.evals.purpose import EvalPurpose

router = APIRouter(prefix="/calibrations", tags=["calibrations"])


@router.post("", status_code=202, response_model=CalibrationRead)
def create_calibration(body: CalibrationCreate, session: SessionDep, settings: SettingsDep,
                       key: WriteKey) -> CalibrationRead:
    """Queue a calibration: the judge (or "refusal-detector") grades every response of the
    labelled set on the judge's queue, as eval shards do; the report compares the grades
    with the human labels. Poll GET /v1/calibrations/{id}."""
    run = calibrations.submit_calibration(
        session, body.judge, body.set, body.grading or settings.grading,
        body.priority or "default", creator=key_actor(key))
    return calibrations.calibration_read(run)


@router.get("", response_model=CalibrationList)
def list_calibrations(
    session: SessionDep, _key: CurrentKey,
    judge: Annotated[str | None, Query(max_length=300)] = None,
    set: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CalibrationList:
    """Calibrations, newest first; filter by judge and labelled set."""
    runs = calibrations.list_calibrations(session, judge, set, limit)
    return CalibrationList(calibrations=[calibrations.calibration_read(r) for r in runs])


@router.get("/sets", response_model=list[LabelledSetRead])
def list_labelled_sets(session: SessionDep, _key: CurrentKey) -> list[LabelledSetRead]:
    """The labelled sets (builtin:calibration and imported ones)."""
    return store.list_labelled_sets(session)


@router.get("/{calibration_id}", response_model=CalibrationRead)
def read_calibration(calibration_id: str, session: SessionDep,
                     _key: CurrentKey) -> CalibrationRead:
    """A calibration's status and, once it succeeded, its report."""
    return calibrations.calibration_read(
        lifecycle.get_eval(session, calibration_id, EvalPurpose.CALIBRATION))


@router.post("/{calibration_id}/cancel", response_model=CalibrationRead)
def cancel_calibration(calibration_id: str, session: SessionDep,
                       key: WriteKey) -> CalibrationRead:
    """Cancel a queued or running calibration; the grades it stored stay. Only the key that
    submitted it or an admin key may (403)."""
    run = lifecycle.get_eval(session, calibration_id, EvalPurpose.CALIBRATION)
    require_owner(key, run.created_by_key_id, f"calibration {calibration_id}")
    return calibrations.calibration_read(
        evals.cancel_eval(session, calibration_id, actor=key_actor(key)))
