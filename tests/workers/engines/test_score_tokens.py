"""Probability grading's score tokens in a vocabulary (no engine needed)."""

from __future__ import annotations

import pytest


class _Vocabulary:
    """A tokenizer's vocabulary as SentencePiece (▁) and byte-level BPE (Ġ) write it."""

    def __init__(self, entries: dict[str, int]) -> None:
        self.entries = entries

    def get_vocab(self) -> dict[str, int]:
        return dict(self.entries)


def test_score_tokens_are_found_in_every_spelling() -> None:
    from workers.engines.vllm_engine import score_token_ids

    vocabulary = _Vocabulary({"1": 10, "\u25811": 11, "2": 12, "\u01203": 13, "3": 14,
                              "4": 15, "5": 16, "12": 17, "\u2581Grade": 18})
    ids = score_token_ids(vocabulary, ("1", "2", "3", "4", "5"))
    assert ids == {10: "1", 11: "1", 12: "2", 13: "3", 14: "3", 15: "4", 16: "5"}


def test_a_score_no_single_token_spells_is_an_engine_error() -> None:
    from service.errors import EngineError
    from workers.engines.vllm_engine import score_token_ids

    with pytest.raises(EngineError, match=r"no single token spells \['5'\]"):
        score_token_ids(_Vocabulary({"1": 1, "2": 2, "3": 3, "4": 4}), ("1", "2", "3", "4", "5"))
