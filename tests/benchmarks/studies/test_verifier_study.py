"""The verifier study's accuracy against n (random subsets of the same paths) and its refusal to analyse an
evaluation run whose questions are in the verifier's training rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reasonkit.benchmarks.runner import RunRecord, run_benchmark
from reasonkit.benchmarks.studies import verifier as study
from reasonkit.fake import FakeLM
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.verifier import RIGHT, Verifier
from reasonkit.types import Question

QUESTION = Question(id="q", text="Start with 1. Add 1. What is the result?", options=("2", "3"), gold=0)
RIGHT_TEXT = " 1 + 1 = 2. So the answer is (A) 2."
WRONG_TEXT = " 1 + 1 = 3. So the answer is (B) 3."


def test_all_paths_is_one_set_and_one_path_is_the_same_for_every_rule() -> None:
    answers, scores = [1, 1, 0, 1, None], [0.4, 0.4, 0.9, 0.4, 0.99]
    rng = np.random.default_rng(0)
    full = study.accuracy_at_n(QUESTION, answers, scores, 5, rng)
    assert full == {"best_of_n": 1.0, "weighted_vote": 0.0, "majority": 0.0}
    single = study.accuracy_at_n(QUESTION, answers, scores, 1, rng)
    assert single["best_of_n"] == single["majority"] == single["weighted_vote"]
    assert 0.0 < single["majority"] < 0.5  # one path in five is right: averaged over the random subsets


def judge(context: str, continuation: str) -> float:
    p = 0.8 if context.endswith(f"{RIGHT_TEXT.strip()}\nVerdict:") else 0.1
    return math.log(p if continuation == RIGHT else 1 - p)


def evaluated(tmp_path: Path) -> Path:
    questions = [
        QUESTION.model_copy(update={"id": f"q{i}", "text": f"Start with {i}. Add 1."}) for i in range(4)
    ]
    strategy = Verifier(ChainOfThought(shots=0), n=6)
    lm = FakeLM(default=(WRONG_TEXT, WRONG_TEXT, RIGHT_TEXT, WRONG_TEXT), scores=judge)
    record = RunRecord.of("multistep", "test", questions, strategy, lm, "fake")
    run_benchmark(questions, strategy, lm, tmp_path / "run", record)
    return tmp_path / "run"


@pytest.mark.parametrize("leak", [False, True])
def test_analyse_prints_the_curves_and_refuses_an_evaluation_question_seen_in_training(
    tmp_path: Path, leak: bool
) -> None:
    run_dir = evaluated(tmp_path)
    rows = tmp_path / "rows.jsonl"
    trained = "Start with 2. Add 1." if leak else "Start with 9. Add 9."
    rows.write_text(json.dumps({"question": trained, "text": "...", "label": True}) + "\n")
    figure = tmp_path / "curve.png"
    result = CliRunner().invoke(
        study.main, ["analyse", str(run_dir), "--rows", str(rows), "--plot", str(figure)]
    )
    if leak:
        assert result.exit_code == 1 and "in the verifier's training rows: ['q2']" in result.output
        return
    assert result.exit_code == 0, result.output
    assert "questions also in the verifier's rows: 0" in result.output
    # at n=6 (all 6 paths, 1 right; larger n are labelled by the paths the run holds): best-of-n and the
    # weighted vote (0.8 > 5 x 0.1) pick it, majority never
    assert "| 6 | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] | 0.0 [0.0, 0.0] |" in result.output
    assert "| 100 |" not in result.output
    assert "best_of_n - majority at n=6: +100.0" in result.output
    assert figure.read_bytes().startswith(b"\x89PNG")


def test_auc_lines_separate_ranking_within_a_question_from_across_questions() -> None:
    """Across questions the score follows the question (easy ones high), within each it ranks wrong first."""
    easy = QUESTION.model_copy(update={"id": "easy"})
    hard = QUESTION.model_copy(update={"id": "hard"})
    lines = [
        (easy, [0, 0, 0, 1], [0.8, 0.8, 0.8, 0.9]),  # right paths 0.8, the wrong one above them
        (hard, [1, 1, 1, 0], [0.2, 0.2, 0.2, 0.1]),  # one right path, scored below the wrong ones
    ]
    overall, within, questions = study.verifier_aucs(lines)
    assert overall > 0.5 and within == 0.0 and questions == 2
