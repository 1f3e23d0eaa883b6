"""`reasonkit report` on run folders written by `reasonkit bench` with the tiny trained model."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reasonkit.cli import main


def test_report_on_bench_runs_compares_the_strategies(tmp_path: Path, tiny_model_dir: Path) -> None:
    runner = CliRunner()
    bench = runner.invoke(
        main,
        [
            "bench",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(tmp_path / "runs"),
            "-b",
            "world",
            "--limit",
            "4",
            "-s",
            "direct",
            "-s",
            "direct(normalization='raw')",
        ],
    )
    assert bench.exit_code == 0, bench.output
    result = runner.invoke(main, ["report", str(tmp_path / "runs"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "direct(normalization='raw')" in markdown and "| world" in markdown
    assert (tmp_path / "report" / "accuracy.png").stat().st_size > 0
    assert "direct(normalization=" in (tmp_path / "report" / "report.html").read_text()
