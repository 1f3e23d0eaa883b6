"""Which samples become training documents, and how they are written.

A kept sample becomes the question WITHOUT any hint, in the generating strategy's own zero-shot prompt, followed
by what the model wrote: for `cot` the "Question: ... Answer: <rationale> So the answer is (C) 57." example the
start model was trained on, for `scratchpad` its scratchpad format. Few-shot exemplars are left out (the
paper fine-tunes on single examples). One document per question: the first sample that reached the gold answer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from reasonkit.atomic import atomic_write_text, sha256_file
from reasonkit.benchmarks.runner import ResultLine
from reasonkit.star.state import StarError
from reasonkit.strategies.answer_extraction import answer_phrase_start
from reasonkit.strategies.arithmetic_format import END
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.prompts import answer_sentence
from reasonkit.strategies.rationalization import HINT_PREFIX
from reasonkit.strategies.scratchpad import Scratchpad
from reasonkit.strategy import Strategy
from reasonkit.types import Prediction, Question

Origin = Literal["sampled", "rationalised", "gold"]


class TrainingRow(BaseModel):
    """One line of an iteration's rows.jsonl; the fine-tune recipe trains on `text` and leak-checks `question`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    question: str
    text: str
    origin: Origin


def zero_shot(strategy: Strategy) -> Strategy:
    """The strategy without few-shot exemplars (a strategy with a `shots` field), for rendering training text."""
    if "shots" in getattr(strategy, "__dataclass_fields__", {}):
        return dataclasses.replace(strategy, shots=0)  # type: ignore[type-var]
    return strategy


def check_renders(strategy: Strategy) -> None:
    """STaR trains on the strategy's prompt + the sample, so the strategy must say what its prompt is."""
    if not callable(getattr(strategy, "generation_request", None)):
        raise StarError(
            f"--strategy {strategy.name!r} has no generation_request, so its samples cannot be written as "
            "training text; use cot or scratchpad"
        )


def document(strategy: Strategy, question: Question, completion: str) -> str:
    """The training text of one sample: the question's zero-shot prompt, then the completion. A cot
    completion's closing sentence is written anew with the gold answer: the answer was read from it, but the
    model may pair the right letter with another option's text, and that pairing is not to be learnt. A
    scratchpad gets back the end marker it stopped on."""
    request = zero_shot(strategy).generation_request(question, n=1, temperature=0.0, seed=0)  # type: ignore[attr-defined]
    completion = completion.rstrip()
    cut = answer_phrase_start(completion) if isinstance(strategy, ChainOfThought) else None
    if cut is not None and question.gold is not None:
        rationale = completion[:cut].rstrip()
        completion = f"{rationale} {answer_sentence(question.options, question.gold)}"
    if isinstance(strategy, Scratchpad):
        completion += END  # the stop string, left out of the sample, closes every trained scratchpad
    return request.prompt + completion


def correct_completion(line: ResultLine, question: Question, *, hinted: bool) -> str | None:
    """The first sampled path of a self-consistency result that reached `question`'s gold answer. A
    rationalisation that repeats the hint is refused: the trained question will not carry it."""
    for path in line.prediction.trace.steps.get("paths", []):
        answer = path.get("answer")
        if answer is None or not Prediction(question_id=question.id, answer=answer).is_correct(question):
            continue
        if hinted and HINT_PREFIX.lower() in path["text"].lower():
            continue
        return str(path["text"])
    return None


def kept_rows(
    strategy: Strategy, questions: Mapping[str, Question], lines: Iterable[ResultLine], origin: Origin
) -> list[TrainingRow]:
    """One row per question with a correct path; `questions` maps ids to the questions WITHOUT the hint."""
    rows = []
    for line in lines:
        question = questions[line.question_id]
        completion = correct_completion(line, question, hinted=origin == "rationalised")
        if completion is not None:
            rows.append(
                TrainingRow(
                    id=question.id,
                    question=question.text,
                    text=document(strategy, question, completion),
                    origin=origin,
                )
            )
    return rows


def gold_rows(
    questions: Sequence[Question], formatter: Callable[[dict[str, Any]], str | None]
) -> list[TrainingRow]:
    """The answers-only baseline: each question with its gold answer in `formatter`'s format (rows it skips
    are left out)."""
    rows = []
    for question in questions:
        text = formatter(question.model_dump(mode="json"))
        if text is not None:
            rows.append(TrainingRow(id=question.id, question=question.text, text=text, origin="gold"))
    return rows


def write_rows(path: Path, rows: Sequence[TrainingRow]) -> str:
    """rows.jsonl, atomically; its sha256."""
    atomic_write_text(path, "".join(json.dumps(row.model_dump()) + "\n" for row in rows))
    return sha256_file(path)
