"""Generated knowledge: facts sampled once, one answer per distinct fact, the most confident answer wins."""

from __future__ import annotations

import pytest

from reasonkit.fake import FakeLM
from reasonkit.strategies.generated_knowledge import GeneratedKnowledge, explained_fact, knowledge_prompt
from reasonkit.types import Question

STATEMENT = Question(
    id="w1", text="Zapodu is striped.", gold=False, metadata={"benchmark": "world", "style": "statement"}
)
FACT = "Zapodu is a nebanu. Nebanus are not striped."


def leaning(fact_word: str, lean_true: float) -> FakeLM:
    """Knowledge samples are scripted; a prompt containing `fact_word` scores " true"/" True" by `lean_true`."""

    def score(context: str, continuation: str) -> float:
        says_true = continuation.strip().lower().startswith("true")
        lean = lean_true if fact_word in context else 0.0
        return lean if says_true else -lean

    return FakeLM({"Knowledge:": [f" {FACT}", " ", f" {FACT}", " Nebanus are loud."]}, scores=score)


def test_each_distinct_fact_answers_and_the_most_confident_wins() -> None:
    lm = leaning("not striped", -2.0)  # the true fact makes False confident; the plain answer is a coin flip
    prediction = GeneratedKnowledge(n=4).run(STATEMENT, lm)
    steps = prediction.trace.steps
    assert steps["knowledge"] == [FACT, "Nebanus are loud."]  # duplicates and empty samples dropped
    assert [a["knowledge"] for a in steps["answers"]] == [None, FACT, "Nebanus are loud."]
    assert prediction.answer is False and steps["chosen"] == 1
    assert prediction.confidence == pytest.approx(max(a["confidence"] for a in steps["answers"]))
    assert len(prediction.trace.children) == 3
    assert any(FACT in call.request["context"] for call in prediction.trace.children[1].calls)


def test_prompt_uses_train_exemplars_of_the_benchmark_not_the_question() -> None:
    lm = leaning("never", 0.0)
    GeneratedKnowledge(n=1, shots=3).run(STATEMENT, lm)
    prompt = lm.prompts[0]
    assert prompt.count("Input: ") == 4 and prompt.endswith("Input: Zapodu is striped.\nKnowledge:")
    assert knowledge_prompt([("a", "b")], "c") == "Input: a\nKnowledge: b\n\nInput: c\nKnowledge:"


def test_explain_prompt_keeps_what_follows_because() -> None:
    lm = FakeLM(
        {"This statement is": [f" false, because {FACT}", " true", " true, because"]}, scores=lambda c, x: 0.0
    )
    prediction = GeneratedKnowledge(n=3, prompt="explain").run(STATEMENT, lm)
    assert prediction.trace.steps["knowledge"] == [FACT]
    assert explained_fact(" maybe") == "" and explained_fact(" true, because  X. ") == "X."
    multiple_choice = Question(id="m", text="Q?", options=("a", "b"), gold=0)
    assert not GeneratedKnowledge(prompt="explain").applies_to(multiple_choice)
    assert GeneratedKnowledge().applies_to(multiple_choice)


def test_no_fact_and_no_plain_answer_abstains_with_a_note() -> None:
    lm = FakeLM({"Knowledge:": " "}, scores=lambda c, x: 0.0)
    prediction = GeneratedKnowledge(n=2, include_plain=False).run(STATEMENT, lm)
    assert prediction.answer is None
    assert "wrote no knowledge" in prediction.trace.notes[0]


def test_too_many_shots_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="shots=999"):
        GeneratedKnowledge(shots=999).knowledge_request(STATEMENT)


def test_real_tiny_model(tiny_engine) -> None:
    prediction = GeneratedKnowledge(n=2, shots=1, max_tokens=8, prompt="explain").run(STATEMENT, tiny_engine)
    assert prediction.answer in (True, False)
    assert prediction.trace.calls[0].kind == "generate"
    assert len(prediction.trace.children) == 1 + len(prediction.trace.steps["knowledge"])
