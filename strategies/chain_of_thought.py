"""Chain of thought (Wei et al. 2022): few-shot exemplars with rationales, then the model writes its own
rationale and closes with "So the answer is X".

Exemplars come from training splits only (strategies/exemplars/, chosen per benchmark and seed, the same
for every question so prompts share a cacheable prefix). The answer is read by
`reasonkit.strategies.answer_extraction`; when nothing reads, the options are scored by log-likelihood
after the rationale + " So the answer is" (`fallback="score"`), or the question is abstained on with the
raw text kept in the trace (`fallback="abstain"`). With `constrain=True` the answer is instead always
generated under a constraint after the rationale + " So the answer is": one of the option sentences, or
`answer_regex` for a free-form question, so an answer always parses (the backend needs the
"constrained_generation" capability). `answer_constraint="any_letter"` lets a multiple-choice answer pair
any option letter with any option text and reads it as `extract_answer` reads a rationale (which trusts the
text where the letter disagrees): the sentence form makes the letter, written first, decide. A rationale that filled the context window leaves no room
to score the options under truncation "error": that question abstains, with the reason in its trace.
`build_prompt`, `generation_request`, `parse` and `sample_paths` are the hooks self-consistency reuses.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.protocol import Constraint, ContextWindowError, GenerationRequest, NewTokens
from reasonkit.registry import register_strategy
from reasonkit.strategies import prompts
from reasonkit.strategies.answer_extraction import Extraction, answer_phrase_start, extract_answer
from reasonkit.strategies.direct import argmax, score_continuations, softmax
from reasonkit.strategies.exemplars import EXEMPLAR_SETS, Exemplar, select_exemplars
from reasonkit.strategies.paths import ReasoningPath
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Answer, Prediction, Question, Trace


@register_strategy("cot")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class ChainOfThought(Strategy):
    """`shots` exemplars (seeded choice), a greedy rationale by default, robust answer reading, then the
    fallback. `exemplars` replaces the shipped sets (e.g. a synthetic suite's train questions);
    `exemplar_set` forces one shipped set whatever the question's benchmark."""

    name: ClassVar[str] = "cot"

    shots: int = Field(4, ge=0)
    seed: int = 0
    max_tokens: NewTokens = 128
    temperature: float = Field(0.0, ge=0.0)
    fallback: Literal["score", "abstain"] = "score"
    fallback_normalization: Literal["raw", "token", "char"] = "token"
    exemplar_set: str | None = None
    exemplars: tuple[Exemplar, ...] = ()
    constrain: bool = False
    answer_constraint: Literal["sentence", "any_letter"] = "sentence"
    answer_regex: str = Field(r" -?[0-9]+", min_length=1)
    answer_tokens: NewTokens = 16

    def __post_init__(self) -> None:
        if self.exemplar_set is not None and self.exemplar_set not in EXEMPLAR_SETS:
            raise ValueError(f"cot: exemplar_set {self.exemplar_set!r} is not one of {list(EXEMPLAR_SETS)}")
        try:
            re.compile(self.answer_regex)
        except re.error as error:
            raise ValueError(
                f"cot: answer_regex {self.answer_regex!r} is not a regular expression: {error}"
            ) from error

    def select(self, question: Question) -> list[Exemplar]:
        return select_exemplars(question, self.shots, self.seed, self.exemplar_set, self.exemplars)

    def build_prompt(self, question: Question) -> str:
        examples = [e.text() for e in self.select(question)]
        return prompts.cot_prompt(examples, question.text, question.options, question.kind)

    def generation_request(
        self, question: Question, n: int = 1, temperature: float | None = None, seed: int | None = None
    ) -> GenerationRequest:
        return GenerationRequest(
            prompt=self.build_prompt(question),
            n=n,
            max_tokens=self.max_tokens,
            temperature=self.temperature if temperature is None else temperature,
            stop=prompts.COT_STOP,
            seed=self.seed if seed is None else seed,
        )

    def uses_loglikelihood(self) -> bool:
        return self.fallback == "score"

    def parse(self, question: Question, text: str) -> Extraction:
        return extract_answer(question, text)

    async def sample_paths(
        self, question: Question, lm: AsyncLM, n: int, temperature: float, seed: int
    ) -> list[ReasoningPath]:
        """n rationales from ONE request (the engine shares the prompt's KV cache across them), each parsed."""
        [result] = await lm.generate([self.generation_request(question, n, temperature, seed)])
        paths = []
        for sample in result.samples:
            read = self.parse(question, sample.text)
            paths.append(ReasoningPath.of_sample(sample, read.answer, read.method, read.span))
        return paths

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        [path] = await self.sample_paths(question, lm, 1, self.temperature, self.seed)
        trace.steps = {
            "exemplars": [e.id for e in self.select(question)],
            "rationale": path.text,
            "finish_reason": path.finish_reason,
            "extraction": {"method": path.method, "span": path.span},
        }
        if self.constrain:
            return await self._constrained_answer(question, lm, path.text, trace)
        if path.answer is not None:
            return Prediction(question_id=question.id, answer=path.answer, trace=trace)
        if self.fallback == "abstain" or question.is_free_form:
            why = (
                "fallback is 'abstain'"
                if self.fallback == "abstain"
                else "a free-form answer cannot be scored"
            )
            trace.notes.append(
                f"abstained: no answer read from the rationale ({why}); raw text in steps.rationale"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        return await self._score_after_rationale(question, lm, path.text, trace)

    def _answer_context(self, question: Question, text: str) -> str:
        """The prompt, the rationale (an answer phrase cut off) and " So the answer is", for the answer step."""
        cut = answer_phrase_start(text)
        rationale = (text if cut is None else text[:cut]).rstrip()
        return f"{self.build_prompt(question)}{rationale} {prompts.ANSWER_PREFIX}"

    async def _constrained_answer(
        self, question: Question, lm: AsyncLM, text: str, trace: Trace
    ) -> Prediction:
        """Generate the answer after the rationale, restricted to the option sentences (or `answer_regex`)."""
        if question.is_free_form:
            constraint = Constraint(regex=self.answer_regex)
            max_tokens = self.answer_tokens
        elif self.answer_constraint == "any_letter" and question.options is not None:
            letters = "|".join(prompts.LETTERS[: len(question.options)])
            texts = sorted({prompts.clean(o) for o in question.options}, key=len, reverse=True)
            constraint = Constraint(regex=rf" \(({letters})\) ({'|'.join(map(re.escape, texts))})\.")
            max_tokens = max(len(s.encode()) for s in _option_sentences(question)) + 1
        else:
            constraint = Constraint(choices=tuple(_option_sentences(question)))
            # a byte-level token holds at least one byte; one more for the end-of-text token
            max_tokens = max(len(c.encode()) for c in constraint.choices or ()) + 1
        request = GenerationRequest(
            prompt=self._answer_context(question, text), max_tokens=max_tokens, constraint=constraint
        )
        try:
            [result] = await lm.generate([request])
        except ContextWindowError as error:
            trace.steps["constrained_answer"] = {"error": str(error)}
            trace.notes.append(
                "abstained: the answer step does not fit the context window after the rationale"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        sample = result.samples[0]
        trace.steps["constrained_answer"] = {
            "constraint": constraint.model_dump(mode="json", exclude_none=True),
            "text": sample.text,
            "finish_reason": sample.finish_reason,
        }
        answer: Answer | None = None
        if question.is_free_form:
            if re.fullmatch(self.answer_regex, sample.text):
                answer = sample.text.strip()
        elif constraint.regex is not None:
            answer = extract_answer(question, f"{prompts.ANSWER_PREFIX}{sample.text}").answer
        elif sample.text in (constraint.choices or ()):
            answer = question.answer_of((constraint.choices or ()).index(sample.text))
        if answer is None:
            trace.notes.append(
                f"abstained: the constrained answer {sample.text!r} ended before it was complete"
            )
        return Prediction(question_id=question.id, answer=answer, trace=trace)

    async def _score_after_rationale(
        self, question: Question, lm: AsyncLM, text: str, trace: Trace
    ) -> Prediction:
        """Score each option's closing sentence after the rationale (an unreadable answer phrase cut off)."""
        context = self._answer_context(question, text)
        continuations = _option_sentences(question)
        try:
            scores = await score_continuations(lm, context, continuations)
        except ContextWindowError as error:
            # the model's own rationale used the room the options need; under truncation "left" the
            # backend would drop the oldest prompt tokens instead of raising
            trace.steps["fallback"] = {"continuations": continuations, "error": str(error)}
            trace.notes.append(
                "abstained: no answer read from the rationale, and the options do not fit the context "
                "window after it (truncation 'left' scores them with the oldest prompt tokens dropped)"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        chosen = scores.get(self.fallback_normalization)
        best = argmax(chosen)
        labels = question.choices
        trace.steps["fallback"] = {
            "continuations": continuations,
            "normalization": self.fallback_normalization,
            "scores": {n: dict(zip(labels, scores.get(n), strict=True)) for n in ("raw", "token", "char")},
        }
        trace.notes.append(
            f"no answer read from the rationale; options scored after it ({self.fallback_normalization})"
        )
        return Prediction(
            question_id=question.id,
            answer=question.answer_of(best),
            scores=dict(zip(labels, chosen, strict=True)),
            confidence=softmax(chosen)[best],
            trace=trace,
        )


def _option_sentences(question: Question) -> list[str]:
    """What follows "So the answer is" for each option, in option order (e.g. " (B) library.")."""
    return [
        f" {prompts.answer_label(question.options, question.answer_of(i))}."
        for i in range(len(question.choices))
    ]
