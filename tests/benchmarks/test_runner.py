import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reasonkit.benchmarks.runner import (
    RESULTS_FILE,
    RunError,
    RunRecord,
    data_hash,
    load_run,
    merge_shards,
    read_results,
    run_benchmark,
)
from reasonkit.fake import FakeLM

sys.path.insert(0, str(Path(__file__).parent))
from run_slowly import PickBest, questions  # noqa: E402

SCRIPT = Path(__file__).parent / "run_slowly.py"


def record_for(qs, lm, **changes) -> RunRecord:  # type: ignore[no-untyped-def]
    fields = dict(benchmark="toy", split="dev", strategy="pick_best", strategy_config={"name": "pick_best"},
                  model="fake", model_fingerprint=lm.fingerprint, seed=0, limit=None, n_questions=len(qs),
                  data_hash=data_hash(qs))
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
        p.answer == q.gold for p, q in zip((line.prediction for line in stored), qs, strict=True))
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
