"""The verifier strategy: paths judged by log-likelihood of a verdict, best-of-n, verifier-weighted vote,
selection at every k, labelled training rows, and a real tiny model judging through a second backend."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reasonkit.fake import FakeLM
from reasonkit.registry import build_strategy
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.direct import Direct
from reasonkit.strategies.paths import ReasoningPath
from reasonkit.strategies.verifier import (
    RIGHT,
    WRONG,
    Verifier,
    VerifierDataError,
    check_labels,
    judged,
    verdict_context,
    verifier_rows,
)
from reasonkit.types import Question

QUESTION = Question(
    id="multistep-train-7",
    text="Start with 2. Add 3. Multiply by 2. What is the result?",
    options=("10", "12", "7"),
    gold=0,
    metadata={"benchmark": "multistep"},
)
SAYS_A = " 2 + 3 = 5. 5 * 2 = 10. So the answer is (A) 10."
SAYS_B = " 2 + 3 = 6. 6 * 2 = 12. So the answer is (B) 12."
UNREADABLE = " 2 + 3 = 5."
# paths in order: B, B, A, B, unreadable (FakeLM cycles its texts across samples)
TEXTS = (SAYS_B, SAYS_B, SAYS_A, SAYS_B, UNREADABLE)
P_RIGHT = {SAYS_A: 0.9, SAYS_B: 0.4, UNREADABLE: 0.99}


def judge(context: str, continuation: str) -> float:
    """The verdict log-prob a scripted verifier gives: P(right) per solution from P_RIGHT."""
    [p] = [p for text, p in P_RIGHT.items() if context.endswith(f"{text.rstrip()}\nVerdict:")]
    return math.log(p if continuation == RIGHT else 1 - p)


def scripted() -> FakeLM:
    return FakeLM(default=TEXTS, scores=judge)


def solve(selection: str, n: int = 5):  # type: ignore[no-untyped-def]
    return Verifier(ChainOfThought(shots=0), n=n, selection=selection).run(QUESTION, scripted())


def test_best_of_n_takes_the_best_judged_readable_path_where_majority_goes_with_the_many() -> None:
    prediction = solve("best_of_n")
    assert prediction.answer == 0  # the one "(A)" path, judged 0.9; the unreadable 0.99 path cannot win
    paths = prediction.trace.steps["paths"]
    assert [p["verifier_score"] for p in paths] == pytest.approx([0.4, 0.4, 0.9, 0.4, 0.99])
    assert prediction.confidence == pytest.approx(0.9)
    assert prediction.trace.steps["at_k"][-1] == {"k": 5, "best_of_n": 0, "weighted_vote": 1, "majority": 1}


def test_weighted_vote_sums_the_verifier_scores_per_answer() -> None:
    prediction = solve("weighted_vote")
    assert prediction.answer == 1  # (B): 3 x 0.4 = 1.2 against (A): 0.9
    assert prediction.scores == pytest.approx({"12": 1.2, "10": 0.9})
    assert prediction.confidence == pytest.approx(1.2 / 2.1)


def test_selection_at_every_k_uses_the_first_k_paths() -> None:
    at_k = solve("best_of_n").trace.steps["at_k"]
    assert [row["k"] for row in at_k] == [1, 2, 3, 4, 5]
    assert [row["best_of_n"] for row in at_k] == [1, 1, 0, 0, 0]
    assert [row["weighted_vote"] for row in at_k] == [1, 1, 0, 1, 1]  # at k=3: 0.9 beats 0.8
    assert [row["majority"] for row in at_k] == [1, 1, 1, 1, 1]


def test_one_generation_request_and_one_scoring_batch_of_two_verdicts_per_path() -> None:
    lm = scripted()
    prediction = Verifier(ChainOfThought(shots=0), n=5, temperature=0.9, seed=3).run(QUESTION, lm)
    [generation, *scoring] = lm.requests
    assert generation.n == 5 and generation.temperature == 0.9 and generation.seed == 3
    assert len(lm.loglikelihood_batches) == 1  # the client sends the 3 distinct solutions' verdicts once
    assert len(scoring) == 6 and [r.continuation for r in scoring].count(RIGHT) == 3
    calls = [call for call in prediction.trace.calls if call.kind == "loglikelihood"]
    assert len(calls) == 10 and calls[0].request["continuation"] == RIGHT
    assert calls[1].request == {**calls[0].request, "continuation": WRONG}
    first = prediction.trace.steps["paths"][0]["text"]
    assert calls[0].request["context"] == verdict_context(QUESTION, first)


def class_conditional(context: str, continuation: str) -> float:
    """A verifier with the verdict first: log P(verdict, solution | question) by the solution's P_RIGHT."""
    verdict, _, solution = continuation.partition("\nAnswer:")
    p = P_RIGHT[f" {solution.strip()}"]
    return math.log(p if verdict == RIGHT else 1 - p)


def test_a_verdict_before_the_solution_scores_the_joint_of_verdict_and_solution() -> None:
    lm = FakeLM(default=TEXTS, scores=class_conditional)
    prediction = Verifier(ChainOfThought(shots=0), n=5, verdict="before").run(QUESTION, lm)
    assert prediction.answer == 0
    assert [p["verifier_score"] for p in prediction.trace.steps["paths"]] == pytest.approx(
        [0.4, 0.4, 0.9, 0.4, 0.99]
    )
    request = [r for r in lm.requests if hasattr(r, "continuation")][0]
    assert request.context == "Question: Start with 2. Add 3. Multiply by 2. What is the result?\n" + (
        "Options: (A) 10 (B) 12 (C) 7\nVerdict:"
    )
    assert request.continuation == f"{RIGHT}\nAnswer:{SAYS_B}"


def test_every_path_unreadable_is_an_abstention() -> None:
    lm = FakeLM(default=UNREADABLE, scores=judge)
    prediction = Verifier(ChainOfThought(shots=0, fallback="abstain"), n=3).run(QUESTION, lm)
    assert prediction.answer is None
    assert "none of the 3 paths" in prediction.trace.notes[0]


def test_inner_must_sample_paths() -> None:
    with pytest.raises(ValueError, match="sample_paths"):
        Verifier(Direct())


def test_spec_round_trip() -> None:
    strategy = Verifier(ChainOfThought(shots=0), model="runs/verifier/model", n=8, selection="weighted_vote")
    again = build_strategy(repr(strategy))
    assert again.config() == strategy.config()
    assert repr(again).startswith("verifier(inner=cot(")


def test_rows_label_each_solution_by_the_gold_answer() -> None:
    paths = [
        ReasoningPath(text=t, answer=a, method="letter", logprob=-1.0, n_tokens=3, finish_reason="stop")
        for t, a in ((SAYS_A, 0), (SAYS_B, 1), (UNREADABLE, None))
    ]
    rows = verifier_rows(QUESTION, paths)
    assert [r["label"] for r in rows] == [True, False, False]
    assert rows[0]["text"] == verdict_context(QUESTION, SAYS_A) + RIGHT
    assert rows[1]["text"].endswith("So the answer is (B) 12.\nVerdict: wrong")
    assert rows[0]["text"].startswith("Question: Start with 2.")
    assert {r["benchmark"] for r in rows} == {"multistep"} and rows[2]["id"] == "multistep-train-7/2"
    before = verifier_rows(QUESTION, paths, "before")
    assert before[1]["text"].endswith(f"(C) 7\nVerdict: wrong\nAnswer:{SAYS_B}")
    request = judged(QUESTION, SAYS_B, WRONG, "before")
    assert before[1]["text"] == request.context + request.continuation


def test_option_text_labels_count_the_value_a_solution_states_not_a_guessed_letter() -> None:
    from reasonkit.strategies.answer_extraction import extract_answer

    texts = {
        " 2 + 3 = 5. 5 * 2 = 10. So the answer is (A) 10.": (True, True),
        " 2 + 3 = 5. 5 * 2 = 10. So the answer is (C) 10.": (True, True),  # the reader reads the text: (A)
        " 2 + 3 = 5. 5 * 2 = 11. So the answer is (A) 11.": (True, False),  # a right letter on a wrong value
        " 2 + 3 = 6. 6 * 2 = 12. So the answer is (B) 12.": (False, False),
        " 2 + 3 = 5. So the answer is (A).": (True, False),  # a letter alone states no value
    }
    paths = []
    for text in texts:
        read = extract_answer(QUESTION, text)
        paths.append(
            ReasoningPath(
                text=text,
                answer=read.answer,
                method=read.method,
                span=read.span,
                logprob=-1.0,
                n_tokens=3,
                finish_reason="stop",
            )
        )
    by_answer = [row["label"] for row in verifier_rows(QUESTION, paths)]
    by_text = [row["label"] for row in verifier_rows(QUESTION, paths, label="option_text")]
    assert by_answer == [answer for answer, _ in texts.values()]
    assert by_text == [text for _, text in texts.values()]
    free = Question(id="f", text="2 + 2?", gold="4", metadata={})
    [row] = verifier_rows(
        free,
        [
            ReasoningPath(
                text=" 4",
                answer="4",
                method="free_text",
                span="4",
                logprob=0.0,
                n_tokens=1,
                finish_reason="stop",
            )
        ],
        label="option_text",
    )
    assert row["label"] is True  # no options: the answer as read


@pytest.mark.parametrize(("labels", "missing"), [((True, True), "wrong"), ((False, False), "correct")])
def test_one_label_only_is_an_error(labels: tuple[bool, ...], missing: str) -> None:
    with pytest.raises(VerifierDataError, match=f"none of the 2 sampled solutions is {missing}"):
        check_labels([{"label": label} for label in labels], "here")


@pytest.mark.slow
def test_real_tiny_model_judges_through_a_second_backend(tiny_engine, tiny_model_dir: Path) -> None:
    """The generating engine samples; the verifier is the same trained folder loaded again by its spec."""
    questions = [
        QUESTION,
        QUESTION.model_copy(update={"id": "q2", "text": "Start with 4. Add 1. What is it?"}),
    ]
    strategy = Verifier(ChainOfThought(shots=0, max_tokens=12), model=str(tiny_model_dir), n=4, seed=1)
    predictions = strategy.run_many(questions, tiny_engine)
    for prediction in predictions:
        paths = prediction.trace.steps["paths"]
        assert len(paths) == 4 and all(0.0 < p["verifier_score"] < 1.0 for p in paths)
        kinds = [call.kind for call in prediction.trace.calls]
        assert kinds.count("generate") == 1 and kinds.count("loglikelihood") == 8
        assert len(prediction.trace.steps["at_k"]) == 4
        assert prediction.trace.steps["verifier"]["fingerprint"] == tiny_engine.fingerprint
    same_lm = Verifier(ChainOfThought(shots=0, max_tokens=12), n=4, seed=1).run_many(questions, tiny_engine)
    for alone, apart in zip(same_lm, predictions, strict=True):  # same weights, loaded twice
        texts = [
            (p["text"], pytest.approx(p["verifier_score"], abs=1e-4)) for p in apart.trace.steps["paths"]
        ]
        assert [(p["text"], p["verifier_score"]) for p in alone.trace.steps["paths"]] == texts
