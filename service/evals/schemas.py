"""Typed models of evals: the submission body (XCreate), what clients read (XRead / XList),
the summary report and the comparison of two evals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.calibration.schemas import JudgeCalibration
from service.config import GradingMode
from service.pipeline.summaries import EvalSummary, PairedStats, ScoreComparison
from service.queue.jobs import Priority

JudgeStatus = Literal["scored", "unscored", "pending"]
LabelKey = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\w.\-/:]+$")
]
LabelValue = Annotated[str, StringConstraints(max_length=500)]


class SamplingCreate(BaseModel):
    """Generation settings of the target model; a field left out takes the server default
    (MEDSAFE_MAX_TOKENS, MEDSAFE_TEMPERATURE, MEDSAFE_TOP_P, MEDSAFE_SEED)."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0)


class EvalCreate(BaseModel):
    """An eval to run: `model` answers every item of `datasets`, `judge` grades the answers."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "model": "bundled:smollm2", "datasets": ["builtin:medsafety-demo"], "limit": 18,
            "labels": {"team": "safety"},
        }]},
    )

    model: str = Field(..., min_length=1, max_length=300,
                       description="bundled:smollm2, openai:<model>, a model folder or org/name")
    datasets: list[str] = Field(..., min_length=1, max_length=50,
                                description="dataset names or ids, e.g. builtin:medsafety-demo")
    judge: str | None = Field(default=None, min_length=1, max_length=300,
                              description="judge model spec; default MEDSAFE_JUDGE_MODEL")
    sampling: SamplingCreate = Field(default_factory=lambda: SamplingCreate())
    system_prompt: str | None = Field(default=None, max_length=20_000)
    limit: int | None = Field(default=None, ge=1,
                              description="sample this many items across principles")
    draw_seed: int = Field(default=0, ge=0, description=(
        "which items `limit` draws; independent of sampling.seed, so evals that differ "
        "only in their sampling seed answer the same items"))
    shard_size: int | None = Field(default=None, ge=1, le=10_000,
                                   description="items per job; default MEDSAFE_SHARD_SIZE")
    grading: GradingMode | None = Field(
        default=None,
        description="reasoned: a short reason, then the 1-5 score; score: the score alone "
                    "(far cheaper judging); default MEDSAFE_GRADING",
    )
    priority: Priority = Priority.DEFAULT
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=50,
                                   description="free key/values for filtering and dashboards")


class EvalLinks(BaseModel):
    self: str
    results: str
    summary: str
    cancel: str


class EvalTimings(BaseModel):
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None = Field(default=None, description="finished_at - started_at")


class ItemProgress(BaseModel):
    """How far an eval got, in items: answered by the target, graded by the judge."""

    total: int
    answered: int
    judged: int


class EvalRead(BaseModel):
    """An eval; `progress` (shards per stage and status) and `items` are given for a single
    eval only."""

    id: str
    status: str
    model: str
    judge: str
    datasets: list[str]
    labels: dict[str, Any]
    n_items: int
    error: str | None
    created_by: str | None = Field(default=None, description=(
        "who submitted it: an API key, a schedule or the CLI's local user"))
    timings: EvalTimings
    settings: dict[str, Any]
    target_engine: dict[str, Any] | None
    judge_engine: dict[str, Any] | None
    progress: dict[str, dict[str, int]] | None = None
    items: ItemProgress | None = None
    summary: EvalSummary | None = None
    judge_calibration: JudgeCalibration | None = Field(
        default=None, description="the judge's latest calibration on builtin:calibration "
                                  "(single eval only)")
    schedule_id: str | None = Field(default=None, description="the schedule that fired it")
    fire_time: datetime | None = None
    regressed: bool | None = Field(default=None, description="a scheduled eval against the "
                                   "schedule's previous success; null: not compared")
    regression: dict[str, Any] | None = Field(
        default=None, description="the verdict: paired deltas with CIs and thresholds, "
                                  "overall and per principle, or why it was not compared")
    waiting: str | None = Field(
        default=None, description="an unfinished eval whose next shards no live worker "
                                  "takes: which model and queue lack one (single eval only)")
    links: EvalLinks


class EvalList(BaseModel):
    items: list[EvalRead]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class ResultRead(BaseModel):
    """One answered item of an eval with its grade (null fields: not judged yet)."""

    item_id: int
    prompt: str
    principle: int | None
    kind: str
    source: str
    response: str
    finish_reason: str | None
    score: int | None
    expected: float | None = Field(default=None, description="probability grading's "
                                   "expected score")
    reason: str | None
    judge_status: JudgeStatus
    refused: bool | None
    refusal: str | None = Field(default=None, description="the refusal detector's class: "
                                "full_compliance, full_refusal or partial_refusal")
    disagreement: bool = Field(default=False, description="the judge and the refusal "
                               "detector contradict each other on this harmful item")


class ResultList(BaseModel):
    items: list[ResultRead]
    next_cursor: str | None = None


class EvalOutcome(BaseModel):
    """Where an eval ended, and how it ran: what `medsafe eval --json` prints; with the
    judge's measured validity (its latest calibration) next to the scores."""

    eval_id: str
    status: str
    model: str
    judge: str
    error: str | None
    n_items: int
    settings: dict[str, Any]
    target_engine: dict[str, Any] | None
    judge_engine: dict[str, Any] | None
    judge_calibration: JudgeCalibration | None = None


class EvalReport(EvalOutcome, EvalSummary):
    """A succeeded eval's identity, settings and metrics in one flat object
    (GET /v1/evals/{id}/summary and `medsafe eval --json`)."""


class EvalComparison(ScoreComparison):
    """Candidate minus base over the items both answered (GET /v1/compare, `medsafe
    compare --json`)."""

    base: str
    candidate: str
    grading_differs: dict[str, list[Any]] = Field(
        description="grading settings in which the two evals differ, as [base, candidate]: "
                    "their scores may not be on one scale")
    harmful_rate: PairedStats | None = Field(
        default=None, description="paired harmful rate (score >= 4) on harmful items")
    training_overlap: int = Field(
        default=0, description="compared items whose request (normalised text) a fine-tuned "
                               "model of either eval was trained on: its answers may be "
                               "memorised")


class HistoryPoint(BaseModel):
    """One succeeded eval of a model: its headline numbers."""

    eval_id: str
    model: str
    created_at: datetime
    fire_time: datetime | None
    n_items: int
    mean_harmfulness: float | None
    ci_low: float | None
    ci_high: float | None
    harmful_rate: float | None
    refusal_rate: float | None
    over_refusal_rate: float | None
    by_principle: dict[str, float | None] = Field(description='mean per principle "1".."9"')
    regressed: bool | None = Field(description="a scheduled eval's verdict against the "
                                   "schedule's previous one (null: not compared)")


class ModelHistory(BaseModel):
    model: str
    dataset: str
    comparable_on: dict[str, Any] | None = Field(
        description="what every point shares: items, judge, rubric, grading, sampling")
    points: list[HistoryPoint] = Field(description="oldest first")
    excluded: list[dict[str, str]] = Field(
        description="the model's evals not comparable with its newest, and what differs")


class LeaderboardRow(HistoryPoint):
    rank: int


class Leaderboard(BaseModel):
    dataset: str
    comparable_on: dict[str, Any] | None
    rows: list[LeaderboardRow] = Field(description="safest (lowest mean harmfulness) first")
    excluded: list[dict[str, str]] = Field(
        description="models with no eval comparable with the newest, and what differs")
