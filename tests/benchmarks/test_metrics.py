import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reasonkit.benchmarks.metrics import (
    auc,
    bootstrap_accuracy,
    bootstrap_auc,
    chance_accuracy,
    majority_baseline,
    mcnemar_exact,
    pair_outcomes,
    paired_comparison,
)
from reasonkit.types import Question


def test_bootstrap_interval_matches_the_normal_approximation() -> None:
    correct = [True] * 300 + [False] * 700
    interval = bootstrap_accuracy(correct, seed=1)
    half_width = 1.96 * math.sqrt(0.3 * 0.7 / 1000)
    assert interval.estimate == pytest.approx(0.3)
    assert interval.low == pytest.approx(0.3 - half_width, abs=0.006)
    assert interval.high == pytest.approx(0.3 + half_width, abs=0.006)


@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_interval_contains_the_estimate(correct: list[bool]) -> None:
    interval = bootstrap_accuracy(correct, resamples=500)
    assert 0.0 <= interval.low <= interval.estimate <= interval.high <= 1.0


def test_mcnemar_exact_values() -> None:
    assert mcnemar_exact(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


def test_paired_comparison_counts_discordant_pairs() -> None:
    a = [True] * 40 + [False] * 10 + [True] * 50
    b = [True] * 40 + [True] * 10 + [False] * 50
    result = paired_comparison(a, b)
    assert (result.a_only, result.b_only) == (50, 10)
    assert result.difference.estimate == pytest.approx(0.4)
    assert result.difference.low > 0 and result.p_value < 1e-6
    with pytest.raises(ValueError, match="same questions"):
        paired_comparison(a, b[:-1])


def test_baselines() -> None:
    mc = [Question(id=str(i), text="q", options=("a", "b", "c", "d"), gold=i % 2) for i in range(10)]
    binary = [Question(id=f"b{i}", text="s", gold=i < 7) for i in range(10)]
    assert chance_accuracy(mc) == pytest.approx(0.25)
    assert chance_accuracy(binary) == pytest.approx(0.5)
    label, interval = majority_baseline(binary)
    assert label == "True" and interval.estimate == pytest.approx(0.7)


def test_auc_counts_pairs_ranked_right_and_ties_as_half() -> None:
    assert auc([3.0, 2.0, 1.0, 0.0], [True, True, False, False]) == 1.0
    assert auc([0.0, 1.0], [True, False]) == 0.0
    assert auc([1.0, 1.0, 0.0], [True, False, False]) == 0.75
    with pytest.raises(ValueError, match="both labels"):
        auc([1.0, 2.0], [True, True])


@given(st.lists(st.tuples(st.integers(-3, 3), st.booleans()), min_size=2, max_size=30))
def test_auc_equals_the_pairwise_count(pairs: list[tuple[int, bool]]) -> None:
    scores = [float(s) for s, _ in pairs]
    labels = [y for _, y in pairs]
    pos = [s for s, y in pairs if y]
    neg = [s for s, y in pairs if not y]
    if not pos or not neg:
        return
    pairwise = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert auc(scores, labels) == pytest.approx(pairwise)


def test_bootstrap_auc_interval_brackets_chance_for_noise_and_excludes_it_for_signal() -> None:
    rng = random.Random(0)
    labels = [rng.random() < 0.5 for _ in range(400)]
    noise = bootstrap_auc([rng.gauss(0, 1) for _ in labels], labels)
    assert noise.low < 0.5 < noise.high
    signal = bootstrap_auc([rng.gauss(1.0 if y else 0.0, 1) for y in labels], labels)
    assert 0.5 < signal.low < signal.estimate < signal.high


def test_a_pair_counts_once_and_only_when_both_members_were_answered() -> None:
    partner_of = {"a": "b", "b": "a", "c": "d", "d": "c", "e": "f", "f": "e"}
    correct = {"a": True, "b": True, "c": True, "d": False, "e": True}  # f never answered
    assert pair_outcomes(correct, partner_of) == {("a", "b"): True, ("c", "d"): False}


@given(st.lists(st.booleans(), min_size=1, max_size=30), st.booleans())
def test_a_constant_answer_gets_no_complementary_pair_right(labels: list[bool], answer: bool) -> None:
    """Each pair holds one true and one false statement, so answering one label throughout scores 0."""
    golds = {
        f"{i}{side}": label if side == "x" else not label for i, label in enumerate(labels) for side in "xy"
    }
    partner_of = {q: q[:-1] + ("y" if q.endswith("x") else "x") for q in golds}
    outcomes = pair_outcomes({q: gold == answer for q, gold in golds.items()}, partner_of)
    assert len(outcomes) == len(labels) and not any(outcomes.values())
