import importlib.resources
import re
import tomllib
from pathlib import Path

import pytest

from reasonkit.benchmarks.synthetic import fresh_split, rows, suites, world_split
from reasonkit.benchmarks.synthetic.base import TRAINED_N_TRAIN, TRAINED_SEED, check_disjoint
from reasonkit.benchmarks.synthetic.corrections import note_drill_rows
from reasonkit.benchmarks.synthetic.world import belief_drill_rows
from reasonkit.types import Question

SIZES = {"n_train": 300, "n_test": 60}


@pytest.mark.parametrize("name", sorted(suites()))
def test_same_seed_same_suite_other_seed_other_suite(name: str) -> None:
    suite = suites()[name]
    assert suite.generate(3, **SIZES) == suite.generate(3, **SIZES)
    assert suite.generate(3, **SIZES).splits["test"] != suite.generate(4, **SIZES).splits["test"]


@pytest.mark.parametrize("name", sorted(suites()))
def test_test_splits_are_disjoint_from_train(name: str) -> None:
    splits = suites()[name].generate(0).splits
    train_texts = {q.text for q in splits["train"]}
    trained_by_design = getattr(suites()[name], "trained_splits", ())
    for split, questions in splits.items():
        assert all(q.split == split for q in questions)
        if split != "train" and split not in trained_by_design:
            assert questions and not any(q.text in train_texts for q in questions)


@pytest.mark.parametrize("name", ["arithmetic", "multistep"])
def test_a_larger_train_split_for_a_recipe_leaves_the_test_splits_alone(name: str) -> None:
    """Recipes draw more train problems (n_train); the suites draw their test splits first."""
    default, larger = suites()[name].generate(0), suites()[name].generate(0, n_train=25_000)
    assert len(larger.splits["train"]) == 25_000
    assert larger.splits["train"][: len(default.splits["train"])] == default.splits["train"]  # a superset
    for split in default.splits:
        if split != "train":
            assert larger.splits[split] == default.splits[split]
    assert len(rows(name, n_train=25_000)) == 25_000


def test_a_world_seed_draws_that_worlds_split_and_marks_it() -> None:
    suite = suites()["consistency"]
    held_out = world_split(suite, "held_out", 1)
    assert [q.text for q in held_out] == [q.text for q in suite.generate(1).splits["held_out"]]
    assert all(q.id.endswith("-world1") and q.metadata["world_seed"] == 1 for q in held_out)
    assert {q.metadata["entity"] for q in held_out}.isdisjoint(
        q.metadata["entity"] for q in suite.generate(TRAINED_SEED).splits["held_out"]
    )
    with pytest.raises(ValueError, match="hold their own facts; a fresh draw of them is --suite-seed"):
        world_split(suites()["arithmetic"], "test", 1)
    with pytest.raises(ValueError, match="no test split 'train'"):
        world_split(suite, "train", 1)


def test_a_fresh_draw_holds_no_question_of_the_trained_suite() -> None:
    suite = suites()["arithmetic"]
    fresh = fresh_split(suite, "test_long", seed=7)
    trained = suite.generate(TRAINED_SEED, n_train=TRAINED_N_TRAIN)
    seen = {q.text for questions in trained.splits.values() for q in questions}
    assert fresh and not any(q.text in seen for q in fresh)
    assert all(q.id.endswith("-seed7") and q.metadata["suite_seed"] == 7 for q in fresh)
    assert {q.id for q in fresh}.isdisjoint(q.id for q in trained.splits["test_long"])
    assert fresh == fresh_split(suite, "test_long", seed=7)
    assert len(fresh_split(suite, "test", seed=7)) < len(
        suite.generate(7).splits["test"]
    )  # short ones were seen


@pytest.mark.parametrize(
    ("name", "split", "seed", "message"),
    [
        ("world", "test", 1, "a world it never saw"),
        ("arithmetic", "test", TRAINED_SEED, "not a fresh draw"),
        ("arithmetic", "train", 1, "no test split 'train'"),
        ("arithmetic", "dev", 1, "no test split 'dev'; it has test, test_long"),
    ],
)
def test_a_fresh_draw_refuses_what_would_not_be_held_out(
    name: str, split: str, seed: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fresh_split(suites()[name], split, seed)


def test_no_shipped_recipe_trains_on_more_problems_than_a_fresh_draw_leaves_out() -> None:
    """fresh_split drops the seed-0 train split drawn at TRAINED_N_TRAIN; a recipe drawing more would leak."""
    checked = []
    shipped = importlib.resources.files("reasonkit.lm") / "recipes"
    for recipe in (item for item in shipped.iterdir() if item.name.endswith(".toml")):
        for source in tomllib.loads(recipe.read_text(encoding="utf-8")).get("sources", []):
            args = source.get("generator_args", {})
            if source.get("generator") == "reasonkit.benchmarks.synthetic:rows" and not args.get("documents"):
                suite = suites()[args["suite"]]
                if suite.self_contained:
                    n_train = args.get("n_train") or len(suite.generate(TRAINED_SEED).splits["train"])
                    assert n_train <= TRAINED_N_TRAIN, (recipe.name, source["name"])
                    checked.append(source["name"])
    assert "arithmetic_scratchpad" in checked and "multistep_cot" in checked


def test_check_disjoint_catches_an_overlap() -> None:
    q = Question(id="a", text="1 + 1", gold="2")
    with pytest.raises(AssertionError, match="1 test questions also in train"):
        check_disjoint("x", [q], [q.model_copy(update={"id": "b"})])


def test_multistep_gold_follows_from_the_rationale() -> None:
    for q in suites()["multistep"].generate(0, **SIZES).splits["test"]:
        equations = re.findall(r"(\d+) ([-+*]) (\d+) = (\d+)\.", q.metadata["rationale"])
        assert len(equations) == q.metadata["n_steps"]
        for a, op, b, result in equations:
            assert eval(f"{a} {op} {b}") == int(result)  # noqa: S307 - digits and one operator
        assert q.options[q.gold] == equations[-1][3] == q.metadata["answer_text"]
        assert len(set(q.options)) == len(q.options) == 5


def test_world_statements_follow_from_the_documents() -> None:
    suite = suites()["world"].generate(0)
    documents = set(suite.documents)
    for q in suite.splits["test"]:
        entity, kind, prop = q.metadata["entity"], q.metadata["kind"], q.metadata["property"]
        assert f"{entity} is a {kind}." in documents
        negated = f"{kind.capitalize()}s are not {prop}." in documents
        assert negated != (f"{kind.capitalize()}s are {prop}." in documents)
        assert q.gold is (not negated)


def _world_sentence_holds(sentence: str, documents: set[str]) -> bool:
    """A world sentence is true when it is a document, or denies an entity a kind the documents don't give it."""
    if sentence in documents:
        return True
    denied_kind = re.fullmatch(r"(\S+) is not a (\S+)\.", sentence)
    return denied_kind is not None and f"{denied_kind[1]} is a {denied_kind[2]}." not in documents


def test_world_belief_drills_are_labelled_by_the_documents_and_never_combine_a_test_entity() -> None:
    suite = suites()["world"].generate(0)
    documents = set(suite.documents)
    test_entities = {q.metadata["entity"] for q in suite.splits["test"]}
    drills = [Question.model_validate(row) for row in belief_drill_rows(0)]
    labels = [q.gold for q in drills]
    assert labels.count(True) == labels.count(False)
    assert not {q.text for q in drills} & {q.text for q in suite.splits["test"]}
    combined = 0
    for q in drills:
        sentences = [s + "." for s in q.text.rstrip(".").split(". ")]
        assert q.split == "train" and q.gold == all(_world_sentence_holds(s, documents) for s in sentences), (
            q.text
        )
        if len(sentences) == 2:
            combined += 1
            assert sentences[0].split()[0] not in test_entities, q.text
    assert combined > len(drills) / 2


def test_corrections_gold_is_the_corrected_value_not_the_learned_one() -> None:
    suite = suites()["corrections"].generate(0)
    for q in suite.splits["test"]:
        answer = q.options[q.gold]
        assert answer in q.metadata["correction"] and " now " in q.metadata["correction"]
        assert answer != q.metadata["original"] and q.metadata["original"] in q.options
        assert any(q.metadata["country"] in d and q.metadata["original"] in d for d in suite.documents)
        assert q.metadata["feedback_on"] != q.text


def test_note_drills_ask_about_none_of_the_suites_countries() -> None:
    suite = suites()["corrections"].generate(0)
    suite_countries = {q.metadata["country"] for split in suite.splits.values() for q in split}
    drills = [Question.model_validate(row) for row in note_drill_rows(n_countries=400)]
    assert len(drills) == 400 * 3 and len({q.metadata["country"] for q in drills}) == 400
    assert not suite_countries & {q.metadata["country"] for q in drills}
    for q in drills:
        assert q.split == "train" and q.metadata["fact"].endswith(f" {q.metadata['original']}.")
        assert q.options[q.gold] != q.metadata["original"] and q.options[q.gold] in q.metadata["correction"]


def test_arithmetic_gold_is_the_true_result() -> None:
    splits = suites()["arithmetic"].generate(0, **SIZES).splits
    for q in splits["test"] + splits["test_long"]:
        a, b = q.metadata["operands"]
        assert int(q.gold) == (a + b if q.metadata["op"] == "add" else a * b)
    assert min(len(str(q.metadata["operands"][0])) for q in splits["test_long"]) > max(
        len(str(q.metadata["operands"][0])) for q in splits["train"]
    )


def test_write_creates_one_file_per_split(tmp_path: Path) -> None:
    paths = suites()["world"].generate(0, **SIZES).write(tmp_path)
    assert sorted(p.name for p in paths) == ["world_documents.jsonl", "world_test.jsonl", "world_train.jsonl"]
    first = Question.model_validate_json((tmp_path / "world_test.jsonl").read_text().splitlines()[0])
    assert first.split == "test"
