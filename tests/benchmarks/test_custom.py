import json
from pathlib import Path

import pytest

from reasonkit.benchmarks.custom import FieldMapping, load_jsonl_benchmark
from reasonkit.benchmarks.loaders import DatasetError


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_multiple_choice_with_letter_index_and_text_answers(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.jsonl", [
        {"uid": "a", "stem": "Where do fish live?", "choices": [{"text": "water"}, {"text": "trees"}], "key": "A"},
        {"uid": "b", "stem": "What is hot?", "choices": [{"text": "ice"}, {"text": "fire"}], "key": 1},
        {"uid": "c", "stem": "What is cold?", "choices": [{"text": "ice"}, {"text": "fire"}], "key": "ice"},
    ])
    mapping = FieldMapping.parse_pairs(["question=stem", "options=choices", "answer=key", "id=uid"])
    questions = load_jsonl_benchmark(path, mapping)
    assert [q.gold for q in questions] == [0, 1, 0]
    assert questions[0].options == ("water", "trees") and questions[0].metadata["benchmark"] == "mine"


def test_binary_answers_in_words(tmp_path: Path) -> None:
    path = write(tmp_path / "tf.jsonl", [{"s": "Fire is hot.", "y": "yes"}, {"s": "Ice is hot.", "y": False}])
    questions = load_jsonl_benchmark(path, FieldMapping(question="s", answer="y"))
    assert [q.gold for q in questions] == [True, False] and questions[0].id == "1"


def test_missing_field_fails_before_anything_with_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", [{"question": "a?", "answer": "yes"}, {"answer": "no"}])
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: missing field 'question'"):
        load_jsonl_benchmark(path, FieldMapping())


def test_invalid_question_reports_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.jsonl", [{"question": "a?", "options": ["x", "x"], "answer": 0}])
    with pytest.raises(DatasetError, match=r"dup.jsonl:1: .*field 'options' has the duplicate option 'x'"):
        load_jsonl_benchmark(path, FieldMapping(options="options"))
    path = write(tmp_path / "ans.jsonl", [{"question": "a?", "options": ["x", "y"], "answer": "z"}])
    with pytest.raises(DatasetError, match=r"ans.jsonl:1: field 'answer' = 'z'"):
        load_jsonl_benchmark(path, FieldMapping(options="options"))


def test_mapping_errors_name_the_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown key 'questoin'"):
        FieldMapping.parse_pairs(["questoin=stem"])
    with pytest.raises(ValueError, match="expected KEY=FIELD"):
        FieldMapping.parse_pairs(["question"])
    toml = tmp_path / "map.toml"
    toml.write_text('[fields]\nquestion = "stem"\noptions = "choices"\n')
    assert FieldMapping.from_toml(toml).options == "choices"
