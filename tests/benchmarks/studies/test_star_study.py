from __future__ import annotations

import random

from reasonkit.benchmarks.studies.star import exact_rationale, overlap
from reasonkit.benchmarks.synthetic.multistep import Step, make_question
from reasonkit.strategies.prompts import cot_example
from reasonkit.types import Question

ADD_3_TIMES_2 = (Step(op="add", amount=3), Step(op="mul", amount=2))


def chain_question(qid: str, split: str, start: int, steps: tuple[Step, ...]) -> Question:
    return make_question(qid, split, start, steps, random.Random(0))


def test_a_rationale_counts_as_exact_only_when_every_equation_is_the_chain() -> None:
    question = chain_question("multistep-train-1", "train", 7, ADD_3_TIMES_2)
    assert question.gold is not None
    right = cot_example(question.text, question.options, "7 + 3 = 10. 10 * 2 = 20.", question.gold)
    lucky = cot_example(question.text, question.options, "7 + 3 = 11. 11 * 2 = 20.", question.gold)
    assert exact_rationale({"text": right}, question)
    assert not exact_rationale({"text": lucky}, question)


def test_overlap_names_evaluation_questions_that_are_train_questions() -> None:
    train = chain_question("multistep-train-1", "train", 7, ADD_3_TIMES_2)
    same_text = train.model_copy(update={"id": "multistep-test-9", "split": "test"})
    other = chain_question("multistep-test-3", "test", 5, (Step(op="sub", amount=1),))
    assert overlap([same_text, other], [train]) == ["multistep-test-9"]
