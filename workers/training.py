"""LoRA fine-tuning on safety demonstrations: TRL's SFT trainer with a PEFT adapter.

Each demonstration is a prompt-completion conversation (the request as the user's turn, the
safe reply as the assistant's), rendered with the model's own chat template; the loss is on
the reply's tokens only (TRL's completion-only loss). The adapter (not a merged model) is
saved with a record of how it was made: the training settings, hashes of the data, the loss
curve and the versions of the libraries.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.metadata
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.errors import EngineError
from service.finetunes.schemas import LoraSettings
from service.finetunes.service import Demonstration
from workers.engines.vllm_engine import BF16_CPU_FLAGS, cpu_flags

if TYPE_CHECKING:
    from transformers import TrainerCallback

log = logging.getLogger(__name__)

RECORD_NAME = "medsafe_finetune.json"  # beside the adapter's own files
LIBRARIES = ("torch", "transformers", "peft", "trl", "accelerate")


class TrainingCancelled(Exception):
    """The fine-tune was cancelled while it trained; nothing is saved."""


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    loss: float | None
    tokens_per_s: float | None
    epoch: float | None


@dataclass
class TrainingResult:
    adapter_path: str
    loss_curve: list[list[float]]  # [step, loss]
    record: dict[str, Any] = field(default_factory=dict)


ProgressSink = Callable[[Progress], None]
StopCheck = Callable[[], bool]


def data_hash(demonstrations: list[Demonstration]) -> str:
    """sha256 of the training data as trained on (order included)."""
    digest = hashlib.sha256()
    for demo in demonstrations:
        digest.update(json.dumps([demo.prompt, demo.response]).encode())
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def train_lora(model_path: str, demonstrations: list[Demonstration], lora: LoraSettings,
               output_dir: Path, *, on_progress: ProgressSink | None = None,
               should_stop: StopCheck | None = None,
               system_prompt: str | None = None,
               torch_dtype: Any | None = None) -> TrainingResult:
    """Train a LoRA adapter on the demonstrations and save it under output_dir/adapter
    (torch_dtype: the weights' dtype; default bfloat16 where the hardware has it)."""
    import torch
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]  # lazy exports

    if not demonstrations:
        raise EngineError("no demonstrations to train on")
    on_gpu = torch.cuda.is_available()
    # bfloat16 on GPUs and on CPUs with bf16 units (1.4x float32's tokens/s on one, the same
    # loss: docs/BENCHMARKS.md); float32 on other CPUs, where bf16 is emulated and slow.
    fast_bf16 = on_gpu or bool(cpu_flags() & BF16_CPU_FLAGS)
    dtype = torch_dtype or (torch.bfloat16 if fast_bf16 else torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if getattr(tokenizer, "chat_template", None) is None:
        raise EngineError(f"{model_path} has no chat template to render demonstrations with")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    disable_progress_bar()
    dataset = Dataset.from_list([_example(demo, system_prompt) for demo in demonstrations])
    output_dir.mkdir(parents=True, exist_ok=True)
    args = SFTConfig(
        output_dir=str(output_dir / "trainer"), max_steps=lora.max_steps or -1,
        num_train_epochs=float(lora.epochs), learning_rate=lora.learning_rate,
        per_device_train_batch_size=lora.batch_size, max_length=lora.max_length,
        seed=lora.seed, data_seed=lora.seed, logging_steps=1, save_strategy="no",
        report_to="none", completion_only_loss=True, use_cpu=not on_gpu, bf16=on_gpu,
        lr_scheduler_type="linear", warmup_steps=0, disable_tqdm=True,
        dataloader_num_workers=0, gradient_checkpointing=False)
    peft_config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                             target_modules=list(lora.target_modules), bias="none",
                             task_type="CAUSAL_LM")
    curve: list[list[float]] = []
    started = time.monotonic()
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset,
                         processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[_callback(curve, on_progress, should_stop)])
    # Without tqdm the trainer prints every log line to stdout, where `--json` output goes.
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    if should_stop is not None and should_stop():
        raise TrainingCancelled("the fine-tune was cancelled")
    adapter = output_dir / "adapter"
    trained: Any = trainer.model  # the PEFT model: save_pretrained writes the adapter only
    trained.save_pretrained(str(adapter))
    record = {
        "base_model_path": model_path,
        "settings": lora.model_dump(mode="json"),
        "n_demonstrations": len(demonstrations),
        "data_sha256": data_hash(demonstrations),
        "system_prompt": system_prompt,
        "loss_curve": curve,
        "libraries": library_versions(),
        "device": "cuda" if on_gpu else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "train_seconds": round(time.monotonic() - started, 2),
        "steps": int(trainer.state.global_step),
    }
    (adapter / RECORD_NAME).write_text(json.dumps(record, indent=2))
    del trainer, model  # the weights and optimizer state go now, not at the next collection
    gc.collect()
    if on_gpu:
        torch.cuda.empty_cache()  # hand the memory back for the engines that come next
    return TrainingResult(str(adapter), curve, record)


def _example(demo: Demonstration, system_prompt: str | None) -> dict[str, Any]:
    prompt = [{"role": "user", "content": demo.prompt}]
    if system_prompt:
        prompt.insert(0, {"role": "system", "content": system_prompt})
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": demo.response}]}


def _callback(curve: list[list[float]], on_progress: ProgressSink | None,
              should_stop: StopCheck | None) -> TrainerCallback:
    from transformers import TrainerCallback

    class Reporter(TrainerCallback):
        """Loss and throughput to the caller at every logged step; stops when cancelled."""

        def __init__(self) -> None:
            self.last_time = time.monotonic()
            self.last_tokens: float | None = None

        def on_log(self, args: Any, state: Any, control: Any,
                   logs: dict[str, float] | None = None, **kwargs: Any) -> None:
            if not logs or "loss" not in logs:
                return
            loss = float(logs["loss"])
            curve.append([int(state.global_step), round(loss, 5)])
            now, tokens = time.monotonic(), logs.get("num_tokens")
            rate = None
            if tokens is not None and self.last_tokens is not None and now > self.last_time:
                rate = (float(tokens) - self.last_tokens) / (now - self.last_time)
            self.last_time, self.last_tokens = now, (float(tokens) if tokens else None)
            if on_progress is not None:
                on_progress(Progress(int(state.global_step), int(state.max_steps), loss,
                                     rate, logs.get("epoch")))

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if should_stop is not None and should_stop():
                control.should_training_stop = True

    return Reporter()


def progress_dict(progress: Progress) -> dict[str, Any]:
    return asdict(progress)
