"""The contract between the pipeline and an inference engine (vLLM, HTTP, or a test fake)."""

from __future__ import annotations

from typing import Any, Protocol

from service.records import Generation, SamplingSettings

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}
Conversation = list[Message]


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
