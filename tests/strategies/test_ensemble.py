"""Ensemble: majority vs confidence-weighted votes over members, each member's trace kept as a child."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from reasonkit.fake import FakeLM
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.direct import Direct
from reasonkit.strategies.ensemble import Ensemble
from reasonkit.strategies.paths import tally
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Answer, Prediction, Question, Trace

QUESTION = Question(
    id="q",
    text="Where would you find a revolving door?",
    options=("bank", "library", "forest"),
    gold=0,
    metadata={"benchmark": "commonsenseqa"},
)


@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class Says(Strategy):
    """A member that answers `answer` with `confidence` and no LM call."""

    name: ClassVar[str] = "says"
    answer: Answer | None
    confidence: float | None = None
    scores: dict[str, float] | None = None

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        return Prediction(
            question_id=question.id,
            answer=self.answer,
            confidence=self.confidence,
            scores=self.scores or {},
            trace=Trace(notes=[f"said {self.answer}"]),
        )


def test_majority_and_weighted_votes_differ() -> None:
    members = (Says(0, 0.4), Says(0, 0.4), Says(1, 0.95))
    majority = Ensemble(members).run(QUESTION, FakeLM())
    weighted = Ensemble(members, vote="weighted").run(QUESTION, FakeLM())
    assert majority.answer == 0 and majority.scores == pytest.approx({"bank": 2 / 3, "library": 1 / 3})
    assert weighted.answer == 1 and weighted.confidence == pytest.approx(0.95 / 1.75)
    assert [c.notes for c in weighted.trace.children] == [["said 0"], ["said 0"], ["said 1"]]
    assert [m["answer"] for m in weighted.trace.steps["members"]] == [0, 0, 1]


def test_member_weights_abstentions_and_ties() -> None:
    assert Ensemble((Says(0), Says(1)), weights=(1.0, 2.0)).run(QUESTION, FakeLM()).answer == 1
    assert Ensemble((Says(None), Says(2))).run(QUESTION, FakeLM()).answer == 2  # an abstainer does not vote
    # a tie goes to the earlier member
    assert Ensemble((Says(2), Says(1))).run(QUESTION, FakeLM()).answer == 2
    nobody = Ensemble((Says(None), Says(None))).run(QUESTION, FakeLM())
    assert nobody.abstained and any("no member" in n for n in nobody.trace.notes)


def test_members_that_do_not_apply_are_skipped() -> None:
    free = Question(id="f", text="What is 2 + 2?", gold="4")
    prediction = Ensemble((Direct(), Says("4"))).run(free, FakeLM())
    assert prediction.answer == "4" and len(prediction.trace.children) == 1
    assert any("do not apply" in n for n in prediction.trace.notes)


def test_real_members_keep_their_own_calls_in_their_child_traces() -> None:
    lm = FakeLM(
        {"revolving door": " Banks have them. So the answer is (A) bank."},
        scores={" bank": -0.1, " library": -4.0, " forest": -4.0},
    )
    prediction = Ensemble((Direct(normalization="raw"), ChainOfThought(shots=2))).run(QUESTION, lm)
    direct, cot = prediction.trace.children
    assert (direct.strategy, cot.strategy) == ("direct", "cot")
    assert {c.kind for c in direct.calls} == {"loglikelihood"} and len(direct.calls) == 6
    assert [c.kind for c in cot.calls] == ["generate"]
    assert prediction.answer == 0 and prediction.confidence == 1.0
    assert prediction.trace.calls == []  # nothing called outside the members


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="weights"):
        Ensemble((Says(0), Says(1)), weights=(1.0,))
    with pytest.raises(ValueError):
        Ensemble(())


@pytest.mark.slow
def test_real_tiny_model(tiny_engine) -> None:
    ensemble = Ensemble((Direct(normalization="mi"), ChainOfThought(shots=0, max_tokens=8)), vote="weighted")
    prediction = ensemble.run(QUESTION, tiny_engine)
    assert prediction.answer in range(3)
    direct, cot = prediction.trace.children
    assert len(direct.calls) == 6 and cot.calls[0].kind == "generate"


def test_scores_vote_pools_per_choice_scores_by_weight() -> None:
    """Each choice gets the weighted sum of the members' scores: a confident member's runner-up can win."""
    model = Says(0, scores={"bank": -1.0, "library": -1.2, "forest": -3.0})
    store = Says(2, scores={"bank": 0.30, "library": 0.40, "forest": 0.45})
    pooled = Ensemble((model, store), vote="scores", weights=(1.0, 4.0)).run(QUESTION, FakeLM())
    assert pooled.scores == pytest.approx({"bank": 0.2, "library": 0.4, "forest": -1.2})
    assert pooled.answer == 1  # neither member's own answer
    assert pooled.confidence == pytest.approx(
        math.exp(0.4) / (math.exp(0.2) + math.exp(0.4) + math.exp(-1.2))
    )
    assert [m["scores"] for m in pooled.trace.steps["members"]] == [model.scores, store.scores]
    # weights 1, 0: the first member alone decides
    assert Ensemble((model, store), vote="scores", weights=(1.0, 0.0)).run(QUESTION, FakeLM()).answer == 0


def test_scores_vote_skips_members_without_every_score() -> None:
    partial = Says(2, scores={"forest": 9.0})
    whole = Says(0, scores={"bank": -1.0, "library": -2.0, "forest": -3.0})
    pooled = Ensemble((partial, whole, Says(None)), vote="scores").run(QUESTION, FakeLM())
    assert pooled.answer == 0 and "says left a choice unscored and did not vote" in pooled.trace.notes
    assert "says abstained and did not vote" in pooled.trace.notes
    nobody = Ensemble((partial,), vote="scores").run(QUESTION, FakeLM())
    assert nobody.abstained and any("no member scored every choice" in n for n in nobody.trace.notes)
    free_form = Question(id="f", text="12 + 7 =", kind="free_form", gold="19")
    assert Ensemble((Says("19"),), vote="scores").run(free_form, FakeLM()).abstained


def test_ensemble_votes_through_the_shared_tally() -> None:
    members = (Says(0, confidence=0.9), Says(1, confidence=0.4), Says(1, confidence=0.4))
    prediction = Ensemble(members, weights=(3.0, 1.0, 1.0)).run(QUESTION, FakeLM())
    expected = tally(
        QUESTION, [0, 1, 1], [3.0 * 0.9, 1.0 * 0.4, 1.0 * 0.4], "majority", counts=[3.0, 1.0, 1.0]
    )
    assert prediction.trace.steps["tally"] == {
        "majority": expected.counts,
        "weighted": expected.weights,
        "vote": "majority",
    }
    assert prediction.answer == 0 and prediction.confidence == expected.shares["bank"]
