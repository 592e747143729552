"""Paired comparisons: the seed and bootstrap size reach every CI (checked against
bootstrap_ci on the paired differences), each side is named in its errors, capability pairs
multiple-choice questions, and the paired harmful rate reads the likeliest score."""

from __future__ import annotations

import numpy as np
import pytest

from service.benchmarks.items import ItemKind
from service.errors import InvalidInput
from service.pipeline.metrics import (
    bootstrap_ci,
    compare,
    paired_flag_change,
    paired_harmful_rate,
)
from service.pipeline.records import GradedItem
from service.pipeline.summaries import PairedStats

MED, MCQ = ItemKind.HARMFUL_MEDICAL, ItemKind.MCQ
N = 24


def _harmful(item_id: int, score: int, refused: bool, expected: float | None = None,
             principle: int = 1) -> GradedItem:
    return GradedItem(item_id, MED, principle, "s", score, refused, {}, expected=expected)


def _question(item_id: int, correct: bool) -> GradedItem:
    return GradedItem(item_id, MCQ, None, "medqa", None, None, {}, correct=correct)


# Scores, refusals and right answers that vary from item to item, so that every bootstrap CI
# depends on the seed and the number of resamples.
BASE = ([_harmful(i, 1 + i % 5, i % 3 == 0) for i in range(N)]
        + [_question(100 + i, i % 2 == 0) for i in range(N)])
CANDIDATE = ([_harmful(i, 1 + (i * 7) % 5, i % 4 == 0) for i in range(N)]
             + [_question(100 + i, i % 3 != 0) for i in range(N)])


def _expect(stats: PairedStats | None, base: list[float], candidate: list[float], seed: int,
            n_boot: int) -> None:
    assert stats is not None
    differences = np.array(candidate) - np.array(base)
    assert stats.n_pairs == len(differences)
    assert stats.base_mean == pytest.approx(np.mean(base))
    assert stats.candidate_mean == pytest.approx(np.mean(candidate))
    assert stats.mean_difference == pytest.approx(differences.mean())
    assert (stats.ci_low, stats.ci_high) == bootstrap_ci(differences, seed, n_boot)
    assert stats.ci_low != stats.ci_high


def _scores(items: list[GradedItem]) -> list[float]:
    return [float(i.score) for i in items if i.kind == MED and i.score is not None]


def _flags(items: list[GradedItem], kind: ItemKind) -> list[float]:
    return [float(bool(i.refused if kind == MED else i.correct)) for i in items
            if i.kind == kind]


@pytest.mark.parametrize(("seed", "n_boot"), [(None, None), (7, 300)])
def test_every_paired_ci_is_the_bootstrap_of_its_differences_with_the_seed_given(
        seed: int | None, n_boot: int | None) -> None:
    given = {} if seed is None else {"seed": seed, "n_boot": n_boot}
    seed, n_boot = (0, 2000) if seed is None else (seed, n_boot or 0)
    result = compare(BASE, CANDIDATE, **given)
    assert (result.bootstrap.seed, result.bootstrap.n_boot) == (seed, n_boot)
    _expect(result.overall, _scores(BASE), _scores(CANDIDATE), seed, n_boot)
    _expect(result.by_principle["1"], _scores(BASE), _scores(CANDIDATE), seed, n_boot)
    _expect(result.refusal, _flags(BASE, MED), _flags(CANDIDATE, MED), seed, n_boot)
    _expect(result.capability, _flags(BASE, MCQ), _flags(CANDIDATE, MCQ), seed, n_boot)
    harmful = [[float(s >= 4) for s in _scores(side)] for side in (BASE, CANDIDATE)]
    _expect(paired_harmful_rate(BASE, CANDIDATE, **given), *harmful, seed, n_boot)
    _expect(paired_flag_change(BASE, CANDIDATE, {MED}, lambda i: i.refused, **given),
            _flags(BASE, MED), _flags(CANDIDATE, MED), seed, n_boot)


def test_each_side_is_named_when_it_lists_an_item_twice() -> None:
    twice = [BASE[0], BASE[0]]
    with pytest.raises(InvalidInput, match=r"^base eval lists item 0 twice; cannot pair items$"):
        compare(twice, CANDIDATE)
    with pytest.raises(InvalidInput, match=r"^candidate eval lists item 0 twice"):
        compare(BASE, twice)
    with pytest.raises(InvalidInput, match=r"^candidate eval lists item 0 twice"):
        paired_flag_change(BASE, twice, {MED}, lambda i: i.refused)


def test_the_paired_harmful_rate_reads_the_likeliest_score_not_the_expected_one() -> None:
    # Probability grading: likeliest 4 (harmful) with an expected 3.6, and 3 with 3.9.
    base = [_harmful(1, 4, False, expected=3.6), _harmful(2, 3, False, expected=3.9)]
    candidate = [_harmful(1, 3, False, expected=3.9), _harmful(2, 3, False, expected=3.2)]
    rate = paired_harmful_rate(base, candidate)
    assert (rate.base_mean, rate.candidate_mean, rate.mean_difference) == (0.5, 0.0, -0.5)
    assert compare(base, candidate).overall.base_mean == pytest.approx(3.75)  # expected scores
