"""The README's examples run as written, on the embedded default model, and print what the README says."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from reasonkit.cli import main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def python_block(after_heading: str) -> str:
    """The first ```python block after a heading of the README."""
    section = README.split(after_heading, 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_python_api_example_prints_what_its_comments_say() -> None:
    code = python_block("## Python API")
    out = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (Python API)", "exec"), namespace)
    question = namespace["question"]
    options = question.options  # type: ignore[attr-defined]
    lines = out.getvalue().splitlines()

    index, text = lines[0].split(" ", 1)  # "the option's index and its text"
    assert options[int(index)] == text
    shares = ast.literal_eval(lines[1])  # "each option's share of the 20 votes"
    assert set(shares) <= set(options) and abs(sum(shares.values()) - 1) < 1e-9
    assert all(abs(20 * share - round(20 * share)) < 1e-9 for share in shares.values())
    prompt = "\n".join(lines[2:-2])  # "the exact prompt of a call: 4 worked examples, the question"
    assert prompt.count("Question: ") == 5 and f"Question: {question.text}" in prompt  # type: ignore[attr-defined]
    for line, q in zip(lines[-2:], namespace["questions"], strict=True):  # type: ignore[call-overload]
        qid, rest = line.split(" ", 1)
        answer_text, correct = rest.rsplit(" ", 1)
        assert qid == q.id and answer_text in q.options and correct == str(q.options[q.gold] == answer_text)


@pytest.mark.slow
def test_the_ask_example_prints_the_answer_and_a_readable_trace() -> None:
    [line] = [line for line in README.splitlines() if line.startswith('reasonkit ask "A whale is a fish."')]
    args = shlex.split(line.split("#", 1)[0])[1:]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    shown = result.output.splitlines()
    assert any(re.search(r"answer: (True|False)\b", row) for row in shown)  # "prints the answer"
    assert "trace: maieutic" in result.output
    # "the generated tree, then what pruning kept, and why"
    assert re.search(r"unpruned_tree \(\d+ nodes\)", result.output) and re.search(
        r"\btree \(\d+ nodes\)", result.output
    )
    words = " ".join(re.sub(r"[│├└─]", " ", result.output).split())  # the note as one line, tree drawing gone
    assert (
        "kept by pruning (a node is kept only on a path from the root to a logically integral leaf" in words
    )
    # "the first 3 LM calls in full"
    assert (
        "#3 " in result.output
        and "#4 " not in result.output
        and "more not shown (--calls all" in result.output
    )
    assert len(shown) < 400
    quiet = CliRunner().invoke(main, [*args, "-q"])
    assert quiet.exit_code == 0 and re.fullmatch(
        r"answer: (True|False)  confidence \d\.\d{3}", quiet.output.strip()
    )


@pytest.mark.slow
def test_the_evaluation_plan_example_writes_the_commands_run_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = python_block("The same evaluation from Python")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md (evaluation plan)", "exec"), {})
    printed = [line.split(" ", 1) for line in out.getvalue().splitlines()]
    assert [folder for folder, _ in printed] == ["runs/csqa/direct", "runs/csqa/cot"]
    assert all(0 <= float(accuracy) <= 1 for _, accuracy in printed)
    assert all((tmp_path / folder / "results.jsonl").exists() for folder, _ in printed)
