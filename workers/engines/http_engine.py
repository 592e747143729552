"""The OpenAI-compatible HTTP engine: hosted models and remote vLLM servers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import openai
from openai import AsyncOpenAI

from service.errors import EngineError
from service.pipeline.engine import (
    FAILED,
    Conversation,
    Generation,
    SamplingSettings,
    combined_logprobs,
)
from workers.engines.http_context import FIT_ATTEMPTS, fit_estimated, parse_overflow, refit

T = TypeVar("T")
log = logging.getLogger(__name__)
BATCH_FATAL = frozenset({401, 403, 404})  # no other request of the batch would fare better
DEFAULT_TIMEOUT_S = 300.0
HTTP_TOP_LOGPROBS = 20


class OpenAIEngine:
    """Sends each conversation as one chat-completions request, at most `concurrency` at once.

    The SDK retries 408/409/429/5xx, timeouts and connection errors with exponential backoff
    and jitter (honouring Retry-After) up to `max_retries` times. A request that still fails
    fails that conversation only: its Generation carries the error (finish_reason FAILED) and
    the rest of the batch completes. The batch fails when every request failed for a reason of
    the server's (unreachable, timed out, 429, 5xx: it is down, and RQ retries the shard later)
    or one was refused for a reason no other item escapes: a bad key (401), no access (403)
    or no such model (404). A request the server refused for itself (400, 422: too long, a
    content filter) fails only its item, even in a batch of one.

    A prompt too long for the model's context is shortened, not failed
    (workers.engines.http_context): before sending when `max_model_len` is known, and
    after a server refuses it as too long, by the token count the server names.
    """

    def __init__(
        self,
        spec: str,
        model: str,
        base_url: str | None,
        api_key: str,
        concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_model_len: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise EngineError(f"HTTP concurrency must be at least 1, not {concurrency}.")
        self.spec = spec
        self.model = model
        self.base_url = base_url
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.max_model_len = max_model_len
        self._api_key = api_key

    def chat(
        self,
        conversations: list[Conversation],
        sampling: SamplingSettings,
        json_schema: dict[str, Any] | None = None,
    ) -> list[Generation]:
        if not conversations:
            return []
        if self.max_model_len:
            conversations = [self._fit(index, conversation, sampling.max_tokens)
                             for index, conversation in enumerate(conversations)]
        return _run_sync(self._chat_all(conversations, sampling, json_schema))

    def _fit(self, index: int, conversation: Conversation, max_tokens: int) -> Conversation:
        assert self.max_model_len is not None
        fitted, estimated = fit_estimated(conversation, self.max_model_len, max_tokens)
        if estimated is not None:
            log.warning("%s: conversation %d of the batch had about %d prompt tokens; its "
                        "longest message was shortened to fit %d", self.spec, index,
                        estimated, self.max_model_len)
        return fitted

    def describe(self) -> dict[str, Any]:
        return {
            "engine": "openai-http",
            "engine_version": openai.__version__,
            "model": self.spec,
            # Readers of an eval see whether two evals used one server, never its address.
            "server": "OpenAI API" if self.base_url is None else "self-hosted",
            "server_sha256": (hashlib.sha256(self.base_url.encode()).hexdigest()[:16]
                              if self.base_url else None),
            "revision": None,
            "dtype": None,
            "chat_template_sha256": None,  # the server applies its own template
            "adapter": None,
            "max_model_len": self.max_model_len,
        }

    async def _chat_all(
        self,
        conversations: list[Conversation],
        sampling: SamplingSettings,
        json_schema: dict[str, Any] | None,
    ) -> list[Generation]:
        # A client per batch: its connection pool belongs to this event loop.
        async with AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            max_retries=self.max_retries,
            timeout=self.timeout_s,
        ) as client:
            gate = asyncio.Semaphore(self.concurrency)
            request = _request_options(self.model, sampling, json_schema)
            tasks = [
                asyncio.ensure_future(
                    self._chat_one(client, gate, c, request, sampling.score_tokens))
                for c in conversations
            ]
            try:
                answers: list[tuple[Generation, bool]] = await asyncio.gather(*tasks)
            except BaseException:
                # One request failed for good: stop the rest before the client closes.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        generations = [generation for generation, _ in answers]
        if all(server_side for _, server_side in answers):
            raise EngineError("every request of the batch failed on the server's side; the "
                              f"first: {generations[0].error}")
        return generations

    async def _chat_one(
        self,
        client: AsyncOpenAI,
        gate: asyncio.Semaphore,
        conversation: Conversation,
        request: dict[str, Any],
        score_tokens: tuple[str, ...] | None = None,
    ) -> tuple[Generation, bool]:
        """The answer, and whether the request failed for a reason of the server's."""
        async with gate:
            for attempt in range(FIT_ATTEMPTS + 1):
                try:
                    completion = await client.chat.completions.create(
                        messages=conversation,  # type: ignore[arg-type]
                        **request,
                    )
                    return _generation(completion, score_tokens), False
                except openai.BadRequestError as exc:
                    shorter = self._refit(conversation, exc, request) if (
                        attempt < FIT_ATTEMPTS) else None
                    if shorter is None:
                        return self._failed(exc)
                    conversation = shorter
                except openai.APIError as exc:
                    return self._failed(exc)
        raise AssertionError("unreachable: the last attempt returns")

    def _failed(self, exc: openai.APIError) -> tuple[Generation, bool]:
        """The item's failed Generation and whether the server was at fault; EngineError
        for a refusal that every item of the batch would meet."""
        status = getattr(exc, "status_code", None)
        if status in BATCH_FATAL:
            raise EngineError(self._failure(exc)) from exc
        failed = Generation(text="", prompt_tokens=0, output_tokens=0,
                            finish_reason=FAILED, error=self._failure(exc)[:2000])
        return failed, status is None or status in (408, 409, 429) or status >= 500

    def _refit(self, conversation: Conversation, exc: openai.BadRequestError,
               request: dict[str, Any]) -> Conversation | None:
        """The conversation shortened when the server refused it as too long, else None."""
        overflow = parse_overflow(str(exc))
        if overflow is None:
            return None
        shorter = refit(conversation, overflow, int(request["max_completion_tokens"]))
        if shorter is not None:
            log.warning("%s: the server refused a prompt of %s tokens as longer than its "
                        "%d-token context; its longest message was shortened and sent again",
                        self.spec, overflow.prompt_tokens or "too many", overflow.limit)
        return shorter

    def _failure(self, exc: openai.APIError) -> str:
        where = f"{self.spec} at {self.base_url or 'the OpenAI API'}"
        status = getattr(exc, "status_code", None)
        retried = status is None or status in (408, 409, 429) or status >= 500
        after = f" after {self.max_retries} retries" if retried else ""
        return f"{where} failed{after}: {exc}"


def _request_options(
    model: str, sampling: SamplingSettings, json_schema: dict[str, Any] | None
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "model": model,
        "max_completion_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
    }
    if sampling.seed is not None:
        options["seed"] = sampling.seed
    if sampling.score_tokens:
        # Probability grading: the first token's top alternatives, where the server offers
        # them (OpenAI allows up to 20).
        options["logprobs"] = True
        options["top_logprobs"] = HTTP_TOP_LOGPROBS
    if json_schema is not None:
        options["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "grade", "schema": json_schema, "strict": True},
        }
    return options


def _generation(completion: Any, score_tokens: tuple[str, ...] | None = None) -> Generation:
    if not completion.choices:
        raise EngineError("The server answered a chat completion without choices.")
    choice = completion.choices[0]
    usage = completion.usage
    return Generation(
        text=choice.message.content or "",
        prompt_tokens=usage.prompt_tokens if usage else 0,
        output_tokens=usage.completion_tokens if usage else 0,
        finish_reason=str(choice.finish_reason or "unknown"),
        token_logprobs=_score_logprobs(choice, score_tokens) if score_tokens else None,
    )


def _score_logprobs(choice: Any, score_tokens: tuple[str, ...]) -> dict[str, float]:
    """The first token's log-probabilities of the score tokens among its top alternatives,
    " 4" and "4" summed as one score; {} when the server sent none."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or []
    if not content:
        return {}
    alternatives = getattr(content[0], "top_logprobs", None) or []
    return combined_logprobs(
        (str(a.token).strip(), float(a.logprob)) for a in alternatives
        if str(a.token).strip() in score_tokens)


def _run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, or the same on a helper thread when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
