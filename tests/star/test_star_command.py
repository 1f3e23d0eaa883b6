"""`reasonkit star` on the command line: a run, its table, and the errors a user can cause, said without a
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reasonkit.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def arguments(model_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "star",
        "--model",
        str(model_dir),
        "-b",
        "multistep",
        "-s",
        "cot(shots=0, max_tokens=48)",
        "--iterations",
        "1",
        "--questions",
        "16",
        "--samples",
        "2",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--limit",
        "4",
        "--replay-recipe",
        str(model_dir.parents[1] / "recipe.toml"),
        "--replay-weight",
        "0.5",
        "--out",
        str(out),
        *extra,
    ]


def test_star_runs_prints_each_iteration_and_refuses_other_options_on_resume(
    star_start_model: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(main, arguments(star_start_model, tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "iteration 1: fine-tuning 2 steps" in result.output
    assert "acc cot(shots=0, max_tokens=48)" in result.output and (tmp_path / "run" / "star.json").is_file()

    again = runner.invoke(main, arguments(star_start_model, tmp_path / "run", "--samples", "3"))
    assert again.exit_code == 1 and "Traceback" not in again.output
    assert "--samples: 2 there, 3 here" in again.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--replay-weight", "0"], "--replay-recipe and --replay-weight go together"),
        (["-s", "direct"], "'direct' cannot sample reasoning paths"),
        (["--questions", "30000"], "--questions 30000: multistep's train split has 20000 questions"),
        (["-b", "multistepp"], "multistep"),
        (["-b", "arithmetic", "-s", "scratchpad"], "leaves out the hint given in the question's text"),
    ],
)
def test_bad_options_are_named_before_any_work(
    star_start_model: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, arguments(star_start_model, tmp_path / "run", *extra))
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert message in result.output
    assert not (tmp_path / "run").exists()
