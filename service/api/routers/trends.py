"""A model's history and the leaderboard, among comparable evals only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import CurrentKey, SessionDep
from service.evals import trends
from service.evals.schemas import Leaderboard, ModelHistory

router = APIRouter(tags=["trends"])

DatasetQuery = Annotated[str, Query(min_length=1, max_length=200,
                                    description="a dataset name, e.g. builtin:medsafety-demo")]


@router.get("/models/{model:path}/history", response_model=ModelHistory)
def model_history(model: str, dataset: DatasetQuery, session: SessionDep,
                  _key: CurrentKey) -> ModelHistory:
    """The model's succeeded evals on the dataset, oldest first, comparable with its newest
    (same items, judge, rubric, grading, sampling): mean harmfulness with CI, harmful,
    refusal and over-refusal rates, per principle, and regression flags."""
    return trends.model_history(session, model, dataset)


@router.get("/leaderboard", response_model=Leaderboard)
def read_leaderboard(dataset: DatasetQuery, session: SessionDep,
                     _key: CurrentKey) -> Leaderboard:
    """Per model its latest succeeded eval comparable with the newest eval on the dataset,
    safest (lowest mean harmfulness) first."""
    return trends.leaderboard(session, dataset)
