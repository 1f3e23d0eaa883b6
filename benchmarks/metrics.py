"""Accuracy with bootstrap intervals, paired comparisons, and the chance / majority baselines."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from reasonkit.types import Question


class Interval(BaseModel):
    model_config = ConfigDict(frozen=True)

    estimate: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{100 * self.estimate:.1f} [{100 * self.low:.1f}, {100 * self.high:.1f}]"


class PairedComparison(BaseModel):
    """Strategy A minus strategy B on the same questions."""

    model_config = ConfigDict(frozen=True)

    difference: Interval
    a_only: int  # questions A got right and B wrong
    b_only: int
    p_value: float  # exact two-sided McNemar (binomial on the discordant pairs)


def bootstrap_accuracy(correct: Sequence[bool], *, resamples: int = 10_000, seed: int = 0) -> Interval:
    """Percentile bootstrap 95% interval of the mean of a 0/1 vector."""
    values = np.asarray(correct, dtype=np.float64)
    if values.size == 0:
        raise ValueError("accuracy of an empty set of questions")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return Interval(estimate=float(values.mean()), low=float(low), high=float(high), n=int(values.size))


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """P(a random positive scores above a random negative); ties count half (Mann-Whitney)."""
    values, positive = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    if values.shape != positive.shape:
        raise ValueError(
            f"AUC needs one label per score; got {values.size} scores and {positive.size} labels"
        )
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        raise ValueError(f"AUC needs both labels; got {n_pos} true and {n_neg} false")
    ranks = _average_ranks(values)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    ranks = np.empty(values.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def bootstrap_auc(
    scores: Sequence[float], labels: Sequence[bool], *, resamples: int = 2_000, seed: int = 0
) -> Interval:
    """AUC with a percentile bootstrap 95% interval (questions resampled; a draw missing a label is redrawn).

    Why beside accuracy: a binary set's accuracy can sit at its majority class because the threshold is off
    or because the score carries nothing; an AUC near 0.5 says the latter, and then no calibration helps.
    """
    values, positive = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    estimate = auc(values, positive)
    rng = np.random.default_rng(seed)
    draws: list[float] = []
    while len(draws) < resamples:
        index = rng.integers(0, values.size, size=values.size)
        if positive[index].all() or not positive[index].any():
            continue
        draws.append(auc(values[index], positive[index]))
    low, high = np.quantile(draws, [0.025, 0.975])
    return Interval(estimate=estimate, low=float(low), high=float(high), n=int(values.size))


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: binomial(a_only + b_only, 1/2) tail, doubled and capped at 1."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(discordant, i) for i in range(k + 1)) / 2**discordant
    return min(1.0, 2 * tail)


def paired_comparison(
    correct_a: Sequence[bool], correct_b: Sequence[bool], *, resamples: int = 10_000, seed: int = 0
) -> PairedComparison:
    """Difference in accuracy with a paired bootstrap interval (questions resampled jointly)."""
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same questions: {a.size} vs {b.size} results")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(resamples, a.size))
    diffs = (a[idx] - b[idx]).mean(axis=1)
    low, high = np.quantile(diffs, [0.025, 0.975])
    a_only = int(((a == 1) & (b == 0)).sum())
    b_only = int(((a == 0) & (b == 1)).sum())
    return PairedComparison(
        difference=Interval(estimate=float((a - b).mean()), low=float(low), high=float(high), n=int(a.size)),
        a_only=a_only,
        b_only=b_only,
        p_value=mcnemar_exact(a_only, b_only),
    )


def pair_outcomes(correct: Mapping[str, bool], partner_of: Mapping[str, str]) -> dict[tuple[str, str], bool]:
    """Both statements right, per complementary pair whose two members were both answered (keyed by the
    sorted id pair). A constant answer scores 0 here, whatever the label balance: the point of the metric."""
    return {
        (a, b): correct[a] and correct[b]
        for a, b in sorted(
            {tuple(sorted((q, p))) for q, p in partner_of.items() if q in correct and p in correct}
        )
    }


def chance_accuracy(questions: Sequence[Question]) -> float:
    """Expected accuracy of a uniform random guess among each question's choices."""
    return float(np.mean([1.0 / len(q.choices) for q in questions if q.choices]))


def majority_baseline(questions: Sequence[Question]) -> tuple[str, Interval]:
    """Always answering the most frequent gold answer (an option position, or True/False)."""
    golds = [q.gold for q in questions if q.gold is not None]
    if not golds:
        raise ValueError("majority baseline needs questions with gold answers")
    ((label, _),) = Counter(golds).most_common(1)
    return str(label), bootstrap_accuracy([g == label and type(g) is type(label) for g in golds])
