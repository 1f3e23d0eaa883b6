"""Answer letters in a user's JSONL: only A, B, C, ... (either case) index the options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reasonkit.benchmarks.custom import FieldMapping, load_jsonl_benchmark
from reasonkit.benchmarks.loaders import DatasetError

MAPPING = FieldMapping(options="options")


@pytest.mark.parametrize("letter", ["ß", "ﬀ", "Ä", "ª", "Ａ"])
def test_non_ascii_letters_are_not_option_letters(tmp_path: Path, letter: str) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"question": "Which?", "options": ["x", "y", "z"], "answer": letter}) + "\n")
    with pytest.raises(DatasetError, match=r"mine.jsonl:1: field 'answer' = .* is neither an option index"):
        load_jsonl_benchmark(path, MAPPING)


def test_ascii_letters_of_either_case_are(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    rows = [{"question": "Which?", "options": ["x", "y", "z"], "answer": letter} for letter in ("c", "B")]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert [q.gold for q in load_jsonl_benchmark(path, MAPPING)] == [2, 1]
