"""Direct answering by log-likelihood: score every option after the prompt and pick the best.

Five numbers per option, all in the trace (lm-evaluation-harness calls the first "acc" and divides by the
characters of the option text for "acc_norm"; users mix them up, so every number here says which it is):

- raw:       log P(option | prompt), summed over the option's tokens. Favours short options.
- token:     raw / number of option tokens (mean log-probability per token).
- char:      raw / number of characters of the scored continuation, leading space included (the default).
- char_text: raw / number of characters of the option text, leading space excluded: lm-evaluation-harness's
             acc_norm. It differs from char only where options differ in length, and there by a little.
- mi:        log P(option | prompt) - log P(option | "Answer:"), the pointwise mutual information between the
             option and the question: an option that is likely whatever the question (a common word) loses
             its head start (Holtzman et al. 2021, "domain conditional PMI").

A binary statement scores " True" and " False": labels, not answers of different lengths, so token and
char equal raw there (the four agree up to the MI correction). Divided by characters, the longer " False"
would win whenever the two are close: runs before this rule read StrategyQA and CSQA 2.0 with that lean.

A fill-in-the-blank sentence (WinoGrande) is scored in part, as lm-evaluation-harness does: each filler in
place gives one context, and all of them score the same continuation, the words after the blank. Every
normalisation then ranks the fillers alike (up to tokenisation of the shared continuation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.dataclasses import dataclass

from reasonkit.protocol import LoglikelihoodRequest
from reasonkit.registry import register_strategy
from reasonkit.strategies import prompts
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

Normalization = Literal["raw", "token", "char", "char_text", "mi"]
NORMALIZATIONS: tuple[Normalization, ...] = ("raw", "token", "char", "char_text", "mi")


class ContinuationScores(BaseModel):
    """Per-continuation scores after one context; `mi` is empty unless an unconditional context was scored."""

    model_config = ConfigDict(frozen=True)

    raw: tuple[float, ...]
    token: tuple[float, ...]
    char: tuple[float, ...]
    char_text: tuple[float, ...]
    mi: tuple[float, ...] = ()
    n_tokens: tuple[int, ...]

    def without_length_normalization(self) -> ContinuationScores:
        """Token and char replaced by raw: for labels, where length says nothing about the answer."""
        return self.model_copy(update={"token": self.raw, "char": self.raw, "char_text": self.raw})

    def get(self, normalization: Normalization) -> tuple[float, ...]:
        values = getattr(self, normalization)
        if not values:
            raise ValueError(
                f"normalization {normalization!r} needs the unconditional scores, not computed here"
            )
        return values


async def score_continuations(
    lm: AsyncLM, context: str, continuations: Sequence[str], unconditional_context: str | None = None
) -> ContinuationScores:
    """Score every continuation after `context` (and after `unconditional_context`, for MI) in one call."""
    return await score_pairs(lm, [(context, c) for c in continuations], unconditional_context)


async def score_pairs(
    lm: AsyncLM, pairs: Sequence[tuple[str, str]], unconditional_context: str | None = None
) -> ContinuationScores:
    """Score each (context, continuation) pair, and each continuation after `unconditional_context` (for MI),
    in one call."""
    continuations = [continuation for _, continuation in pairs]
    requests = [LoglikelihoodRequest(context=context, continuation=c) for context, c in pairs]
    if unconditional_context is not None:
        requests += [
            LoglikelihoodRequest(context=unconditional_context, continuation=c) for c in continuations
        ]
    results = await lm.loglikelihood(requests)
    conditional, unconditional = results[: len(pairs)], results[len(pairs) :]
    raw = tuple(r.logprob for r in conditional)
    return ContinuationScores(
        raw=raw,
        token=tuple(r.logprob / max(r.n_tokens, 1) for r in conditional),
        char=tuple(r.logprob / max(len(c), 1) for r, c in zip(conditional, continuations, strict=True)),
        char_text=tuple(
            r.logprob / max(len(c.lstrip()), 1) for r, c in zip(conditional, continuations, strict=True)
        ),
        mi=tuple(a - u.logprob for a, u in zip(raw, unconditional, strict=True)) if unconditional else (),
        n_tokens=tuple(r.n_tokens for r in conditional),
    )


def softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value; ties go to the first (the order of the options)."""
    return max(range(len(values)), key=lambda i: (values[i], -i))


@register_strategy("direct")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class Direct(Strategy):
    """Pick the option with the best score under `normalization` (see the module docstring).

    `Prediction.scores` holds the chosen normalisation's score per choice label; `confidence` is the softmax
    of those scores at the answer (a probability only for "raw", a relative weight otherwise). The trace
    keeps all four score sets under steps["scores"]."""

    name: ClassVar[str] = "direct"

    normalization: Normalization = "char"
    unconditional_context: str = prompts.UNCONDITIONAL_CONTEXT
    options_line: bool = True
    """Whether the prompt lists the options ("Options: (A) ... (E)") before "Answer:"; false asks the question
    alone. A fill-in-the-blank sentence is scored without a prompt either way."""

    def applies_to(self, question: Question) -> bool:
        return not question.is_free_form

    def config(self) -> dict[str, Any]:
        """Without `options_line` at its default: the config is a run folder's identity, and folders made
        before the option existed keep resuming."""
        config = super().config()
        if self.options_line:
            del config["options_line"]
        return config

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        if question.is_free_form:
            trace.notes.append(
                "direct scoring needs options or a binary statement; this question is free-form"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        if question.is_fill_blank and question.options is not None:
            contexts, continuation = prompts.fill_blank_requests(question.text, question.options)
            pairs = [(context, continuation) for context in contexts]
            shown: dict[str, object] = {"contexts": contexts, "continuation": continuation}
        else:
            prompt = prompts.direct_prompt(question.text, question.options, question.kind, self.options_line)
            continuations = prompts.direct_continuations(question.options)
            pairs = [(prompt, continuation) for continuation in continuations]
            shown = {"prompt": prompt, "continuations": continuations}
        scores = await score_pairs(lm, pairs, self.unconditional_context)
        if question.is_binary:
            scores = scores.without_length_normalization()
        labels = question.choices
        trace.steps = {
            **shown,
            "normalization": self.normalization,
            "n_tokens": dict(zip(labels, scores.n_tokens, strict=True)),
            "scores": {n: dict(zip(labels, scores.get(n), strict=True)) for n in NORMALIZATIONS},
            "answer_by": {n: labels[argmax(scores.get(n))] for n in NORMALIZATIONS},
        }
        chosen = scores.get(self.normalization)
        best = argmax(chosen)
        return Prediction(
            question_id=question.id,
            answer=question.answer_of(best),
            scores=dict(zip(labels, chosen, strict=True)),
            confidence=softmax(chosen)[best],
            trace=trace,
        )
