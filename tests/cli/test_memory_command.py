import gzip
import json
from pathlib import Path

from click.testing import CliRunner

from reasonkit.cli import main
from reasonkit.strategies.memory_store import MemoryStore

ROWS = [
    {"generic": {"sentence": "Birds have feathers."}, "source": "kb"},
    {"generic": {"sentence": "Fish live in water."}, "source": "kb"},
    {"generic": {"sentence": "Birds have feathers."}, "source": "kb"},
]


def write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def test_adds_rows_to_a_store_that_the_memory_strategy_searches(tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "facts.jsonl.gz", ROWS)
    store = tmp_path / "store"
    args = ["memory", "--store", str(store), "--jsonl", str(rows), "--key", "generic.sentence"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "added 2 of 3 rows" in result.output  # the repeated fact is stored once
    [hit] = MemoryStore.load(store).search("What do fish live in?", k=1)
    assert hit.entry.value == "Fish live in water."
    again = CliRunner().invoke(main, [*args, "--limit", "1"])
    assert "added 0 of 1 rows" in again.output and "(2 entries)" in again.output


def test_a_missing_field_names_file_and_line(tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "facts.jsonl.gz", [ROWS[0], {"other": 1}])
    args = ["memory", "--store", str(tmp_path / "s"), "--jsonl", str(rows), "--key", "generic.sentence"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"{rows}:2: field 'generic.sentence' has no part 'generic'" in result.output
    assert not (tmp_path / "s").exists()
