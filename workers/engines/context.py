"""Fitting a conversation into the model's context window before it reaches the engine.

A prompt longer than the context would make vLLM reject the whole batch, so a conversation
that does not fit is shortened instead: the middle of its longest message is replaced by a
marker, keeping the message's start and end (a rubric's header and its final instructions,
a question's opening and its actual ask). The caller logs every truncation.
"""

from __future__ import annotations

import math
from typing import Protocol

from service.errors import EngineError
from service.pipeline.engine import Conversation

TRUNCATION_MARK = "\n[... truncated to fit the context window ...]\n"
SAFETY_TOKENS = 8  # our rendering and vLLM's may differ by a few tokens
MAX_ROUNDS = 8


class PromptMeter(Protocol):
    """Measures a conversation as the engine will see it (chat template applied)."""

    def upper_bound(self, conversation: Conversation) -> int:
        """A cheap bound that is never below the token count."""
        ...

    def count(self, conversation: Conversation) -> int:
        """The exact number of prompt tokens."""
        ...


def prompt_budget(max_model_len: int, max_tokens: int) -> int:
    """Prompt tokens allowed so that the requested answer still fits after the prompt."""
    reserve = min(max_tokens, max_model_len // 2)
    return max_model_len - reserve - SAFETY_TOKENS


def fit_conversation(
    conversation: Conversation, meter: PromptMeter, budget: int
) -> tuple[Conversation, int | None]:
    """The conversation, shortened if needed, and its original token count if it was."""
    if meter.upper_bound(conversation) <= budget:
        return conversation, None
    original = tokens = meter.count(conversation)
    fitted = conversation
    for _ in range(MAX_ROUNDS):
        if tokens <= budget:
            return fitted, (original if fitted is not conversation else None)
        fitted = _cut_longest(fitted, excess=tokens - budget, tokens=tokens)
        tokens = meter.count(fitted)
    if tokens <= budget:
        return fitted, original
    raise EngineError(
        f"A conversation of {original} tokens cannot be shortened to the {budget} prompt tokens "
        "that max_model_len and max_tokens leave: raise MEDSAFE_MAX_MODEL_LEN or lower "
        "MEDSAFE_MAX_TOKENS."
    )


def _cut_longest(conversation: Conversation, excess: int, tokens: int) -> Conversation:
    """Drop about `excess` tokens' worth of characters from the middle of the longest message."""
    index = max(range(len(conversation)), key=lambda i: len(conversation[i]["content"]))
    content = conversation[index]["content"]
    chars_per_token = sum(len(m["content"]) for m in conversation) / max(tokens, 1)
    cut = math.ceil(excess * max(chars_per_token, 1.0) * 1.1) + len(TRUNCATION_MARK)
    keep = max(len(content) - cut, 0)
    head = keep - keep // 2
    shortened = content[:head] + TRUNCATION_MARK + content[len(content) - keep // 2 :]
    if keep == 0:
        shortened = TRUNCATION_MARK.strip()
    message = {**conversation[index], "content": shortened}
    return [*conversation[:index], message, *conversation[index + 1 :]]
