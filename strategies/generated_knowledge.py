"""Generated knowledge prompting (Liu et al. 2022): the model first writes facts about the question, then
answers once per fact with the fact in front of the question, and the most confident answer wins.

The facts are sampled after few-shot exemplars from training splits only: a true/false statement's are
maieutic's (statement, explanation) pairs of its benchmark (the world's own for the synthetic world, CREAK's
otherwise), a multiple-choice question's are chain-of-thought exemplars with their rationales. With
`prompt="knowledge"` they are the paper's "Input: ... / Knowledge: ..." pairs; `prompt="explain"` (true/false
statements only) asks in the format maieutic explains in, "Q: <statement> / A: This statement is true,
because <explanation>", with the label left to the model, and keeps what follows "because": a small model
that never saw the paper's format writes its facts in the one it was trained on. Duplicate facts are dropped; the answer without any fact competes too
(`include_plain`), as in the paper. Any answering strategy can be `inner` (default `direct`): it sees a
question whose text starts with the fact. The method is for a model that holds facts it can write but not
judge; whether the answer then uses them is what a run measures.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.client import solve_traced
from reasonkit.protocol import GenerationRequest, NewTokens, SampleCount
from reasonkit.registry import register_strategy
from reasonkit.strategies.direct import Direct
from reasonkit.strategies.exemplars import normalize_text, select_exemplars
from reasonkit.strategies.maieutic import Shots, abductive_examples, exemplar_set_for, load_exemplars
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

KNOWLEDGE_STOP = ("\n",)
BECAUSE = ", because"


def knowledge_prompt(examples: list[tuple[str, str]], question: str) -> str:
    """The paper's knowledge-generation prompt without its instruction line (a small model follows examples)."""
    shots = "".join(f"Input: {text}\nKnowledge: {fact}\n\n" for text, fact in examples)
    return f"{shots}Input: {question}\nKnowledge:"


def explain_prompt(shots: Shots, statement: str) -> str:
    """Maieutic's abductive format with the label left open: the model writes "true, because ..." itself."""
    return f"{abductive_examples(shots)}Q: {statement}\nA: This statement is"


def explained_fact(text: str) -> str:
    """What follows the first ", because" of an `explain` sample; nothing when the model gave no reason."""
    _, found, fact = text.partition(BECAUSE)
    return fact.strip() if found else ""


def with_fact(question: Question, fact: str) -> Question:
    """The question as the answering strategy sees it: the fact, then the question's own text."""
    return question.model_copy(update={"text": f"{fact} {question.text}"})


def confidence_of(prediction: Prediction) -> float | None:
    """How sure an answer is: its own confidence, else its best score; an abstention has none."""
    if prediction.answer is None:
        return None
    if prediction.confidence is not None:
        return prediction.confidence
    return max(prediction.scores.values(), default=None)


@register_strategy("generated_knowledge")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class GeneratedKnowledge(Strategy):
    """`n` facts sampled after `shots` exemplars (seeded choice), `inner` answers once per distinct fact (and
    once without, unless `include_plain` is off); the answer with the highest confidence is returned."""

    name: ClassVar[str] = "generated_knowledge"

    inner: Strategy = Field(default_factory=Direct)
    prompt: Literal["knowledge", "explain"] = "knowledge"
    n: SampleCount = 5
    shots: int = Field(4, ge=1)
    temperature: float = Field(0.7, ge=0.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: NewTokens = 48
    include_plain: bool = True
    seed: int = 0

    def applies_to(self, question: Question) -> bool:
        kinds = ("binary",) if self.prompt == "explain" else ("binary", "multiple_choice")
        return question.kind in kinds and self.inner.applies_to(question)

    def uses_loglikelihood(self) -> bool:
        return self.inner.uses_loglikelihood()

    def statement_shots(self, question: Question) -> Shots:
        """`shots` of maieutic's (statement, explanation) exemplars of the question's benchmark, seeded, never the
        question itself."""
        pool = [
            e
            for e in load_exemplars(exemplar_set_for(question))
            if normalize_text(e.statement) != normalize_text(question.text)
        ]
        if self.shots > len(pool):
            raise ValueError(
                f"generated_knowledge: shots={self.shots} but only {len(pool)} exemplars serve "
                f"question {question.id!r}"
            )
        return tuple(random.Random(self.seed).sample(pool, self.shots))

    def knowledge_request(self, question: Question) -> GenerationRequest:
        """The same exemplars for every question of a benchmark: training splits only."""
        if question.kind != "binary":
            examples = [(e.question, e.rationale) for e in select_exemplars(question, self.shots, self.seed)]
            prompt = knowledge_prompt(examples, question.text)
        elif self.prompt == "explain":
            prompt = explain_prompt(self.statement_shots(question), question.text)
        else:
            shots = self.statement_shots(question)
            prompt = knowledge_prompt([(e.statement, e.explanation) for e in shots], question.text)
        return GenerationRequest(
            prompt=prompt,
            n=self.n,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=KNOWLEDGE_STOP,
            seed=self.seed,
        )

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        [result] = await lm.generate([self.knowledge_request(question)])
        texts = [
            explained_fact(s.text) if self.prompt == "explain" else s.text.strip() for s in result.samples
        ]
        facts = list(dict.fromkeys(t for t in texts if t))
        variants = ([question] if self.include_plain else []) + [with_fact(question, f) for f in facts]
        trace = Trace(strategy=self.name)
        if not variants:
            trace.notes.append("abstained: the model wrote no knowledge and include_plain is off")
            trace.steps = {"knowledge": [], "answers": []}
            return Prediction(question_id=question.id, answer=None, trace=trace)
        predictions = await asyncio.gather(*(solve_traced(self.inner, v, lm) for v in variants))
        labels = ([None] if self.include_plain else []) + facts
        answers: list[dict[str, Any]] = [
            {"knowledge": fact, "answer": p.answer, "confidence": confidence_of(p)}
            for fact, p in zip(labels, predictions, strict=True)
        ]
        ranks = [float("-inf") if a["confidence"] is None else a["confidence"] for a in answers]
        best = max(range(len(predictions)), key=lambda i: (ranks[i], -i))
        chosen = predictions[best]
        trace.children = [p.trace for p in predictions]
        trace.steps = {"knowledge": facts, "answers": answers, "chosen": best}
        if chosen.answer is None:
            trace.notes.append("abstained: every answer abstained")
        return Prediction(
            question_id=question.id,
            answer=chosen.answer,
            scores=chosen.scores,
            confidence=chosen.confidence,
            trace=trace,
        )
