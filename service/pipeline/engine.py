"""The engine contract: what the pipeline hands an inference engine (vLLM, HTTP, or a test
fake) and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
Conversation = list[Message]


@dataclass(frozen=True)
class SamplingSettings:
    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0


@dataclass(frozen=True)
class Generation:
    """What an engine returns for one conversation."""

    text: str
    prompt_tokens: int
    output_tokens: int
    finish_reason: str


class Engine(Protocol):
    """Answers a batch of chat conversations in one call.

    json_schema, when given, constrains every answer to JSON matching it (structured output);
    engines that cannot enforce it still ask for it and leave parsing to the caller.
    """

    spec: str

    def chat(
        self,
        conversations: list[Conversation],
        sampling: SamplingSettings,
        json_schema: dict[str, Any] | None = None,
    ) -> list[Generation]: ...

    def describe(self) -> dict[str, Any]:
        """Settings to record on an eval: engine, version, model path/revision, dtype,
        chat template (hash), adapter."""
        ...
