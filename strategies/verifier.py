"""A trained verifier (Cobbe et al. 2021): sample n solutions, let a model judge each, answer with the one it
ranks highest (`best_of_n`) or with the answer whose solutions it scores highest in sum (`weighted_vote`).

The verifier is a language model that writes a judgement token after a solution:

    Question: Start with 7. Add 3. Multiply by 2. What is the result?
    Options: (A) 20 (B) 17 (C) 10 (D) 23 (E) 14
    Answer: 7 + 3 = 10. 10 * 2 = 20. So the answer is (A) 20.
    Verdict: right

and its score for a solution is P(" right") / (P(" right") + P(" wrong")) after "Verdict:", read by
log-likelihood through the normal scoring service. Why a judgement token rather than Cobbe's value head: the
verifier is then an ordinary model folder, trained by the ordinary trainer (init_from the generator) on JSONL
rows, scored by every backend (the project's engine, Hugging Face, a server), cached and traced like any
other call; a value head would need a second output in the model, its loss in the trainer, and a backend
method no served model has. By default the trainer's loss covers every token of a row, so the verifier also
keeps modelling solutions (Cobbe's joint objective; they found it helps); `reasonkit verifier train --loss
verdict` trains on what the score reads alone (no better on multistep).

`verdict="before"` puts the verdict between the question and the solution instead ("...\nVerdict: right\n
Answer: 7 + 3 = 10. ..."): the verifier is then a class-conditional model, and a solution's score is
P(right, solution) / (P(right, solution) + P(wrong, solution)), so every token of the solution, not one token
after it, carries the label during training. On multistep the verdict after the solution learned question
difficulty only; the verdict before it ranks a question's solutions a little (docs/studies/verifier.md). `judged` is the one format that training rows (`verifier_rows`)
and scoring share; it asks the question without the generator's few-shot exemplars, so one verifier serves
any generating strategy.

`model` names the verifier (a model spec: a folder, "hf:...", ...), loaded once per process and called
through its own batching client, its calls traced with the question's; without it the generating LM judges.
The trace keeps every path with its verifier score, and for k = 1..n the answer of best-of-k, of the
verifier-weighted vote and of plain majority over the first k paths, so one run gives accuracy against n for
all three from the same samples. Paths whose answer cannot be read are scored but can never win.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, cast

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.client import BatchingClient
from reasonkit.protocol import LoglikelihoodRequest, SampleCount
from reasonkit.registry import register_strategy
from reasonkit.strategies import prompts
from reasonkit.strategies.answer_extraction import read_candidate
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.paths import GeneratingStrategy, ReasoningPath, answer_key, tally
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Answer, Prediction, Question, Trace

Selection = Literal["best_of_n", "weighted_vote"]
Placement = Literal["after", "before"]
Label = Literal["answer", "option_text"]
VERDICT_PREFIX = "\nVerdict:"
RIGHT = " right"
WRONG = " wrong"


class VerifierDataError(ValueError):
    """Sampled solutions that cannot train a verifier (e.g. none of them right); the message says why."""


def verdict_context(question: Question, solution: str) -> str:
    """The question (no exemplars), the solution as the generator wrote it after "Answer:", and "Verdict:"."""
    prompt = prompts.cot_prompt([], question.text, question.options, question.kind)
    return f"{prompt}{solution.rstrip()}{VERDICT_PREFIX}"


def judged(question: Question, solution: str, verdict: str, placement: Placement) -> LoglikelihoodRequest:
    """The request whose log-probability is the verdict's: after the solution, log P(verdict | question,
    solution); before it, log P(verdict, solution | question), the joint of a class-conditional model."""
    if placement == "after":
        return LoglikelihoodRequest(context=verdict_context(question, solution), continuation=verdict)
    block = prompts.question_block(question.text, question.options, question.kind)
    return LoglikelihoodRequest(
        context=f"{block}{VERDICT_PREFIX}", continuation=f"{verdict}\nAnswer:{solution.rstrip()}"
    )


def is_right(question: Question, answer: Answer | None) -> bool:
    """Whether a path's answer is the gold one (an unreadable answer is wrong)."""
    return answer is not None and Prediction(question_id=question.id, answer=answer).is_correct(question)


_LETTER_MARK = re.compile(r"^\s*(?:\([A-Za-z]\)|[A-Za-z][).:])\s*")


def states_gold_text(question: Question, path: ReasoningPath) -> bool:
    """Whether the path's answer states the gold option's own text, whatever letter it puts in front: on
    multistep "(D) 23." is right where option (B) is 23, "(B) 26." is wrong though (B) is gold. A right
    letter before a value no option holds is a guess no verifier can check; the value the rationale
    computed is what it can. Questions without options: the answer as read (`is_right`)."""
    if question.options is None:
        return is_right(question, path.answer)
    said = _LETTER_MARK.sub("", path.span, count=1)
    return bool(said.strip()) and is_right(question, read_candidate(question, said, strict=True).answer)


def labelled_right(question: Question, path: ReasoningPath, label: Label) -> bool:
    return is_right(question, path.answer) if label == "answer" else states_gold_text(question, path)


def verifier_rows(
    question: Question,
    paths: Sequence[ReasoningPath],
    placement: Placement = "after",
    label: Label = "answer",
) -> list[dict[str, Any]]:
    """One training row per path: the solution judged " right" or " wrong" by the question's gold answer
    (`label`: the answer as read, or `states_gold_text`), the verdict after the solution or before it
    (`placement`)."""
    if question.gold is None:
        raise VerifierDataError(f"question {question.id!r} has no gold answer to label its solutions by")
    rows = []
    for i, path in enumerate(paths):
        right = labelled_right(question, path, label)
        request = judged(question, path.text, RIGHT if right else WRONG, placement)
        rows.append(
            {
                "id": f"{question.id}/{i}",
                "benchmark": question.metadata.get("benchmark"),
                "question": question.text,
                "label": right,
                "text": request.context + request.continuation,
            }
        )
    return rows


def check_labels(rows: Sequence[dict[str, Any]], where: str) -> None:
    """A verifier learns nothing from one class: stop before training on it."""
    right = sum(bool(row["label"]) for row in rows)
    if right == 0 or right == len(rows):
        kind = "correct" if right == 0 else "wrong"
        raise VerifierDataError(
            f"{where}: none of the {len(rows)} sampled solutions is {kind}; a verifier needs both "
            "(sample more questions, another split, or a higher temperature)"
        )


@functools.cache
def verifier_client(spec: str) -> BatchingClient:
    """The verifier model a spec names, loaded once per process (every question shares it)."""
    from reasonkit.models import load_model

    return BatchingClient(load_model(spec))


def _winner(question: Question, answers: Sequence[Answer | None], weights: Sequence[float], vote: str) -> Any:
    final = tally(question, answers, weights, "majority" if vote == "majority" else "weighted")
    return None if final.winner is None else final.answers[final.winner]


def best_of(answers: Sequence[Answer | None], scores: Sequence[float]) -> int | None:
    """The index of the highest-scored path that has an answer (the first on ties)."""
    readable = [i for i, a in enumerate(answers) if a is not None]
    return max(readable, key=lambda i: (scores[i], -i)) if readable else None


def selections(
    question: Question, answers: Sequence[Answer | None], scores: Sequence[float]
) -> dict[str, Answer | None]:
    """What each rule answers over these paths: best-of-n, verifier-weighted vote, plain majority."""
    best = best_of(answers, scores)
    return {
        "best_of_n": None if best is None else answers[best],
        "weighted_vote": _winner(question, answers, scores, "weighted"),
        "majority": _winner(question, answers, [1.0] * len(answers), "majority"),
    }


@register_strategy("verifier")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class Verifier(Strategy):
    """`n` paths from `inner` at `temperature` (seeded), each judged by `model` (default: the generating LM),
    answered by `selection`; `verdict` is where the verifier's training rows put the verdict
    (`reasonkit verifier data --verdict`)."""

    name: ClassVar[str] = "verifier"

    inner: Strategy = Field(default_factory=lambda: ChainOfThought(shots=0))
    model: str | None = Field(None, min_length=1, description="model spec of the verifier")
    n: SampleCount = 20
    temperature: float = Field(0.7, ge=0.0)
    selection: Selection = "best_of_n"
    verdict: Placement = "after"
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.inner, GeneratingStrategy):
            raise ValueError(
                f"verifier: inner strategy {self.inner.name!r} cannot sample reasoning paths "
                "(it needs a sample_paths method, as cot has)"
            )

    def applies_to(self, question: Question) -> bool:
        return self.inner.applies_to(question)

    async def score_paths(
        self, question: Question, paths: Sequence[ReasoningPath], lm: AsyncLM
    ) -> list[float]:
        """P(right) / (P(right) + P(wrong)) for each path, from one batch of 2n log-likelihood requests."""
        judge: AsyncLM = lm if self.model is None else verifier_client(self.model)
        requests = [judged(question, path.text, v, self.verdict) for path in paths for v in (RIGHT, WRONG)]
        results = await judge.loglikelihood(requests)
        scores = []
        for right, wrong in zip(results[::2], results[1::2], strict=True):
            scores.append(1.0 / (1.0 + math.exp(wrong.logprob - right.logprob)))
        return scores

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        generator = cast(GeneratingStrategy, self.inner)  # checked in __post_init__
        paths = await generator.sample_paths(question, lm, self.n, self.temperature, self.seed)
        scores = await self.score_paths(question, paths, lm)
        answers = [p.answer for p in paths]
        trace = Trace(strategy=self.name)
        trace.steps = {
            "paths": [{**p.model_dump(), "verifier_score": s} for p, s in zip(paths, scores, strict=True)],
            "selection": self.selection,
            "verifier": None
            if self.model is None
            else {"model": self.model, "fingerprint": verifier_client(self.model).fingerprint},
            "at_k": [
                {"k": k, **selections(question, answers[:k], scores[:k])} for k in range(1, len(paths) + 1)
            ],
        }
        answer = selections(question, answers, scores)[self.selection]
        if answer is None:
            trace.notes.append(f"abstained: none of the {len(paths)} paths gave a readable answer")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        per_answer: dict[
            str, float
        ] = {}  # best_of_n: an answer's best path; weighted_vote: the sum of its paths
        for a, s in zip(answers, scores, strict=True):
            if a is not None:
                key, before = answer_key(question, a), per_answer.get(answer_key(question, a), 0.0)
                per_answer[key] = max(before, s) if self.selection == "best_of_n" else before + s
        winner = per_answer[answer_key(question, answer)]
        return Prediction(
            question_id=question.id,
            answer=answer,
            scores=per_answer,
            confidence=winner if self.selection == "best_of_n" else winner / sum(per_answer.values()),
            trace=trace,
        )
