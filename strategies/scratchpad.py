"""Scratchpad (Nye et al. 2021): the model writes its intermediate steps in a format it was trained on, and
the answer is read from the last line. `ArithmeticDirect` asks for the answer alone, for comparison.

The formats live in `reasonkit.strategies.arithmetic_format`, shared with the training-data generator.
Lines of the question's text before the problem (e.g. notes added by `WithMemory`) go before the prompt.
"""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from reasonkit.protocol import GenerationRequest, NewTokens
from reasonkit.registry import register_strategy
from reasonkit.strategies.arithmetic_format import (
    END,
    SCRATCH_CLOSE,
    SCRATCH_OPEN,
    parse_answer,
    problem_of,
    render_completion,
    render_prompt,
)
from reasonkit.strategies.paths import ReasoningPath
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

_TOKEN_MARGIN = 16


@register_strategy("scratchpad")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class Scratchpad(Strategy):
    """Greedy generation in the scratchpad format, stopped at the end of the example. It can also sample
    several outputs (`sample_paths`), so `self_consistency(inner=scratchpad)` votes over scratchpads."""

    name: ClassVar[str] = "scratchpad"
    direct: ClassVar[bool] = False

    max_tokens: NewTokens | None = None

    def applies_to(self, question: Question) -> bool:
        return problem_of(question) is not None

    def uses_loglikelihood(self) -> bool:
        return False

    def generation_request(
        self, question: Question, n: int, temperature: float, seed: int
    ) -> GenerationRequest:
        """The prompt (lines of the text before the problem, then the format's prompt) and its limits."""
        problem = problem_of(question)
        if problem is None:
            raise ValueError(f"{self.name}: question {question.id!r} is not an arithmetic problem")
        context = "".join(line + "\n" for line in question.text.strip().splitlines()[:-1])
        # A byte-level token covers at least one character, so the reference completion's length bounds it.
        bound = len(render_completion(problem, scratchpad=not self.direct)) + _TOKEN_MARGIN
        return GenerationRequest(
            prompt=context + render_prompt(problem, scratchpad=not self.direct),
            n=n,
            max_tokens=self.max_tokens or bound,
            temperature=temperature,
            seed=seed,
            stop=(END,),
        )

    def read_answer(self, text: str) -> str | None:
        # Direct output continues the prompt's "Answer:", so the label is put back before parsing.
        return parse_answer("Answer:" + text if self.direct else text)

    async def sample_paths(
        self, question: Question, lm: AsyncLM, n: int, temperature: float, seed: int
    ) -> list[ReasoningPath]:
        """n outputs from one request, each with the answer on its last line (self-consistency votes on them)."""
        [result] = await lm.generate([self.generation_request(question, n, temperature, seed)])
        paths = []
        for sample in result.samples:
            answer = self.read_answer(sample.text)
            if answer is None:
                paths.append(ReasoningPath.of_sample(sample, None, "none", ""))
            else:
                last_line = sample.text.strip().splitlines()[-1]
                paths.append(ReasoningPath.of_sample(sample, answer, "free_text", last_line))
        return paths

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        problem = problem_of(question)
        if problem is None:
            trace.notes.append(
                "not an arithmetic problem: the last line of the text is not 'a + b' or 'a * d'"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        [path] = await self.sample_paths(question, lm, n=1, temperature=0.0, seed=0)
        trace.steps = {
            "mode": "direct" if self.direct else "scratchpad",
            "problem": problem.model_dump(),
            "output": path.text,
            "finish_reason": path.finish_reason,
        }
        if not self.direct:
            trace.steps["scratch"] = _scratch_of(path.text)
        if path.answer is None:
            last = path.text.strip().splitlines()[-1:] or [""]
            trace.notes.append(f"abstained: no 'Answer:' on the last line {last[0]!r} ({path.finish_reason})")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        assert isinstance(path.answer, str)
        has_logprobs = path.n_tokens > 0
        return Prediction(
            question_id=question.id,
            answer=path.answer,
            scores={path.answer: path.logprob} if has_logprobs else {},
            confidence=math.exp(path.logprob) if has_logprobs else None,
            trace=trace,
        )


@register_strategy("arithmetic_direct")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class ArithmeticDirect(Scratchpad):
    """The same problems answered without a scratchpad ("Input: ...\\nAnswer: ...")."""

    name: ClassVar[str] = "arithmetic_direct"
    direct: ClassVar[bool] = True


def _scratch_of(text: str) -> list[str]:
    """The step lines between the scratch markers (as far as the model got)."""
    if SCRATCH_OPEN not in text:
        return []
    body = text.split(SCRATCH_OPEN, 1)[1].split(SCRATCH_CLOSE, 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip()]
