"""A fake engine for unit tests of the code around an engine (never for the features)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.pipeline.engine import Conversation, Generation, SamplingSettings


class FakeEngine:
    """Answers each conversation with reply(conversation) and records every call."""

    def __init__(self, reply: Callable[[Conversation], str], spec: str = "fake:engine",
                 logprobs: Callable[[Conversation], dict[str, float]] | None = None,
                 fail: Callable[[Conversation], str | None] | None = None) -> None:
        self.spec = spec
        self.reply = reply
        self.logprobs = logprobs  # with score_tokens: token -> log-probability
        self.fail = fail  # an error for the conversations whose request should fail alone
        self.calls: list[tuple[list[Conversation], SamplingSettings, dict[str, Any] | None]] = []

    def chat(
        self,
        conversations: list[Conversation],
        sampling: SamplingSettings,
        json_schema: dict[str, Any] | None = None,
    ) -> list[Generation]:
        self.calls.append((conversations, sampling, json_schema))
        texts = [self.reply(c) for c in conversations]
        scored = sampling.score_tokens and self.logprobs is not None
        errors = [self.fail(c) if self.fail else None for c in conversations]
        return [Generation("", 0, 0, "error", error=e) if e is not None else
                Generation(t, prompt_tokens=10, output_tokens=len(t.split()),
                           finish_reason="stop",
                           token_logprobs=self.logprobs(c) if scored and self.logprobs else None)
                for t, c, e in zip(texts, conversations, errors, strict=True)]

    def describe(self) -> dict[str, Any]:
        return {"engine": "fake", "engine_version": "0", "model": self.spec, "dtype": None,
                "chat_template_sha256": None, "adapter": None}
