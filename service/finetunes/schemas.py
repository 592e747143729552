"""Typed models of fine-tunes and mitigation studies: request bodies, what clients read, and
the mitigation report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.config import GradingMode
from service.evals.schemas import LabelKey, LabelValue
from service.pipeline.summaries import CapabilityStats, PairedStats

ModuleName = Annotated[str, StringConstraints(min_length=1, max_length=100,
                                              pattern=r"^[A-Za-z_][\w.]*$")]
DatasetName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class LoraSettings(BaseModel):
    """LoRA and training settings; the defaults are the common recipe for small models
    (rank 8, alpha 16, dropout 0.05 on the attention's query and value projections, lr 3e-4)."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=8, ge=1, le=256, description="LoRA rank r (at most the "
                      "workers' MEDSAFE_MAX_LORA_RANK, which serve the adapter)")
    alpha: int = Field(default=16, ge=1, le=1024)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[ModuleName] = Field(default_factory=lambda: ["q_proj", "v_proj"],
                                             min_length=1, max_length=16)
    epochs: float = Field(default=3.0, gt=0, le=100, description="passes over the data "
                          "(max_steps, when given, wins)")
    max_steps: int | None = Field(default=None, ge=1, le=100_000)
    learning_rate: float = Field(default=3e-4, gt=0, le=1.0)
    batch_size: int = Field(default=8, ge=1, le=512)
    max_length: int = Field(default=512, ge=16, le=32_768,
                            description="tokens per demonstration (longer ones are cut)")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class FinetuneCreate(BaseModel):
    """A LoRA fine-tune of `base` on the demonstrations (items with a safe reference reply)
    of `datasets`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "base": "bundled:smollm2", "datasets": ["builtin:safety-demos"],
        "lora": {"max_steps": 40}}]})

    base: str = Field(..., min_length=1, max_length=250,
                      description="bundled:smollm2, a model folder or org/name")
    datasets: list[DatasetName] = Field(..., min_length=1, max_length=20)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    system_prompt: str | None = Field(default=None, max_length=20_000)


class FinetuneProgress(BaseModel):
    step: int
    total_steps: int
    loss: float | None
    tokens_per_s: float | None
    epoch: float | None


class FinetuneLinks(BaseModel):
    self: str
    cancel: str


class FinetuneRead(BaseModel):
    id: str
    status: str
    base: str
    model: str = Field(description="the adapter's model spec, for evals: <base>+lora:<id>")
    datasets: list[str]
    n_demonstrations: int
    settings: dict[str, Any]
    progress: FinetuneProgress | None
    loss_first: float | None
    loss_last: float | None
    loss_curve: list[list[float]]
    adapter_path: str | None
    artifact: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: FinetuneLinks


class FinetuneList(BaseModel):
    items: list[FinetuneRead]


class MitigationCreate(BaseModel):
    """The whole study: evaluate `model` (safety and capability), fine-tune it on `demos`,
    evaluate the adapter on the same items, compare."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "model": "bundled:smollm2", "demos": ["builtin:safety-demos"],
        "eval_datasets": ["builtin:medsafety-demo"],
        "capability_datasets": ["builtin:medical-mcq"], "lora": {"max_steps": 40}}]})

    model: str = Field(..., min_length=1, max_length=250)
    demos: list[DatasetName] = Field(..., min_length=1, max_length=20)
    eval_datasets: list[DatasetName] = Field(..., min_length=1, max_length=20)
    capability_datasets: list[DatasetName] = Field(default_factory=list, max_length=20)
    judge: str | None = Field(default=None, min_length=1, max_length=300)
    grading: GradingMode | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    limit: int | None = Field(default=None, ge=1, description="items drawn across the eval "
                              "and capability datasets (stratified; the same for both evals)")
    system_prompt: str | None = Field(default=None, max_length=20_000)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=50)


class RateChange(BaseModel):
    """A yes/no rate before and after, paired over the items both evals answered."""

    before: float | None
    after: float | None
    change: PairedStats | None


class MitigationReport(BaseModel):
    """What the fine-tune changed, paired over the same items (negative: safer)."""

    model: str
    adapter: str
    n_paired: int
    harmfulness: PairedStats = Field(description="mean harmfulness, adapter minus base")
    harmfulness_by_principle: dict[str, PairedStats]
    harmful_rate: PairedStats | None
    refusal: RateChange = Field(description="refusal rate on harmful items (detector)")
    compliance: RateChange = Field(description="full-compliance rate on harmful items "
                                   "(refusal detector's class)")
    over_refusal: RateChange = Field(description="refusal rate on benign items")
    capability_before: CapabilityStats | None
    capability_after: CapabilityStats | None
    capability_change: PairedStats | None
    grading_differs: dict[str, list[Any]]
    training: dict[str, Any] = Field(description="steps, first and last loss")
    warnings: list[str]


class MitigationLinks(BaseModel):
    self: str
    base_eval: str | None
    finetune: str | None
    adapter_eval: str | None


class MitigationRead(BaseModel):
    id: str
    status: str
    model: str
    settings: dict[str, Any]
    base_eval_id: str | None
    finetune_id: str | None
    adapter_eval_id: str | None
    adapter: str | None
    step: str = Field(description="what the study waits on now")
    report: MitigationReport | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    links: MitigationLinks


class MitigationList(BaseModel):
    items: list[MitigationRead]
