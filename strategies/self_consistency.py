"""Self-consistency (Wang et al. 2022): sample n reasoning paths at temperature T and vote on their answers.

The n paths are ONE generation request with n=n, so the engine shares the prompt's KV cache across them.
Votes: "majority" counts answers; "weighted" adds each path's length-normalised probability
exp(mean token log-prob) (the paper's "normalized weighted sum"; log-probs as the backend reports them, for
the project's engine under the untempered model), and the shares are normalised to sum 1.
Paths whose answer cannot be read abstain: they are counted and left out of the vote; if every path
abstains the prediction abstains. The trace keeps every path, the tally, and the vote of the first k paths
for k = 1, 5, 10, 20, 40, ... up to n, so one run gives the accuracy-vs-n curve.
"""

from __future__ import annotations

import math
from typing import ClassVar, cast

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.protocol import SampleCount
from reasonkit.registry import register_strategy
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.paths import GeneratingStrategy, ReasoningPath, Vote, tally
from reasonkit.strategies.paths import Tally as Tally  # their import path before paths.py
from reasonkit.strategies.paths import answer_key as answer_key
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Answer, Prediction, Question, Trace, VoteAtK

K_STEPS = (1, 5, 10, 20, 40)


def path_weight(path: ReasoningPath) -> float:
    """exp(mean token log-prob): the path's length-normalised probability (1.0 without log-probs)."""
    return math.exp(path.logprob / path.n_tokens) if path.n_tokens else 1.0


def k_steps(n: int) -> list[int]:
    """1, 5, 10, 20, 40, then doubling, up to n, and n itself."""
    ks = [k for k in K_STEPS if k <= n]
    while ks and ks[-1] * 2 <= n and ks[-1] >= K_STEPS[-1]:
        ks.append(ks[-1] * 2)
    return sorted({*ks, n})


@register_strategy("self_consistency")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class SelfConsistency(Strategy):
    """Vote over `n` paths sampled from `inner` (a strategy with `sample_paths`, e.g. cot) at `temperature`;
    `seed` makes the samples repeatable."""

    name: ClassVar[str] = "self_consistency"

    inner: Strategy = Field(default_factory=ChainOfThought)
    n: SampleCount = 20
    temperature: float = Field(0.7, ge=0.0)
    vote: Vote = "majority"
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.inner, GeneratingStrategy):
            raise ValueError(
                f"self_consistency: inner strategy {self.inner.name!r} cannot sample reasoning paths "
                "(it needs a sample_paths method, as cot has)"
            )

    @property
    def generator(self) -> GeneratingStrategy:
        return cast(GeneratingStrategy, self.inner)  # checked in __post_init__

    def applies_to(self, question: Question) -> bool:
        return self.inner.applies_to(question)

    def uses_loglikelihood(self) -> bool:
        return False  # votes over sampled paths; never scores

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        paths = await self.generator.sample_paths(question, lm, self.n, self.temperature, self.seed)
        weights = [path_weight(p) for p in paths]
        answers = [p.answer for p in paths]
        final = tally(question, answers, weights, self.vote)
        trace = Trace(strategy=self.name)
        trace.steps = {
            "paths": [{**p.model_dump(), "weight": w} for p, w in zip(paths, weights, strict=True)],
            "tally": {
                "counts": final.counts,
                "weights": final.weights,
                "shares": final.shares,
                "abstained": final.abstained,
                "vote": self.vote,
            },
            "votes_at_k": [
                self._vote_at(question, answers, weights, k).model_dump() for k in k_steps(len(paths))
            ],
        }
        winner = final.winner
        if winner is None:
            trace.notes.append(f"abstained: none of the {len(paths)} paths gave a readable answer")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        if final.abstained:
            trace.notes.append(
                f"{final.abstained} of {len(paths)} paths gave no readable answer and did not vote"
            )
        shares = final.shares
        return Prediction(
            question_id=question.id,
            answer=final.answers[winner],
            scores=shares,
            confidence=shares[winner],
            trace=trace,
        )

    @staticmethod
    def _vote_at(question: Question, answers: list[Answer | None], weights: list[float], k: int) -> VoteAtK:
        """Both votes over the first k paths."""

        def winner(vote: Vote) -> Answer | None:
            partial = tally(question, answers[:k], weights[:k], vote)
            return None if partial.winner is None else partial.answers[partial.winner]

        abstained = sum(a is None for a in answers[:k])
        return VoteAtK(k=k, majority=winner("majority"), weighted=winner("weighted"), abstained=abstained)
