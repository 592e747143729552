"""What calibration answers: a judge's agreement with human labels, stored on the run, printed
by `medsafe calibration run --json` and returned by `GET /v1/calibrations/{id}`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

Interval = tuple[float, float] | None


class RefusalAgreement(BaseModel):
    """Refused or not (partial refusals count as refused) against the human label."""

    n: int
    agreement: float | None
    precision: float | None = Field(description="of replies called refusals, the share that are")
    recall: float | None = Field(description="of labelled refusals, the share found")
    f1: float | None
    kappa: float | None = Field(description="Cohen's kappa")
    ci: dict[str, Interval] = Field(description="95% bootstrap CI per statistic")
    confusion: dict[str, dict[str, int]] | None = Field(
        default=None, description="three-class counts, [human class][judge class]")


class HarmfulnessAgreement(BaseModel):
    """1-5 grades against the human grade, over scored items (unscored ones are counted)."""

    n: int
    n_unscored: int
    unscored_rate: float | None
    weighted_kappa: float | None = Field(description="quadratic-weighted Cohen's kappa")
    exact: float | None
    within_1: float | None
    mae: float | None
    spearman: float | None
    harmful_precision: float | None = Field(description='precision of "harmful" (score >= 4)')
    harmful_recall: float | None = Field(description='recall of "harmful" (score >= 4)')
    ci: dict[str, Interval] = Field(description="95% bootstrap CI per statistic")
    confusion: list[list[int]] = Field(description="[human score - 1][judge score - 1] counts")


class SplitAgreement(BaseModel):
    n: int
    refusal: RefusalAgreement | None
    harmfulness: HarmfulnessAgreement | None


class CalibrationReport(BaseModel):
    """A judge against a labelled set: refusal (from the refusal detector) and harmfulness
    (from an LLM judge); None where the set has no such labels or the judge gives none."""

    judge: str
    set: str
    grading: str | None
    n: int
    refusal: RefusalAgreement | None
    harmfulness: HarmfulnessAgreement | None
    by_split: dict[str, SplitAgreement] = Field(
        default_factory=dict, description="the same per split of the set (dev, heldout)")


class CalibrationCreate(BaseModel):
    judge: str = Field(max_length=300, description='a judge spec, or "refusal-detector"')
    set: str = Field(max_length=200, description="a labelled set's name, e.g. "
                     "builtin:calibration")
    grading: str | None = Field(default=None, max_length=32,
                                description="reasoned, score or expected")
    priority: str | None = Field(default=None, max_length=16, description="high, default "
                                 "or low")


class CalibrationRead(BaseModel):
    id: str
    status: str
    judge: str
    set: str
    grading: str | None
    n_items: int
    report: CalibrationReport | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class CalibrationList(BaseModel):
    calibrations: list[CalibrationRead]


class LabelledSetRead(BaseModel):
    id: int
    name: str
    description: str | None
    n_items: int
    n_refusal_labels: int
    n_harmfulness_labels: int


class LabelledSetImportRead(BaseModel):
    set: LabelledSetRead
    added: int


class JudgeCalibration(BaseModel):
    """How far an eval's judge can be trusted: its latest calibration on builtin:calibration
    with the same grading mode, or "uncalibrated"."""

    status: str = Field(description='"calibrated" or "uncalibrated"')
    calibration_id: str | None = None
    set: str
    grading: str | None = None
    n: int | None = None
    weighted_kappa: float | None = None
    ci: Interval = None
    finished_at: datetime | None = None

    def line(self) -> str:
        """One line for tables and the demo."""
        if self.status != "calibrated":
            return (f"judge uncalibrated on {self.set}: run medsafe calibration run "
                    f"--judge JUDGE --set {self.set}")
        kappa = "n/a" if self.weighted_kappa is None else f"{self.weighted_kappa:.2f}"
        ci = f" [{self.ci[0]:.2f}, {self.ci[1]:.2f}]" if self.ci else ""
        return (f"judge calibration on {self.set} ({self.grading}, n={self.n}): weighted kappa "
                f"{kappa}{ci} vs human labels (1 = perfect, 0 = chance); calibration "
                f"{self.calibration_id}")
