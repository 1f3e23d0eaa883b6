import json
from pathlib import Path

from click.testing import CliRunner

from reasonkit.benchmarks.studies.ecqa_rationales import main, rationale_rows


def csqa_row(qid: str, stem: str) -> dict[str, object]:
    choices = [
        {"label": label, "text": text} for label, text in zip("ABCDE", ["a", "b", "c", "d", "e"], strict=True)
    ]
    return {"id": qid, "answerKey": "A", "question": {"stem": stem, "choices": choices}}


def flan_row(stem: str) -> dict[str, str]:
    return {"question": f"{stem}\nOptions:\n- a\n- b", "answer": "a", "rationale": f"Because of {stem}"}


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def data_dir(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "commonsenseqa" / "dev.jsonl", [csqa_row("d1", "Where is the dev cat?")])
    train = [
        csqa_row("t1", "Where is the first train dog?"),
        csqa_row("t2", "Where is the second train dog?"),
    ]
    write_jsonl(tmp_path / "commonsenseqa" / "train.jsonl", train)
    stems = [
        "where is the DEV cat",
        "Where is the first train dog?",
        "Where is the second train dog?",
        "Other?",
    ]
    write_jsonl(tmp_path / "flan_cot" / "ecqa_train.jsonl", [flan_row(stem) for stem in stems])
    return tmp_path


def test_drops_dev_questions_and_the_held_out_train_questions(tmp_path: Path) -> None:
    kept, dropped_dev, dropped_held_out = rationale_rows(data_dir(tmp_path), hold_out_train=1)
    assert [row["question"].split("\n")[0] for row in kept] == ["Where is the second train dog?", "Other?"]
    assert (dropped_dev, dropped_held_out) == (1, 1)  # the dev question matched despite case and punctuation


def test_writes_the_kept_rows_and_says_what_it_dropped(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    args = ["--data-dir", str(data_dir(tmp_path)), "--hold-out-train", "2", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (
        "1 rows" in result.output
        and "dropped 1 of CommonsenseQA dev questions and 2 of the first 2" in result.output
    )
    assert [json.loads(line)["question"] for line in out.read_text().splitlines()] == [
        "Other?\nOptions:\n- a\n- b"
    ]
