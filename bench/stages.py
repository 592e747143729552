"""The approaches bench/throughput.py compares, each run in a fresh process of its own."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from service.config import GradingMode, Settings
from service.pipeline.engine import SamplingSettings


@dataclass(frozen=True)
class Workload:
    prompts: list[str]
    max_tokens: int
    batch_size: int = 64
    repeats: int = 1  # runs of raw vLLM (and of MedSafe) in a row; the median one is reported


def _conversation(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def _result(seconds: float, output_tokens: int, items: int, **extra: Any) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "output_tokens": output_tokens,
        "items": items,
        "tokens_per_s": output_tokens / seconds if seconds else None,
        "items_per_s": items / seconds if seconds else None,
        **extra,
    }


def _hf_model(settings: Settings) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workers.engines.bundled import bundled_model_path

    path = bundled_model_path(settings.model_cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()  # type: ignore[no-untyped-call]  # torch leaves Module.eval untyped here
    return model, tokenizer


def reference(work: Workload, settings: Settings) -> dict[str, Any]:
    """The published approach: a transformers text-generation pipeline, one prompt at a time."""
    from transformers import pipeline

    model, tokenizer = _hf_model(settings)
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    tokens = 0
    start = time.perf_counter()
    for prompt in work.prompts:
        out = generator(_conversation(prompt), max_new_tokens=work.max_tokens, do_sample=False)
        reply = out[0]["generated_text"][-1]["content"]
        tokens += len(tokenizer.encode(reply, add_special_tokens=False))
    return _result(time.perf_counter() - start, tokens, len(work.prompts))


def reference_batched(work: Workload, settings: Settings) -> dict[str, Any]:
    """transformers generate() on static, left-padded batches."""
    import torch

    model, tokenizer = _hf_model(settings)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    texts = [
        tokenizer.apply_chat_template(_conversation(p), tokenize=False, add_generation_prompt=True)
        for p in work.prompts
    ]
    tokens = 0
    start = time.perf_counter()
    for i in range(0, len(texts), work.batch_size):
        batch = tokenizer(
            texts[i : i + work.batch_size],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        )
        with torch.no_grad():
            out = model.generate(
                **batch,
                max_new_tokens=work.max_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[:, batch["input_ids"].shape[1] :]
        tokens += int(((new != tokenizer.pad_token_id) & (new != tokenizer.eos_token_id)).sum())
    return _result(time.perf_counter() - start, tokens, len(work.prompts))


def raw_vllm(work: Workload, settings: Settings) -> dict[str, Any]:
    """One LLM.chat over every prompt in a fresh engine, started as MedSafe starts its engines
    (same arguments and process layout); work.repeats such calls in a row, the median
    reported. vLLM's own chat() is timed, not MedSafe's wrapper around it."""
    from workers.engines.bundled import bundled_model_path
    from workers.engines.vllm_engine import VLLMEngine, sampling_params

    path = bundled_model_path(settings.model_cache_dir)
    engine = VLLMEngine("bundled:smollm2", str(path), settings)
    params = sampling_params(SamplingSettings(max_tokens=work.max_tokens), None)
    conversations: list[Any] = [_conversation(p) for p in work.prompts]
    runs: list[float] = []
    tokens = 0
    # Later runs find the prompts in the prefix cache, as MedSafe's later runs do on its warm
    # worker: run k of the one and run k of the other start from the same cache state.
    for _ in range(work.repeats):
        start = time.perf_counter()
        outputs = engine.llm.chat(conversations, params, use_tqdm=False)
        runs.append(time.perf_counter() - start)
        tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    engine.close()
    return _result(statistics.median(runs), tokens, len(work.prompts), runs_s=runs)


WARM_UP = ("Which vitamin is made in the skin in sunlight?",
           "Vitamin D; a few minutes of midday sun on the arms makes most of a day's need.")


def judge_stage(
    work: Workload, settings: Settings, responses: list[str], grading: GradingMode
) -> dict[str, Any]:
    """The judge stage alone (rubric prompts, structured grade) in a fresh, warmed engine."""
    from service.benchmarks.items import ItemKind
    from service.pipeline.judging.judge import judge_batch
    from service.pipeline.records import ItemToJudge
    from workers.engines.bundled import bundled_model_path
    from workers.engines.vllm_engine import VLLMEngine

    path = bundled_model_path(settings.model_cache_dir)
    engine = VLLMEngine("bundled:smollm2", str(path), settings)
    items = [
        ItemToJudge(i, ItemKind.HARMFUL_MEDICAL, 1 + i % 9, p, r)
        for i, (p, r) in enumerate(zip(work.prompts, responses, strict=True))
    ]
    # Warm, as a running worker is: one grade first (grammar compiled, rubric in the prefix
    # cache when caching is on) on a request and response that none of the timed items share.
    judge_batch(engine, [ItemToJudge(-1, ItemKind.BENIGN_MEDICAL, None, WARM_UP[0], WARM_UP[1])],
                "bundled:smollm2", grading)
    start = time.perf_counter()
    grades = judge_batch(engine, items, "bundled:smollm2", grading)
    seconds = time.perf_counter() - start
    scored = sum(g.status == "scored" for g in grades)
    tokens = sum(len(engine.tokenizer.encode(g.raw or "", add_special_tokens=False))
                 for g in grades)
    engine.close()
    return _result(
        seconds,
        tokens,
        len(items),
        scored=scored,
        prefix_caching=settings.prefix_caching,
        grading=grading,
        pid=os.getpid(),
    )
