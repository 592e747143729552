"""How far a judge agrees with human labels: refusal and harmfulness agreement with bootstrap CIs.

Every statistic is written once, as a function of a (resamples, items) array, so the point
estimate (one row: the items as they are) and the percentile bootstrap (rows of resampled
items, the same rows for every statistic) come from the same code. A statistic that is
undefined on the data (precision with no predicted positives, kappa when both sides give one
class only) is None, and resamples where it is undefined are left out of its CI.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

from service.calibration.schemas import HarmfulnessAgreement, RefusalAgreement
from service.pipeline.metrics import CONFIDENCE, HARMFUL_THRESHOLD

SCORES = (1, 2, 3, 4, 5)
N_BOOT = 1000
Statistic = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (B, n), (B, n) -> (B,)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1),
                        np.nan)


def confusion(truth: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """(B, k, k) counts of [truth class, predicted class] per row; classes are 0..k-1."""
    rows = truth.shape[0]
    flat = (np.arange(rows)[:, None] * k * k + truth * k + predicted).ravel()
    return np.bincount(flat, minlength=rows * k * k).reshape(rows, k, k)


def kappa_from_confusion(counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cohen's kappa of (B, k, k) confusion counts with disagreement weights (k, k):
    1 - sum(w * observed) / sum(w * expected by chance). 0/1 weights give unweighted kappa,
    squared distances the quadratic-weighted kappa."""
    n = counts.sum(axis=(1, 2)).astype(float)
    observed = (weights * counts).sum(axis=(1, 2))
    expected_counts = counts.sum(axis=2)[:, :, None] * counts.sum(axis=1)[:, None, :]
    expected = (weights * expected_counts).sum(axis=(1, 2)) / np.where(n > 0, n, 1)
    return 1 - _ratio(observed, expected)


def _unweighted(k: int) -> np.ndarray:
    return 1.0 - np.eye(k)


def _quadratic(k: int) -> np.ndarray:
    grid = np.arange(k)
    return (grid[:, None] - grid[None, :]).astype(float) ** 2 / (k - 1) ** 2


# Binary statistics: truth and predicted are 0/1 arrays.
def agreement(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.asarray((truth == predicted).mean(axis=1), dtype=float)


def precision(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return _ratio(((truth == 1) & (predicted == 1)).sum(axis=1), (predicted == 1).sum(axis=1))


def recall(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return _ratio(((truth == 1) & (predicted == 1)).sum(axis=1), (truth == 1).sum(axis=1))


def f1(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    hits = ((truth == 1) & (predicted == 1)).sum(axis=1)
    return _ratio(2 * hits, (truth == 1).sum(axis=1) + (predicted == 1).sum(axis=1))


def cohen_kappa(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return kappa_from_confusion(confusion(truth.astype(int), predicted.astype(int), 2),
                                _unweighted(2))


# Ordinal statistics on the 1-5 scale: truth integers, predicted integers or expected scores.
def weighted_kappa(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Quadratic-weighted kappa on the 1-5 scale (continuous predictions are rounded)."""
    as_class = np.clip(np.rint(predicted), 1, 5).astype(int) - 1
    return kappa_from_confusion(confusion(truth.astype(int) - 1, as_class, 5), _quadratic(5))


def exact(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.asarray((truth == np.rint(predicted)).mean(axis=1), dtype=float)


def within_1(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.asarray((np.abs(truth - predicted) <= 1).mean(axis=1), dtype=float)


def mae(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return np.asarray(np.abs(truth - predicted).mean(axis=1), dtype=float)


def spearman(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Spearman's rho per row: Pearson's r of the average ranks (ties share a rank)."""
    a = rankdata(truth, axis=1)
    b = rankdata(predicted, axis=1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return _ratio((a * b).sum(axis=1), np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1)))


def harmful_precision(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return precision(truth >= HARMFUL_THRESHOLD, np.rint(predicted) >= HARMFUL_THRESHOLD)


def harmful_recall(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    return recall(truth >= HARMFUL_THRESHOLD, np.rint(predicted) >= HARMFUL_THRESHOLD)


def _estimates(
    statistics: dict[str, Statistic], truth: np.ndarray, predicted: np.ndarray, seed: int,
    n_boot: int,
) -> tuple[dict[str, float | None], dict[str, tuple[float, float] | None]]:
    """Point estimates and percentile-bootstrap CIs; the same resamples for every statistic."""
    rng = np.random.default_rng(seed)
    n = len(truth)
    index = rng.integers(0, n, size=(n_boot, n)) if n > 1 and n_boot > 0 else None
    values: dict[str, float | None] = {}
    intervals: dict[str, tuple[float, float] | None] = {}
    tail = (1 - CONFIDENCE) / 2 * 100
    for name, statistic in statistics.items():
        point = float(statistic(truth[None, :], predicted[None, :])[0]) if n else float("nan")
        values[name] = None if np.isnan(point) else point
        intervals[name] = None
        if index is not None and values[name] is not None:
            resampled = statistic(truth[index], predicted[index])
            resampled = resampled[~np.isnan(resampled)]
            if len(resampled):
                low, high = np.percentile(resampled, [tail, 100 - tail])
                intervals[name] = (float(low), float(high))
    return values, intervals


REFUSAL_STATISTICS: dict[str, Statistic] = {
    "agreement": agreement, "precision": precision, "recall": recall, "f1": f1,
    "kappa": cohen_kappa,
}
HARMFULNESS_STATISTICS: dict[str, Statistic] = {
    "weighted_kappa": weighted_kappa, "exact": exact, "within_1": within_1, "mae": mae,
    "spearman": spearman, "harmful_precision": harmful_precision,
    "harmful_recall": harmful_recall,
}


def refusal_agreement(
    truth: list[bool], predicted: list[bool], seed: int = 0, n_boot: int = N_BOOT
) -> RefusalAgreement:
    """The detector's binary verdicts against human labels (partial refusals count as refused)."""
    t = np.array(truth, dtype=int)
    p = np.array(predicted, dtype=int)
    values, intervals = _estimates(REFUSAL_STATISTICS, t, p, seed, n_boot)
    return RefusalAgreement.model_validate({"n": len(t), "ci": intervals, **values})


def harmfulness_agreement(
    truth: list[int], predicted: list[float | None], seed: int = 0, n_boot: int = N_BOOT
) -> HarmfulnessAgreement:
    """A judge's 1-5 grades against human labels. Unscored grades (None) are counted and left
    out of every statistic; the confusion matrix is [human score][judge score]."""
    scored = [(t, p) for t, p in zip(truth, predicted, strict=True) if p is not None]
    t = np.array([pair[0] for pair in scored], dtype=float)
    p = np.array([pair[1] for pair in scored], dtype=float)
    values, intervals = _estimates(HARMFULNESS_STATISTICS, t, p, seed, n_boot)
    counts = confusion(t[None, :].astype(int) - 1,
                       np.clip(np.rint(p), 1, 5)[None, :].astype(int) - 1, 5)[0]
    n_unscored = len(truth) - len(scored)
    return HarmfulnessAgreement.model_validate({
        "n": len(truth), "n_unscored": n_unscored,
        "unscored_rate": n_unscored / len(truth) if truth else None,
        "confusion": counts.tolist(), "ci": intervals, **values,
    })
