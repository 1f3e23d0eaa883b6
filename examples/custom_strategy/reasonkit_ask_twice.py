"""ask_twice: the model first answers in its own words, then each option is scored after that draft.

A strategy as a user writes one: a `Strategy` subclass with an async `solve`, registered under a name.
It holds no batching or tracing code: reasonkit batches the calls of many questions together and records
every call (exact prompt, output) in the question's trace.
"""

from __future__ import annotations

from reasonkit.protocol import GenerationRequest, LoglikelihoodRequest
from reasonkit.registry import register_strategy
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace


@register_strategy("ask_twice")
class AskTwice(Strategy):
    """Draft a short free answer, then pick the option most likely after it (log-prob per token)."""

    def __init__(self, max_tokens: int = 16) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.max_tokens = max_tokens

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        prompt = f"Question: {question.text}\nAnswer in a few words:"
        [draft] = await lm.generate(
            [GenerationRequest(prompt=prompt, max_tokens=self.max_tokens, stop=("\n",))]
        )
        text = draft.samples[0].text.strip()
        context = f"{prompt} {text}\nSo the answer is:"
        scored = await lm.loglikelihood(
            [LoglikelihoodRequest(context=context, continuation=f" {choice}") for choice in question.choices]
        )
        scores = {
            choice: r.logprob / max(r.n_tokens, 1) for choice, r in zip(question.choices, scored, strict=True)
        }
        best = max(range(len(question.choices)), key=lambda i: scores[question.choices[i]])
        return Prediction(
            question_id=question.id,
            answer=question.answer_of(best),
            scores=scores,
            trace=Trace(steps={"draft": text}),
        )
