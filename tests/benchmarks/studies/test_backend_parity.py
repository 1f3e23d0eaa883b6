"""backend_parity counts the questions two backends answer differently and the ones whose scores drift."""

from __future__ import annotations

from reasonkit.benchmarks.studies.backend_parity import differences
from reasonkit.types import Prediction


def prediction(answer: str | None, **scores: float) -> Prediction:
    return Prediction(question_id="q", answer=answer, scores=scores)


def test_answers_and_scores_are_compared_separately() -> None:
    mine = [prediction("A", A=-1.0, B=-2.0), prediction("B", A=-3.0, B=-1.0), prediction(None)]
    theirs = [prediction("A", A=-1.0004, B=-2.0), prediction("A", A=-3.0, B=-1.01), prediction(None)]
    assert differences(mine, theirs, tolerance=1e-3) == (1, 1)
    assert differences(mine, theirs, tolerance=1e-5) == (1, 2)
    assert differences(mine, [prediction("A", A=-1.0), *theirs[1:]], tolerance=1.0) == (
        1,
        1,
    )  # a score missing
