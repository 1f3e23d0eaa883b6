"""Sampled reasoning paths and the vote over answers: the types self-consistency, cot, scratchpad and ensemble
share.

A `GeneratingStrategy` samples `ReasoningPath`s for a question; `tally` counts answers (under their option
text, "True" / "False" or the free-form text) into a `Tally`, the one vote both self-consistency (one vote per
path) and ensemble (one vote per member, of the member's weight) use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from reasonkit.protocol import Sample
from reasonkit.strategies.answer_extraction import Method
from reasonkit.strategy import AsyncLM
from reasonkit.types import Answer, Question

Vote = Literal["majority", "weighted"]


class ReasoningPath(BaseModel):
    """One generated rationale and what was read from it; `logprob` sums the sample's token log-probs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    answer: Answer | None
    method: Method
    span: str = ""
    logprob: float
    n_tokens: int
    finish_reason: str

    @classmethod
    def of_sample(cls, sample: Sample, answer: Answer | None, method: Method, span: str) -> ReasoningPath:
        return cls(
            text=sample.text,
            answer=answer,
            method=method,
            span=span,
            logprob=sample.logprob,
            n_tokens=len(sample.token_logprobs),
            finish_reason=sample.finish_reason,
        )


@runtime_checkable
class GeneratingStrategy(Protocol):
    """A strategy that can sample several reasoning paths for one question and read an answer from each."""

    name: ClassVar[str]

    def config(self) -> dict[str, Any]: ...

    async def sample_paths(
        self, question: Question, lm: AsyncLM, n: int, temperature: float, seed: int
    ) -> list[ReasoningPath]: ...


def answer_key(question: Question, answer: Answer) -> str:
    """The label an answer is tallied under: the option text, "True" / "False", or the free-form text."""
    if isinstance(answer, str):
        return answer.strip()
    if isinstance(answer, bool):
        return "True" if answer else "False"
    return question.choices[answer]


class Tally(BaseModel):
    """Votes per answer label; `winner` None when nobody voted. `vote` picks which total decides ("majority":
    `counts`, "weighted": `weights`); ties go to the larger other total, then to the answer seen first."""

    model_config = ConfigDict(frozen=True)

    counts: dict[str, int | float]
    weights: dict[str, float]
    answers: dict[str, Answer]
    abstained: int
    vote: Vote

    @property
    def shares(self) -> dict[str, float]:
        source = self.counts if self.vote == "majority" else self.weights
        total = sum(source.values())
        return {k: v / total for k, v in source.items()} if total > 0 else {}

    @property
    def winner(self) -> str | None:
        if not self.counts:
            return None
        order = list(self.counts)
        primary, secondary = (
            (self.counts, self.weights) if self.vote == "majority" else (self.weights, self.counts)
        )
        return max(order, key=lambda k: (primary[k], secondary[k], -order.index(k)))


def tally(
    question: Question,
    answers: Sequence[Answer | None],
    weights: Sequence[float],
    vote: Vote,
    counts: Sequence[int | float] | None = None,
) -> Tally:
    """Each answer adds its `counts` entry (1 by default) to its label's count and its `weights` entry to its
    label's weight; None abstains and adds nothing."""
    per_answer = [1] * len(answers) if counts is None else counts
    totals: dict[str, int | float] = {}
    weighted: dict[str, float] = {}
    values: dict[str, Answer] = {}
    for answer, weight, count in zip(answers, weights, per_answer, strict=True):
        if answer is None:
            continue
        key = answer_key(question, answer)
        totals[key] = totals.get(key, 0) + count
        weighted[key] = weighted.get(key, 0.0) + weight
        values.setdefault(key, answer)
    return Tally(
        counts=totals, weights=weighted, answers=values, abstained=sum(a is None for a in answers), vote=vote
    )
