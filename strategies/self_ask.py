"""Self-ask (Press et al. 2022): the model asks itself follow-up questions and answers them before answering.

The format (the paper's):
    Question: <text>
    Are follow up questions needed here: Yes.
    Follow up: <question>
    Intermediate answer: <answer>
    ...
    So the final answer is: <answer>.
The model writes up to each "Intermediate answer:"; the strategy then gets that answer from the model itself
continuing the same text (`answerer` None, the default), or from an inner strategy asked the follow-up as a question
of its own (`answerer=<strategy>`, e.g. `cot(shots=0)`: the single hop the way it is asked alone). At most
`max_follow_ups` follow-ups; the trace lists each with its answer. `exemplars` are blocks in this format
before the prompt; with none given, a question of a benchmark that ships worked decompositions (StrategyQA: its
train decompositions, facts as the intermediate answers) gets `shots` of them (`exemplar_text`); `shots=0`
turns that off. A trained model needs none.
`follow_ups_from="metadata"` is the oracle ablation: the question's own follow-ups (`exemplars.given_follow_ups`:
a suite's "follow_ups", or StrategyQA's annotated decomposition without its last, yes / no step) are asked in
order and the model (or `answerer`) answers each and then writes the final answer, so the answer step is
measured apart from the asking. A "#k" in a given follow-up is replaced by the k-th intermediate answer, so
each follow-up stands alone as self-ask's do.
`self_ask_text` and `direct_text` render a synthetic question as training text (recipe formatters);
`sample_paths` lets self-consistency vote over sampled self-ask runs.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.client import solve_traced
from reasonkit.protocol import GenerationRequest, NewTokens, Sample
from reasonkit.registry import register_strategy
from reasonkit.strategies import prompts
from reasonkit.strategies.answer_extraction import extract_answer
from reasonkit.strategies.chain_of_thought import ReasoningPath
from reasonkit.strategies.exemplars import (
    DecompositionExemplar,
    given_decomposition,
    given_follow_ups,
    select_decompositions,
)
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Answer, Prediction, Question, Trace

NEEDED = "Are follow up questions needed here:"
FOLLOW_UP = "Follow up:"
INTERMEDIATE = "Intermediate answer:"
FINAL = "So the final answer is:"
FINAL_ANSWER = re.compile(re.escape(FINAL) + r"\s*(.+?)\.?\s*$", re.MULTILINE)
_REFERENCE = re.compile(r"#(\d+)")


def standalone(follow_up: str, answers: list[str]) -> str:
    """A given follow-up with each "#k" replaced by the k-th answer so far (a "#k" with none stays)."""

    def answer(match: re.Match[str]) -> str:
        k = int(match.group(1))
        return answers[k - 1] if 1 <= k <= len(answers) else match.group(0)

    return _REFERENCE.sub(answer, follow_up)


def self_ask_prompt(text: str) -> str:
    return f"Question: {prompts.clean(text)}\n{NEEDED}"


def self_ask_text(row: dict[str, Any]) -> str | None:
    """A TRAIN question in the self-ask format: its follow-ups and intermediate answers
    (`metadata["follow_ups"]`, `["intermediate"]`), or "No." and the answer when it has none."""
    question = Question.model_validate(row)
    if question.split != "train" or not isinstance(question.gold, str):
        return None
    follow_ups, answers = question.metadata.get("follow_ups", []), question.metadata.get("intermediate", [])
    if not follow_ups:
        return f"{self_ask_prompt(question.text)} No.\n{FINAL} {question.gold}."
    lines = [f"{FOLLOW_UP} {q}\n{INTERMEDIATE} {a}." for q, a in zip(follow_ups, answers, strict=True)]
    return f"{self_ask_prompt(question.text)} Yes.\n" + "\n".join(lines) + f"\n{FINAL} {question.gold}."


def exemplar_text(exemplar: DecompositionExemplar) -> str:
    """A worked decomposition in the self-ask format: every subquestion but the last (the yes / no step) is a
    follow-up with its fact as the intermediate answer; the label is the final answer."""
    lines = [
        f"{FOLLOW_UP} {q}\n{INTERMEDIATE} {a}."
        for q, a in zip(exemplar.subquestions[:-1], exemplar.subanswers[:-1], strict=True)
    ]
    final = "yes" if exemplar.answer else "no"
    return f"{self_ask_prompt(exemplar.question)} Yes.\n" + "\n".join(lines) + f"\n{FINAL} {final}."


def direct_text(row: dict[str, Any]) -> str | None:
    """A free-form TRAIN question answered at once, in chain of thought's format with no rationale (so
    `cot(shots=0)` asks it): the direct baseline of the compositionality gap."""
    question = Question.model_validate(row)
    if question.split != "train" or not isinstance(question.gold, str):
        return None
    return prompts.cot_example(question.text, None, "", question.gold)


@register_strategy("self_ask")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class SelfAsk(Strategy):
    """Generate follow-ups greedily; each answered by the model continuing the text (`answerer` None) or by
    the `answerer` strategy; stop at the final answer or after `max_follow_ups`."""

    name: ClassVar[str] = "self_ask"

    answerer: Strategy | None = None
    max_follow_ups: int = Field(4, ge=0)
    max_tokens: NewTokens = 64
    answer_tokens: NewTokens = 16
    exemplars: tuple[str, ...] = ()
    shots: int = Field(2, ge=0)
    follow_ups_from: Literal["model", "metadata"] = "model"

    def config(self) -> dict[str, Any]:
        """Without `follow_ups_from` at its default, so run folders made before it existed keep resuming."""
        config = super().config()
        if self.follow_ups_from == "model":
            del config["follow_ups_from"]
        return config

    def uses_loglikelihood(self) -> bool:
        return self.answerer is not None and self.answerer.uses_loglikelihood()

    def _prompt(self, question: Question) -> str:
        blocks = self.exemplars or tuple(
            exemplar_text(e) for e in select_decompositions(question, self.shots)
        )
        return prompts.EXEMPLAR_SEPARATOR.join([*blocks, self_ask_prompt(question.text)])

    def _request(
        self,
        prompt: str,
        stop: tuple[str, ...],
        max_tokens: int,
        n: int = 1,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> GenerationRequest:
        return GenerationRequest(
            prompt=prompt, n=n, max_tokens=max_tokens, temperature=temperature, stop=stop, seed=seed
        )

    async def _answer(self, follow_up: str, text: str, lm: AsyncLM, trace: Trace) -> tuple[str, float, int]:
        """The intermediate answer to `follow_up` (its text, log-prob and token count)."""
        if self.answerer is not None:
            sub = Question(
                id=f"follow-up-{len(trace.steps.get('follow_ups', []))}", text=follow_up, kind="free_form"
            )
            prediction = await solve_traced(self.answerer, sub, lm)
            trace.children.append(prediction.trace)
            return ("" if prediction.answer is None else str(prediction.answer)), 0.0, 0
        [result] = await lm.generate([self._request(text, ("\n",), self.answer_tokens)])
        sample = result.samples[0]
        return sample.text.strip().removesuffix("."), sample.logprob, len(sample.token_logprobs)

    async def _run(self, question: Question, lm: AsyncLM, first: Sample, trace: Trace) -> ReasoningPath:
        """Continue from the first generated piece until the final answer, a stop, or the budget."""
        prompt = self._prompt(question)
        text, piece = prompt, first
        logprob, n_tokens = first.logprob, len(first.token_logprobs)
        follow_ups: list[dict[str, str]] = []
        trace.steps["follow_ups"] = follow_ups
        while True:
            text += piece.text
            final = FINAL_ANSWER.search(piece.text)
            if final is not None:
                return self._finish(question, final.group(1), text, prompt, logprob, n_tokens, piece, trace)
            asked = piece.text.rsplit(FOLLOW_UP, 1)
            if len(asked) < 2 or piece.finish_reason == "length":
                trace.steps["stopped"] = "the model wrote neither a follow-up nor a final answer"
                break
            if len(follow_ups) >= self.max_follow_ups:
                trace.steps["stopped"] = f"more than max_follow_ups={self.max_follow_ups} follow-ups"
                break
            follow_up = asked[1].strip()
            text += f"\n{INTERMEDIATE}"
            answer, lp, nt = await self._answer(follow_up, text, lm, trace)
            follow_ups.append({"question": follow_up, "answer": answer})
            if not answer:
                trace.steps["stopped"] = f"follow-up {len(follow_ups)} ({follow_up!r}) got no answer"
                break
            text += f" {answer}.\n"
            [result] = await lm.generate(
                [self._request(text, (f"\n{INTERMEDIATE}", "\n\n"), self.max_tokens)]
            )
            piece = result.samples[0]
            logprob, n_tokens = logprob + lp + piece.logprob, n_tokens + nt + len(piece.token_logprobs)
        trace.steps["text"] = text[len(prompt) :]
        return ReasoningPath(
            text=text[len(prompt) :],
            answer=None,
            method="none",
            logprob=logprob,
            n_tokens=n_tokens,
            finish_reason=piece.finish_reason,
        )

    def _finish(
        self,
        question: Question,
        said: str,
        text: str,
        prompt: str,
        logprob: float,
        n_tokens: int,
        piece: Sample,
        trace: Trace,
    ) -> ReasoningPath:
        read = extract_answer(question, f"{prompts.ANSWER_PREFIX} {said.strip()}.")
        trace.steps["text"] = text[len(prompt) :]
        trace.steps["final"] = said.strip()
        if read.answer is None:
            trace.steps["stopped"] = f"the final answer {said.strip()!r} is not one of the question's answers"
        return ReasoningPath(
            text=text[len(prompt) :],
            answer=read.answer,
            method=read.method,
            span=read.span,
            logprob=logprob,
            n_tokens=n_tokens,
            finish_reason=piece.finish_reason,
        )

    def _first_request(self, question: Question, n: int, temperature: float, seed: int) -> GenerationRequest:
        prompt = self._prompt(question)
        return self._request(prompt, (f"\n{INTERMEDIATE}", "\n\n"), self.max_tokens, n, temperature, seed)

    async def sample_paths(
        self, question: Question, lm: AsyncLM, n: int, temperature: float, seed: int
    ) -> list[ReasoningPath]:
        """n first pieces sampled in one request (the first follow-up differs), each continued greedily."""
        if self.follow_ups_from == "metadata":
            raise ValueError(
                "self_ask: follow_ups_from='metadata' asks the given follow-ups greedily; there is nothing to sample"
            )
        [result] = await lm.generate([self._first_request(question, n, temperature, seed)])
        return list(
            await asyncio.gather(
                *(self._run(question, lm, sample, Trace(strategy=self.name)) for sample in result.samples)
            )
        )

    async def _given(self, question: Question, lm: AsyncLM, trace: Trace) -> ReasoningPath:
        """The oracle: the given follow-ups asked in order, each answered, then the model's final answer."""
        prompt = self._prompt(question)
        given = given_follow_ups(question)
        text = f"{prompt} {'Yes' if given else 'No'}.\n"
        follow_ups: list[dict[str, str]] = []
        trace.steps["follow_ups"] = follow_ups
        logprob, n_tokens = 0.0, 0
        stopped = None
        if not given and not given_decomposition(question):
            stopped = "the question has no decomposition in its metadata"
        for asked in given if stopped is None else []:
            follow_up = standalone(asked, [f["answer"] for f in follow_ups])
            text += f"{FOLLOW_UP} {follow_up}\n{INTERMEDIATE}"
            answer, lp, nt = await self._answer(follow_up, text, lm, trace)
            follow_ups.append({"question": follow_up, "answer": answer})
            logprob, n_tokens = logprob + lp, n_tokens + nt
            if not answer:
                stopped = f"follow-up {len(follow_ups)} ({follow_up!r}) got no answer"
                break
            text += f" {answer}.\n"
        if stopped is not None:
            trace.steps["stopped"] = stopped
            return ReasoningPath(
                text=text[len(prompt) :],
                answer=None,
                method="none",
                logprob=logprob,
                n_tokens=n_tokens,
                finish_reason="stop",
            )
        text += FINAL
        [result] = await lm.generate([self._request(text, ("\n",), self.answer_tokens)])
        piece = result.samples[0]
        logprob, n_tokens = logprob + piece.logprob, n_tokens + len(piece.token_logprobs)
        said = piece.text.strip().removesuffix(".")
        return self._finish(question, said, text + piece.text, prompt, logprob, n_tokens, piece, trace)

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        if self.follow_ups_from == "metadata":
            path = await self._given(question, lm, trace)
        else:
            [result] = await lm.generate([self._first_request(question, 1, 0.0, 0)])
            path = await self._run(question, lm, result.samples[0], trace)
        answer: Answer | None = path.answer
        if answer is None:
            trace.notes.append(f"abstained: {trace.steps.get('stopped', 'no final answer')}")
        return Prediction(question_id=question.id, answer=answer, trace=trace)
