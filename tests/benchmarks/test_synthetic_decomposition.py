"""The suites of the decomposition study: longer-than-trained chains, checkable puzzles, unseen compositions."""

from __future__ import annotations

import pytest

from reasonkit.benchmarks.synthetic import fresh_split, suites
from reasonkit.benchmarks.synthetic.base import TRAINED_N_TRAIN, TRAINED_SEED
from reasonkit.benchmarks.synthetic.countdown import check_solution, reachable

HELD_OUT = 2606  # the study's held-out seed (docs/studies/decomposition.md)


def test_longchains_long_test_chains_are_longer_than_anything_trained() -> None:
    splits = suites()["longchains"].generate(0, n_train=2000, n_test=100).splits
    longest_trained = max(len(q.metadata["subquestions"]) for q in splits["train"])
    assert longest_trained == 4
    assert min(len(q.metadata["subquestions"]) for q in splits["test_long"]) > longest_trained
    for question in splits["test_long"][:20]:
        assert question.options is not None and isinstance(question.gold, int)
        assert question.options[question.gold] == question.metadata["subanswers"][-1]


@pytest.mark.parametrize(("name", "split"), [("longchains", "test_long"), ("countdown", "test")])
def test_the_held_out_draw_holds_no_trained_question(name: str, split: str) -> None:
    suite = suites()[name]
    fresh = fresh_split(suite, split, HELD_OUT)[:100]
    trained = suite.generate(TRAINED_SEED, n_train=TRAINED_N_TRAIN)
    seen = {q.text for questions in trained.splits.values() for q in questions}
    assert fresh and not any(q.text in seen for q in fresh)
    assert all(q.metadata["suite_seed"] == HELD_OUT for q in fresh)


def test_countdown_test_puzzles_are_solvable_and_their_rationales_check() -> None:
    for question in suites()["countdown"].generate(0, n_train=10, n_test=50).splits["test"]:
        numbers, target = tuple(question.metadata["numbers"]), question.metadata["target"]
        assert reachable(numbers, target) and question.gold == str(target)
        assert check_solution(numbers, target, question.metadata["rationale"])


def test_twohop_cannot_be_drawn_from_another_seed() -> None:
    with pytest.raises(ValueError, match="a world it never saw"):
        fresh_split(suites()["twohop"], "test", HELD_OUT)


def test_a_countdown_state_is_promising_only_when_its_steps_check_and_the_target_stays_reachable() -> None:
    from reasonkit.benchmarks.synthetic.countdown import promising

    numbers = (2, 5, 8)
    assert promising(numbers, 26, ["8 + 5 = 13. Left: 2 13."])
    assert not promising(numbers, 26, ["8 * 2 = 16. Left: 5 16."])  # right arithmetic, 26 out of reach
    assert not promising(numbers, 26, ["8 + 5 = 14. Left: 2 14."])  # wrong sum
    assert not promising(numbers, 26, ["8 + 5 = 13. Left: 2 13.", "I think so."])  # not a step
    solved = ["8 + 5 = 13. Left: 2 13.", "13 * 2 = 26. Left: 26."]
    assert promising(numbers, 26, solved) and promising(numbers, 26, [*solved, "So the answer is 26."])
    assert not promising(numbers, 26, [*solved, "So the answer is 13."])
    assert not promising(numbers, 26, ["8 + 5 = 13. Left: 2 13.", "So the answer is 26."])  # not solved yet
    assert not promising(numbers, 26, [])
    assert not promising(
        numbers, 26, [*solved, "26 + 0 = 26. Left: 26."]
    )  # a step more than the puzzle takes
