"""A vote over several strategies' predictions on the same question; each member's trace is kept as a child.

"majority" counts each member's answer (times its weight); "weighted" counts each answer's confidence times
the member's weight (a member without a confidence counts 1). Members that abstain, or do not apply to the
question, do not vote. Ties go to the larger other total, then to the earlier member.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.batching import solve_traced
from reasonkit.registry import register_strategy
from reasonkit.strategies.self_consistency import Vote, answer_key
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Answer, Prediction, Question, Trace


@register_strategy("ensemble")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class Ensemble(Strategy):
    """Members run concurrently (their LM calls batch together); `weights` defaults to 1 per member."""

    name: ClassVar[str] = "ensemble"

    members: tuple[Strategy, ...] = Field(min_length=1)
    vote: Vote = "majority"
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
        totals: dict[str, float] = {}
        counts: dict[str, float] = {}
        answers: dict[str, Answer] = {}
        rows = []
        for (member, weight), prediction in zip(active, predictions, strict=True):
            confidence = 1.0 if prediction.confidence is None else prediction.confidence
            rows.append(
                {
                    "name": member.name,
                    "answer": prediction.answer,
                    "confidence": prediction.confidence,
                    "weight": weight,
                }
            )
            if prediction.answer is None:
                continue
            key = answer_key(question, prediction.answer)
            answers.setdefault(key, prediction.answer)
            counts[key] = counts.get(key, 0.0) + weight
            totals[key] = totals.get(key, 0.0) + weight * confidence
        trace = Trace(strategy=self.name, children=[p.trace for p in predictions])
        primary, secondary = (counts, totals) if self.vote == "majority" else (totals, counts)
        trace.steps = {"members": rows, "tally": {"majority": counts, "weighted": totals, "vote": self.vote}}
        skipped = len(self.members) - len(active)
        if skipped:
            trace.notes.append(f"{skipped} member(s) do not apply to this question and did not vote")
        if not answers:
            trace.notes.append("abstained: no member gave an answer")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        order = list(answers)
        winner = max(order, key=lambda k: (primary[k], secondary[k], -order.index(k)))
        total = sum(primary.values())
        shares = {k: v / total for k, v in primary.items()} if total > 0 else {}
        return Prediction(
            question_id=question.id,
            answer=answers[winner],
            scores=shares,
            confidence=shares.get(winner),
            trace=trace,
        )
