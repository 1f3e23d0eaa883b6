from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reasonkit.types import LMCall, Prediction, Question, Trace


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "  "}, r"question 'q7': field 'text' is empty"),
        ({"options": ("only one",)}, r"question 'q7': field 'options' needs at least 2 options, got 1"),
        ({"options": ()}, r"question 'q7': field 'options' needs at least 2 options, got 0"),
        ({"options": ("a", " ")}, r"question 'q7': field 'options' has an empty option"),
        (
            {"options": ("Paris", "Paris ")},
            r"question 'q7': field 'options' has the duplicate option 'Paris '",
        ),
        (
            {"options": ("a", "b"), "gold": True},
            r"question 'q7': field 'gold' is binary \(True\) on a multiple-choice",
        ),
        (
            {"options": ("a", "b"), "gold": 2},
            r"question 'q7': field 'gold' = 2 is not an index into 2 options",
        ),
        ({"options": ("a", "b"), "gold": -1}, r"question 'q7': field 'gold' = -1 is not an index"),
        ({"gold": 1}, r"question 'q7': field 'gold' must be true/false on a binary question, got 1"),
        ({"id": " "}, r"question with an empty 'id' field"),
        ({"options": ("a", "b"), "gold": "a"}, r"question 'q7': field 'gold' must be an option index"),
        (
            {"kind": "multiple_choice"},
            r"question 'q7': field 'options' is missing on a multiple-choice question",
        ),
        (
            {"kind": "binary", "options": ("a", "b")},
            r"question 'q7': field 'options' is given on a binary question",
        ),
        (
            {"text": "caf\udce9?"},
            r"question 'q7': field 'text' has a lone surrogate '\\udce9' at character 4",
        ),
        (
            {"options": ("a", "\ud800")},
            r"question 'q7': field 'options' has a lone surrogate '\\ud800' at character 1",
        ),
        ({"gold": "x\udfff"}, r"question 'q7': field 'gold' has a lone surrogate"),
        (
            {"kind": "free_form", "gold": 3},
            r"question 'q7': field 'gold' must be a string on a free-form question",
        ),
    ],
)
def test_invalid_questions_name_the_id_and_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Question(**{"id": "q7", "text": "What?", **fields})


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="answer_key"):
        Question(id="q", text="What?", answer_key=1)  # type: ignore[call-arg]


def test_binary_and_multiple_choice_questions() -> None:
    binary = Question(id="b", text="Ice is cold.", gold=False)
    assert binary.options is None and binary.is_binary and binary.choices == ("True", "False")
    assert binary.answer_of(0) is True and binary.answer_of(1) is False
    mc = Question(id="m", text="Capital of France?", options=("Rome", "Paris"), gold=1)
    assert not mc.is_binary and mc.choices == ("Rome", "Paris") and mc.answer_of(1) == 1


def test_kind_is_inferred_from_options_and_gold() -> None:
    assert Question(id="a", text="2 + 2", gold="4").is_free_form
    assert Question(id="b", text="Ice is cold.").kind == "binary"
    assert Question(id="c", text="Pick", options=("x", "y")).kind == "multiple_choice"
    free = Question(id="d", text="12 + 30", kind="free_form")
    assert free.choices == () and Prediction(question_id="d", answer=" 42 ").is_correct(
        free.model_copy(update={"gold": "42"})
    )


def test_correctness_does_not_confuse_true_with_index_one() -> None:
    mc = Question(id="m", text="Pick", options=("a", "b"), gold=1)
    binary = Question(id="b", text="Sky is blue.", gold=True)
    assert Prediction(question_id="m", answer=1).is_correct(mc)
    assert not Prediction(question_id="m", answer=True).is_correct(mc)
    assert not Prediction(question_id="b", answer=1).is_correct(binary)
    assert Prediction(question_id="b", answer=True).is_correct(binary)
    assert not Prediction(question_id="b", answer=None).is_correct(binary)


json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
finite = st.floats(allow_nan=False, allow_infinity=False)
calls = st.builds(
    LMCall,
    kind=st.sampled_from(["loglikelihood", "generate"]),
    request=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    output=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    latency_s=finite.filter(lambda x: x >= 0),
    cached=st.booleans(),
)
traces = st.recursive(
    st.builds(
        Trace,
        strategy=st.text(max_size=10),
        calls=st.lists(calls, max_size=3),
        steps=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
        notes=st.lists(st.text(max_size=20), max_size=2),
    ),
    lambda inner: st.builds(Trace, strategy=st.text(max_size=10), children=st.lists(inner, max_size=2)),
    max_leaves=4,
)
predictions = st.builds(
    Prediction,
    question_id=st.text(min_size=1, max_size=10),
    answer=st.none() | st.booleans() | st.integers(0, 10) | st.text(max_size=10),
    scores=st.dictionaries(st.text(max_size=8), finite, max_size=4),
    confidence=st.none() | st.floats(0, 1),
    trace=traces,
)


@settings(max_examples=30, deadline=None)
@given(predictions)
def test_predictions_round_trip_through_json(prediction: Prediction) -> None:
    again = Prediction.model_validate_json(prediction.model_dump_json())
    assert again == prediction
    assert type(again.answer) is type(prediction.answer)


@settings(max_examples=30, deadline=None)
@given(traces)
def test_traces_round_trip_through_json(trace: Trace) -> None:
    assert Trace.model_validate_json(trace.model_dump_json()) == trace


texts = st.one_of(  # lone surrogates included: what a non-UTF-8 file read with surrogateescape gives
    st.text(max_size=12),
    st.text(st.characters(categories=["Cs", "L", "N", "P", "Zs"]), max_size=12),
    st.sampled_from(["caf\udce9", "\ud800", " ", "A"]),
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    texts,
    st.lists(texts, max_size=4),
    st.tuples(texts, texts),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
question_fields = st.fixed_dictionaries(
    {"id": st.one_of(texts, anything), "text": st.one_of(texts, anything)},
    optional={
        "kind": st.one_of(st.sampled_from(["multiple_choice", "binary", "free_form", "other"]), anything),
        "options": st.one_of(st.lists(texts, max_size=4), anything),
        "gold": anything,
        "split": anything,
        "metadata": anything,
        "extra": anything,
    },
)


@settings(max_examples=200, deadline=None)
@given(question_fields)
def test_fuzzed_questions_are_valid_or_a_validation_error(fields: dict[str, Any]) -> None:
    try:
        question = Question(**fields)
    except ValidationError as error:
        assert all(e["msg"] for e in error.errors())
    else:
        for value in (question.id, question.text, question.split, *(question.options or ())):
            value.encode("utf-8")  # what a tokenizer and a results file need
        assert question.text.strip() and question.id.strip()


def test_a_prediction_written_before_answer_text_existed_still_loads() -> None:
    old = '{"question_id": "q1", "answer": 1, "scores": {"a": -1.0, "b": -0.5}, "confidence": null}'
    prediction = Prediction.model_validate_json(old)
    assert prediction.answer == 1 and prediction.answer_text is None
