"""A fake engine for unit tests of the code around an engine (never for the features)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.pipeline.engine import Conversation, Generation, SamplingSettings


class FakeEngine:
    """Answers each conversation with reply(conversation) and records every call."""

    def __init__(self, reply: Callable[[Conversation], str], spec: str = "fake:engine") -> None:
        self.spec = spec
        self.reply = reply
        self.calls: list[tuple[list[Conversation], SamplingSettings, dict[str, Any] | None]] = []

    def chat(
        self,
        conversations: list[Conversation],
        sampling: SamplingSettings,
        json_schema: dict[str, Any] | None = None,
    ) -> list[Generation]:
        self.calls.append((conversations, sampling, json_schema))
        texts = [self.reply(c) for c in conversations]
        return [Generation(t, prompt_tokens=10, output_tokens=len(t.split()),
                           finish_reason="stop") for t in texts]

    def describe(self) -> dict[str, Any]:
        return {"engine": "fake", "engine_version": "0", "model": self.spec, "dtype": None,
                "chat_template_sha256": None, "adapter": None}
