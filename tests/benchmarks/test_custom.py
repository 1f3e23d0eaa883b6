import json
from pathlib import Path

import pytest

from reasonkit.benchmarks.custom import FieldMapping, load_jsonl_benchmark, read_jsonl_benchmark
from reasonkit.benchmarks.loaders import DatasetError


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_multiple_choice_with_letter_index_and_text_answers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mine.jsonl",
        [
            {
                "uid": "a",
                "stem": "Where do fish live?",
                "choices": [{"text": "water"}, {"text": "trees"}],
                "key": "A",
            },
            {"uid": "b", "stem": "What is hot?", "choices": [{"text": "ice"}, {"text": "fire"}], "key": 1},
            {
                "uid": "c",
                "stem": "What is cold?",
                "choices": [{"text": "ice"}, {"text": "fire"}],
                "key": "ice",
            },
        ],
    )
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
    path = write(tmp_path / "empty.jsonl", [{"question": "a?", "options": ["x", " "], "answer": 0}])
    with pytest.raises(DatasetError, match=r"empty.jsonl:1: .*field 'options' has an empty option"):
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


# The field layouts of three held-out datasets, as their files have them.
PIQA = [
    {
        "goal": "To open a stuck jar lid",
        "sol1": "run the lid under hot water",
        "sol2": "put the jar in the freezer",
        "label": 0,
    },
    {
        "goal": "To dry wet shoes",
        "sol1": "fill them with ice",
        "sol2": "stuff them with newspaper",
        "label": 1,
    },
]
WINOGRANDE = [
    {
        "qID": "w1",
        "sentence": "The trophy does not fit in the suitcase because the _ is too big.",
        "option1": "trophy",
        "option2": "suitcase",
        "answer": "1",
    },
    {
        "qID": "w2",
        "sentence": "The trophy does not fit in the suitcase because the _ is too small.",
        "option1": "trophy",
        "option2": "suitcase",
        "answer": "2",
    },
]
SIQA = [
    {
        "context": "Tracy lent Riley her car.",
        "question": "What will Riley want to do next?",
        "answerA": "return the car",
        "answerB": "sell the car",
        "answerC": "paint the car",
        "label": "1",
    },
    {
        "context": "Sam spilled coffee on Alex.",
        "question": "How would Alex feel?",
        "answerA": "pleased",
        "answerB": "bored",
        "answerC": "annoyed",
        "label": "3",
    },
]


def test_piqa_options_from_several_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "piqa.jsonl", PIQA)
    read = read_jsonl_benchmark(
        path, FieldMapping.parse_pairs(["question=goal", "options=sol1,sol2", "answer=label"])
    )
    assert [q.options for q in read.questions] == [(r["sol1"], r["sol2"]) for r in PIQA]
    assert [q.gold for q in read.questions] == [0, 1]
    assert read.answer_base == 0 and read.notes() == []


def test_winogrande_fill_blank_with_one_based_answers_detected_and_said(tmp_path: Path) -> None:
    path = write(tmp_path / "wino.jsonl", WINOGRANDE)
    mapping = FieldMapping.parse_pairs(
        ["question=sentence", "options=option1,option2", "answer=answer", "id=qID", "kind=fill_blank"]
    )
    read = read_jsonl_benchmark(path, mapping)
    assert [(q.id, q.kind, q.gold) for q in read.questions] == [
        ("w1", "fill_blank", 0),
        ("w2", "fill_blank", 1),
    ]
    assert read.answer_base == 1 and read.answer_base_detected
    assert read.notes() == [
        "numeric answers read as 1-based (none is 0 and some equal the number of options); "
        "--answer-base 0 or 1 says it outright"
    ]


def test_siqa_labels_as_one_based_digits_given_outright(tmp_path: Path) -> None:
    rows = [{**row, "question": f"{row['context']} {row['question']}"} for row in SIQA]
    path = write(tmp_path / "siqa.jsonl", rows)
    mapping = FieldMapping(options="answerA,answerB,answerC", answer="label", answer_base=1)
    read = read_jsonl_benchmark(path, mapping)
    assert [q.gold for q in read.questions] == [0, 2] and not read.answer_base_detected
    assert read.notes() == []
    # counted from 0, label "3" of three options is out of range: said, not guessed
    with pytest.raises(
        DatasetError, match=r"siqa.jsonl:2: field 'label' = '3' is not an option number counted from 0"
    ):
        read_jsonl_benchmark(path, mapping.model_copy(update={"answer_base": 0}))


def test_an_unclear_base_stays_zero_based(tmp_path: Path) -> None:
    """No 0 and no answer equal to the number of options: nothing shows 1-based, so the reading is unchanged."""
    path = write(tmp_path / "few.jsonl", [{"question": "a?", "options": ["x", "y", "z"], "answer": 1}])
    read = read_jsonl_benchmark(path, FieldMapping(options="options"))
    assert read.questions[0].gold == 1 and read.answer_base == 0 and read.notes() == []


def test_letters_as_answers(tmp_path: Path) -> None:
    rows = [{**row, "label": "ABC"[i * 2]} for i, row in enumerate(SIQA)]
    path = write(tmp_path / "letters.jsonl", rows)
    questions = load_jsonl_benchmark(path, FieldMapping(options="answerA,answerB,answerC", answer="label"))
    assert [q.gold for q in questions] == [0, 2]


def test_a_repeated_option_is_merged_and_counted_not_fatal(tmp_path: Path) -> None:
    rows = [
        {"question": "a?", "options": ["x", "y", "x "], "answer": 2},
        {"question": "b?", "options": ["x", "y"], "answer": 1},
        {"question": "c?", "options": ["z", "z"], "answer": 1},
    ]
    read = read_jsonl_benchmark(write(tmp_path / "dup.jsonl", rows), FieldMapping(options="options"))
    first = read.questions[0]
    assert first.options == ("x", "y") and first.gold == 0  # the answer follows its text to the kept copy
    assert first.metadata["merged_duplicate_options"] == 1
    assert [q.id for q in read.questions] == ["1", "2"]  # "c?" has one option left: nothing to choose
    assert (
        read.merged_rows == 2
        and read.skipped_rows == 1
        and read.notes()
        == [
            "2 row(s) repeat an option: the copies were merged into one option (as the bundled loaders do)",
            "1 of them had a single option left and were skipped",
        ]
    )


def test_a_missing_field_lists_the_rows_fields_and_the_field_fix(tmp_path: Path) -> None:
    path = write(tmp_path / "piqa.jsonl", PIQA)
    with pytest.raises(DatasetError) as error:
        load_jsonl_benchmark(path, FieldMapping())
    assert str(error.value) == (
        f"{path}:1: missing field 'question', 'answer'; this row has the fields goal, sol1, sol2, label: "
        "map yours with --field question=FIELD --field answer=FIELD"
    )
    with pytest.raises(
        DatasetError,
        match=r"piqa.jsonl:1: missing field 'sol3'; this row has the fields goal, sol1, "
        r"sol2, label: map yours with --field options=FIELD1,FIELD2",
    ):
        load_jsonl_benchmark(path, FieldMapping(question="goal", options="sol1,sol3", answer="label"))


def test_option_objects_without_the_text_key_name_their_keys(tmp_path: Path) -> None:
    """Was a KeyError traceback."""
    path = write(tmp_path / "arc.jsonl", [{"q": "a?", "choices": [{"label": "A", "txt": "x"}], "a": "A"}])
    with pytest.raises(
        DatasetError,
        match=r"arc.jsonl:1: an option has no field 'text' \(it has label, txt\): "
        r"map the one holding its text with --field option_text=KEY",
    ):
        load_jsonl_benchmark(path, FieldMapping(question="q", options="choices", answer="a"))


def test_one_option_field_that_is_not_a_list_points_to_several_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "piqa.jsonl", PIQA)
    with pytest.raises(DatasetError, match=r"must be a list of options; .* --field options=FIELD1,FIELD2"):
        load_jsonl_benchmark(path, FieldMapping(question="goal", options="sol1", answer="label"))
