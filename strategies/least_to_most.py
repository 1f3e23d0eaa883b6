"""Least-to-most prompting (Zhou et al. 2022): reduce a problem to subquestions, then answer them in order,
each answer fed to the next.

Two stages, both plain generation:
  reduce  "Question: <text>\\nSubquestions:" -> " <sub 1> | <sub 2> | ... | <sub k>"   (one line)
  solve   "Q: <earlier sub>\\nA: <its answer>\\n" ... "Q: <sub i>\\nA:" -> " <answer i>"  (one line)
`feed="last"` puts only the previous subquestion and its answer before the next (a window of fixed size,
so a chain longer than any trained one is still a series of trained-size calls); `feed="all"` puts every
earlier pair, as the paper's prompts do. The last subanswer answers the question (read like a rationale's
"So the answer is X"). `exemplars` are blocks in these formats put before every prompt; with none given, a
question of a benchmark that ships worked decompositions (StrategyQA: its train decompositions, with facts as
the subanswers) gets `shots` of them (`exemplar_text`); `shots=0` turns that off. A trained model needs none. `subquestions_from="metadata"` skips the
reduce stage and solves the question's own decomposition (`metadata["subquestions"]`, as the synthetic
suites give it; StrategyQA's annotated "decomposition", `exemplars.given_decomposition`): an oracle ablation
that measures the solve stage alone. A "#k" in a given subquestion stays as written (the exemplars show it
so); with `feed="last"` the pair it names may not be in the prompt, so `feed="all"` suits StrategyQA. `chain_text` renders a synthetic question's
decomposition as training text (a recipe formatter). `sample_paths` lets self-consistency vote over sampled
decompositions.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.protocol import GenerationRequest, NewTokens, Sample
from reasonkit.registry import register_strategy
from reasonkit.strategies import prompts
from reasonkit.strategies.answer_extraction import extract_answer
from reasonkit.strategies.chain_of_thought import ReasoningPath
from reasonkit.strategies.exemplars import DecompositionExemplar, given_decomposition, select_decompositions
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace

SEPARATOR = " | "
REDUCE_CUE = "Subquestions:"
LINE_STOP = ("\n",)


def reduce_prompt(text: str) -> str:
    return f"Question: {prompts.clean(text)}\n{REDUCE_CUE}"


def solve_prompt(earlier: list[tuple[str, str]], subquestion: str) -> str:
    return "".join(f"Q: {q}\nA: {a}\n" for q, a in earlier) + f"Q: {subquestion}\nA:"


def split_subquestions(text: str) -> list[str]:
    """The subquestions of a reduce output; empty pieces are dropped."""
    return [part.strip() for part in text.split(SEPARATOR.strip()) if part.strip()]


def chain_text(row: dict[str, Any]) -> str | None:
    """Training text of a TRAIN question whose metadata holds "subquestions" and "subanswers": the reduce
    example, then one solve window per subquestion with only the previous pair before it (feed="last")."""
    question = Question.model_validate(row)
    subs, answers = question.metadata.get("subquestions"), question.metadata.get("subanswers")
    if question.split != "train" or not subs or not answers:
        return None
    blocks = [f"{reduce_prompt(question.text)} {SEPARATOR.join(subs)}"]
    for i, (sub, answer) in enumerate(zip(subs, answers, strict=True)):
        earlier = [(subs[i - 1], answers[i - 1])] if i else []
        blocks.append(f"{solve_prompt(earlier, sub)} {answer}")
    return prompts.EXEMPLAR_SEPARATOR.join(blocks)


def exemplar_text(exemplar: DecompositionExemplar) -> str:
    """A worked decomposition as exemplar blocks: the reduce example, then its subquestions answered in order
    with every earlier pair before each (as the paper's prompts show them)."""
    reduce = f"{reduce_prompt(exemplar.question)} {SEPARATOR.join(exemplar.subquestions)}"
    pairs = zip(exemplar.subquestions, exemplar.subanswers, strict=True)
    return prompts.EXEMPLAR_SEPARATOR.join([reduce, "\n".join(f"Q: {q}\nA: {a}" for q, a in pairs)])


class ChainStopped(Exception):
    """Internal: a chain that stopped before its last subquestion (the message says why)."""


@register_strategy("least_to_most", aliases=("l2m",))
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid"))
class LeastToMost(Strategy):
    """Reduce (greedy), then solve each subquestion greedily in order; at most `max_subquestions` of them."""

    name: ClassVar[str] = "least_to_most"

    feed: Literal["last", "all"] = "last"
    subquestions_from: Literal["model", "metadata"] = "model"
    max_subquestions: int = Field(12, ge=1)
    reduce_tokens: NewTokens = 160
    answer_tokens: NewTokens = 16
    exemplars: tuple[str, ...] = ()
    shots: int = Field(2, ge=0)

    def uses_loglikelihood(self) -> bool:
        return False

    def _with_exemplars(self, question: Question, prompt: str) -> str:
        blocks = self.exemplars or tuple(
            exemplar_text(e) for e in select_decompositions(question, self.shots)
        )
        return prompts.EXEMPLAR_SEPARATOR.join([*blocks, prompt])

    def reduce_request(self, question: Question, n: int, temperature: float, seed: int) -> GenerationRequest:
        return GenerationRequest(
            prompt=self._with_exemplars(question, reduce_prompt(question.text)),
            n=n,
            max_tokens=self.reduce_tokens,
            temperature=temperature,
            stop=LINE_STOP,
            seed=seed,
        )

    async def _solve_chain(self, question: Question, subquestions: list[str], lm: AsyncLM) -> list[Sample]:
        """Greedy answers in order; raises ChainStopped when the budget or an empty answer stops the chain."""
        if not subquestions:
            raise ChainStopped("the decomposition has no subquestions")
        if len(subquestions) > self.max_subquestions:
            raise ChainStopped(
                f"the decomposition has {len(subquestions)} subquestions, more than "
                f"max_subquestions={self.max_subquestions}"
            )
        answers: list[Sample] = []
        for i, sub in enumerate(subquestions):
            pairs = [(q, a.text.strip()) for q, a in zip(subquestions, answers, strict=False)]
            earlier = pairs if self.feed == "all" else pairs[-1:]
            request = GenerationRequest(
                prompt=self._with_exemplars(question, solve_prompt(earlier, sub)),
                max_tokens=self.answer_tokens,
                stop=LINE_STOP,
            )
            [result] = await lm.generate([request])
            sample = result.samples[0]
            answers.append(sample)
            if not sample.text.strip():
                raise ChainStopped(f"subquestion {i + 1} ({sub!r}) got no answer ({sample.finish_reason})")
        return answers

    async def _run(
        self, question: Question, reduce: Sample, lm: AsyncLM
    ) -> tuple[ReasoningPath, dict[str, Any]]:
        """One decomposition solved: the path self-consistency votes on and the trace's steps."""
        subquestions = split_subquestions(reduce.text)
        steps: dict[str, Any] = {
            "decomposition": reduce.text,
            "subquestions": subquestions,
            "reduce_finish_reason": reduce.finish_reason,
        }
        try:
            answers = await self._solve_chain(question, subquestions, lm)
        except ChainStopped as stop:
            steps["stopped"] = str(stop)
            return ReasoningPath.of_sample(reduce, None, "none", ""), steps
        steps["subanswers"] = [a.text.strip() for a in answers]
        last = answers[-1].text.strip()
        read = extract_answer(question, f"{prompts.ANSWER_PREFIX} {last}.")
        text = "\n".join(f"Q: {q}\nA: {a.text.strip()}" for q, a in zip(subquestions, answers, strict=True))
        path = ReasoningPath(
            text=f"{reduce.text.strip()}\n{text}",
            answer=read.answer,
            method=read.method,
            span=read.span,
            logprob=reduce.logprob + sum(a.logprob for a in answers),
            n_tokens=len(reduce.token_logprobs) + sum(len(a.token_logprobs) for a in answers),
            finish_reason=reduce.finish_reason,
        )
        if read.answer is None:
            steps["stopped"] = f"the last subanswer {last!r} is not one of the question's answers"
        return path, steps

    async def sample_paths(
        self, question: Question, lm: AsyncLM, n: int, temperature: float, seed: int
    ) -> list[ReasoningPath]:
        """n decompositions sampled in one request, each solved greedily (the chains run together)."""
        if self.subquestions_from == "metadata":
            raise ValueError(
                "least_to_most: subquestions_from='metadata' solves the one given decomposition greedily; "
                "there is nothing to sample"
            )
        [result] = await lm.generate([self.reduce_request(question, n, temperature, seed)])
        runs = await asyncio.gather(*(self._run(question, sample, lm) for sample in result.samples))
        return [path for path, _ in runs]

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        if self.subquestions_from == "metadata":
            given = given_decomposition(question)
            reduce = Sample(text=f" {SEPARATOR.join(given)}", finish_reason="stop")
        else:
            [result] = await lm.generate([self.reduce_request(question, 1, 0.0, 0)])
            reduce = result.samples[0]
        path, trace.steps = await self._run(question, reduce, lm)
        if path.answer is None:
            trace.notes.append(f"abstained: {trace.steps['stopped']}")
        return Prediction(question_id=question.id, answer=path.answer, trace=trace)
