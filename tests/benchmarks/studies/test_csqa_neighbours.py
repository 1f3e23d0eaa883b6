import numpy as np
import pytest

from reasonkit.benchmarks.studies.csqa_neighbours import neighbour_counts
from reasonkit.types import Question


def _unit(*xs: float) -> list[float]:
    v = np.array(xs, dtype=np.float32)
    return list(v / np.linalg.norm(v))


def test_counts_gold_and_distractors_among_the_nearest_train_answers() -> None:
    questions = [
        Question(id="a", text="a?", options=["dog", "cat", "cow"], gold=0),
        Question(id="b", text="b?", options=["sea", "lake", "pond"], gold=2),
    ]
    train = np.array([_unit(1, 0), _unit(0.9, 0.1), _unit(0, 1), _unit(0.1, 0.9)], dtype=np.float32)
    answers = ["Dog", "cat", "lake", "lake"]
    queries = np.array([_unit(1, 0), _unit(0, 1)], dtype=np.float32)
    one = neighbour_counts(questions, train, answers, queries, k=1)
    assert (one.gold_among, one.distractor_among, one.vote_right) == (1, 1, 1)
    two = neighbour_counts(questions, train, answers, queries, k=2)
    assert (two.gold_among, two.distractor_among, two.vote_right) == (1, 2, 1)


def test_a_question_without_options_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="question x"):
        neighbour_counts(
            [Question(id="x", text="x?", gold=True)],
            np.eye(2, dtype=np.float32),
            ["a", "b"],
            np.eye(2, dtype=np.float32)[:1],
            k=1,
        )
