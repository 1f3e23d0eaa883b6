"""`reasonkit ask` on questions a user gets wrong: one-line errors, never a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reasonkit.cli import main


def test_a_question_longer_than_the_window_fails_in_one_line(tiny_model_dir: Path) -> None:
    question = "Is this long? " * 2_000
    result = CliRunner().invoke(main, ["ask", question, "--binary", "--model", str(tiny_model_dir)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: the question does not fit the model's context window")
    assert "--truncation left" in result.output and "Traceback" not in result.output


def test_truncation_left_answers_it(tiny_model_dir: Path) -> None:
    question = "Is this long? " * 2_000
    args = ["ask", question, "--binary", "--model", str(tiny_model_dir), "--truncation", "left", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert '"answer": ' in result.output


def test_a_question_with_a_lone_surrogate_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ask", "caf\udce9?", "--binary", "--model", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "field 'text' has a lone surrogate '\\udce9' at character 4" in result.output
