"""`reasonkit list` shows strategies, benchmarks and models."""

from __future__ import annotations

from click.testing import CliRunner

from reasonkit.benchmarks.registry import available_benchmarks
from reasonkit.cli import main


def test_list_shows_every_benchmark_with_its_kind_split_and_origin() -> None:
    result = CliRunner().invoke(main, ["list"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    section = result.output[result.output.index("benchmarks (") : result.output.index("models (")]
    rows = {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:6]]
        for line in section.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    }
    infos = available_benchmarks()
    assert set(rows) == set(infos) and {"csqa", "world", "corrections"} <= set(rows)
    for name, info in infos.items():
        assert rows[name] == [
            info.kind,
            info.default_split,
            info.origin,
            info.description[: len(rows[name][3])],
        ]
