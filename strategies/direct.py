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

import asyncio
import math
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.dataclasses import dataclass

from reasonkit.protocol import LoglikelihoodRequest
from reasonkit.registry import register_strategy
from reasonkit.strategies import exemplars, prompts
from reasonkit.strategies.templates import Template, load_templates
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


def log_softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    log_total = top + math.log(sum(math.exp(v - top) for v in values))
    return [v - log_total for v in values]


CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")
"""Zhao et al. 2021's content-free inputs: the model's answer distribution for them is its bias."""


class _ContentFreeCache:
    """Content-free scores of one model (a run's client) by prompt, kept as the task that scores them: the same
    for every binary statement of a run, so scored once, also by the questions in flight while the first is
    scored. One model at a time: the tasks hold their model, so a cache per model would keep every run's."""

    def __init__(self) -> None:
        self.lm: object | None = None
        self.entries: dict[Hashable, asyncio.Future[ContinuationScores]] = {}

    def of(self, lm: AsyncLM) -> dict[Hashable, asyncio.Future[ContinuationScores]]:
        if lm is not self.lm:
            self.lm, self.entries = lm, {}
        return self.entries


_content_free_cache = _ContentFreeCache()


def _forget_failed(
    cache: dict[Hashable, asyncio.Future[ContinuationScores]], key: Hashable, done: asyncio.Future[Any]
) -> None:
    """A failed scoring is tried again by the next question rather than failing every later one."""
    if done.cancelled() or done.exception() is not None:
        cache.pop(key, None)


@register_strategy("direct")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class Direct(Strategy):
    """Pick the option with the best score under `normalization` (see the module docstring).

    `Prediction.scores` holds the chosen normalisation's score per choice label; `confidence` is the softmax
    of those scores at the answer (a probability only for "raw", a relative weight otherwise). The trace
    keeps all four score sets under steps["scores"].

    Cheap variants for small models, each off by default and combinable:
    - `calibrate`: contextual calibration (Zhao et al. 2021): the same prompt with each `content_free` input
      in place of the question gives the model's prior over the choices (the mean of their softmaxes); the
      score becomes log softmax(score) - log prior (their diagonal W, b = 0). A multiple-choice question keeps
      its own options in the content-free prompts, so the prior is per question.
    - `channel`: noisy-channel scoring (Min et al. 2022): log P(question | choice), the question scored after
      "Answer: <choice>" (templates' answer line); the scored text is the same for every choice, so the
      normalisations rank alike and "mi" does not apply.
    - `shots`: that many solved train exemplars (the shipped exemplar files, strategies/exemplars.py, chosen
      by `seed` and `exemplar_set`) before the question, written in the same template (and direction).
    - `templates`: names from strategies/templates/direct.toml; with several, each is scored (all in the
      trace) and the choice scores are the mean over templates of each one's log-softmax over the choices.
    """

    name: ClassVar[str] = "direct"

    normalization: Normalization = "char"
    unconditional_context: str = prompts.UNCONDITIONAL_CONTEXT
    options_line: bool = True
    """Whether the prompt lists the options ("Options: (A) ... (E)") before "Answer:"; false asks the question
    alone. A fill-in-the-blank sentence is scored without a prompt either way."""
    calibrate: bool = False
    content_free: tuple[str, ...] = CONTENT_FREE_INPUTS
    channel: bool = False
    shots: int = 0
    seed: int = 0
    exemplar_set: str | None = None
    templates: tuple[str, ...] = ("default",)

    def __post_init__(self) -> None:
        if self.shots < 0:
            raise ValueError(f"direct: shots must be >= 0, got {self.shots}")
        if self.calibrate and not self.content_free:
            raise ValueError("direct: calibrate=True needs at least one content_free input")
        if self.channel and self.normalization == "mi":
            raise ValueError(
                "direct: channel=True scores the question, the same text for every choice; "
                "normalization='mi' does not apply"
            )
        if self.exemplar_set is not None and self.exemplar_set not in exemplars.EXEMPLAR_SETS:
            raise ValueError(
                f"direct: unknown exemplar_set {self.exemplar_set!r}; choose one of {list(exemplars.EXEMPLAR_SETS)}"
            )
        known = load_templates()
        unknown = [name for name in self.templates if name not in known]
        if unknown or not self.templates:
            raise ValueError(f"direct: unknown templates {unknown}; choose from {list(known)}")

    def applies_to(self, question: Question) -> bool:
        return not question.is_free_form

    def config(self) -> dict[str, Any]:
        """Without the options added after the first runs while they are at their defaults: the config is a
        run folder's identity, and folders made before the options existed keep resuming."""
        config = super().config()
        defaults = Direct.__dataclass_fields__
        for option in (
            "options_line",
            "calibrate",
            "content_free",
            "channel",
            "shots",
            "seed",
            "exemplar_set",
            "templates",
        ):
            if getattr(self, option) == defaults[option].default:
                del config[option]
        return config

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        if question.is_free_form:
            trace.notes.append(
                "direct scoring needs options or a binary statement; this question is free-form"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        labels = question.choices
        if question.is_fill_blank and question.options is not None:
            contexts, continuation = prompts.fill_blank_requests(question.text, question.options)
            pairs = [(context, continuation) for context in contexts]
            shown: dict[str, object] = {"contexts": contexts, "continuation": continuation}
            if self.calibrate or self.channel or self.shots or self.templates != ("default",):
                trace.notes.append(
                    "a fill-in-the-blank sentence is scored in part; calibrate, channel, shots and templates "
                    "do not apply"
                )
            scored = [await self._score(lm, question, pairs, labels, shown)]
        else:
            examples = exemplars.select_exemplars(question, self.shots, self.seed, self.exemplar_set)
            scored = await asyncio.gather(
                *(self._score_template(lm, question, template, examples) for template in self._templates())
            )
        if len(scored) == 1:
            steps, chosen = scored[0]
        else:
            per_template = [log_softmax(values) for _, values in scored]
            chosen = [sum(column) / len(per_template) for column in zip(*per_template, strict=True)]
            steps = {
                "normalization": self.normalization,
                "templates": {t.name: s for t, (s, _) in zip(self._templates(), scored, strict=True)},
                "pooled": dict(zip(labels, chosen, strict=True)),
            }
        trace.steps = steps
        best = argmax(chosen)
        return Prediction(
            question_id=question.id,
            answer=question.answer_of(best),
            scores=dict(zip(labels, chosen, strict=True)),
            confidence=softmax(chosen)[best],
            trace=trace,
        )

    def _templates(self) -> list[Template]:
        known = load_templates()
        return [known[name] for name in self.templates]

    def _pairs(self, template: Template, question: Question, text: str, prefix: str) -> list[tuple[str, str]]:
        if self.channel:
            pairs = template.channel_pairs(text, question.options, question.kind)
        else:
            prompt = template.prompt(text, question.options, question.kind, self.options_line)
            pairs = [(prompt, f" {choice}") for choice in template.verbalised(question.options)]
        return [(prefix + context, continuation) for context, continuation in pairs]

    async def _score_template(
        self, lm: AsyncLM, question: Question, template: Template, examples: Sequence[exemplars.Exemplar]
    ) -> tuple[dict[str, Any], list[float]]:
        prefix = "".join(
            template.example(e.question, e.options, e.answer, self.options_line, self.channel)
            + prompts.EXEMPLAR_SEPARATOR
            for e in examples
        )
        pairs = self._pairs(template, question, question.text, prefix)
        if self.channel:
            shown: dict[str, object] = {"contexts": [c for c, _ in pairs], "continuation": pairs[0][1]}
        else:
            shown = {"prompt": pairs[0][0], "continuations": [c for _, c in pairs]}
        if examples:
            shown["exemplars"] = [e.id for e in examples]
        if self.channel:
            shown["channel"] = True
        return await self._score(lm, question, pairs, question.choices, shown, template, prefix)

    async def _score(
        self,
        lm: AsyncLM,
        question: Question,
        pairs: list[tuple[str, str]],
        labels: tuple[str, ...],
        shown: dict[str, Any],
        template: Template | None = None,
        prefix: str = "",
    ) -> tuple[dict[str, Any], list[float]]:
        """The steps for one prompt's scores and the chosen (and, with `calibrate`, calibrated) scores."""
        unconditional = None if self.channel else self.unconditional_context
        cache, keys = _content_free_cache.of(lm), []
        if self.calibrate and template is not None:
            cf_unconditional = self.unconditional_context if self.normalization == "mi" else None
            for text in self.content_free:
                cf_pairs = self._pairs(template, question, text, prefix)
                key = (tuple(cf_pairs), cf_unconditional)
                keys.append(key)
                if key not in cache:
                    task = asyncio.ensure_future(score_pairs(lm, cf_pairs, cf_unconditional))
                    task.add_done_callback(lambda done, key=key: _forget_failed(cache, key, done))
                    cache[key] = task
        scores, *content_free = await asyncio.gather(
            score_pairs(lm, pairs, unconditional), *(cache[key] for key in keys)
        )
        if question.is_binary:
            scores = scores.without_length_normalization()
        available = [n for n in NORMALIZATIONS if n != "mi" or scores.mi]
        steps = {
            **shown,
            "normalization": self.normalization,
            "n_tokens": dict(zip(labels, scores.n_tokens, strict=True)),
            "scores": {n: dict(zip(labels, scores.get(n), strict=True)) for n in available},
            "answer_by": {n: labels[argmax(scores.get(n))] for n in available},
        }
        chosen = list(scores.get(self.normalization))
        if content_free:
            priors = []
            for cf in content_free:
                if question.is_binary:
                    cf = cf.without_length_normalization()
                priors.append(softmax(cf.get(self.normalization)))
            prior = [sum(column) / len(priors) for column in zip(*priors, strict=True)]
            chosen = [s - math.log(max(p, 1e-300)) for s, p in zip(log_softmax(chosen), prior, strict=True)]
            steps["calibration"] = {
                "content_free": list(self.content_free),
                "prior": dict(zip(labels, prior, strict=True)),
                "scores": dict(zip(labels, chosen, strict=True)),
                "answer": labels[argmax(chosen)],
            }
        return steps, chosen
