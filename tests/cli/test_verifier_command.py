"""`reasonkit verifier data` labels a train-split bench run's paths; `reasonkit verifier train` fine-tunes a model
on them with the trainer and resumes a stopped run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from reasonkit.benchmarks.runner import RunRecord, run_benchmark
from reasonkit.cli import main
from reasonkit.commands.verifier import rows_from_run, train_verifier
from reasonkit.fake import FakeLM
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.self_consistency import SelfConsistency
from reasonkit.types import Question

SAYS_A = " 1 + 1 = 2. So the answer is (A)."
SAYS_B = " 1 + 1 = 3. So the answer is (B)."


def questions(count: int, split: str = "train") -> list[Question]:
    return [
        Question(
            id=f"multistep-{split}-{i}",
            text=f"Start with {i}. Add {i + 1}. Multiply by {i % 3 + 2}. What is the result?",
            options=("right one", "wrong one"),
            gold=0,
            split=split,
            metadata={"benchmark": "multistep"},
        )
        for i in range(count)
    ]


def sampled_run(root: Path, texts: tuple[str, ...], split: str = "train", count: int = 3, n: int = 4) -> Path:
    """A bench run of self-consistency over scripted paths, as `reasonkit bench --split train` writes it."""
    qs = questions(count, split)
    strategy = SelfConsistency(ChainOfThought(shots=0, fallback="abstain"), n=n)
    lm = FakeLM(default=texts)
    record = RunRecord.of("multistep", split, qs, strategy, lm, "fake")
    run_dir = root / "run"
    run_benchmark(qs, strategy, lm, run_dir, record)
    return run_dir


def test_data_labels_every_path_and_shuffles_across_questions(tmp_path: Path) -> None:
    run_dir = sampled_run(tmp_path, (SAYS_A, SAYS_B, SAYS_B, " no answer"))
    rows, n_questions = rows_from_run(run_dir)
    assert n_questions == 3 and len(rows) == 12
    assert sum(r["label"] for r in rows) == 3  # one (A) per question is right; the unreadable one is wrong
    assert all(r["text"].endswith("Verdict: right") == r["label"] for r in rows)
    assert sorted(r["id"] for r in rows) == sorted(
        f"multistep-train-{q}/{i}" for q in range(3) for i in range(4)
    )
    order = [r["id"].rsplit("/", 1)[0] for r in rows]
    assert order != sorted(order)  # shuffled: a question's rows are not next to each other

    out = tmp_path / "rows.jsonl"
    result = CliRunner().invoke(main, ["verifier", "data", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "12 solutions from 3 questions (3 right, 9 wrong)" in result.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows

    before = CliRunner().invoke(
        main, ["verifier", "data", str(run_dir), "--out", str(out), "--verdict", "before"]
    )
    assert before.exit_code == 0, before.output
    first = json.loads(out.read_text().splitlines()[0])
    verdict = "right" if first["label"] else "wrong"
    assert f"\nVerdict: {verdict}\nAnswer: 1 + 1 = " in first["text"] and first["id"] == rows[0]["id"]


@pytest.mark.parametrize(("texts", "missing"), [((SAYS_B,), "correct"), ((SAYS_A,), "wrong")])
def test_a_run_with_one_label_only_stops_before_writing(
    tmp_path: Path, texts: tuple[str, ...], missing: str
) -> None:
    run_dir = sampled_run(tmp_path, texts)
    out = tmp_path / "rows.jsonl"
    result = CliRunner().invoke(main, ["verifier", "data", str(run_dir), "--out", str(out)])
    assert result.exit_code == 1
    assert f"none of the 12 sampled solutions is {missing}" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_option_text_labels_refuse_letters_that_state_no_option(tmp_path: Path) -> None:
    """SAYS_A's "(A)." is right as read but states no option's text: under --label option_text no path is."""
    run_dir = sampled_run(tmp_path, (SAYS_A, SAYS_B))
    out = tmp_path / "rows.jsonl"
    args = ["verifier", "data", str(run_dir), "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = CliRunner().invoke(main, [*args, "--label", "option_text"])
    assert result.exit_code == 1 and "none of the 12 sampled solutions is correct" in result.output


def test_an_evaluation_split_is_refused(tmp_path: Path) -> None:
    run_dir = sampled_run(tmp_path, (SAYS_A, SAYS_B), split="test")
    result = CliRunner().invoke(main, ["verifier", "data", str(run_dir), "--out", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 1 and "must come from a train split" in result.output


@pytest.mark.slow
def test_train_fine_tunes_the_generator_and_resumes_a_stopped_run(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    run_dir = sampled_run(tmp_path, (SAYS_A, SAYS_B, SAYS_B), count=30, n=6)
    rows, _ = rows_from_run(run_dir)
    rows_path = tmp_path / "data" / "rows.jsonl"
    rows_path.parent.mkdir()
    rows_path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out, cache = tmp_path / "verifier", tmp_path / "cache"
    options = {"steps": 4, "batch_size": 2, "cache_dir": cache}

    stopped = train_verifier(rows_path, tiny_model_dir, out, max_steps=2, **options)
    assert stopped.steps == 2 and (out / "checkpoint").is_dir()
    recipe = (out / "recipe.toml").read_text()
    assert (
        f'init_from = "{tiny_model_dir.resolve()}"' in recipe
        and 'leak_check_suites = ["multistep"]' in recipe
    )

    resumed = train_verifier(rows_path, tiny_model_dir, out, resume=True, **options)
    assert resumed.resumed_from == 2 and resumed.steps == 4
    assert (resumed.model_dir / "model.safetensors").is_file()

    again = CliRunner().invoke(
        main,
        ["verifier", "train", str(rows_path), "--init-from", str(tiny_model_dir), "--out", str(out)]
        + ["--steps", "4", "--batch-size", "2", "--cache-dir", str(cache)],
    )
    assert again.exit_code == 1 and "already holds a run" in again.output


@pytest.mark.slow
def test_a_verdict_only_loss_trains_the_verdict_and_tells_the_solutions_apart(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from reasonkit.models import load_model
    from reasonkit.strategies.verifier import RIGHT, WRONG, judged

    run_dir = sampled_run(tmp_path, (SAYS_A, SAYS_B), count=40, n=4)
    rows, _ = rows_from_run(run_dir)
    rows_path = tmp_path / "data" / "rows.jsonl"
    rows_path.parent.mkdir()
    rows_path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "verifier"
    result = train_verifier(
        rows_path,
        tiny_model_dir,
        out,
        steps=300,
        batch_size=8,
        lr=3e-3,
        loss="verdict",
        cache_dir=tmp_path / "c",
    )
    assert 'loss_after = "\\nVerdict:"' in (out / "recipe.toml").read_text()

    engine = load_model(str(result.model_dir))
    question = questions(1)[0]

    def p_right(solution: str) -> float:
        right, wrong = engine.loglikelihood(
            [judged(question, solution, verdict, "after") for verdict in (RIGHT, WRONG)]
        )
        return 1 / (1 + math.exp(wrong.logprob - right.logprob))

    assert p_right(SAYS_A) > 0.8 > 0.2 > p_right(SAYS_B)


def test_the_recipe_leak_checks_a_real_datasets_dev_and_test_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows from CommonsenseQA train: its dev (bundled) and test (under $REASONKIT_DATA_DIR) files are checked."""
    from reasonkit.benchmarks.loaders import load_benchmark
    from reasonkit.commands.verifier import suites_of, verifier_recipe_text
    from reasonkit.lm.data import LeakChecker
    from reasonkit.lm.recipe import load_recipe
    from reasonkit.models import default_model_dir

    data = tmp_path / "data"
    (data / "commonsenseqa").mkdir(parents=True)
    test_question = "Where would you keep a spare blue umbrella for the unexpected spring rain showers?"
    test_row = {"id": "t1", "question": {"stem": test_question, "choices": []}}
    (data / "commonsenseqa" / "test_no_answers.jsonl").write_text(json.dumps(test_row) + "\n")
    monkeypatch.setenv("REASONKIT_DATA_DIR", str(data))
    dev_question = load_benchmark("csqa", split="dev")[0].text
    rows_path = tmp_path / "rows" / "rows.jsonl"
    rows_path.parent.mkdir()
    texts = [
        "A train question of its own, nothing like any evaluation question.",
        dev_question,
        test_question,
    ]
    rows_path.write_text(
        "".join(json.dumps({"benchmark": "csqa", "question": t, "text": t}) + "\n" for t in texts)
    )

    names = suites_of(rows_path)
    assert names == ["csqa"]
    recipe_path = rows_path.parent / "recipe.toml"
    recipe_path.write_text(verifier_recipe_text(rows_path, default_model_dir(), names, 4, 2, 1e-3))
    recipe = load_recipe(recipe_path)
    assert recipe.leak_check_suites == []
    checker = LeakChecker.for_recipe(recipe)
    leaks = checker.find_in_texts(texts, texts)
    assert [leak.doc for leak in leaks] == [1, 2]
