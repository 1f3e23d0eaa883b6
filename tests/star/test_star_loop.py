"""The STaR loop end to end on a small real model (tests/star/conftest.py): what each iteration keeps, how a
killed run resumes, the answers-only baseline, and a train split with no correct sample."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from reasonkit.atomic import sha256_file
from reasonkit.benchmarks.runner import load_run
from reasonkit.fake import FakeLM
from reasonkit.star import StarError, StarOptions, StarState, run_star
from reasonkit.star import loop as loop_module
from reasonkit.star.loop import Execution
from reasonkit.star.state import STATE_FILE
from reasonkit.strategies.prompts import answer_sentence
from reasonkit.strategies.rationalization import HINT_PREFIX, hinted_question

pytestmark = pytest.mark.usefixtures("one_thread")

QUIET = Execution(progress=False)


def star_options(model_dir: Path, **changes: Any) -> StarOptions:
    base: dict[str, Any] = {
        "model": str(model_dir.resolve()),
        "model_sha256": sha256_file(model_dir / "model.safetensors"),
        "benchmark": "multistep",
        "strategy": "cot(shots=0, max_tokens=48)",
        "eval_strategies": ("cot(shots=0, max_tokens=48)",),
        "iterations": 2,
        "questions": 24,
        "samples": 2,
        "temperature": 0.8,
        "steps": 4,
        "batch_size": 4,
        "lr": 1e-3,
        "warmup_steps": 1,
        "limit": 8,
        "replay_recipe": str(model_dir.parents[1] / "recipe.toml"),
        "replay_weight": 0.5,
    }
    return StarOptions(**{**base, **changes})


def rows_of(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture(scope="module")
def finished(star_start_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StarState]:
    out = tmp_path_factory.mktemp("star") / "run"
    return out, run_star(star_options(star_start_model), out, QUIET)


def test_each_iteration_keeps_correct_rationales_and_records_its_model(
    finished: tuple[Path, StarState],
) -> None:
    out, state = finished
    assert StarState.model_validate_json((out / STATE_FILE).read_text()) == state
    start, *iterations = state.iterations
    assert [record.index for record in state.iterations] == [0, 1, 2]
    assert start.model_sha256 == state.options.model_sha256 and start.kept is None
    for record in state.iterations:
        assert record.model_sha256 == sha256_file(Path(record.model_dir or "") / "model.safetensors")
        assert set(record.accuracy or {}) == {"cot(shots=0, max_tokens=48)"} and record.eval_questions == 8
    for record in iterations:
        rows = rows_of(record.rows_file or "")
        assert record.sampled == 24 and record.kept == len(rows) > 0
        assert record.kept == (record.correct or 0) + (record.rationalised or 0)
        assert sha256_file(record.rows_file or "") == record.rows_sha256
        assert record.sampling.calls > 0 and record.sampling.generated_tokens > 0
        assert record.training.train_tokens == 4 * 4 * 128  # steps x batch x block
        sampled = {
            line.question_id: line
            for line in load_run(next((out / f"iteration-{record.index}" / "sample").glob("*/*")))[1]
        }
        for row in rows:
            question = sampled[row["id"]].question
            assert row["question"] == question.text
            assert row["text"].startswith(f"Question: {question.text}\nOptions: ")
            assert row["text"].endswith(answer_sentence(question.options, question.gold or 0))
            assert HINT_PREFIX not in row["text"]
    second = tomllib.loads((out / "iteration-2" / "recipe.toml").read_text())
    assert second["init_from"] == state.iterations[1].model_dir  # from the current model, not the start
    assert state.iterations[2].model_sha256 != state.iterations[1].model_sha256


def test_misses_are_rationalised_with_the_hint_and_kept_without_it(finished: tuple[Path, StarState]) -> None:
    out, state = finished
    record = state.iterations[1]
    _, sampled = load_run(next((out / "iteration-1" / "sample").glob("*/*")))
    _, hinted = load_run(next((out / "iteration-1" / "rationalise").glob("*/*")))
    solved = {row["id"] for row in rows_of(record.rows_file or "") if row["origin"] == "sampled"}
    assert {line.question_id for line in hinted} == {line.question_id for line in sampled} - solved
    for line in hinted:
        original = next(s.question for s in sampled if s.question_id == line.question_id)
        assert line.question == hinted_question(original)
        calls = line.prediction.trace.calls
        assert calls and all(HINT_PREFIX in call.request["prompt"] for call in calls)
    rationalised = [row for row in rows_of(record.rows_file or "") if row["origin"] == "rationalised"]
    assert len(rationalised) == record.rationalised
    assert all(HINT_PREFIX not in row["text"] for row in rationalised)


def test_a_killed_loop_resumes_where_it_stopped(
    star_start_model: Path, finished: tuple[Path, StarState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the fine-tune's step-2 checkpoint: the rerun skips sampling, resumes the trainer, and
    ends with the weights of the run that was never killed."""
    import reasonkit.lm.train as train_module

    real_train = train_module.train

    def killed(*args: Any, **kwargs: Any) -> Any:
        real_train(*args, **kwargs, max_steps=2)
        raise KeyboardInterrupt

    options = star_options(star_start_model, iterations=1)
    monkeypatch.setattr(train_module, "train", killed)
    with pytest.raises(KeyboardInterrupt):
        run_star(options, tmp_path, QUIET)
    monkeypatch.undo()
    interrupted = StarState.model_validate_json((tmp_path / STATE_FILE).read_text())
    assert (
        interrupted.iterations[1].rows_sha256 is not None and interrupted.iterations[1].model_sha256 is None
    )

    resumed_from: list[int | None] = []

    def watched(*args: Any, **kwargs: Any) -> Any:
        result = real_train(*args, **kwargs)
        resumed_from.append(result.resumed_from)
        return result

    def no_sampling(*args: Any) -> Any:
        raise AssertionError("a finished sampling stage ran again")

    monkeypatch.setattr(train_module, "train", watched)
    monkeypatch.setattr(loop_module._Loop, "sample", no_sampling)
    state = run_star(options, tmp_path, QUIET)

    reference = finished[1].iterations[1]
    assert resumed_from == [2]
    assert state.iterations[1].rows_sha256 == reference.rows_sha256
    assert state.iterations[1].model_sha256 == reference.model_sha256
    assert state.iterations[1].accuracy == reference.accuracy


def test_more_iterations_continue_a_finished_run_but_other_options_are_refused(
    star_start_model: Path, finished: tuple[Path, StarState], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, state = finished
    with pytest.raises(StarError, match=r"--samples: 2 there, 3 here.*--temperature: 0.8 there, 0.5 here"):
        run_star(star_options(star_start_model, samples=3, temperature=0.5), out, QUIET)
    assert StarState.model_validate_json((out / STATE_FILE).read_text()) == state  # untouched

    def no_work(*args: Any) -> Any:
        raise AssertionError("a finished stage ran again")

    monkeypatch.setattr(loop_module._Loop, "sample", no_work)
    monkeypatch.setattr(loop_module._Loop, "run", no_work)
    again = run_star(star_options(star_start_model), out, QUIET)  # the same command: nothing left to do
    assert again == state


def test_answers_only_fine_tunes_once_on_gold_answers_for_every_step(
    star_start_model: Path, tmp_path: Path
) -> None:
    state = run_star(star_options(star_start_model, answers_only=True), tmp_path, QUIET)
    start, baseline = state.iterations
    rows = rows_of(baseline.rows_file or "")
    assert len(rows) == baseline.kept == 24 and {row["origin"] for row in rows} == {"gold"}
    assert all(row["text"].startswith("Question: ") and "\nAnswer: " in row["text"] for row in rows)
    assert all("So the answer is" not in row["text"] for row in rows)  # the direct format: no rationale
    recipe = tomllib.loads((tmp_path / "iteration-1" / "recipe.toml").read_text())
    assert recipe["train"]["steps"] == 2 * 4 and recipe["init_from"] == state.options.model
    assert baseline.training.train_tokens == 8 * 4 * 128


def test_no_correct_sample_stops_before_any_fine_tune(
    star_start_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripted: a real model cannot be made to miss every question. It never names an option."""
    monkeypatch.setattr(loop_module, "load_model", lambda *args, **kwargs: FakeLM(default=" I cannot tell."))
    options = star_options(star_start_model)
    message = r"iteration 1: no training rows: 0 of 24 sampled train questions .* 0 were rationalised"
    with pytest.raises(StarError, match=message):
        run_star(options, tmp_path, QUIET)
    assert not (tmp_path / "iteration-1" / "train").exists()
    with pytest.raises(StarError, match=message):  # a rerun says so again; it never trains on nothing
        run_star(options, tmp_path, QUIET)
