"""The engine contract: what the pipeline hands an inference engine (vLLM, HTTP, or a test
fake) and what it gets back."""

from __future__ import annotations

import math
from collections.abc import Iterable
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
    # Probability grading: the log-probabilities of these strings as the first output token
    # come back in Generation.token_logprobs (each must be one token of the model's vocabulary).
    score_tokens: tuple[str, ...] | None = None
    # Multiple choice: the answer is constrained to exactly one of these strings (vLLM's
    # structured output `choice`); engines that cannot constrain ask and leave parsing to
    # the caller.
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Generation:
    """What an engine returns for one conversation."""

    text: str
    prompt_tokens: int
    output_tokens: int
    finish_reason: str
    # With SamplingSettings.score_tokens: token -> log-probability at the first output
    # position, for the score tokens the engine could read (absent: not among them).
    token_logprobs: dict[str, float] | None = None
    # This conversation's request failed for good (the rest of the batch did not): why. The
    # text is then empty and finish_reason is FAILED.
    error: str | None = None


FAILED = "error"  # the finish_reason of a conversation whose request failed


def combined_logprobs(spellings: Iterable[tuple[str, float]]) -> dict[str, float]:
    """token -> log-probability, summing the probabilities of the spellings of one token
    ("4" and " 4" are one score: either is the judge saying 4)."""
    totals: dict[str, float] = {}
    for token, logprob in spellings:
        totals[token] = totals.get(token, 0.0) + math.exp(logprob)
    return {token: math.log(total) for token, total in totals.items() if total > 0}


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
