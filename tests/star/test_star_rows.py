"""What a kept sample becomes: the trained format of its strategy, zero-shot, without the hint."""

from __future__ import annotations

from reasonkit.benchmarks.synthetic import suites
from reasonkit.registry import build_strategy
from reasonkit.star.rows import document
from reasonkit.strategies.arithmetic_format import END, problem_of, render_completion, scratchpad_text
from reasonkit.strategies.prompts import question_cot_text
from reasonkit.strategies.rationalization import hinted_question


def test_a_cot_sample_becomes_the_zero_shot_example_with_the_gold_answer_sentence() -> None:
    question = suites()["multistep"].generate(0, n_train=1).splits["train"][0]
    rationale = question.metadata["rationale"]
    wrong_text = f" {rationale} So the answer is ({'ABCDE'[question.gold]}) 1000."
    text = document(build_strategy("cot(shots=4)"), question, wrong_text)
    assert text == question_cot_text(question.model_dump(mode="json"))  # no exemplars, the gold option's text
    assert "Hint" not in text and "Hint" in hinted_question(question).text


def test_a_scratchpad_sample_becomes_the_trained_scratchpad_example() -> None:
    question = suites()["arithmetic"].generate(0, n_train=1).splits["train"][0]
    problem = problem_of(question)
    assert problem is not None
    sample = render_completion(problem).removesuffix(END)  # the engine leaves the stop string out
    text = document(build_strategy("scratchpad"), question, sample)
    assert text == scratchpad_text(question.model_dump(mode="json"))
