"""Rationalisation (STaR, Zelikman et al. 2022): the question with its answer given as a hint, so that a model
that could not solve it may still write a rationale that reaches the answer. The rationale is then kept as a
training example for the question WITHOUT the hint. A model reads the hint only if it was trained on the
format, so the same function renders the hinted training rows (`hinted_cot_text`) and the hinted prompts."""

from __future__ import annotations

from typing import Any

from reasonkit.strategies.prompts import _train_question, answer_label, cot_example
from reasonkit.types import Question

HINT_PREFIX = "Hint: the answer is"


def hinted_question(question: Question) -> Question:
    """The question with " Hint: the answer is (C) 57." after its text; needs the gold answer."""
    if question.gold is None:
        raise ValueError(f"question {question.id!r} has no gold answer to give as a hint")
    hint = f"{HINT_PREFIX} {answer_label(question.options, question.gold)}."
    return question.model_copy(update={"text": f"{question.text} {hint}"})


def hinted_cot_text(row: dict[str, Any]) -> str | None:
    """A TRAIN `Question` row with a rationale, as a chain-of-thought example whose question carries the hint."""
    question = _train_question(row)
    if question is None or not question.metadata.get("rationale"):
        return None
    hinted = hinted_question(question)
    return cot_example(hinted.text, hinted.options, question.metadata["rationale"], question.gold)


__all__ = ["HINT_PREFIX", "hinted_cot_text", "hinted_question"]
