"""The weight sweep over existing runs gives what `ensemble(vote='scores')` runs with each weight give."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from reasonkit.benchmarks.runner import RunRecord, data_hash, load_run, run_benchmark
from reasonkit.benchmarks.studies import pool_weights
from reasonkit.fake import FakeLM
from reasonkit.strategies.ensemble import Ensemble
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace


class Scores(Strategy):
    """Per-choice scores read from the question's metadata under `key` (no LM call); abstains where absent."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.name = f"scores_{key}"

    def config(self) -> dict[str, object]:
        return {"name": self.name}

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        scores = question.metadata.get(self.key)
        if scores is None:
            return Prediction(question_id=question.id, answer=None, trace=Trace())
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return Prediction(
            question_id=question.id,
            answer=best,
            scores=dict(zip(question.choices, scores, strict=True)),
            trace=Trace(),
        )


def make_questions(n: int) -> list[Question]:
    rng = random.Random(0)
    questions = []
    for i in range(n):
        model = [round(rng.uniform(-3, 0), 2) for _ in range(4)]
        store = [round(rng.uniform(0.2, 0.6), 3) for _ in range(4)]
        metadata: dict[str, object] = {"model": model} if i % 17 else {}  # the model abstains now and then
        metadata["store"] = store
        questions.append(
            Question(
                id=f"q{i:03d}", text=f"q{i}", options=tuple("abcd"), gold=rng.randrange(4), metadata=metadata
            )
        )
    return questions


def make_run(path: Path, strategy: Strategy, questions: list[Question]) -> Path:
    lm = FakeLM()
    record = RunRecord(
        benchmark="toy",
        split="train",
        strategy=strategy.name,
        strategy_config=strategy.config(),
        model="fake",
        model_fingerprint=lm.fingerprint,
        seed=0,
        limit=None,
        n_questions=len(questions),
        data_hash=data_hash(questions),
    )
    run_benchmark(questions, strategy, lm, path, record)
    return path


def test_the_sweep_equals_an_ensemble_run_at_every_weight(tmp_path: Path) -> None:
    questions = make_questions(120)
    model, store = Scores("model"), Scores("store")
    first = make_run(tmp_path / "model", model, questions)
    second = make_run(tmp_path / "store", store, questions)
    weights = [0.5, 2.0, 8.0]
    swept = pool_weights.sweep(load_run(first)[1], load_run(second)[1], weights)
    for weight, result in zip(weights, swept, strict=True):
        ensemble = Ensemble((model, store), vote="scores", weights=(1.0, weight))
        lines = load_run(make_run(tmp_path / f"pooled-{weight}", ensemble, questions))[1]
        assert result.accuracy.estimate == pytest.approx(sum(line.correct for line in lines) / len(lines))
    assert len({r.accuracy.estimate for r in swept}) > 1  # the weights do change answers here


def test_the_command_prints_a_line_per_weight_and_names_a_bad_folder(tmp_path: Path) -> None:
    questions = make_questions(20)
    first = make_run(tmp_path / "model", Scores("model"), questions)
    second = make_run(tmp_path / "store", Scores("store"), questions)
    result = CliRunner().invoke(
        pool_weights.main, [str(first), str(second), "--weight", "1", "--weight", "4"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "20 questions; first run alone is W = 0"
    assert (
        lines[1].startswith("W = 1: ") and lines[2].startswith("W = 4: ") and "vs the first run" in lines[2]
    )

    (tmp_path / "empty").mkdir()
    bad = CliRunner().invoke(pool_weights.main, [str(first), str(tmp_path / "empty"), "--weight", "1"])
    assert bad.exit_code == 2 and "not a reasonkit run folder" in bad.output
