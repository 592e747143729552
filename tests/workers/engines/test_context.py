"""Fitting conversations into the context window (no model: a meter that counts words)."""

from __future__ import annotations

import pytest

from service.errors import EngineError
from service.pipeline.engine import Conversation
from workers.engines.context import TRUNCATION_MARK, fit_conversation, prompt_budget

TEMPLATE_TOKENS = 5  # what a chat template adds around the messages


class WordMeter:
    """One token per word, plus a fixed template overhead; counts how often it is asked."""

    def __init__(self) -> None:
        self.exact_counts = 0

    def upper_bound(self, conversation: Conversation) -> int:
        return self._words(conversation)

    def count(self, conversation: Conversation) -> int:
        self.exact_counts += 1
        return self._words(conversation)

    @staticmethod
    def _words(conversation: Conversation) -> int:
        return TEMPLATE_TOKENS + sum(len(m["content"].split()) for m in conversation)


def numbered(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


def test_budget_leaves_room_for_the_answer() -> None:
    assert prompt_budget(4096, 128) == 4096 - 128 - 8
    assert prompt_budget(4096, 100_000) == 2048 - 8  # never less than half the context


def test_a_conversation_that_fits_is_returned_as_is() -> None:
    meter = WordMeter()
    conversation = [{"role": "user", "content": numbered(50)}]

    fitted, original = fit_conversation(conversation, meter, budget=100)

    assert fitted is conversation
    assert original is None
    assert meter.exact_counts == 0  # the cheap bound sufficed


def test_the_longest_message_loses_its_middle() -> None:
    system = {"role": "system", "content": "Grade the answer below."}
    long_user = {"role": "user", "content": numbered(1000)}
    conversation = [system, long_user]

    fitted, original = fit_conversation(conversation, WordMeter(), budget=200)

    assert original == WordMeter._words(conversation)
    assert WordMeter._words(fitted) <= 200
    assert fitted[0] == system
    content = fitted[1]["content"]
    assert content.startswith("w0 w1 w2")
    assert content.endswith("w998 w999")
    assert TRUNCATION_MARK.strip() in content
    assert conversation[1] is long_user and long_user["content"] == numbered(1000)  # unchanged


def test_impossible_fit_raises_a_clear_error() -> None:
    conversation = [
        {"role": "system", "content": numbered(300)},
        {"role": "user", "content": numbered(300)},
    ]

    with pytest.raises(EngineError, match="MEDSAFE_MAX_MODEL_LEN"):
        fit_conversation(conversation, WordMeter(), budget=3)
