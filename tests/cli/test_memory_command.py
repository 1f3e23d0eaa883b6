import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reasonkit.cli import main
from reasonkit.commands import memory as memory_command
from reasonkit.strategies.memory_store import MemoryEntry, MemoryStore

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


def test_a_template_key_joins_fields_and_names_a_missing_one(tmp_path: Path) -> None:
    glosses = [{"words": ["bank", "depository"], "gloss": "a financial institution that accepts deposits"}]
    rows = write_rows(tmp_path / "glosses.jsonl.gz", [*glosses, {"words": ["river"]}])
    store = tmp_path / "store"
    args = ["memory", "--store", str(store), "--jsonl", str(rows), "--key", "{words.0}: {gloss}"]
    result = CliRunner().invoke(main, [*args, "--limit", "1"])
    assert result.exit_code == 0, result.output
    [hit] = MemoryStore.load(store).search("Where do people keep money?", k=1)
    assert hit.entry.key == hit.entry.value == "bank: a financial institution that accepts deposits"
    missing = CliRunner().invoke(main, args)
    assert missing.exit_code != 0 and f"{rows}:2: field 'gloss' has no part 'gloss'" in missing.output


DEV_QUESTION = "Where would a curious fox most likely hide its food during the long winter?"
LEAK_RECIPE = """
name = "unit"
data_dir = "data"
[[sources]]
name = "text"
path = "text.txt"
format = "text"
weight = 1.0
[[leak_check]]
path = "dev.jsonl"
question_field = "q.stem"
id_field = "id"
"""


def test_leak_check_drops_rows_holding_a_dev_question_and_names_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "text.txt").write_text("Some training text.\n")
    (data / "dev.jsonl").write_text(json.dumps({"id": "d1", "q": {"stem": DEV_QUESTION}}) + "\n")
    recipe = tmp_path / "unit.toml"
    recipe.write_text(LEAK_RECIPE)
    rows = write_rows(
        tmp_path / "explained.jsonl.gz",
        [
            {"question": "Why do birds fly south?", "why": "Winter is cold."},
            {"question": DEV_QUESTION.lower(), "why": "Foxes cache food."},  # the same question, other case
            {"question": "A fox?", "why": f"Asked once: {DEV_QUESTION}"},  # inside the value
        ],
    )
    store = tmp_path / "store"
    args = [
        "memory",
        "--store",
        str(store),
        "--jsonl",
        str(rows),
        "--key",
        "question",
        "--value",
        "why",
        "--leak-check",
        str(recipe),
        "--data-dir",
        str(data),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"dropped {rows}:2: dev.jsonl question d1 (the same question)" in result.output
    assert f"dropped {rows}:3: dev.jsonl question d1" in result.output
    assert "added 1 of 1 rows" in result.output
    assert [e.key for e in MemoryStore.load(store).entries] == ["Why do birds fly south?"]


def test_leak_check_options_are_checked(tmp_path: Path) -> None:
    rows = write_rows(tmp_path / "facts.jsonl.gz", ROWS)
    base = ["memory", "--store", str(tmp_path / "s"), "--jsonl", str(rows), "--key", "generic.sentence"]
    alone = CliRunner().invoke(main, [*base, "--data-dir", str(tmp_path)])
    assert alone.exit_code != 0 and "--data-dir is only used with --leak-check" in alone.output
    tiny = CliRunner().invoke(main, [*base, "--leak-check", "tiny"])
    assert tiny.exit_code != 0 and "--leak-check" in tiny.output and "no [[leak_check]]" in tiny.output
    missing = CliRunner().invoke(main, [*base, "--leak-check", str(tmp_path / "nope.toml")])
    assert missing.exit_code != 0 and "Traceback" not in missing.output and "nope.toml" in missing.output
    assert not (tmp_path / "s").exists()


def test_a_build_stopped_part_way_keeps_what_it_saved_and_the_same_command_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = [MemoryEntry(key=f"Fact number {i}.", value=f"Fact number {i}.") for i in range(5)]
    monkeypatch.setattr(memory_command, "EMBED_CHUNK", 2)
    store = MemoryStore(tmp_path / "store")
    real_add_many = store.add_many
    calls = 0

    def add_many_then_crash(entries: list[MemoryEntry]) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return real_add_many(entries)

    monkeypatch.setattr(store, "add_many", add_many_then_crash)
    with pytest.raises(KeyboardInterrupt):
        memory_command.add_with_progress(store, facts, save_every_s=0.0)
    assert len(MemoryStore.load(tmp_path / "store")) == 4  # two chunks saved before the stop
    assert memory_command.add_with_progress(MemoryStore(tmp_path / "store"), facts) == 1
    assert [e.key for e in MemoryStore.load(tmp_path / "store").entries] == [e.key for e in facts]
