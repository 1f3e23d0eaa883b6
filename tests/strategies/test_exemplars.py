"""Shipped exemplars: well-formed, chosen per benchmark and seed, and never a dev/test question.

The leak checks read the staged datasets ($REASONKIT_DATA_DIR, default <repo>/../shared/data) and are
skipped where they are absent (a user's machine).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from reasonkit.strategies import prompts
from reasonkit.strategies.exemplars import (
    DECOMPOSITION_SETS,
    EXEMPLAR_SETS,
    Exemplar,
    exemplar_sets_for,
    load_decompositions,
    load_exemplars,
    normalize_text,
    select_decompositions,
    select_exemplars,
)
from reasonkit.types import Question

DATA = Path(os.environ.get("REASONKIT_DATA_DIR", Path(__file__).resolve().parents[3] / "shared" / "data"))
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"staged datasets not found at {DATA}")

# Every staged dev/test file of every benchmark, with its question text; written out here rather than taken
# from the dataset specs so the check does not trust the code it checks.
DEV_AND_TEST = {
    "commonsenseqa/dev.jsonl": lambda r: r["question"]["stem"],
    "commonsenseqa/test_no_answers.jsonl": lambda r: r["question"]["stem"],
    "strategyqa/dev.jsonl": lambda r: r["question"],
    "creak/dev.jsonl": lambda r: r["sentence"],
    "creak/test_without_labels.jsonl": lambda r: r["sentence"],
    "csqa2/dev.jsonl": lambda r: r["question"],
    "csqa2/test_no_answers.jsonl": lambda r: r["question"],
    "com2sense/dev.jsonl": lambda r: r["sent"],
    "com2sense/test_no_labels.jsonl": lambda r: r["sent"],
    "arc/easy_test.jsonl": lambda r: r["question"],
    "arc/challenge_test.jsonl": lambda r: r["question"],
    "openbookqa/test.jsonl": lambda r: r["question"],
}


def rows(name: str) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def all_shipped() -> list[Exemplar]:
    return [e for name in EXEMPLAR_SETS for e in load_exemplars(name)]


@pytest.mark.parametrize("name", list(EXEMPLAR_SETS))
def test_each_set_is_well_formed_and_balanced(name: str) -> None:
    exemplars = load_exemplars(name)
    assert len(exemplars) == 16 and len({e.id for e in exemplars}) == 16
    binary = EXEMPLAR_SETS[name] == "binary"
    assert all((e.options is None) == binary for e in exemplars)
    answers = [e.answer for e in exemplars]
    assert max(answers.count(a) for a in set(answers)) <= (8 if binary else 4)
    for e in exemplars:
        assert e.text().startswith(prompts.direct_prompt(e.question, e.options) + " ")
        assert e.text().endswith(prompts.answer_sentence(e.options, e.answer))


@needs_data
def test_the_dataset_specs_hold_out_every_dev_and_test_question() -> None:
    """What the leak checks and the exemplar builder read (reasonkit.datasets) is this independent list."""
    from reasonkit.benchmarks.build_exemplars import evaluation_questions
    from reasonkit.datasets import BUILTIN

    assert {file.path for spec in BUILTIN for file in spec.held_out.values()} == set(DEV_AND_TEST)
    expected = {normalize_text(text_of(row)) for name, text_of in DEV_AND_TEST.items() for row in rows(name)}
    assert evaluation_questions(DATA) == expected


@needs_data
def test_no_exemplar_is_a_dev_or_test_question() -> None:
    forbidden = {normalize_text(text_of(row)) for name, text_of in DEV_AND_TEST.items() for row in rows(name)}
    leaked = [e.id for e in all_shipped() if normalize_text(e.question) in forbidden]
    assert not leaked


def test_no_exemplar_is_a_question_of_the_bundled_evaluation_sets() -> None:
    """Runs everywhere: the package ships the dev/test splits the benchmarks evaluate on."""
    from reasonkit.benchmarks.loaders import load_benchmark
    from reasonkit.datasets import BUILTIN

    bundled = [spec.name for spec in BUILTIN if spec.files[spec.evaluation_split].bundled is not None]
    assert bundled
    forbidden = {normalize_text(q.text) for name in bundled for q in load_benchmark(name)}
    assert not [e.id for e in all_shipped() if normalize_text(e.question) in forbidden]


@needs_data
def test_exemplars_come_from_the_train_splits_by_id() -> None:
    csqa_dev = {r["id"] for r in rows("commonsenseqa/dev.jsonl")}
    ecqa_train = {r["csqa_id"] for r in rows("ecqa/ecqa_flan_cot_train.jsonl") if r["csqa_split"] == "train"}
    strategyqa_dev = {r["qid"] for r in rows("strategyqa/dev.jsonl")}
    strategyqa_train = {r["qid"] for r in rows("strategyqa/train.jsonl")}
    creak_train = {r["ex_id"] for r in rows("creak/train.jsonl")}
    for e in load_exemplars("commonsenseqa"):
        source_id = e.id.removeprefix("csqa:")
        assert source_id in ecqa_train and source_id not in csqa_dev
    for e in load_exemplars("strategyqa"):
        assert e.id.removeprefix("strategyqa:") in strategyqa_train - strategyqa_dev
    assert all(e.id.removeprefix("creak:") in creak_train for e in load_exemplars("creak"))


def test_multistep_exemplars_are_not_in_the_suite_test_splits() -> None:
    from reasonkit.benchmarks.synthetic.multistep import MultiStepSuite

    splits = MultiStepSuite().generate(seed=0, n_train=1).splits
    test_texts = {q.text for name, split in splits.items() if name != "train" for q in split}
    assert not [e.id for e in load_exemplars("multistep") if e.question in test_texts]


@needs_data
def test_training_formatter_writes_the_exemplar_format() -> None:
    """The model is trained on exactly the text it is prompted with."""
    by_id = {f"csqa:{r['csqa_id']}": r for r in rows("ecqa/ecqa_flan_cot_train.jsonl")}
    for e in load_exemplars("commonsenseqa"):
        assert prompts.csqa_cot_text(by_id[e.id]) == e.text()
    dev_row = next(r for r in by_id.values() if r["csqa_split"] == "dev")
    assert prompts.csqa_cot_text(dev_row) is None
    creak = {f"creak:{r['ex_id']}": r for r in rows("creak/train.jsonl")}
    assert all(prompts.creak_cot_text(creak[e.id]) == e.text() for e in load_exemplars("creak"))
    assert prompts.creak_cot_text(rows("creak/dev.jsonl")[0]) is None


def test_formatters_on_hand_made_rows() -> None:
    strategyqa = {
        "question": "Can a cat fly?",
        "answer": False,
        "facts": ["Cats have no wings.", "Flying needs wings."],
    }
    assert prompts.strategyqa_cot_text(strategyqa) == (
        "Question: True or false: Can a cat fly?\nAnswer: Cats have no wings. Flying needs wings. "
        "So the answer is False."
    )
    assert (
        prompts.strategyqa_direct_text(strategyqa) == "Question: True or false: Can a cat fly?\nAnswer: False"
    )
    csqa = {
        "answerKey": "B",
        "question": {
            "stem": "Pick one.",
            "choices": [{"label": "A", "text": "x"}, {"label": "B", "text": "y"}],
        },
    }
    assert prompts.csqa_direct_text(csqa) == "Question: Pick one.\nOptions: (A) x (B) y\nAnswer: y"
    train = Question(
        id="t",
        text="Start with 1. Add 2. What is the result?",
        options=("3", "4"),
        gold=0,
        split="train",
        metadata={"rationale": "1 + 2 = 3"},
    )
    assert prompts.question_cot_text(train.model_dump()).endswith(
        "Answer: 1 + 2 = 3. So the answer is (A) 3."
    )
    assert prompts.question_cot_text(train.model_copy(update={"split": "test"}).model_dump()) is None
    with pytest.raises(ValueError, match="maybe"):
        prompts.strategyqa_direct_text({"question": "Is it?", "answer": "maybe"})


def test_selection_by_benchmark_kind_and_seed() -> None:
    mc = Question(id="m", text="Which?", options=("a", "b"), metadata={"benchmark": "CommonsenseQA"})
    claim = Question(id="c", text="Cats bark.", metadata={"benchmark": "com2sense"})
    unknown = Question(id="u", text="Cats bark?", metadata={"benchmark": "csqa2"})
    assert exemplar_sets_for(mc) == ("commonsenseqa",)
    assert exemplar_sets_for(claim) == ("creak",)
    assert exemplar_sets_for(unknown) == ("strategyqa", "creak")
    assert exemplar_sets_for(mc.model_copy(update={"metadata": {"benchmark": "creak"}})) == ("commonsenseqa",)
    assert exemplar_sets_for(mc, override="multistep") == ("multistep",)
    assert select_exemplars(mc, 4, seed=7) == select_exemplars(mc, 4, seed=7)
    assert select_exemplars(mc, 4, seed=7) != select_exemplars(mc, 4, seed=8)
    assert select_exemplars(mc, 0) == []
    with pytest.raises(ValueError, match="shots=17"):
        select_exemplars(mc, 17)
    with pytest.raises(ValueError, match="unknown exemplar set"):
        exemplar_sets_for(mc, override="gsm8k")


def test_the_decomposition_set_is_well_formed_and_balanced() -> None:
    exemplars = load_decompositions(DECOMPOSITION_SETS["strategyqa"])
    assert 8 <= len(exemplars) <= 16 and len({e.id for e in exemplars}) == len(exemplars)
    assert sum(e.answer for e in exemplars) * 2 == len(exemplars)
    for e in exemplars:
        assert len(e.subquestions) == len(e.subanswers) >= 2
        assert e.subanswers[-1] == ("yes" if e.answer else "no")
        assert not any("#" in q for q in e.subquestions[:-1])


def test_no_decomposition_exemplar_is_a_strategyqa_dev_question() -> None:
    """Runs everywhere, against the dev split bundled with the package."""
    from reasonkit.benchmarks.loaders import load_benchmark

    dev = {normalize_text(q.text) for q in load_benchmark("strategyqa")}
    assert len(dev) > 200
    shipped = load_decompositions(DECOMPOSITION_SETS["strategyqa"])
    assert not [e.id for e in shipped if normalize_text(e.question) in dev]


@needs_data
def test_decomposition_exemplars_are_strategyqa_train_rows_as_annotated() -> None:
    dev = rows("strategyqa/dev.jsonl")
    train = {r["qid"]: r for r in rows("strategyqa/train.jsonl")}
    dev_ids, dev_texts = {r["qid"] for r in dev}, {normalize_text(r["question"]) for r in dev}
    for e in load_decompositions(DECOMPOSITION_SETS["strategyqa"]):
        qid = e.id.removeprefix("strategyqa:")
        assert qid in train and qid not in dev_ids and normalize_text(e.question) not in dev_texts
        row = train[qid]
        assert e.answer == row["answer"] and len(row["facts"]) == len(e.subquestions) - 1
        assert list(e.subquestions) == [prompts.clean(q) for q in row["decomposition"]]
        assert list(e.subanswers[:-1]) == [prompts.clean(f).removesuffix(".") for f in row["facts"]]


def test_decompositions_serve_strategyqa_questions_only() -> None:
    sqa = Question(id="s", text="Can a cat fly?", metadata={"benchmark": "strategyqa"})
    creak = Question(id="c", text="Cats bark.", metadata={"benchmark": "creak"})
    assert len(select_decompositions(sqa, 2)) == 2 and select_decompositions(sqa, 2) == select_decompositions(
        sqa.model_copy(update={"text": "Can a dog fly?"}), 2
    )
    assert select_decompositions(sqa, 0) == [] and select_decompositions(creak, 2) == []
    own = load_decompositions(DECOMPOSITION_SETS["strategyqa"])[0]
    itself = sqa.model_copy(update={"text": own.question})
    assert own not in select_decompositions(itself, len(load_decompositions("strategyqa_decomposition")))
