"""Direct scoring: the four normalisations, binary statements, and the trace."""

from __future__ import annotations

import math

import pytest

from reasonkit.fake import FakeLM
from reasonkit.protocol import LoglikelihoodRequest
from reasonkit.registry import build_strategy
from reasonkit.strategies import prompts
from reasonkit.strategies.direct import Direct
from reasonkit.types import Question

# FakeLM counts whitespace-separated words as tokens. Built so each normalisation picks a different option:
#   option           raw    tokens  chars(incl. space)  token    char     unconditional  mi
#   "ab"            -1.0    1        3                  -1.0    -0.333    -0.5           -0.5
#   "x y z w"       -3.2    4        8                  -0.8    -0.4      -1.0           -2.2
#   "longwordhere"  -2.0    1       13                  -2.0    -0.154    -1.0           -1.0
#   "dd"            -1.5    1        3                  -1.5    -0.5      -5.0           +3.5
OPTIONS = ("ab", "x y z w", "longwordhere", "dd")
CONDITIONAL = {" ab": -1.0, " x y z w": -3.2, " longwordhere": -2.0, " dd": -1.5}
UNCONDITIONAL = {" ab": -0.5, " x y z w": -1.0, " longwordhere": -1.0, " dd": -5.0}
QUESTION = Question(id="q1", text="Which one?", options=OPTIONS, gold=0)


def scores(context: str, continuation: str) -> float:
    table = UNCONDITIONAL if context == prompts.UNCONDITIONAL_CONTEXT else CONDITIONAL
    return table[continuation]


@pytest.mark.parametrize(
    ("normalization", "expected"), [("raw", 0), ("token", 1), ("char", 2), ("char_text", 2), ("mi", 3)]
)
def test_each_normalisation_picks_its_own_answer(normalization: str, expected: int) -> None:
    prediction = Direct(normalization=normalization).run(QUESTION, FakeLM(scores=scores))
    assert prediction.answer == expected
    # every run shows all four score sets, whatever picked the answer
    steps = prediction.trace.steps
    assert steps["answer_by"] == {
        "raw": "ab",
        "token": "x y z w",
        "char": "longwordhere",
        "char_text": "longwordhere",
        "mi": "dd",
    }
    assert steps["scores"]["token"]["x y z w"] == pytest.approx(-0.8)
    assert steps["scores"]["char"]["longwordhere"] == pytest.approx(-2.0 / 13)
    assert steps["scores"]["mi"]["dd"] == pytest.approx(3.5)
    assert prediction.scores == pytest.approx(steps["scores"][normalization])
    assert 0.25 < prediction.confidence <= 1.0


def test_char_text_leaves_out_the_leading_space_like_lm_eval_acc_norm() -> None:
    """ " a" -1.0 and " bcd" -2.2: per character of the continuation -0.5 vs -0.55 ("a" wins), per character
    of the option text -1.0 vs -0.733 ("bcd" wins)."""
    question = Question(id="c", text="Which?", options=("a", "bcd"), gold=0)
    table = {" a": -1.0, " bcd": -2.2}
    prediction = Direct(normalization="char_text").run(question, FakeLM(scores=table))
    steps = prediction.trace.steps
    assert steps["scores"]["char"] == pytest.approx({"a": -0.5, "bcd": -0.55})
    assert steps["scores"]["char_text"] == pytest.approx({"a": -1.0, "bcd": -2.2 / 3})
    assert steps["answer_by"]["char"] == "a" and prediction.answer == 1


def test_options_line_can_be_left_out_of_the_prompt() -> None:
    lm = FakeLM(scores=scores)
    prediction = Direct(options_line=False).run(QUESTION, lm)
    assert prediction.trace.steps["prompt"] == "Question: Which one?\nAnswer:"
    assert {r.context for r in lm.requests} == {"Question: Which one?\nAnswer:", "Answer:"}
    # a binary statement has no options line to leave out
    statement = Question(id="b", text="Soup is a solid.", gold=False)
    same = [
        Direct(options_line=flag).run(statement, FakeLM()).trace.steps["prompt"] for flag in (True, False)
    ]
    assert same == ["Question: True or false: Soup is a solid.\nAnswer:"] * 2
    # a run folder's identity: the default leaves the config as it was before the option
    assert Direct().config() == {
        "name": "direct",
        "normalization": "char",
        "unconditional_context": "Answer:",
    }
    assert Direct(options_line=False).config()["options_line"] is False


def test_one_batch_scores_the_options_after_the_prompt_and_after_answer() -> None:
    lm = FakeLM(scores=scores)
    prediction = Direct(normalization="mi").run(QUESTION, lm)
    prompt = "Question: Which one?\nOptions: (A) ab (B) x y z w (C) longwordhere (D) dd\nAnswer:"
    assert lm.loglikelihood_batches == [8]
    assert set(lm.requests) == {
        LoglikelihoodRequest(context=c, continuation=f" {o}") for o in OPTIONS for c in (prompt, "Answer:")
    }
    assert len(prediction.trace.calls) == 8 and prediction.trace.strategy == "direct"


def test_binary_statements_score_true_and_false() -> None:
    statement = Question(id="b", text="Soup is a solid.", gold=False)
    table = {" True": -2.0, " False": -0.7}
    prediction = Direct(normalization="raw").run(statement, FakeLM(scores=table))
    assert prediction.answer is False and prediction.is_correct(statement)
    assert prediction.trace.steps["continuations"] == [" True", " False"]
    assert prediction.scores == {"True": -2.0, "False": -0.7}
    # with raw scores the softmax is the model's distribution over the two answers
    assert prediction.confidence == pytest.approx(1 / (1 + math.exp(-1.3)))


@pytest.mark.parametrize("normalization", ["raw", "token", "char"])
def test_binary_labels_are_not_length_normalised(normalization: str) -> None:
    """ " False" is one character longer than " True": per character it would win at equal probability."""
    statement = Question(id="b", text="Soup is a liquid.", gold=True)
    table = {" True": -0.70, " False": -0.75}
    prediction = Direct(normalization=normalization).run(statement, FakeLM(scores=table))
    assert prediction.answer is True
    assert prediction.trace.steps["answer_by"]["char"] == "True"


def test_ties_go_to_the_first_option() -> None:
    prediction = Direct(normalization="raw").run(QUESTION, FakeLM(scores=lambda c, x: -1.0))
    assert prediction.answer == 0


def test_free_form_questions_do_not_apply() -> None:
    free = Question(id="f", text="What is 2 + 2?", gold="4")
    assert not Direct().applies_to(free)
    assert Direct().run(free, FakeLM()).abstained


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="normalization"):
        Direct(normalization="acc_norm")


@pytest.mark.slow
def test_real_tiny_model(tiny_engine) -> None:
    questions = [
        Question(id="r1", text="Where would you keep a book?", options=("shelf", "oven", "river"), gold=0),
        Question(id="r2", text="The sun rises in the east.", gold=True),
    ]
    for normalization in ("raw", "mi"):
        predictions = Direct(normalization=normalization).run_many(questions, tiny_engine)
        for question, prediction in zip(questions, predictions, strict=True):
            assert prediction.answer in (range(3) if question.options else (True, False))
            calls = prediction.trace.calls
            assert len(calls) == 2 * len(question.choices)
            assert all(c.kind == "loglikelihood" and c.output["logprob"] < 0 for c in calls)
            assert set(prediction.trace.steps["scores"]) == {"raw", "token", "char", "char_text", "mi"}


WINO = Question(
    id="w1",
    kind="fill_blank",
    text="The trophy does not fit in the suitcase because _ is too big.",
    options=("the trophy", "the suitcase"),
    gold=0,
)


def test_fill_blank_scores_the_words_after_the_blank_with_each_filler_in_place() -> None:
    """lm-evaluation-harness's partial scoring: context = sentence up to the blank + filler, continuation = the
    rest; the filler under which the rest is likelier wins, whatever the normalisation."""

    def score(context: str, continuation: str) -> float:
        assert continuation == " is too big."
        return -1.0 if context.endswith("the trophy") else -3.0

    lm = FakeLM(scores=score)
    for normalization in ("raw", "char", "mi"):
        prediction = Direct(normalization=normalization).run(WINO, lm)
        assert prediction.answer == 0 and prediction.is_correct(WINO)
    steps = prediction.trace.steps
    assert steps["contexts"] == [
        "The trophy does not fit in the suitcase because the trophy",
        "The trophy does not fit in the suitcase because the suitcase",
    ]
    assert steps["continuation"] == " is too big." and "prompt" not in steps
    assert set(steps["answer_by"].values()) == {"the trophy"}
    assert {(r.context, r.continuation) for r in lm.requests} == {
        *((c, " is too big.") for c in steps["contexts"]),
        ("Answer:", " is too big."),
    }


def test_fill_blank_needs_a_blank_with_words_after_it() -> None:
    with pytest.raises(ValueError, match="blank '_'"):
        Question(id="w", kind="fill_blank", text="No gap here.", options=("a", "b"), gold=0)
    with pytest.raises(ValueError, match="blank '_'"):
        Question(id="w", kind="fill_blank", text="The gap ends it: _ ", options=("a", "b"), gold=0)
    with pytest.raises(ValueError, match="'options' is missing on a fill-blank"):
        Question(id="w", kind="fill_blank", text="A _ here.", gold=0)


@pytest.mark.slow
def test_fill_blank_on_the_real_tiny_model(tiny_engine) -> None:
    prediction = Direct().run(WINO, tiny_engine)
    calls = prediction.trace.calls
    assert [c.request["context"] for c in calls[:2]] == prediction.trace.steps["contexts"]
    assert all(c.request["continuation"] == " is too big." and c.output["logprob"] < 0 for c in calls)
    raw = prediction.trace.steps["scores"]["raw"]
    assert prediction.answer == max(range(2), key=lambda i: (raw[WINO.options[i]], -i))
    # the two contexts differ, so the real model scores the shared continuation differently after each
    assert raw["the trophy"] != raw["the suitcase"]


def test_true_and_false_as_toml_and_json_spell_them_are_booleans() -> None:
    assert (
        build_strategy("direct(options_line=false)").config()
        == build_strategy("direct(options_line=False)").config()
    )
    assert build_strategy("direct(options_line=true)").config() == build_strategy("direct").config()
