"""Running one fine-tune: claim it, train the adapter with live progress, record the outcome.
Every status change goes through service.finetunes.store; a fine-tune never stays `running`
after its job ends (success, failure or cancel)."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from service.config import Settings
from service.db import session_scope
from service.errors import EngineError, public_error
from service.finetunes import store
from service.finetunes.reconcile import local_owner
from service.finetunes.service import demonstrations, lora_settings
from service.model_specs import EngineKind, parse_spec
from workers.training import Progress, TrainingCancelled, progress_dict, train_lora

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 1.0  # progress rows at most this often; cancels are read as often


@dataclass(frozen=True)
class FinetuneOutcome:
    finetune_id: str
    status: str
    adapter_path: str | None = None


def base_model_path(spec: str, settings: Settings) -> str:
    """The weights to train: the bundled model's converted folder, a model folder, or a
    Hugging Face id (from the local cache: workers have no model hub at run time)."""
    parsed = parse_spec(spec)
    if parsed.kind is EngineKind.BUNDLED:
        from workers.engines.bundled import bundled_model_path

        return str(bundled_model_path(settings.model_cache_dir))
    if parsed.kind is EngineKind.VLLM:
        folder = parsed.local_path()
        return str(folder) if folder is not None else parsed.name
    raise EngineError(f"{spec}: only bundled and vLLM models can be fine-tuned")


def run_finetune(finetune_id: str, settings: Settings, db_url: str | None = None,
                 worker: str | None = None,
                 on_progress: Callable[[Progress], None] | None = None) -> FinetuneOutcome:
    """Train the fine-tune if it is queued; its row says how it ended. worker: the RQ
    worker's name, or None for this process (the CLI). on_progress also gets every logged
    step (a terminal's progress line)."""
    with session_scope(db_url) as session:
        finetune = store.claim_finetune(session, finetune_id, worker or local_owner())
        if finetune is None:
            status = store.get_finetune(session, finetune_id).status
            log.info("fine-tune %s is %s; nothing to do", finetune_id, status)
            return FinetuneOutcome(finetune_id, status)
        lora = lora_settings(finetune)
        demos = demonstrations(session, list(finetune.dataset_ids))
        base, system_prompt = finetune.base, finetune.settings.get("system_prompt")
    output = store.artifact_dir(settings, finetune_id)
    watcher = _Watcher(finetune_id, db_url, on_progress)
    try:
        result = train_lora(base_model_path(base, settings), demos, lora, output,
                            on_progress=watcher.progress, should_stop=watcher.cancelled,
                            system_prompt=system_prompt)
    except TrainingCancelled:
        shutil.rmtree(output, ignore_errors=True)
        return FinetuneOutcome(finetune_id, store.FinetuneStatus.CANCELLED)
    except Exception as exc:
        with session_scope(db_url) as session:
            store.fail_finetune(session, finetune_id,
                               public_error(exc, f"fine-tune {finetune_id}"))
        shutil.rmtree(output, ignore_errors=True)
        raise
    shutil.rmtree(output / "trainer", ignore_errors=True)  # the trainer's scratch folder
    with session_scope(db_url) as session:
        done = store.complete_finetune(session, finetune_id, result.adapter_path,
                                       result.loss_curve, result.record)
    if not done:  # cancelled after the last step
        shutil.rmtree(output, ignore_errors=True)
        return FinetuneOutcome(finetune_id, store.FinetuneStatus.CANCELLED)
    return FinetuneOutcome(finetune_id, store.FinetuneStatus.SUCCEEDED, result.adapter_path)


class _Watcher:
    """Writes progress and reads cancels, each at most once a second."""

    def __init__(self, finetune_id: str, db_url: str | None,
                 also: Callable[[Progress], None] | None = None) -> None:
        self.finetune_id, self.db_url, self.also = finetune_id, db_url, also
        self.curve: list[list[float]] = []
        self.last_write = 0.0
        self.last_check = 0.0
        self.stop = False

    def progress(self, progress: Progress) -> None:
        if self.also is not None:
            self.also(progress)
        if progress.loss is not None:
            self.curve.append([progress.step, round(progress.loss, 5)])
        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY_S and progress.step < progress.total_steps:
            return
        self.last_write = now
        with session_scope(self.db_url) as session:
            store.record_progress(session, self.finetune_id, progress_dict(progress), self.curve)

    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self.stop and now - self.last_check >= PROGRESS_EVERY_S:
            self.last_check = now
            with session_scope(self.db_url) as session:
                self.stop = store.is_cancelled(session, self.finetune_id)
        return self.stop
