"""Fitting conversations into the context of an OpenAI-compatible server, whose tokenizer
MedSafe does not have.

Before a request: with the model's context length known (MEDSAFE_HTTP_MAX_MODEL_LEN), a
conversation is fitted with a cautious estimate of CHARS_PER_TOKEN characters per token.
After a refusal: a server that answers 400 because the prompt is too long says so, naming
its context length and, as OpenAI and vLLM do, the prompt's token count. The conversation is
then shortened with the characters-per-token ratio the server measured (or, without a count,
one character per token, which always fits) and sent again, at most FIT_ATTEMPTS times.
Shortening keeps each message's start and end (workers.engines.context).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from service.errors import EngineError
from service.pipeline.engine import Conversation
from workers.engines.context import SAFETY_TOKENS, fit_conversation

CHARS_PER_TOKEN = 3.0  # English runs at about 4 characters per token: this errs short
MESSAGE_TOKENS = 4  # a chat template's tokens around each message
FIT_ATTEMPTS = 2
MIN_PROMPT_TOKENS = 16

_LIMIT = re.compile(r"maximum context length is (\d+)", re.IGNORECASE)
_PROMPT = re.compile(
    r"(\d+) in the messages|(\d+) input tokens|messages resulted in (\d+) tokens",
    re.IGNORECASE)


@dataclass(frozen=True)
class ContextOverflow:
    """What a server said when it refused a prompt as too long."""

    limit: int
    prompt_tokens: int | None


@dataclass(frozen=True)
class CharMeter:
    """Token counts estimated from characters (a workers.engines.context.PromptMeter)."""

    chars_per_token: float

    def upper_bound(self, conversation: Conversation) -> int:
        return self.count(conversation)

    def count(self, conversation: Conversation) -> int:
        chars = sum(len(message["content"]) for message in conversation)
        return math.ceil(chars / self.chars_per_token) + MESSAGE_TOKENS * len(conversation)


def parse_overflow(message: str) -> ContextOverflow | None:
    """The context length (and prompt tokens) a too-long refusal names; None otherwise."""
    limit = _LIMIT.search(message)
    if limit is None:
        return None
    prompt = _PROMPT.search(message)
    count = next((int(group) for group in prompt.groups() if group), None) if prompt else None
    return ContextOverflow(int(limit.group(1)), count)


def http_budget(max_model_len: int, max_tokens: int) -> int:
    """Prompt tokens a server allows beside max_tokens (servers refuse, never clamp, a
    request whose prompt and max_tokens together pass the context length)."""
    return max_model_len - max_tokens - SAFETY_TOKENS


def fit_estimated(conversation: Conversation, max_model_len: int,
                  max_tokens: int) -> tuple[Conversation, int | None]:
    """Before sending: the conversation fitted by the cautious estimate, and its estimated
    token count if it was shortened. EngineError when max_tokens leaves no room."""
    budget = http_budget(max_model_len, max_tokens)
    if budget < MIN_PROMPT_TOKENS:
        raise EngineError(f"max_tokens {max_tokens} leaves no room for a prompt in the "
                          f"{max_model_len}-token context (MEDSAFE_HTTP_MAX_MODEL_LEN)")
    return fit_conversation(conversation, CharMeter(CHARS_PER_TOKEN), budget)


def refit(conversation: Conversation, overflow: ContextOverflow,
          max_tokens: int) -> Conversation | None:
    """After a too-long refusal: the conversation shortened by what the server measured;
    None when no prompt can fit beside max_tokens."""
    budget = http_budget(overflow.limit, max_tokens)
    if budget < MIN_PROMPT_TOKENS:
        return None
    chars = sum(len(message["content"]) for message in conversation)
    overhead = MESSAGE_TOKENS * len(conversation)
    if overflow.prompt_tokens is not None and overflow.prompt_tokens > overhead:
        ratio = chars / (overflow.prompt_tokens - overhead)  # the server's own measure
    else:
        ratio = 1.0  # no count given: a character per token always fits
    try:
        fitted, _ = fit_conversation(conversation, CharMeter(max(ratio, 0.25)), budget)
    except EngineError:
        return None
    return fitted
