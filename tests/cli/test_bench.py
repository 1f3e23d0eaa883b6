"""`reasonkit bench` end to end on the session's tiny trained model, through click's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    result = ok(bench(tmp_path, tiny_model_dir, "-b", "csqa", "--limit", "3", "-s", "direct",
                      "-s", "direct(normalization='token')"))
    gold = load_questions("csqa")[:3]
    for folder, normalization in (("direct", "char"), ("direct_normalization=token", "token")):
        record, lines = load_run(tmp_path / "csqa" / folder)
        assert record.strategy_config["normalization"] == normalization
        assert record.model_fingerprint.startswith("gpt-") and record.limit == 3
        assert [line.question_id for line in lines] == [q.id for q in gold]
        assert all(line.lm_calls > 0 and line.tokens > 0 for line in lines)
        assert [line.correct for line in lines] == [line.prediction.answer == q.gold for line, q in
                                                    zip(lines, gold, strict=True)]
    assert "reasonkit bench" in result.output and "direct(normalization='token')" in result.output


def test_strategy_config_toml_and_the_seed_reach_nested_strategies(tmp_path: Path, tiny_model_dir: Path) -> None:
    config = tmp_path / "strategies.toml"
    config.write_text(
        '[[strategy]]\nname = "direct"\nnormalization = "raw"\n\n'
        '[[strategy]]\nname = "self_consistency"\nn = 2\ninner = "cot(shots=0, max_tokens=8)"\n'
    )
    ok(bench(tmp_path / "runs", tiny_model_dir, "-b", "world", "--limit", "2", "--strategy-config", str(config),
             "--seed", "7"))
    raw, _ = load_run(tmp_path / "runs" / "world" / "direct_normalization=raw")
    assert raw.strategy_config["normalization"] == "raw"
    voted, lines = load_run(tmp_path / "runs" / "world" / "self_consistency_n=2_inner=cot_shots=0_max_tokens=8")
    assert voted.seed == 7 and voted.strategy_config["seed"] == 7
    assert voted.strategy_config["inner"]["seed"] == 7 and voted.strategy_config["inner"]["max_tokens"] == 8
    assert len(lines) == 2


def test_user_jsonl_with_a_field_mapping(tmp_path: Path, tiny_model_dir: Path) -> None:
    rows = [{"uid": f"u{i}", "stem": f"Which word is number {i}?", "choices": [{"text": "one"}, {"text": "two"}],
             "label": "AB"[i % 2]} for i in range(3)]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    ok(bench(tmp_path / "runs", tiny_model_dir, "--jsonl", str(path), "-s", "direct", "--field", "question=stem",
             "--field", "options=choices", "--field", "answer=label", "--field", "id=uid"))
    record, lines = load_run(tmp_path / "runs" / "mine" / "direct")
    assert record.benchmark == "mine"
    assert [(line.question_id, line.gold) for line in lines] == [("u0", 0), ("u1", 1), ("u2", 0)]
    assert [line.question.options for line in lines] == [("one", "two")] * 3


def test_a_synthetic_suite(tmp_path: Path, tiny_model_dir: Path) -> None:
    ok(bench(tmp_path, tiny_model_dir, "-b", "world", "--limit", "5", "-s", "direct"))
    record, lines = load_run(tmp_path / "world" / "direct")
    assert record.split == "test" and len(lines) == 5
    assert all(line.question.kind == "binary" for line in lines)


def test_a_fresh_draw_of_a_suite_and_where_it_does_not_apply(tmp_path: Path, tiny_model_dir: Path) -> None:
    ok(bench(tmp_path, tiny_model_dir, "-b", "arithmetic", "--suite-seed", "3", "--limit", "3", "-s", "scratchpad"))
    record, lines = load_run(tmp_path / "arithmetic" / "scratchpad")
    assert record.split == "test" and len(lines) == 3
    assert all(line.question_id.endswith("-seed3") for line in lines)
    result = bench(tmp_path, tiny_model_dir, "-b", "csqa", "--suite-seed", "3", "-s", "direct")
    assert result.exit_code == 2 and "--suite-seed" in result.output and "not a synthetic suite" in result.output
    result = bench(tmp_path, tiny_model_dir, "--jsonl", str(tmp_path / "mine.jsonl"), "--suite-seed", "3")
    assert result.exit_code == 2 and "a --jsonl file has no seed" in result.output


def test_a_strategy_that_applies_to_no_question_is_skipped_by_name_not_scored_zero(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    result = ok(bench(tmp_path, tiny_model_dir, "-b", "csqa", "--limit", "2", "-s", "scratchpad", "-s", "direct"))
    assert "skipping scratchpad on csqa: it applies to none of its questions (multiple choice, e.g." in result.output
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
    result = bench(tmp_path / "runs", tiny_model_dir, "--jsonl", str(path), "--field", "options=options",
                   "-s", "direct")
    assert result.exit_code == 2
    assert f"{path}:2" in result.output.replace("\n", "") and "'answer'" in result.output
    assert counted == [] and not (tmp_path / "runs").exists()


def test_a_model_path_that_does_not_exist(tmp_path: Path) -> None:
    result = bench(tmp_path / "runs", tmp_path / "nowhere", "-b", "csqa", "--limit", "1", "-s", "direct")
    assert result.exit_code == 2
    assert "--model" in result.output and "no such folder" in result.output
    assert not (tmp_path / "runs").exists()


def test_memory_gets_the_corrections_feedback_first(tmp_path: Path, tiny_model_dir: Path) -> None:
    ok(bench(tmp_path, tiny_model_dir, "-b", "corrections", "--limit", "3", "-s", "memory(inner=direct)",
             "-s", "direct"))
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
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "reasonkit", *args, "--out", str(tmp_path / "sharded")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "sharded" / "csqa" / "direct"
    assert sorted(p.name for p in run_dir.iterdir()) == ["results.jsonl", "run.json"]  # shards merged away
    assert answers(run_dir) == answers(tmp_path / "single" / "csqa" / "direct")
    assert [line.index for line in load_run(run_dir)[1]] == list(range(5))
    assert done.stdout.count("csqa direct:") == 1  # rank 0 reports, once


def test_long_specs_that_differ_past_the_cut_get_folders_of_their_own() -> None:
    from reasonkit.commands.bench import SLUG_LENGTH, slug

    assert slug("memory(inner=direct, store='stores/genericskb', k=3)") == (
        "memory_inner=direct_store=stores_genericskb_k=3"
    )
    stem = "ensemble(members=[direct, retrieval(store='runs/ir/stores/genericskb')], vote='scores', "
    names = {slug(f"{stem}weights=[1, {w}])") for w in (1, 2, 4, 8, 16)}
    assert len(names) == 5 and all(len(name) == SLUG_LENGTH for name in names)
    assert slug(f"{stem}weights=[1, 2])") == slug(f"{stem}weights=[1, 2])")  # stable: a rerun resumes


def test_a_bare_bench_runs_direct_only_and_says_what_it_will_do(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = ok(bench(tmp_path, tiny_model_dir, "--limit", "3"))
    assert "no --strategy given: running direct" in result.output and "-s all runs every strategy" in result.output
    assert f"plan: 1 run, 3 answers in all, into {tmp_path}/" in result.output
    assert "  csqa (3 questions): direct" in result.output
    assert sorted(p.name for p in (tmp_path / "csqa").iterdir()) == ["direct"]


def test_strategy_all_runs_every_strategy_that_applies(tmp_path: Path, tiny_model_dir: Path) -> None:
    from reasonkit.commands.bench import default_strategies

    every = [source.spec for source in default_strategies(load_questions("world")[:2])]
    assert "direct" in every and "cot" in every and "scratchpad" not in every
    result = bench(tmp_path, tiny_model_dir, "-b", "world", "--limit", "1", "-s", "direct", "-s", "all",
                   "--model", "/no/such/model")
    assert result.exit_code == 2 and "no such folder" in result.output  # planned, then stopped at the model
    assert f"plan: {len(every)} runs, {len(every)} answers in all" in result.output
    assert f"  world (1 questions): {', '.join(['direct', *(s for s in every if s != 'direct')])}" in result.output


def test_the_summary_table_keeps_every_header_whole_in_80_columns() -> None:
    from io import StringIO

    from rich.console import Console

    from reasonkit.commands.bench import summary_table

    rows = [{"benchmark": "arc_challenge", "strategy": "self_consistency(inner=cot, n=40)", "n": 1221,
             "accuracy": "100.0 [100.0, 100.0]", "abstained": 1221, "calls": "41.0", "tokens": "12345",
             "qps": "15.78"}]
    out = Console(file=StringIO(), width=80)
    out.print(summary_table(rows))
    text = out.file.getvalue()
    assert "…" not in text and max(len(line.rstrip()) for line in text.splitlines()) <= 80
    for header in ("benchmark", "strategy", "accuracy %", "[95% CI]", "abstained", "calls/q", "tokens/q", "q/s"):
        assert header in text
    assert "100.0 [100.0, 100.0]" in text and "15.78" in text


def test_the_summary_in_a_log_is_as_wide_as_it_needs(tmp_path: Path, tiny_model_dir: Path) -> None:
    label = "direct(normalization='token', unconditional_context='The answer is:')"
    result = ok(bench(tmp_path, tiny_model_dir, "-b", "csqa", "--limit", "2", "-s", label))
    lines = result.output.splitlines()
    [row] = [line for line in lines if line.startswith("csqa ") and "->" not in line and "·" not in line]
    assert label in row
