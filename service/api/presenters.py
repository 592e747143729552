"""Domain objects to response schemas: what each endpoint shows of an eval and a dataset."""

from __future__ import annotations

from dataclasses import asdict

from service.benchmarks.schemas import DatasetRead
from service.benchmarks.store import DatasetSummary
from service.calibration.schemas import JudgeCalibration
from service.evals.schemas import EvalLinks, EvalRead, EvalTimings, ItemProgress
from service.models import Eval
from service.pipeline.summaries import EvalSummary

API_PREFIX = "/v1"


def eval_links(eval_id: str) -> EvalLinks:
    base = f"{API_PREFIX}/evals/{eval_id}"
    return EvalLinks(self=base, results=f"{base}/results", summary=f"{base}/summary",
                     cancel=f"{base}/cancel")


def eval_read(evaluation: Eval, progress: dict[str, dict[str, int]] | None = None,
              items: ItemProgress | None = None,
              calibration: JudgeCalibration | None = None,
              waiting: str | None = None) -> EvalRead:
    started, finished = evaluation.started_at, evaluation.finished_at
    duration = (finished - started).total_seconds() if started and finished else None
    return EvalRead(
        id=evaluation.id,
        status=evaluation.status,
        model=evaluation.model,
        judge=evaluation.judge,
        datasets=list(evaluation.settings.get("datasets", [])),
        labels=dict(evaluation.labels),
        n_items=evaluation.n_items,
        error=evaluation.error,
        created_by=evaluation.created_by,
        timings=EvalTimings(created_at=evaluation.created_at, started_at=started,
                            finished_at=finished, duration_s=duration),
        # The priority is a column of its own; the API shows it among the settings.
        settings={**evaluation.settings, "priority": evaluation.priority},
        target_engine=evaluation.target_engine,
        judge_engine=evaluation.judge_engine,
        progress=progress,
        items=items,
        summary=(EvalSummary.model_validate(evaluation.summary)
                 if evaluation.summary is not None else None),
        judge_calibration=calibration,
        schedule_id=evaluation.schedule_id,
        fire_time=evaluation.fire_time,
        regressed=evaluation.regressed,
        regression=evaluation.regression,
        waiting=waiting,
        links=eval_links(evaluation.id),
    )


def dataset_read(summary: DatasetSummary) -> DatasetRead:
    return DatasetRead.model_validate(asdict(summary))
