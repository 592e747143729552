"""Agreement statistics against values computed by hand on small tables."""

from __future__ import annotations

import numpy as np
import pytest

from service.calibration.agreement import (
    cohen_kappa,
    harmfulness_agreement,
    refusal_agreement,
    spearman,
    weighted_kappa,
    within_1,
)


def _one(statistic, truth: list[float], predicted: list[float]) -> float:  # type: ignore[no-untyped-def]
    return float(statistic(np.array([truth], dtype=float), np.array([predicted], dtype=float))[0])


def test_cohen_kappa_by_hand() -> None:
    # 10 items: both say refused on 4, both not on 4, 2 disagreements (1 each way).
    truth = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    predicted = [1, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    # p_o = 8/10; p_e = 0.5*0.5 + 0.5*0.5 = 0.5; kappa = (0.8 - 0.5) / 0.5 = 0.6
    assert _one(cohen_kappa, truth, predicted) == pytest.approx(0.6)


def test_cohen_kappa_is_zero_at_chance_and_undefined_with_one_class() -> None:
    assert _one(cohen_kappa, [1, 0, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.0)
    assert np.isnan(_one(cohen_kappa, [1, 1, 1], [1, 1, 1]))


def test_quadratic_weighted_kappa_by_hand() -> None:
    # truth 1,2,3,4 and judge 1,2,3,5: one disagreement of one step.
    # Observed weighted disagreement: 1 item * (1/16) = 0.0625 (weights (i-j)^2 / 16).
    # Expected by chance: rows [1,1,1,1,0], columns [1,1,1,0,1], n = 4:
    # sum_ij w_ij r_i c_j / n = (21 + 11 + 9 + 15) / 16 / 4 = 0.875. kappa = 1 - 0.0625/0.875.
    assert _one(weighted_kappa, [1, 2, 3, 4], [1, 2, 3, 5]) == pytest.approx(1 - 0.0625 / 0.875)


def test_weighted_kappa_penalises_far_misses_more() -> None:
    near = _one(weighted_kappa, [1, 2, 3, 4, 5], [2, 2, 3, 4, 5])
    far = _one(weighted_kappa, [1, 2, 3, 4, 5], [5, 2, 3, 4, 5])
    assert far < near < 1


def test_within_one_and_spearman_with_ties_by_hand() -> None:
    assert _one(within_1, [1, 2, 3, 5], [2, 2, 5, 5]) == pytest.approx(0.75)
    # truth ranks [1.5, 1.5, 3, 4]; judge ranks [1, 2, 3.5, 3.5]. Centred: a = [-1,-1,.5,1.5],
    # b = [-1.5,-.5,1,1]; sum ab = 1.5+.5+.5+1.5 = 4; |a|^2 = 4.5, |b|^2 = 4.5 -> 4/4.5.
    assert _one(spearman, [1, 1, 2, 3], [1, 2, 3, 3]) == pytest.approx(4 / 4.5)


def test_refusal_agreement_counts_and_cis() -> None:
    result = refusal_agreement([True, True, False, False], [True, False, False, False])
    assert (result.n, result.agreement, result.precision, result.recall) == (4, 0.75, 1.0, 0.5)
    assert result.f1 == pytest.approx(2 / 3)
    assert result.kappa == pytest.approx(0.5)
    low, high = result.ci["agreement"]
    assert low <= result.agreement <= high


def test_precision_is_none_when_nothing_is_called_a_refusal() -> None:
    result = refusal_agreement([True, False], [False, False])
    assert result.precision is None and result.ci["precision"] is None
    assert result.recall == 0.0


def test_harmfulness_agreement_counts_unscored_and_keeps_them_out() -> None:
    result = harmfulness_agreement([1, 2, 4, 5, 3], [1.0, 2.0, 4.0, 5.0, None])
    assert (result.n, result.n_unscored, result.unscored_rate) == (5, 1, 0.2)
    assert result.exact == 1.0 and result.mae == 0.0 and result.weighted_kappa == 1.0
    assert result.harmful_precision == 1.0 and result.harmful_recall == 1.0
    assert result.confusion[3][3] == 1 and sum(map(sum, result.confusion)) == 4


def test_expected_scores_are_used_as_they_are_for_mae_and_rounded_for_exact() -> None:
    result = harmfulness_agreement([1, 5], [1.4, 4.6])
    assert result.mae == pytest.approx(0.4)
    assert result.exact == 1.0


def test_a_judge_that_grades_everything_one_has_no_harmful_recall() -> None:
    result = harmfulness_agreement([1, 1, 5, 5, 4], [1, 1, 1, 1, 1])
    assert result.harmful_recall == 0.0
    assert result.harmful_precision is None
    assert result.weighted_kappa == pytest.approx(0.0)
