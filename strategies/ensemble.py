"""A vote over several strategies' predictions on the same question; each member's trace is kept as a child.

"majority" counts each member's answer (times its weight); "weighted" counts each answer's confidence times
the member's weight (a member without a confidence counts 1). "scores" pools the members' per-choice scores
instead of their answers: each choice gets the sum of every member's score for it times the member's weight
(a log-linear pool when the scores are log-probabilities: `direct`'s normalised log-likelihoods,
`retrieval`'s similarities); the weights set the exchange rate between the members' scales, so they are
fitted on held-out questions, never on the evaluation split (`reasonkit.benchmarks.studies.pool_weights` sweeps
them over two runs already made). Members that abstain, or do not apply to the
question, do not vote (under "scores", nor do members that leave a choice unscored). Ties go to the larger
other total, then to the earlier member (the earlier choice under "scores").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.client import solve_traced
from reasonkit.registry import register_strategy
from reasonkit.strategies.direct import softmax
from reasonkit.strategies.paths import tally
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

EnsembleVote = Literal["majority", "weighted", "scores"]


@register_strategy("ensemble")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class Ensemble(Strategy):
    """Members run concurrently (their LM calls batch together); `weights` defaults to 1 per member."""

    name: ClassVar[str] = "ensemble"

    members: tuple[Strategy, ...] = Field(min_length=1)
    vote: EnsembleVote = "majority"
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and len(self.weights) != len(self.members):
            raise ValueError(f"ensemble: {len(self.weights)} weights for {len(self.members)} members")
        if self.weights is not None and any(w < 0 for w in self.weights):
            raise ValueError(f"ensemble: weights must be >= 0, got {self.weights}")

    def applies_to(self, question: Question) -> bool:
        return any(m.applies_to(question) for m in self.members)

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        weights = self.weights or (1.0,) * len(self.members)
        active = [(m, w) for m, w in zip(self.members, weights, strict=True) if m.applies_to(question)]
        predictions = await asyncio.gather(*(solve_traced(m, question, lm) for m, _ in active))
        rows = [
            {"name": member.name, "answer": p.answer, "confidence": p.confidence, "weight": weight}
            for (member, weight), p in zip(active, predictions, strict=True)
        ]
        trace = Trace(strategy=self.name, children=[p.trace for p in predictions])
        skipped = len(self.members) - len(active)
        if skipped:
            trace.notes.append(f"{skipped} member(s) do not apply to this question and did not vote")
        if self.vote == "scores":
            for row, prediction in zip(rows, predictions, strict=True):
                row["scores"] = prediction.scores
            named = [
                (member.name, weight, p) for (member, weight), p in zip(active, predictions, strict=True)
            ]
            pooled = pool_scores(question, named, trace.notes)
            trace.steps = {"members": rows, "pooled": pooled, "vote": self.vote}
            return pooled_prediction(question, pooled, trace)
        # A member votes its weight; its weighted vote is its weight times its confidence (1 without one).
        final = tally(
            question,
            [p.answer for p in predictions],
            [
                w * (1.0 if p.confidence is None else p.confidence)
                for (_, w), p in zip(active, predictions, strict=True)
            ],
            self.vote,
            counts=[w for _, w in active],
        )
        trace.steps = {
            "members": rows,
            "tally": {"majority": final.counts, "weighted": final.weights, "vote": self.vote},
        }
        winner = final.winner
        if winner is None:
            trace.notes.append("abstained: no member gave an answer")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        shares = final.shares
        return Prediction(
            question_id=question.id,
            answer=final.answers[winner],
            scores=shares,
            confidence=shares.get(winner),
            trace=trace,
        )


def pool_scores(
    question: Question, members: Sequence[tuple[str, float, Prediction]], notes: list[str]
) -> dict[str, float] | None:
    """Each choice's weighted sum of the (name, weight, prediction) members' scores; None when no member
    scored every choice. Why a member did not vote goes to `notes`."""
    labels = question.choices
    if not labels:
        notes.append("abstained: a free-form question has no choices to pool scores over")
        return None
    pooled = dict.fromkeys(labels, 0.0)
    voters = 0
    for name, weight, prediction in members:
        if prediction.answer is None:
            notes.append(f"{name} abstained and did not vote")
        elif any(label not in prediction.scores for label in labels):
            notes.append(f"{name} left a choice unscored and did not vote")
        else:
            voters += 1
            for label in labels:
                pooled[label] += weight * prediction.scores[label]
    return pooled if voters else None


def pooled_prediction(question: Question, pooled: dict[str, float] | None, trace: Trace) -> Prediction:
    """The choice with the highest pooled score (ties to the earlier choice), or an abstention."""
    if pooled is None:
        if question.choices:
            trace.notes.append("abstained: no member scored every choice")
        return Prediction(question_id=question.id, answer=None, trace=trace)
    labels = question.choices
    best = max(range(len(labels)), key=lambda i: (pooled[labels[i]], -i))
    return Prediction(
        question_id=question.id,
        answer=question.answer_of(best),
        scores=pooled,
        confidence=softmax([pooled[label] for label in labels])[best],
        trace=trace,
    )
