import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reasonkit.benchmarks.runner import (
    LOCK_FILE,
    RESULTS_FILE,
    RUN_FILE,
    RunError,
    RunRecord,
    data_hash,
    load_run,
    merge_shards,
    read_results,
    run_benchmark,
)
from reasonkit.driver import QuestionError
from reasonkit.fake import FakeLM
from reasonkit.protocol import ContextWindowError

sys.path.insert(0, str(Path(__file__).parent))
from run_slowly import PickBest, questions  # noqa: E402

SCRIPT = Path(__file__).parent / "run_slowly.py"


def record_for(qs, lm, **changes) -> RunRecord:  # type: ignore[no-untyped-def]
    fields = dict(
        benchmark="toy",
        split="dev",
        strategy="pick_best",
        strategy_config={"name": "pick_best"},
        model="fake",
        model_fingerprint=lm.fingerprint,
        seed=0,
        limit=None,
        n_questions=len(qs),
        data_hash=data_hash(qs),
    )
    return RunRecord(**{**fields, **changes})


def comparable(lines):  # type: ignore[no-untyped-def]
    """Everything but wall-clock figures."""
    out = []
    for line in lines:
        data = line.model_dump(exclude={"finished_s"})
        for call in data["prediction"]["trace"]["calls"]:
            call["latency_s"] = 0
        out.append(data)
    return out


def test_run_writes_one_line_per_question_and_records_the_run(tmp_path: Path) -> None:
    qs, lm = questions(12), FakeLM()
    lines = run_benchmark(qs, PickBest(), lm, tmp_path / "run", record_for(qs, lm))
    record, stored = load_run(tmp_path / "run")
    assert [line.index for line in stored] == list(range(12)) == [line.index for line in lines]
    assert record.model_fingerprint == lm.fingerprint and record.package_version
    assert all(line.lm_calls == 3 and line.tokens == 3 for line in stored)  # one call per option
    assert sum(line.correct for line in stored) == sum(
        p.answer == q.gold for p, q in zip((line.prediction for line in stored), qs, strict=True)
    )
    assert lm.loglikelihood_batches == [36]  # all questions in one batch


def test_rerun_skips_finished_questions(tmp_path: Path) -> None:
    qs, lm = questions(10), FakeLM()
    run_benchmark(qs[:10], PickBest(), lm, tmp_path, record_for(qs, lm))
    calls = lm.n_calls
    run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    assert lm.n_calls == calls


def test_a_different_run_in_the_same_folder_is_refused_naming_the_field(tmp_path: Path) -> None:
    qs, lm = questions(4), FakeLM()
    run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    with pytest.raises(RunError, match="seed was 0, now 1"):
        run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm, seed=1))


def test_a_line_cut_short_is_dropped_and_the_question_redone(tmp_path: Path) -> None:
    qs, lm = questions(6), FakeLM()
    full = run_benchmark(qs, PickBest(), lm, tmp_path / "a", record_for(qs, lm))
    path = tmp_path / "a" / RESULTS_FILE
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 40])  # crash in the middle of the last line
    assert len(read_results(path)) == 5
    again = run_benchmark(qs, PickBest(), lm, tmp_path / "a", record_for(qs, lm))
    assert comparable(again) == comparable(full)


def test_a_corrupt_line_in_the_middle_is_an_error_naming_the_line(tmp_path: Path) -> None:
    qs, lm = questions(3), FakeLM()
    run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    path = tmp_path / RESULTS_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{broken", lines[2]]) + "\n")
    with pytest.raises(RunError, match=r"results.jsonl:2: unreadable result line"):
        read_results(path)


def test_kill_9_at_any_moment_then_rerun_gives_the_uninterrupted_results(tmp_path: Path) -> None:
    n = 40
    reference = tmp_path / "reference"
    subprocess.run([sys.executable, str(SCRIPT), str(reference), str(n), "4"], check=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(killed), str(n), "4"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        path = killed / RESULTS_FILE
        if path.exists() and path.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    partial = read_results(killed / RESULTS_FILE)
    assert 8 <= len(partial) < n, "the run was not interrupted in the middle"
    subprocess.run([sys.executable, str(SCRIPT), str(killed), str(n), "4"], check=True)
    assert comparable(load_run(killed)[1]) == comparable(load_run(reference)[1])


def test_sharded_ranks_merge_into_question_order(tmp_path: Path) -> None:
    qs, lm = questions(9), FakeLM()
    record = record_for(qs, lm)
    for rank in range(2):
        run_benchmark(qs, PickBest(), lm, tmp_path, record, rank=rank, world_size=2)
    merged = merge_shards(tmp_path, 2)
    single = run_benchmark(qs, PickBest(), FakeLM(), tmp_path / "single", record)
    assert comparable(merged) == comparable(single)


class TooLongFor(FakeLM):
    """Rejects the prompts of some questions as over the window, as the real backends do (a ValueError)."""

    def __init__(self, *bad: str) -> None:
        super().__init__()
        self.bad = bad

    def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        if any(r.context in self.bad for r in requests):
            raise ContextWindowError("the prompt is 900 tokens; the window is 512")
        return super().loglikelihood(requests)


class ScoresNaN(PickBest):
    """Its scores for question q4 come back NaN, as from a broken backend."""

    async def solve(self, question, lm):  # type: ignore[no-untyped-def]
        prediction = await super().solve(question, lm)
        if question.id == "q4":
            return prediction.model_copy(update={"scores": {"alpha": math.nan, "beta": -1.0, "gamma": -2.0}})
        return prediction


def test_a_question_that_cannot_be_run_is_recorded_as_its_error_and_the_run_goes_on(tmp_path: Path) -> None:
    qs = questions(8)
    lm = TooLongFor("Question 2?")
    lines = run_benchmark(qs, ScoresNaN(), lm, tmp_path, record_for(qs, lm), concurrency=3)
    stored = load_run(tmp_path)[1]
    assert [line.index for line in stored if line.error is None] == [0, 1, 3, 5, 6, 7]
    failed = {line.question_id: line for line in stored if line.error is not None}
    assert sorted(failed) == ["q2", "q4"] and [line.index for line in lines] == list(range(8))
    assert "ContextWindowError: the prompt is 900 tokens" in failed["q2"].error
    assert "non-finite score {'alpha': nan}" in failed["q4"].error
    assert all(
        not line.correct and not line.abstained and line.prediction.answer is None for line in failed.values()
    )


def test_a_rerun_tries_the_failed_questions_again_and_keeps_one_line_each(tmp_path: Path) -> None:
    qs = questions(6)
    lm = TooLongFor("Question 2?", "Question 5?")
    run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    fixed = TooLongFor("Question 5?")  # e.g. rerun with a larger window
    resumed: list[int] = []
    new: list[int] = []
    run_benchmark(
        qs,
        PickBest(),
        fixed,
        tmp_path,
        record_for(qs, lm),
        on_resume=lambda lines: resumed.extend(line.index for line in lines),
        on_result=lambda line: new.append(line.index),
    )
    assert resumed == [0, 1, 3, 4] and sorted(new) == [2, 5]
    stored = load_run(tmp_path)[1]
    assert sorted(line.index for line in stored) == list(range(6))
    assert [line.question_id for line in stored if line.error is not None] == ["q5"]
    assert comparable([line for line in stored if line.index == 2]) == comparable(
        [
            line
            for line in run_benchmark(qs, PickBest(), FakeLM(), tmp_path / "clean", record_for(qs, lm))
            if line.index == 2
        ]
    )


def test_fail_fast_stops_at_the_first_question_that_cannot_be_run(tmp_path: Path) -> None:
    qs = questions(6)
    lm = TooLongFor("Question 0?")
    with pytest.raises(QuestionError, match="question 'q0'.*ContextWindowError"):
        run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm), concurrency=1, fail_fast=True)
    assert [(line.index, line.error is not None) for line in load_run(tmp_path)[1]] == [(0, True)]


def test_an_error_that_is_not_the_question_s_own_still_stops_the_run(tmp_path: Path) -> None:
    class DeviceLost(FakeLM):
        def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
            raise RuntimeError("CUDA error: device lost")

    qs, lm = questions(4), DeviceLost()
    with pytest.raises(QuestionError, match="device lost"):
        run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    assert load_run(tmp_path)[1] == []  # nothing recorded: a rerun tries every question


def test_a_complete_last_line_without_its_newline_is_repaired_on_resume(tmp_path: Path) -> None:
    qs, lm = questions(8), FakeLM()
    run_benchmark(qs[:5], PickBest(), lm, tmp_path, record_for(qs, lm))
    path = tmp_path / RESULTS_FILE
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # e.g. an editor or a copy that dropped it
    run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    stored = load_run(tmp_path)[1]
    assert [line.index for line in stored] == list(range(8))
    assert comparable(stored) == comparable(
        run_benchmark(qs, PickBest(), FakeLM(), tmp_path / "b", record_for(qs, lm))
    )


def test_answers_written_twice_are_kept_once_on_resume(tmp_path: Path) -> None:
    qs, lm = questions(5), FakeLM()
    run_benchmark(qs[:3], PickBest(), lm, tmp_path, record_for(qs, lm))
    path = tmp_path / RESULTS_FILE
    path.write_bytes(path.read_bytes() * 2)  # two runs wrote to this folder before it was locked
    run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    assert [line.index for line in load_run(tmp_path)[1]] == list(range(5))


def test_reading_a_run_does_not_change_its_files(tmp_path: Path) -> None:
    qs, lm = questions(4), FakeLM()
    run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    path = tmp_path / RESULTS_FILE
    cut = path.read_bytes()[:-30]  # what a report sees while a run is writing its last line
    path.write_bytes(cut)
    assert len(load_run(tmp_path)[1]) == 3
    assert path.read_bytes() == cut


def test_an_unreadable_run_record_is_an_error_naming_the_file(tmp_path: Path) -> None:
    qs, lm = questions(2), FakeLM()
    run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))
    (tmp_path / RUN_FILE).write_bytes(b"\xff\xfe not json")
    with pytest.raises(RunError, match=rf"{tmp_path / RUN_FILE}: not a reasonkit run record"):
        load_run(tmp_path)
    with pytest.raises(RunError, match=rf"{tmp_path / RUN_FILE}: not a reasonkit run record"):
        run_benchmark(qs, PickBest(), lm, tmp_path, record_for(qs, lm))


def test_a_second_run_on_a_folder_in_use_is_refused_naming_the_process(tmp_path: Path) -> None:
    qs, lm = questions(40), FakeLM()
    folder = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(folder), "40", "1"])
    try:
        deadline = time.monotonic() + 60
        while not (folder / RESULTS_FILE).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(RunError, match=rf"{folder} is in use by another run \(pid {process.pid} on "):
            run_benchmark(qs, PickBest(), lm, folder, record_for(qs, lm))
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    run_benchmark(qs, PickBest(), lm, folder, record_for(qs, lm))  # kill -9 released it
    assert [line.index for line in load_run(folder)[1]] == list(range(40))
    assert not (folder / LOCK_FILE).exists()


def test_a_record_of_its_parts_reads_the_fields_they_determine() -> None:
    qs, lm, strategy = questions(3), FakeLM(), PickBest()
    record = RunRecord.of("toy", "dev", qs, strategy, lm, "fake", limit=3)
    assert (record.strategy, record.strategy_config) == (strategy.name, strategy.config())
    assert (record.model_fingerprint, record.n_questions, record.data_hash) == (
        lm.fingerprint,
        3,
        data_hash(qs),
    )
    assert (record.seed, record.limit) == (0, 3)
