import gzip
import json
import os
from pathlib import Path

import pytest

from reasonkit.benchmarks.loaders import DatasetError, load_benchmark
from reasonkit.benchmarks.registry import load_questions
from reasonkit.datasets import BUILTIN, get_dataset

SHARED = Path(
    os.environ.get("REASONKIT_DATA_DIR", Path(__file__).resolve().parents[2] / ".." / "shared" / "data")
)

EXPECTED_COUNTS = {
    "csqa": 1221,
    "strategyqa": 229,
    "creak": 1371,
    "csqa2": 2541,
    "arc_easy": 2376,
    "arc_challenge": 1172,
    "openbookqa": 500,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_bundled_split_loads_with_gold_answers(name: str) -> None:
    questions = load_benchmark(name)
    assert len(questions) == EXPECTED_COUNTS[name]
    assert all(q.gold is not None for q in questions)
    assert all(q.metadata["benchmark"] == name for q in questions)
    assert {q.kind for q in questions} == {get_dataset(name).kind}


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder not present")
@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_bundled_copy_equals_shared_data(name: str) -> None:
    assert load_benchmark(name) == load_benchmark(name, data_dir=SHARED)


def test_com2sense_is_not_shipped_and_says_how_to_load_it() -> None:
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_benchmark("com2sense")


def test_csqa_duplicate_options_are_merged_and_gold_follows_the_text() -> None:
    questions = {q.id: q for q in load_benchmark("csqa")}
    merged = [q for q in questions.values() if q.metadata.get("merged_duplicate_options")]
    assert len(merged) == 24
    question = questions["e5ad2184e37ae88b2bf46bf6bc0ed2f4"]  # 'indestructible' appears as A and D; gold D
    assert question.options.count("indestructible") == 1
    assert question.options[question.gold] == "indestructible"


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "creak.jsonl.gz"
    rows = [{"ex_id": "a", "sentence": "Fire is hot.", "label": "true"}, {"ex_id": "b", "label": "false"}]
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DatasetError, match=r"creak.jsonl.gz:2: missing field 'sentence'"):
        load_benchmark("creak", path=path)


def test_bad_json_and_duplicate_ids_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "csqa2.jsonl"
    path.write_text('{"id": "x", "question": "Is ice cold?", "answer": "yes"}\n{not json\n')
    with pytest.raises(DatasetError, match=r"csqa2.jsonl:2: invalid JSON"):
        load_benchmark("csqa2", path=path)
    path.write_text('{"id": "x", "question": "Is ice cold?", "answer": "yes"}\n' * 2)
    with pytest.raises(DatasetError, match=r"csqa2.jsonl:2: duplicate id 'x' \(first on line 1\)"):
        load_benchmark("csqa2", path=path)


def test_unknown_benchmark_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="csqa2"):
        load_benchmark("csqa3")


def test_train_split_is_read_from_the_data_folder_only(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train split is not shipped.*creak/train.jsonl.*--data-dir"):
        load_benchmark("creak", split="train")
    (tmp_path / "creak").mkdir()
    rows = [
        {"ex_id": f"t{i}", "sentence": f"Claim {i}.", "label": "true" if i % 2 else "false"} for i in range(3)
    ]
    (tmp_path / "creak" / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    questions = load_questions("creak", data_dir=tmp_path, split="train")
    assert [(q.id, q.split, q.gold) for q in questions] == [
        ("t0", "train", False),
        ("t1", "train", True),
        ("t2", "train", False),
    ]
    with pytest.raises(ValueError, match="'dev' and 'train' splits here, not 'test'"):
        load_questions("creak", data_dir=tmp_path, split="test")


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder not present")
@pytest.mark.parametrize("name", sorted(spec.name for spec in BUILTIN))
def test_train_splits_load_and_share_no_id_with_the_evaluation_split(name: str) -> None:
    train = load_benchmark(name, data_dir=SHARED, split="train")
    assert len(train) > 400 and {q.split for q in train} == {"train"}
    assert all(q.gold is not None for q in train)
    assert not {q.id for q in train} & {q.id for q in load_benchmark(name, data_dir=SHARED)}


def write_com2sense(folder: Path, pairs: dict[str, str] | str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": "a", "sent": "Ice is cold.", "label": "True"},
        {"id": "b", "sent": "Ice is hot.", "label": "False"},
        {"id": "c", "sent": "Fire is hot.", "label": "True"},
    ]
    (folder / "dev.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    if pairs is not None:
        (folder / "pair_id_dev.json").write_text(pairs if isinstance(pairs, str) else json.dumps(pairs))
    return folder / "dev.jsonl"


def test_com2sense_pairs_come_from_the_file_beside_the_split(tmp_path: Path) -> None:
    path = write_com2sense(tmp_path, {"a": "b", "b": "a", "c": "z", "z": "c"})
    pair_ids = {q.id: q.metadata.get("pair_id") for q in load_benchmark("com2sense", path=path)}
    assert pair_ids == {"a": "b", "b": "a", "c": None}  # c's partner is not in the file: unpaired
    unpaired = load_benchmark("com2sense", path=write_com2sense(tmp_path / "no-pairs", None))
    assert all("pair_id" not in q.metadata for q in unpaired)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (
            {"a": "b", "b": "c", "c": "b"},
            r"pair_id_dev.json: id 'a' is paired with 'b', but 'b' is paired with 'c'",
        ),
        ("{oops", r"pair_id_dev.json: not a readable JSON object"),
        ('["a", "b"]', r"pair_id_dev.json: expected a JSON object"),
    ],
)
def test_bad_com2sense_pairs_name_the_file(tmp_path: Path, pairs: dict[str, str] | str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_benchmark("com2sense", path=write_com2sense(tmp_path, pairs))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder not present")
def test_every_com2sense_dev_statement_has_a_partner_with_the_other_label() -> None:
    questions = {q.id: q for q in load_benchmark("com2sense", data_dir=SHARED)}
    assert len(questions) == 782
    assert all(questions[q.metadata["pair_id"]].gold is not q.gold for q in questions.values())


def test_an_unshipped_benchmark_says_why_and_what_to_pass() -> None:
    with pytest.raises(FileNotFoundError) as caught:
        load_benchmark("com2sense")
    assert str(caught.value) == (
        "benchmark 'com2sense' is not shipped with reasonkit (its licence: none stated, so it cannot be "
        "redistributed); pass the folder that holds com2sense/dev.jsonl with --data-dir"
    )


def test_strategyqa_keeps_its_decomposition_and_facts_in_the_metadata() -> None:
    """The annotated steps are what least_to_most / self_ask's oracle mode feeds; the facts stay for analysis."""
    questions = {q.id: q for q in load_benchmark("strategyqa")}
    albany = questions["e0044a7b4d146d611e73"]
    assert albany.metadata["decomposition"] == [
        "What is the population of Albany, Georgia?",
        "What is the population of Albany, New York?",
        "What is the difference between 100,000 and #1?",
        "What is the difference between 100,000 and #2?",
        "Is #3 smaller than #4?",
    ]
    assert albany.metadata["facts"] == [
        "Albany, GA has around 75,000 people",
        "Albany, NY has almost 100,000 people",
    ]
    assert all(
        q.metadata["decomposition"] and isinstance(q.metadata["facts"], list) for q in questions.values()
    )


def test_a_strategyqa_row_without_a_decomposition_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "strategyqa.jsonl"
    path.write_text('{"qid": "x", "question": "Is ice cold?", "answer": true}\n')
    [question] = load_benchmark("strategyqa", path=path)
    assert (
        question.gold is True
        and "decomposition" not in question.metadata
        and "facts" not in question.metadata
    )


def test_a_strategyqa_decomposition_that_is_not_a_list_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "strategyqa.jsonl"
    path.write_text(
        '{"qid": "x", "question": "Is ice cold?", "answer": true, "decomposition": "Is ice cold?"}\n'
    )
    with pytest.raises(
        DatasetError, match=r"strategyqa.jsonl:1: field 'decomposition' must be a list of strings"
    ):
        load_benchmark("strategyqa", path=path)
