"""Scratchpad (Nye et al. 2021): the model writes its intermediate steps in a format it was trained on, and
the answer is read from the last line. `ArithmeticDirect` asks for the answer alone, for comparison.

The formats live in `reasonkit.strategies.arithmetic_format`, shared with the training-data generator.
Lines of the question's text before the problem (e.g. notes added by `WithMemory`) go before the prompt.
"""

from __future__ import annotations

import math
from typing import ClassVar

from reasonkit.protocol import GenerationRequest
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
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

_TOKEN_MARGIN = 16


@register_strategy("scratchpad")
class Scratchpad(Strategy):
    """Greedy generation in the scratchpad format, stopped at the end of the example."""

    name = "scratchpad"
    direct: ClassVar[bool] = False

    def __init__(self, max_tokens: int | None = None) -> None:
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"{self.name}: max_tokens must be >= 1, got {max_tokens}")
        self.max_tokens = max_tokens

    def applies_to(self, question: Question) -> bool:
        return problem_of(question) is not None

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        problem = problem_of(question)
        if problem is None:
            trace.notes.append(
                "not an arithmetic problem: the last line of the text is not 'a + b' or 'a * d'"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        context = "".join(line + "\n" for line in question.text.strip().splitlines()[:-1])
        prompt = context + render_prompt(problem, scratchpad=not self.direct)
        # A byte-level token covers at least one character, so the reference completion's length bounds it.
        max_tokens = (
            self.max_tokens or len(render_completion(problem, scratchpad=not self.direct)) + _TOKEN_MARGIN
        )
        [result] = await lm.generate([GenerationRequest(prompt=prompt, max_tokens=max_tokens, stop=(END,))])
        sample = result.samples[0]
        # Direct output continues the prompt's "Answer:", so the label is put back before parsing.
        answer = parse_answer("Answer:" + sample.text if self.direct else sample.text)
        trace.steps = {
            "mode": "direct" if self.direct else "scratchpad",
            "problem": problem.model_dump(),
            "output": sample.text,
            "finish_reason": sample.finish_reason,
        }
        if not self.direct:
            trace.steps["scratch"] = _scratch_of(sample.text)
        if answer is None:
            last = sample.text.strip().splitlines()[-1:] or [""]
            trace.notes.append(
                f"abstained: no 'Answer:' on the last line {last[0]!r} ({sample.finish_reason})"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        has_logprobs = bool(sample.token_logprobs)
        return Prediction(
            question_id=question.id,
            answer=answer,
            scores={answer: sample.logprob} if has_logprobs else {},
            confidence=math.exp(sample.logprob) if has_logprobs else None,
            trace=trace,
        )


@register_strategy("arithmetic_direct")
class ArithmeticDirect(Scratchpad):
    """The same problems answered without a scratchpad ("Input: ...\\nAnswer: ...")."""

    name = "arithmetic_direct"
    direct: ClassVar[bool] = True


def _scratch_of(text: str) -> list[str]:
    """The step lines between the scratch markers (as far as the model got)."""
    if SCRATCH_OPEN not in text:
        return []
    body = text.split(SCRATCH_OPEN, 1)[1].split(SCRATCH_CLOSE, 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip()]
