"""The evaluation plan from Python: the rules `reasonkit bench` follows (seeds, defaults, what applies where,
run folders) and a plan run from Python writing what the command writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import reasonkit as rk
from reasonkit.benchmarks.plan import EvaluationPlan, PlanError, read_strategy_config
from reasonkit.benchmarks.runner import RESULTS_FILE, load_run
from reasonkit.cli import main
from reasonkit.fake import FakeLM
from reasonkit.types import Question

SAMPLED = "self_consistency(n=2, inner=cot(shots=0, max_tokens=8))"


def files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def statements(n: int) -> list[Question]:
    return [Question(id=f"s{i}", text=f"Statement {i} holds.", gold=i % 2 == 0) for i in range(n)]


def test_the_plan_puts_the_seed_in_every_strategy_that_samples_unless_the_spec_sets_one() -> None:
    plan = EvaluationPlan.build(
        {"world": statements(3)}, [SAMPLED, "self_consistency(n=2, seed=3)", "direct"], seed=11, limit=2
    )
    configs = {run.label: run.strategy.config() for run in plan.runs}
    assert configs[SAMPLED]["seed"] == 11 and configs[SAMPLED]["inner"]["seed"] == 11
    assert configs["self_consistency(n=2, seed=3)"]["seed"] == 3
    assert "seed" not in configs["direct"]
    assert [len(run.questions) for run in plan.runs] == [2, 2, 2] and plan.limit == 2
    given = rk.SelfConsistency(rk.ChainOfThought(shots=0), n=2, seed=5)
    [run] = EvaluationPlan.build({"world": statements(1)}, [given], seed=11).runs
    assert run.strategy is given and run.label == repr(given)  # a strategy object runs as given


def test_skip_leaves_out_the_first_questions_and_is_recorded(tmp_path: Path) -> None:
    plan = EvaluationPlan.build({"world": statements(5)}, ["direct"], skip=2, limit=2, out=tmp_path)
    assert [q.id for q in plan.runs[0].questions] == ["s2", "s3"]
    [outcome] = plan.execute(FakeLM(scores=lambda context, continuation: -1.0), model="fake")
    record, lines = load_run(outcome.run_dir)
    assert (record.skip, record.limit, record.n_questions) == (2, 2, 2)
    assert sorted(line.question_id for line in lines) == ["s2", "s3"]
    with pytest.raises(PlanError, match=r"skip 5: no question is left to run \(world has 5\)") as error:
        EvaluationPlan.build({"world": statements(5)}, ["direct"], skip=5)
    assert error.value.option == "--skip"


def test_defaults_applicability_and_folders() -> None:
    notes: list[str] = []
    plan = EvaluationPlan.build({"world": statements(2)}, on_note=notes.append, out="elsewhere")
    assert [(run.label, run.folder.as_posix()) for run in plan.runs] == [("direct", "world/direct")]
    every = EvaluationPlan.build(
        {"world": statements(2)}, ["direct", "all", "scratchpad"], on_note=notes.append
    )
    labels = [run.label for run in every.runs]
    assert labels[0] == "direct" and "cot" in labels and "scratchpad" not in labels
    assert notes == [
        "skipping scratchpad on world: it applies to none of its questions (true/false statements, e.g. s0)"
    ]
    assert plan.describe() == [
        "plan: 1 run, 2 answers in all, into elsewhere/",
        "  world (2 questions): direct",
    ]
    with pytest.raises(PlanError, match="no strategy asked for applies") as none:
        EvaluationPlan.build({"world": statements(2)}, ["scratchpad"], on_note=notes.append)
    assert none.value.option is None
    with pytest.raises(PlanError, match="no option 'm'") as bad:
        EvaluationPlan.build({"world": statements(2)}, ["self_consistency(m=3)"])
    assert bad.value.option == "strategies"
    twice = EvaluationPlan.build(
        {"world": statements(2)}, ["direct(normalization='raw')", 'direct(normalization="raw")']
    )
    with pytest.raises(
        PlanError, match="^two strategies would share the run folder runs/world/direct_normalization=raw$"
    ):
        twice.check_folders()


def test_a_strategy_config_file_gives_specs_named_by_table(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text('[[strategy]]\nname = "direct"\nnormalization = "raw"\n\n[[strategy]]\nnam = "cot"\n')
    with pytest.raises(PlanError, match=r"table 2 needs a name") as error:
        read_strategy_config(config)
    assert error.value.option == "--strategy-config"
    config.write_text('[[strategy]]\nname = "direct"\nnormalization = "raw"\n')
    [source] = read_strategy_config(config)
    assert source.spec == {"name": "direct", "normalization": "raw"} and "table 1" in source.option


def test_executing_a_plan_writes_run_folders_and_resumes(tmp_path: Path) -> None:
    lm = FakeLM(scores={" True": -1.0, " False": -2.0})
    plan = EvaluationPlan.build({"world": statements(3)}, ["direct"], out=tmp_path)
    finished: list[str] = []
    [outcome] = plan.execute(lm, on_finished=lambda done: finished.append(done.label))
    assert finished == ["direct"] and outcome.run_dir == tmp_path / "world" / "direct"
    assert [line.prediction.answer for line in outcome.lines] == [True, True, True]
    assert outcome.accuracy == pytest.approx(2 / 3)
    record, lines = load_run(outcome.run_dir)
    assert record.model_dump(mode="json") == outcome.record.model_dump(mode="json")
    assert record.model == "default" and len(lines) == 3
    calls = lm.n_calls
    again = EvaluationPlan.build({"world": statements(3)}, ["direct"], out=tmp_path).execute(lm)
    assert lm.n_calls == calls  # resumed: no model call
    assert [line.model_dump(mode="json") for line in again[0].lines] == [
        line.model_dump(mode="json") for line in lines
    ]


TIMINGS = {"created_at", "finished_s", "latency_s"}


def without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if key not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


def comparable(run_dir: Path) -> Any:
    """What must not depend on whether the command or Python ran the plan: the record and every line, calls
    and answers included, without the times they took."""
    record, lines = load_run(run_dir)
    return without_timings([record.model_dump(mode="json"), [line.model_dump(mode="json") for line in lines]])


@pytest.mark.slow
def test_a_plan_run_from_python_writes_what_the_command_writes(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(tmp_path / "cli"),
            "-b",
            "world",
            "--limit",
            "2",
            "--seed",
            "7",
            "-s",
            "direct",
            "-s",
            SAMPLED,
        ],
    )
    assert result.exit_code == 0, result.output
    plan = rk.EvaluationPlan.build(
        {"world": rk.load_questions("world")}, ["direct", SAMPLED], seed=7, limit=2, out=tmp_path / "python"
    )
    lm = rk.load_model(str(tiny_model_dir), truncation="error")
    outcomes = plan.execute(lm, model=str(tiny_model_dir), model_options={"truncation": "error"})
    assert files_under(tmp_path / "python") == files_under(tmp_path / "cli")
    assert [outcome.run_dir.relative_to(tmp_path / "python").as_posix() for outcome in outcomes] == [
        "world/direct",
        "world/self_consistency_n=2_inner=cot_shots=0_max_tokens=8",
    ]
    for outcome in outcomes:
        cli_dir = tmp_path / "cli" / outcome.run_dir.relative_to(tmp_path / "python")
        assert comparable(outcome.run_dir) == comparable(cli_dir)
        assert (cli_dir / RESULTS_FILE).exists() and outcome.record.seed == 7
