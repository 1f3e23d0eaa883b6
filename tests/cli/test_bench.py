"""`reasonkit bench` end to end on the session's tiny trained model, through click's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import reasonkit.models
from reasonkit.benchmarks.registry import feedback_takers, load_questions, prepare
from reasonkit.benchmarks.runner import RESULTS_FILE, ResultLine, load_run
from reasonkit.cli import main
from reasonkit.protocol import LanguageModel
from reasonkit.registry import build_strategy
from reasonkit.types import Prediction, Question


def bench(out: Path, model: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["bench", "--model", str(model), "--out", str(out), *args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def answers(run_dir: Path) -> dict[str, tuple[Any, bool]]:
    """(answer, correct) per question id: what must not depend on how the run was split or resumed."""
    return {line.question_id: (line.prediction.answer, line.correct) for line in load_run(run_dir)[1]}


class CountingLM:
    """Wraps a backend and counts the requests that reach it."""

    def __init__(self, lm: LanguageModel) -> None:
        self.lm = lm
        self.requests = 0

    @property
    def fingerprint(self) -> str:
        return self.lm.fingerprint

    def loglikelihood(self, requests: Sequence[Any]) -> list[Any]:
        self.requests += len(requests)
        return self.lm.loglikelihood(requests)

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        self.requests += len(requests)
        return self.lm.generate(requests)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[CountingLM]:
    """Every model `reasonkit bench` loads, wrapped to count its requests."""
    loaded: list[CountingLM] = []
    real = reasonkit.models.load_model

    def load_model(*args: Any, **kwargs: Any) -> CountingLM:
        loaded.append(CountingLM(real(*args, **kwargs)))
        return loaded[-1]

    monkeypatch.setattr(reasonkit.models, "load_model", load_model)
    return loaded


def test_bundled_benchmark_with_several_strategies(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = ok(
        bench(
            tmp_path,
            tiny_model_dir,
            "-b",
            "csqa",
            "--limit",
            "3",
            "-s",
            "direct",
            "-s",
            "direct(normalization='token')",
        )
    )
    gold = load_questions("csqa")[:3]
    for folder, normalization in (("direct", "char"), ("direct_normalization=token", "token")):
        record, lines = load_run(tmp_path / "csqa" / folder)
        assert record.strategy_config["normalization"] == normalization
        assert record.model_fingerprint.startswith("gpt-") and record.limit == 3
        assert [line.question_id for line in lines] == [q.id for q in gold]
        assert all(line.lm_calls > 0 and line.tokens > 0 for line in lines)
        assert [line.correct for line in lines] == [
            line.prediction.answer == q.gold for line, q in zip(lines, gold, strict=True)
        ]
    assert "reasonkit bench" in result.output and "direct(normalization='token')" in result.output


def test_strategy_config_toml_and_the_seed_reach_nested_strategies(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    config = tmp_path / "strategies.toml"
    config.write_text(
        '[[strategy]]\nname = "direct"\nnormalization = "raw"\n\n'
        '[[strategy]]\nname = "self_consistency"\nn = 2\ninner = "cot(shots=0, max_tokens=8)"\n'
    )
    ok(
        bench(
            tmp_path / "runs",
            tiny_model_dir,
            "-b",
            "world",
            "--limit",
            "2",
            "--strategy-config",
            str(config),
            "--seed",
            "7",
        )
    )
    raw, _ = load_run(tmp_path / "runs" / "world" / "direct_normalization=raw")
    assert raw.strategy_config["normalization"] == "raw"
    voted, lines = load_run(
        tmp_path / "runs" / "world" / "self_consistency_n=2_inner=cot_shots=0_max_tokens=8"
    )
    assert voted.seed == 7 and voted.strategy_config["seed"] == 7
    assert voted.strategy_config["inner"]["seed"] == 7 and voted.strategy_config["inner"]["max_tokens"] == 8
    assert len(lines) == 2


def test_user_jsonl_with_a_field_mapping(tmp_path: Path, tiny_model_dir: Path) -> None:
    rows = [
        {
            "uid": f"u{i}",
            "stem": f"Which word is number {i}?",
            "choices": [{"text": "one"}, {"text": "two"}],
            "label": "AB"[i % 2],
        }
        for i in range(3)
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    ok(
        bench(
            tmp_path / "runs",
            tiny_model_dir,
            "--jsonl",
            str(path),
            "-s",
            "direct",
            "--field",
            "question=stem",
            "--field",
            "options=choices",
            "--field",
            "answer=label",
            "--field",
            "id=uid",
        )
    )
    record, lines = load_run(tmp_path / "runs" / "mine" / "direct")
    assert record.benchmark == "mine"
    assert [(line.question_id, line.gold) for line in lines] == [("u0", 0), ("u1", 1), ("u2", 0)]
    assert [line.question.options for line in lines] == [("one", "two")] * 3


def test_user_jsonl_winogrande_fill_blank_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    """WinoGrande's layout: options from two fields, 1-based answers read from the file and said, partial
    scoring by direct; maieutic (true/false only) is skipped by name."""
    rows = [
        {
            "qID": "w1",
            "sentence": "The cup is on the table because the _ is flat.",
            "option1": "cup",
            "option2": "table",
            "answer": "2",
        },
        {
            "qID": "w2",
            "sentence": "The dog chased the cat because the _ was hungry.",
            "option1": "dog",
            "option2": "cat",
            "answer": "1",
        },
        {
            "qID": "w3",
            "sentence": "The dog chased the cat because the _ was scared.",
            "option1": "dog",
            "option2": "dog",
            "answer": "1",
        },
    ]
    path = tmp_path / "wino.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = ok(
        bench(
            tmp_path / "runs",
            tiny_model_dir,
            "--jsonl",
            str(path),
            "-s",
            "direct",
            "-s",
            "maieutic",
            "--field",
            "question=sentence",
            "--field",
            "options=option1,option2",
            "--field",
            "id=qID",
            "--field",
            "kind=fill_blank",
        )
    )
    output = " ".join(result.output.split())
    assert "numeric answers read as 1-based" in output
    assert "1 row(s) repeat an option: the copies were merged" in output
    assert "1 of them had a single option left and were skipped" in output
    assert (
        "skipping maieutic on wino: it applies to none of its questions (fill-in-the-blank, e.g. w1)"
        in output
    )
    _, lines = load_run(tmp_path / "runs" / "wino" / "direct")
    assert [(line.question_id, line.gold) for line in lines] == [("w1", 1), ("w2", 0)]
    steps = lines[0].prediction.trace.steps
    assert steps["contexts"] == [
        "The cup is on the table because the cup",
        "The cup is on the table because the table",
    ]
    assert steps["continuation"] == " is flat."


def test_jsonl_field_names_that_are_not_there_list_the_files_fields(tmp_path: Path) -> None:
    """Issue 29: `--jsonl` alone said only "missing field 'answer'"; item 6: a --field naming a missing key."""
    path = tmp_path / "piqa.jsonl"
    path.write_text(
        json.dumps({"goal": "To dry hair", "sol1": "a towel", "sol2": "water", "label": 0}) + "\n"
    )
    alone = bench(tmp_path / "runs", tmp_path / "no-model", "--jsonl", str(path), "-s", "direct")
    assert alone.exit_code == 2
    assert (
        "missing field 'question', 'answer'; this row has the fields goal, sol1, sol2, label: map yours with "
        "--field question=FIELD --field answer=FIELD"
    ) in " ".join(alone.output.split())
    wrong = bench(
        tmp_path / "runs",
        tmp_path / "no-model",
        "--jsonl",
        str(path),
        "-s",
        "direct",
        "--field",
        "question=goal",
        "--field",
        "options=sol1,sol3",
        "--field",
        "answer=label",
    )
    assert wrong.exit_code == 2 and f"{path}:1: missing field 'sol3'" in wrong.output.replace("\n", "")
    assert wrong.exception is None or isinstance(wrong.exception, SystemExit)
    base = bench(tmp_path / "runs", tmp_path / "no-model", "-b", "csqa", "--answer-base", "1")
    assert base.exit_code == 2 and "give --jsonl too" in base.output
    assert not (tmp_path / "runs").exists()


def test_a_synthetic_suite(tmp_path: Path, tiny_model_dir: Path) -> None:
    ok(bench(tmp_path, tiny_model_dir, "-b", "world", "--limit", "5", "-s", "direct"))
    record, lines = load_run(tmp_path / "world" / "direct")
    assert record.split == "test" and len(lines) == 5
    assert all(line.question.kind == "binary" for line in lines)


def test_a_fresh_draw_of_a_suite_and_where_it_does_not_apply(tmp_path: Path, tiny_model_dir: Path) -> None:
    ok(
        bench(
            tmp_path,
            tiny_model_dir,
            "-b",
            "arithmetic",
            "--suite-seed",
            "3",
            "--limit",
            "3",
            "-s",
            "scratchpad",
        )
    )
    record, lines = load_run(tmp_path / "arithmetic" / "scratchpad")
    assert record.split == "test" and len(lines) == 3
    assert all(line.question_id.endswith("-seed3") for line in lines)
    result = bench(tmp_path, tiny_model_dir, "-b", "csqa", "--suite-seed", "3", "-s", "direct")
    assert (
        result.exit_code == 2 and "--suite-seed" in result.output and "not a synthetic suite" in result.output
    )
    result = bench(tmp_path, tiny_model_dir, "--jsonl", str(tmp_path / "mine.jsonl"), "--suite-seed", "3")
    assert result.exit_code == 2 and "a --jsonl file has no seed" in result.output


def test_a_world_seed_evaluates_that_worlds_split(tmp_path: Path, tiny_model_dir: Path) -> None:
    ok(
        bench(
            tmp_path,
            tiny_model_dir,
            "-b",
            "consistency",
            "--split",
            "held_out",
            "--world-seed",
            "1",
            "--limit",
            "2",
            "-s",
            "direct",
        )
    )
    record, lines = load_run(tmp_path / "consistency" / "direct")
    assert record.split == "held_out" and len(lines) == 2
    assert all(line.question_id.endswith("-world1") for line in lines)
    result = bench(tmp_path, tiny_model_dir, "-b", "arithmetic", "--world-seed", "1", "-s", "direct")
    assert result.exit_code == 2 and "--world-seed" in result.output and "--suite-seed" in result.output
    result = bench(
        tmp_path,
        tiny_model_dir,
        "-b",
        "consistency",
        "--world-seed",
        "1",
        "--suite-seed",
        "1",
        "-s",
        "direct",
    )
    assert result.exit_code == 2 and "not both" in result.output


def test_a_strategy_that_applies_to_no_question_is_skipped_by_name_not_scored_zero(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    result = ok(
        bench(tmp_path, tiny_model_dir, "-b", "csqa", "--limit", "2", "-s", "scratchpad", "-s", "direct")
    )
    assert (
        "skipping scratchpad on csqa: it applies to none of its questions (multiple choice, e.g."
        in result.output
    )
    assert not (tmp_path / "csqa" / "scratchpad").exists() and (tmp_path / "csqa" / "direct").exists()
    alone = bench(tmp_path, tiny_model_dir, "-b", "world", "--limit", "2", "-s", "scratchpad")
    assert alone.exit_code == 2 and "true/false statements" in alone.output
    assert "no strategy asked for applies to any question" in alone.output


def test_a_second_run_resumes_without_calling_the_model(
    tmp_path: Path, tiny_model_dir: Path, counted: list[CountingLM]
) -> None:
    args = ("-b", "csqa", "--limit", "4", "-s", "direct")
    ok(bench(tmp_path, tiny_model_dir, *args))
    results = tmp_path / "csqa" / "direct" / RESULTS_FILE
    first = results.read_bytes()
    assert counted[0].requests > 0
    lines = first.splitlines()
    results.write_bytes(b"\n".join(lines[:2]) + b"\n" + lines[2][:30])  # as if killed while writing line 3
    ok(bench(tmp_path, tiny_model_dir, *args))
    assert 0 < counted[1].requests < counted[0].requests  # only questions 3 and 4 again
    resumed = answers(tmp_path / "csqa" / "direct")
    again = results.read_bytes()
    ok(bench(tmp_path, tiny_model_dir, *args))
    assert counted[2].requests == 0
    assert results.read_bytes() == again
    original = [ResultLine.model_validate_json(raw) for raw in first.splitlines()]
    assert resumed == {line.question_id: (line.prediction.answer, line.correct) for line in original}


def test_an_unknown_benchmark_is_named_with_suggestions(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = bench(tmp_path, tiny_model_dir, "-b", "csqa3", "-s", "direct")
    assert result.exit_code == 2
    assert "--benchmark" in result.output and "unknown benchmark 'csqa3'" in result.output
    assert "did you mean 'csqa'" in result.output and "known: " in result.output
    assert not tmp_path.joinpath("csqa3").exists()


def test_a_bad_strategy_spec_names_the_option_before_loading_the_model(
    tmp_path: Path, tiny_model_dir: Path, counted: list[CountingLM]
) -> None:
    result = bench(tmp_path, tiny_model_dir, "-b", "csqa", "-s", "self_consistency(m=3)")
    assert result.exit_code == 2
    assert "--strategy" in result.output and "no option 'm'" in result.output
    config = tmp_path / "bad.toml"
    config.write_text('[[strategy]]\nname = "direct"\n\n[[strategy]]\nname = "dirct"\n')
    result = bench(tmp_path, tiny_model_dir, "-b", "csqa", "--strategy-config", str(config))
    assert result.exit_code == 2
    assert "table 2" in result.output and "unknown strategy 'dirct'" in result.output
    assert counted == [] and list(tmp_path.iterdir()) == [config]


def test_a_malformed_jsonl_line_fails_with_file_line_and_field_before_any_model_call(
    tmp_path: Path, tiny_model_dir: Path, counted: list[CountingLM]
) -> None:
    path = tmp_path / "mine.jsonl"
    good = {"question": "Is it?", "options": ["yes", "no"], "answer": 0}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "answer": 7}) + "\n")
    result = bench(
        tmp_path / "runs", tiny_model_dir, "--jsonl", str(path), "--field", "options=options", "-s", "direct"
    )
    assert result.exit_code == 2
    assert f"{path}:2" in result.output.replace("\n", "") and "'answer'" in result.output
    assert counted == [] and not (tmp_path / "runs").exists()


def test_a_model_path_that_does_not_exist(tmp_path: Path) -> None:
    result = bench(tmp_path / "runs", tmp_path / "nowhere", "-b", "csqa", "--limit", "1", "-s", "direct")
    assert result.exit_code == 2
    assert "--model" in result.output and "no such folder" in result.output
    assert not (tmp_path / "runs").exists()


def test_memory_gets_the_corrections_feedback_first(tmp_path: Path, tiny_model_dir: Path) -> None:
    ok(
        bench(
            tmp_path,
            tiny_model_dir,
            "-b",
            "corrections",
            "--limit",
            "3",
            "-s",
            "memory(inner=direct)",
            "-s",
            "direct",
        )
    )
    plain, _ = load_run(tmp_path / "corrections" / "direct")
    assert plain.preparation == {}
    record, lines = load_run(tmp_path / "corrections" / "memory_inner=direct")
    assert record.preparation["feedback"]["given"] == 3 and record.preparation["feedback"]["to"] == ["memory"]
    assert build_strategy(record.strategy_config).config() == record.strategy_config  # config round-trips
    for line in lines:
        retrieved = line.prediction.trace.steps["retrieved"]
        assert line.question.metadata["correction"] in [hit["value"] for hit in retrieved]
        assert line.question.metadata["correction"] in line.prediction.trace.steps["prompt_text"]


def test_feedback_reaches_memory_inside_other_strategies_and_only_there() -> None:
    nested = build_strategy("ensemble(members=[direct, memory(inner=cot)])")
    assert [s.name for s in feedback_takers(nested)] == ["memory"]
    assert list(feedback_takers(build_strategy("self_consistency(inner=cot)"))) == []
    questions = load_questions("corrections")[:2]
    assert prepare(build_strategy("cot"), questions) == {}
    assert prepare(nested, [q.model_copy(update={"metadata": {}}) for q in questions]) == {}


def test_torchrun_shards_the_questions_and_merges_them_as_one_process_would(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    args = ["bench", "--model", str(tiny_model_dir), "-b", "csqa", "--limit", "5", "-s", "direct"]
    ok(CliRunner().invoke(main, [*args, "--out", str(tmp_path / "single")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "reasonkit",
        *args,
        "--out",
        str(tmp_path / "sharded"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "sharded" / "csqa" / "direct"
    assert sorted(p.name for p in run_dir.iterdir()) == ["results.jsonl", "run.json"]  # shards merged away
    assert answers(run_dir) == answers(tmp_path / "single" / "csqa" / "direct")
    assert [line.index for line in load_run(run_dir)[1]] == list(range(5))
    assert done.stdout.count("csqa direct:") == 1  # rank 0 reports, once


def test_long_specs_that_differ_past_the_cut_get_folders_of_their_own() -> None:
    from reasonkit.benchmarks.plan import SLUG_LENGTH, slug

    assert slug("memory(inner=direct, store='stores/genericskb', k=3)") == (
        "memory_inner=direct_store=stores_genericskb_k=3"
    )
    stem = "ensemble(members=[direct, retrieval(store='runs/ir/stores/genericskb')], vote='scores', "
    names = {slug(f"{stem}weights=[1, {w}])") for w in (1, 2, 4, 8, 16)}
    assert len(names) == 5 and all(len(name) == SLUG_LENGTH for name in names)
    assert slug(f"{stem}weights=[1, 2])") == slug(f"{stem}weights=[1, 2])")  # stable: a rerun resumes


def test_a_huge_seed_is_a_clear_error_before_the_model_is_loaded(
    tmp_path: Path, tiny_model_dir: Path, counted: list[CountingLM]
) -> None:
    result = bench(tmp_path / "runs", tiny_model_dir, "-b", "world", "-s", "direct", "--seed", str(10**30))
    assert result.exit_code == 2 and "--seed" in result.output and "is not in the range" in result.output
    assert counted == [] and not (tmp_path / "runs").exists()


def test_a_jsonl_name_never_leads_the_run_outside_out(tmp_path: Path, tiny_model_dir: Path) -> None:
    rows = [{"question": f"Is {i} small?", "options": ["yes", "no"], "answer": 0} for i in range(2)]
    (tmp_path / "sub").mkdir()
    for name in ("...jsonl", "..mine.jsonl"):
        (tmp_path / "sub" / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "sub" / "runs"
    result = bench(out, tiny_model_dir, "--jsonl", str(tmp_path / "sub" / "...jsonl"), "-s", "direct")
    assert result.exit_code == 2 and "its name '..' cannot name a run folder" in result.output
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["...jsonl", "..mine.jsonl"]
    ok(bench(out, tiny_model_dir, "--jsonl", str(tmp_path / "sub" / "..mine.jsonl"), "-s", "direct"))
    assert [p.relative_to(out).as_posix() for p in out.glob("*/*")] == ["mine/direct"]


def long_question_file(tmp_path: Path) -> Path:
    """Three questions; the second longer than the tiny model's window of 128 tokens."""
    texts = ["Is ice cold?", "Is fire hot? " * 200, "Is snow white?"]
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"m{i}", "question": text, "options": ["yes", "no"], "answer": 0}) + "\n"
            for i, text in enumerate(texts)
        )
    )
    return path


def test_a_question_over_the_window_is_recorded_as_its_error_and_the_run_goes_on(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    path = long_question_file(tmp_path)
    result = bench(
        tmp_path / "runs", tiny_model_dir, "--jsonl", str(path), "--field", "id=id", "-s", "direct"
    )
    assert result.exit_code == 1
    assert "1 question could not be run and count as wrong" in result.output
    assert "question 'm1': strategy 'direct' failed: ContextWindowError" in result.output
    lines = load_run(tmp_path / "runs" / "mixed" / "direct")[1]
    assert [(line.question_id, line.error is None) for line in lines] == [
        ("m0", True),
        ("m1", False),
        ("m2", True),
    ]
    stopped = bench(
        tmp_path / "fast",
        tiny_model_dir,
        "--jsonl",
        str(path),
        "--field",
        "id=id",
        "-s",
        "direct",
        "--fail-fast",
        "--concurrency",
        "1",
    )
    assert stopped.exit_code == 1 and "rerun with --truncation left" in stopped.output
    assert [line.question_id for line in load_run(tmp_path / "fast" / "mixed" / "direct")[1]] == ["m0", "m1"]


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from reasonkit.benchmarks.runner import run_lock
    with run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(120)
""")


def test_a_second_bench_on_a_folder_in_use_stops_and_names_the_process(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    folder = tmp_path / "runs" / "world" / "direct"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        result = bench(tmp_path / "runs", tiny_model_dir, "-b", "world", "--limit", "2", "-s", "direct")
        assert result.exit_code == 1
        assert f"{folder} is in use by another run (pid {holder.pid} on " in result.output
        assert not (folder / RESULTS_FILE).exists()
    finally:
        holder.kill()
        holder.wait()
    ok(bench(tmp_path / "runs", tiny_model_dir, "-b", "world", "--limit", "2", "-s", "direct"))


def test_the_progress_rate_counts_only_questions_answered_by_this_process() -> None:
    from rich.progress import Progress

    from reasonkit.commands.bench import RunProgress

    now = [0.0]
    progress = Progress(get_time=lambda: now[0], disable=True)
    bar = RunProgress(progress, "toy", total=1010)
    question = Question(id="r", text="Which?", options=("a", "b"), gold=0)
    resumed = [
        ResultLine(
            index=i,
            question_id=f"r{i}",
            question=question,
            gold=0,
            correct=i < 500,
            abstained=False,
            lm_calls=1,
            tokens=1,
            finished_s=0.5,
            prediction=Prediction(question_id=f"r{i}", answer=0),
        )
        for i in range(1000)
    ]
    bar.resumed(resumed)
    for second in range(1, 5):  # this process answers one question a second
        now[0] = float(second)
        bar.result(resumed[0].model_copy(update={"index": 1000 + second, "correct": True}))
    task = progress.tasks[0]
    assert task.completed == 1004 and bar.speed == 1.0
    assert bar.accuracy() == f"acc {100 * 504 / 1004:.1f}%"
    assert task.fields["qps"] == "1.00 q/s" and task.fields["eta"] == "0:00:06 left"


def test_a_batch_of_answers_arriving_together_does_not_read_as_thousands_a_second() -> None:
    from rich.progress import Progress

    from reasonkit.commands.bench import RunProgress

    now = [0.0]
    progress = Progress(get_time=lambda: now[0], disable=True)
    bar = RunProgress(progress, "toy", total=128)
    bar.resumed([])
    question = Question(id="q", text="Which?", options=("a", "b"), gold=0)
    line = ResultLine(
        index=0,
        question_id="q",
        question=question,
        gold=0,
        correct=True,
        abstained=False,
        lm_calls=1,
        tokens=1,
        finished_s=0.5,
        prediction=Prediction(question_id="q", answer=0),
    )
    for batch in range(2):  # 64 questions scored in one batch every 32 seconds
        now[0] = 32.0 * (batch + 1)
        for _ in range(64):
            now[0] += 1e-6
            bar.result(line)
        assert bar.speed is not None and abs(bar.speed - 2.0) < 1e-3  # 64 answers / 32 s


def test_a_bare_bench_runs_direct_only_and_says_what_it_will_do(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = ok(bench(tmp_path, tiny_model_dir, "--limit", "3"))
    assert (
        "no --strategy given: running direct" in result.output
        and "-s all runs every strategy" in result.output
    )
    assert f"plan: 1 run, 3 answers in all, into {tmp_path}/" in result.output
    assert "  csqa (3 questions): direct" in result.output
    assert sorted(p.name for p in (tmp_path / "csqa").iterdir()) == ["direct"]


def test_strategy_all_runs_every_strategy_that_applies(tmp_path: Path, tiny_model_dir: Path) -> None:
    from reasonkit.benchmarks.plan import default_strategies

    every = [source.spec for source in default_strategies(load_questions("world")[:2])]
    assert "direct" in every and "cot" in every and "scratchpad" not in every
    result = bench(
        tmp_path,
        tiny_model_dir,
        "-b",
        "world",
        "--limit",
        "1",
        "-s",
        "direct",
        "-s",
        "all",
        "--model",
        "/no/such/model",
    )
    assert result.exit_code == 2 and "no such folder" in result.output  # planned, then stopped at the model
    assert f"plan: {len(every)} runs, {len(every)} answers in all" in result.output
    assert (
        f"  world (1 questions): {', '.join(['direct', *(s for s in every if s != 'direct')])}"
        in result.output
    )


def test_the_summary_table_keeps_every_header_whole_in_80_columns() -> None:
    from io import StringIO

    from rich.console import Console

    from reasonkit.commands.bench import summary_table

    rows = [
        {
            "benchmark": "arc_challenge",
            "strategy": "self_consistency(inner=cot, n=40)",
            "n": 1221,
            "accuracy": "100.0 [100.0, 100.0]",
            "abstained": 1221,
            "errors": 0,
            "calls": "41.0",
            "tokens": "12345",
            "qps": "15.78",
        }
    ]
    out = Console(file=StringIO(), width=80)
    out.print(summary_table(rows))
    text = out.file.getvalue()
    assert "…" not in text and max(len(line.rstrip()) for line in text.splitlines()) <= 80
    for header in (
        "benchmark",
        "strategy",
        "accuracy %",
        "[95% CI]",
        "abstained",
        "calls/q",
        "tokens/q",
        "q/s",
    ):
        assert header in text
    assert "100.0 [100.0, 100.0]" in text and "15.78" in text


def test_the_summary_in_a_log_is_as_wide_as_it_needs(tmp_path: Path, tiny_model_dir: Path) -> None:
    label = "direct(normalization='token', unconditional_context='The answer is:')"
    result = ok(bench(tmp_path, tiny_model_dir, "-b", "csqa", "--limit", "2", "-s", label))
    lines = result.output.splitlines()
    [row] = [line for line in lines if line.startswith("csqa ") and "->" not in line and "·" not in line]
    assert label in row
