"""Chain of thought: the few-shot prompt, reading the answer, the scoring fallback and abstention."""

from __future__ import annotations

import re

import pytest

from reasonkit.fake import FakeLM
from reasonkit.protocol import ContextWindowError, GenerationRequest, LoglikelihoodRequest
from reasonkit.strategies import prompts
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.exemplars import Exemplar, load_exemplars
from reasonkit.types import Question

CSQA = Question(
    id="c1",
    text="Where would you find a revolving door?",
    options=("bank", "library", "forest"),
    gold=0,
    metadata={"benchmark": "commonsense_qa"},
)
CLAIM = Question(id="k1", text="Soup is a solid food.", gold=False, metadata={"benchmark": "creak"})


def generations(lm: FakeLM) -> list[GenerationRequest]:
    return [r for r in lm.requests if isinstance(r, GenerationRequest)]


def scorings(lm: FakeLM) -> list[LoglikelihoodRequest]:
    return [r for r in lm.requests if isinstance(r, LoglikelihoodRequest)]


def test_prompt_is_k_training_exemplars_then_the_open_question() -> None:
    cot = ChainOfThought(shots=3, seed=1)
    prompt = cot.build_prompt(CSQA)
    blocks = prompt.split(prompts.EXEMPLAR_SEPARATOR)
    assert len(blocks) == 4
    assert (
        blocks[-1]
        == "Question: Where would you find a revolving door?\nOptions: (A) bank (B) library (C) forest\nAnswer:"
    )
    shipped = {e.text() for e in load_exemplars("commonsenseqa")}
    assert set(blocks[:3]) <= shipped
    assert all(b.startswith("Question: ") and " So the answer is (" in b for b in blocks[:3])
    # deterministic from the seed, the same for every question of the benchmark (a shared, cacheable prefix)
    other = CSQA.model_copy(update={"id": "c2", "text": "Where do you keep milk?"})
    assert ChainOfThought(shots=3, seed=1).build_prompt(CSQA) == prompt
    assert cot.build_prompt(other).split("\n\n")[:3] == blocks[:3]
    assert ChainOfThought(shots=3, seed=2).build_prompt(CSQA) != prompt


def test_binary_statements_get_binary_exemplars() -> None:
    blocks = ChainOfThought(shots=4).build_prompt(CLAIM).split(prompts.EXEMPLAR_SEPARATOR)
    assert blocks[-1] == "Question: True or false: Soup is a solid food.\nAnswer:"
    assert all(
        b.startswith("Question: True or false: ") and b.endswith(("True.", "False.")) for b in blocks[:4]
    )


def test_a_fill_blank_sentence_is_asked_as_multiple_choice_over_its_fillers() -> None:
    """Chain of thought has no partial scoring: it asks the sentence with its lettered fillers, as it asks
    CommonsenseQA (with those exemplars), and reads the chosen letter back as the filler's index."""
    wino = Question(
        id="w",
        kind="fill_blank",
        text="The cup is on the table because the _ is flat.",
        options=("cup", "table"),
        gold=1,
    )
    blocks = ChainOfThought(shots=2).build_prompt(wino).split(prompts.EXEMPLAR_SEPARATOR)
    assert (
        blocks[-1]
        == "Question: The cup is on the table because the _ is flat.\nOptions: (A) cup (B) table\nAnswer:"
    )
    assert all(" So the answer is (" in b for b in blocks[:2])
    lm = FakeLM({"because the _ is flat": " Tables are flat. So the answer is (B) table."})
    prediction = ChainOfThought(shots=2).run(wino, lm)
    assert prediction.answer == 1 and prediction.is_correct(wino)


def test_reads_the_stated_answer_greedily_with_stop_strings() -> None:
    lm = FakeLM(
        {"revolving door": " Banks use them for security. So the answer is (A) bank.\nQuestion: next?"}
    )
    prediction = ChainOfThought(shots=2).run(CSQA, lm)
    assert prediction.answer == 0 and prediction.is_correct(CSQA)
    [request] = generations(lm)
    assert request.temperature == 0.0 and request.n == 1 and "\nQuestion:" in request.stop
    steps = prediction.trace.steps
    assert steps["rationale"] == " Banks use them for security. So the answer is (A) bank."  # cut at the stop
    assert steps["extraction"]["method"] == "letter" and len(steps["exemplars"]) == 2
    assert not scorings(lm) and [c.kind for c in prediction.trace.calls] == ["generate"]


def test_binary_answer_is_read() -> None:
    lm = FakeLM({"Soup is a solid": " Soup is mostly liquid. So the answer is false."})
    assert ChainOfThought(shots=2).run(CLAIM, lm).answer is False


def test_unreadable_answer_falls_back_to_scoring_the_options_after_the_rationale() -> None:
    def score(context: str, continuation: str) -> float:
        return -0.5 if continuation == " (B) library." else -3.0

    lm = FakeLM({"revolving door": " Hmm, doors turn around. So the answer is purple."}, scores=score)
    prediction = ChainOfThought(shots=1).run(CSQA, lm)
    assert prediction.answer == 1
    requests = scorings(lm)
    assert {r.continuation for r in requests} == {" (A) bank.", " (B) library.", " (C) forest."}
    # the unreadable answer phrase is cut off and the closing phrase put back
    assert {r.context for r in requests} == {
        ChainOfThought(shots=1).build_prompt(CSQA) + " Hmm, doors turn around. So the answer is"
    }
    steps = prediction.trace.steps
    assert steps["fallback"]["scores"]["token"]["library"] == pytest.approx(-0.5 / 2)  # FakeLM: 2 words
    assert any("scored" in note for note in prediction.trace.notes)
    assert sorted(c.kind for c in prediction.trace.calls) == [
        "generate",
        "loglikelihood",
        "loglikelihood",
        "loglikelihood",
    ]


def test_abstains_with_the_raw_text_when_asked_to() -> None:
    text = " I cannot tell what this is about"
    lm = FakeLM({"revolving door": text})
    prediction = ChainOfThought(shots=1, fallback="abstain").run(CSQA, lm)
    assert prediction.abstained and not prediction.is_correct(CSQA)
    assert prediction.trace.steps["rationale"] == text
    assert any(note.startswith("abstained") for note in prediction.trace.notes)
    assert not scorings(lm)


def test_free_form_questions_use_given_exemplars_and_abstain_rather_than_score() -> None:
    train = [
        Question(
            id=f"t{i}",
            text=f"Start with {i}. Add 1. What is the result?",
            gold=str(i + 1),
            split="train",
            metadata={"rationale": f"{i} + 1 = {i + 1}."},
        )
        for i in range(3)
    ]
    cot = ChainOfThought(shots=2, exemplars=tuple(Exemplar.from_question(q) for q in train))
    question = Question(id="f", text="Start with 7. Add 1. What is the result?", gold="8")
    prompt = cot.build_prompt(question)
    assert (
        "Question: Start with 7. Add 1. What is the result?\nAnswer:" in prompt
        and prompt.count("So the answer is") == 2
    )
    assert cot.run(question, FakeLM(default=" 7 + 1 = 8. So the answer is 8.")).answer == "8"
    assert cot.run(question, FakeLM(default=" 7 + 1 is big.")).abstained
    with pytest.raises(ValueError, match="exemplars"):
        ChainOfThought(shots=2).build_prompt(question)  # nothing shipped serves free-form questions


def test_an_exemplar_that_is_the_question_itself_is_left_out() -> None:
    exemplar = load_exemplars("commonsenseqa")[0]
    same = Question(id="x", text=exemplar.question, options=exemplar.options, metadata={"benchmark": "csqa"})
    for seed in range(5):
        prompt = ChainOfThought(shots=15, seed=seed).build_prompt(same)
        assert prompt.count(exemplar.question) == 1  # only as the question being asked


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="exemplar_set"):
        ChainOfThought(exemplar_set="nope")
    with pytest.raises(ValueError, match="shots"):
        ChainOfThought(shots=-1)


@pytest.mark.slow
def test_real_tiny_model(tiny_engine) -> None:
    questions = [CSQA, CLAIM]
    for fallback in ("score", "abstain"):
        predictions = ChainOfThought(shots=0, max_tokens=8, fallback=fallback).run_many(
            questions, tiny_engine
        )
        for question, prediction in zip(questions, predictions, strict=True):
            calls = prediction.trace.calls
            assert calls[0].kind == "generate" and calls[0].request["prompt"].endswith("\nAnswer:")
            assert isinstance(prediction.trace.steps["rationale"], str)
            if prediction.abstained:
                assert fallback == "abstain" and prediction.trace.notes
            else:
                assert prediction.answer in (range(3) if question.options else (True, False))
            if "fallback" in prediction.trace.steps:
                assert len(calls) == 1 + len(question.choices)


class SmallWindow(FakeLM):
    """Rejects a scoring context longer than `window` characters, as a backend under truncation "error"."""

    window = 200

    def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        for index, request in enumerate(requests):
            if len(request.context) > self.window:
                raise ContextWindowError(f"loglikelihood request {index}: too long for the window")
        return super().loglikelihood(requests)


def test_a_rationale_that_fills_the_window_abstains_and_the_other_questions_go_on() -> None:
    rambling = " and then " * 30
    other = Question(id="c2", text="Where do you keep milk?", options=("fridge", "shoe"), gold=0)
    lm = SmallWindow({"revolving door": rambling, "milk": " Hmm."}, scores=lambda context, cont: -1.0)
    cot = ChainOfThought(shots=0)
    assert (
        len(cot.build_prompt(CSQA) + rambling) > SmallWindow.window > len(cot.build_prompt(other) + " Hmm.")
    )
    long, short = cot.run_many([CSQA, other], lm)
    assert long.abstained and "too long for the window" in long.trace.steps["fallback"]["error"]
    assert any("do not fit the context window" in note for note in long.trace.notes)
    assert short.answer == 0 and "scores" in short.trace.steps["fallback"]


def test_real_tiny_model_abstains_when_its_rationale_leaves_no_room_for_the_options(tiny_engine) -> None:
    window = tiny_engine.config.block_size
    cot = ChainOfThought(shots=0, max_tokens=8)
    words = ["door"]
    while len(tiny_engine.tokenizer.encode(cot.build_prompt(_long_question(words)))) < window - 2:
        words.append("door")
    question = _long_question(words)
    [prediction] = cot.run_many([question], tiny_engine)
    assert prediction.trace.steps["finish_reason"] == "length"
    assert prediction.abstained and "window" in prediction.trace.steps["fallback"]["error"]


def _long_question(words: list[str]) -> Question:
    return Question(id="long", text=" ".join(words) + "?", options=("bank", "library", "forest"), gold=0)


def test_constrain_generates_the_answer_under_the_option_sentences() -> None:
    lm = FakeLM(
        {
            "So the answer is$": " (C) forest.",
            "revolving door": " Hmm, doors turn around. So the answer is purple.",
        },
        regex=True,
    )
    prediction = ChainOfThought(shots=1, constrain=True).run(CSQA, lm)
    assert prediction.answer == 2 and not scorings(lm)
    rationale, answer = generations(lm)
    assert (
        answer.prompt
        == ChainOfThought(shots=1).build_prompt(CSQA) + " Hmm, doors turn around. So the answer is"
    )
    assert answer.constraint is not None and answer.constraint.choices == (
        " (A) bank.",
        " (B) library.",
        " (C) forest.",
    )
    assert rationale.constraint is None
    assert prediction.trace.steps["constrained_answer"]["text"] == " (C) forest."


def test_constrain_answers_a_free_form_question_with_the_answer_regex() -> None:
    train = Question(
        id="t",
        text="Start with 1. Add 1. What is the result?",
        gold="2",
        split="train",
        metadata={"rationale": "1 + 1 = 2."},
    )
    cot = ChainOfThought(shots=1, exemplars=(Exemplar.from_question(train),), constrain=True)
    question = Question(id="f", text="Start with 7. Add 1. What is the result?", gold="8")
    lm = FakeLM({"So the answer is$": [" eight", " 8"], "Add 1. What": " 7 + 1 is big."}, regex=True)
    prediction = cot.run(question, lm)
    assert prediction.answer == "8" and prediction.is_correct(question)
    assert generations(lm)[-1].constraint is not None
    with pytest.raises(ValueError, match="answer_regex"):
        ChainOfThought(constrain=True, answer_regex="(")


def test_a_backend_without_constraints_is_named_in_the_error() -> None:
    from reasonkit.protocol import UnsupportedRequestError, refuse_constraints

    class Plain(FakeLM):
        def generate(self, requests: list[GenerationRequest]) -> list:  # type: ignore[override]
            refuse_constraints("plain", requests)
            return super().generate(requests)

    lm = Plain({"revolving door": " Doors. So the answer is (B) library."})
    assert ChainOfThought(shots=1).run(CSQA, lm).answer == 1
    with pytest.raises(
        Exception, match="backend plain cannot honour generation request 0's constraint"
    ) as info:
        ChainOfThought(shots=1, constrain=True).run(CSQA, lm)
    assert isinstance(info.value.__cause__ or info.value, UnsupportedRequestError)


def test_any_letter_constraint_reads_the_option_text_as_extraction_does() -> None:
    question = Question(
        id="m",
        text="Start with 12. Add 16. What is the result?",
        options=("30", "64", "28"),
        gold=2,
        metadata={"benchmark": "commonsense_qa"},
    )
    lm = FakeLM({"So the answer is$": " (B) 28.", "Add 16": " 12 + 16 = 28."}, regex=True)
    prediction = ChainOfThought(shots=1, constrain=True, answer_constraint="any_letter").run(question, lm)
    constraint = generations(lm)[-1].constraint
    assert (
        constraint is not None and constraint.regex is not None and re.fullmatch(constraint.regex, " (A) 64.")
    )
    assert prediction.answer == 2  # the letter disagrees with the text; the text decides, as in a rationale
