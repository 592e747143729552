"""Reading a server's too-long refusal, and fitting by characters per token."""

from __future__ import annotations

import pytest

from service.errors import EngineError
from workers.engines.http_context import (
    CharMeter,
    ContextOverflow,
    fit_estimated,
    parse_overflow,
    refit,
)

OPENAI = ("This model's maximum context length is 8192 tokens. However, your messages "
          "resulted in 9000 tokens. Please reduce the length of the messages.")
VLLM_OLD = ("This model's maximum context length is 2048 tokens. However, you requested 3000 "
            "tokens (2500 in the messages, 500 in the completion).")
VLLM_NEW = ("'max_tokens' or 'max_completion_tokens' is too large: 512. This model's maximum "
            "context length is 2048 tokens and your request has 1600 input tokens "
            "(512 > 2048 - 1600).")


@pytest.mark.parametrize(("message", "expected"), [
    (OPENAI, ContextOverflow(8192, 9000)),
    (VLLM_OLD, ContextOverflow(2048, 2500)),
    (VLLM_NEW, ContextOverflow(2048, 1600)),
    ("maximum context length is 4096 tokens", ContextOverflow(4096, None)),
    ("Invalid value for 'temperature'", None),
])
def test_too_long_refusals_are_read(message: str, expected: ContextOverflow | None) -> None:
    assert parse_overflow(message) == expected


def _conversation(chars: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": "start " + "x" * chars + " end"}]


def test_refit_uses_the_servers_count_and_keeps_both_ends() -> None:
    conversation = _conversation(8000)
    fitted = refit(conversation, ContextOverflow(1024, 2004), max_tokens=100)
    assert fitted is not None
    text = fitted[0]["content"]
    assert text.startswith("start ") and text.endswith(" end")
    ratio = 8010 / 2000  # characters per token as the server counted them
    assert CharMeter(ratio).count(fitted) <= 1024 - 100 - 8


def test_refit_without_a_count_assumes_a_character_per_token() -> None:
    fitted = refit(_conversation(3000), ContextOverflow(1024, None), max_tokens=100)
    assert fitted is not None and len(fitted[0]["content"]) <= 1024 - 100


def test_no_room_beside_max_tokens_is_said() -> None:
    assert refit(_conversation(3000), ContextOverflow(120, 800), max_tokens=110) is None
    with pytest.raises(EngineError, match="leaves no room"):
        fit_estimated(_conversation(10), 120, 110)
    unchanged, estimated = fit_estimated(_conversation(10), 4096, 512)
    assert unchanged == _conversation(10) and estimated is None
