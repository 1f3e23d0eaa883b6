from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reasonkit.lm.recipe import Recipe, RecipeError, load_recipe

if TYPE_CHECKING:
    from reasonkit.benchmarks.synthetic.base import SuiteSplits

BASE = """
name = "t"
data_dir = "data"
[tokenizer]
vocab_size = 512
[model]
size = "tiny"
block_size = 64
[train]
steps = 10
"""

TEXT_SOURCE = """
[[sources]]
name = "plain"
path = "plain.txt"
format = "text"
weight = {weight}
"""

JSONL_SOURCE = """
[[sources]]
name = "qa"
path = "qa.jsonl"
format = "jsonl"
weight = {weight}
{extra}
"""


def write_recipe(tmp_path: Path, body: str, plain_weight: float = 1.0) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "plain.txt").write_text("one document\n\nanother document\n")
    rows = [{"id": "q1", "question": {"stem": "Where is the fox?"}, "answer": "forest"}]
    (data / "qa.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    path = tmp_path / "r.toml"
    path.write_text(BASE + TEXT_SOURCE.format(weight=plain_weight) + body)
    return path


def recipe_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, **kwargs)
    return str(info.value)


def test_shipped_tiny_recipe_loads() -> None:
    recipe = load_recipe("tiny")
    assert isinstance(recipe, Recipe)
    assert recipe.model.to_config(recipe.tokenizer.vocab_size).block_size == 128
    assert recipe.source_path(recipe.sources[0]).is_file()
    assert recipe.fingerprint == load_recipe("tiny").fingerprint


def test_valid_recipe_with_jsonl_source(tmp_path: Path) -> None:
    body = JSONL_SOURCE.format(
        weight=0.5, extra='template = "Q: {question[stem]}\\nA: {answer}"\nquestion_field = "question.stem"'
    )
    recipe = load_recipe(write_recipe(tmp_path, body, plain_weight=0.5))
    assert recipe.data_root == (tmp_path / "data").resolve()
    assert [s.name for s in recipe.sources] == ["plain", "qa"]


def test_relative_data_dir_resolves_against_recipe_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_recipe(tmp_path, "")
    monkeypatch.chdir("/")
    assert load_recipe(path).data_root == (tmp_path / "data").resolve()


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    first = load_recipe(path).fingerprint
    path.write_text(path.read_text().replace("steps = 10", "steps = 11"))
    assert load_recipe(path).fingerprint != first


def test_fingerprint_ignores_where_the_data_lives(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    moved = tmp_path / "moved"
    (tmp_path / "data").rename(moved)
    recipe = load_recipe(path, data_dir=moved)
    assert recipe.data_root == moved.resolve()
    write_recipe(tmp_path, "")
    assert load_recipe(path).fingerprint == recipe.fingerprint


def test_unknown_key_names_table_and_key(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    path.write_text(path.read_text().replace("steps = 10", "stepz = 10"))
    message = recipe_error(path)
    assert "r.toml" in message and "[train]" in message and "'stepz'" in message


def test_unknown_key_in_source(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    path.write_text(path.read_text().replace('format = "text"', 'format = "text"\nwieght = 1'))
    message = recipe_error(path)
    assert "[[sources]] #1 (plain)" in message and "'wieght'" in message


def test_missing_source_file_names_source_and_path(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    (tmp_path / "data" / "plain.txt").unlink()
    message = recipe_error(path)
    assert "'plain'" in message and str((tmp_path / "data" / "plain.txt").resolve()) in message


def test_missing_leak_file(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, '[[leak_check]]\npath = "dev.jsonl"\nquestion_field = "question"\n')
    message = recipe_error(path)
    assert "dev.jsonl" in message and "leak_check" in message


def test_missing_data_dir_suggests_flag(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    message = recipe_error(path, data_dir=tmp_path / "nowhere")
    assert "nowhere" in message
    path.write_text(path.read_text().replace('data_dir = "data"', 'data_dir = "elsewhere"'))
    assert "--data-dir" in recipe_error(path)


def test_weights_must_sum_to_one(tmp_path: Path) -> None:
    body = JSONL_SOURCE.format(weight=0.3, extra='field = "answer"')
    message = recipe_error(write_recipe(tmp_path, body, plain_weight=0.5))
    assert "sum to 1" in message and "plain=0.5" in message and "qa=0.3" in message


def test_vocab_too_small(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    path.write_text(path.read_text().replace("vocab_size = 512", "vocab_size = 100"))
    message = recipe_error(path)
    assert "[tokenizer] vocab_size" in message


def test_bad_model_size(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    path.write_text(path.read_text().replace('size = "tiny"', 'size = "huge"'))
    message = recipe_error(path)
    assert "[model] size" in message and "tiny" in message


def test_inconsistent_model_override(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, "")
    path.write_text(path.read_text().replace("block_size = 64", "n_head = 3"))
    assert "n_head" in recipe_error(path)


def test_template_field_not_in_first_row(tmp_path: Path) -> None:
    body = JSONL_SOURCE.format(weight=0.5, extra='template = "Q: {question[stemm]}"')
    message = recipe_error(write_recipe(tmp_path, body, plain_weight=0.5))
    assert "'qa'" in message and "stemm" in message and "qa.jsonl" in message


def test_question_field_not_in_first_row(tmp_path: Path) -> None:
    body = JSONL_SOURCE.format(weight=0.5, extra='field = "answer"\nquestion_field = "question.text"')
    message = recipe_error(write_recipe(tmp_path, body, plain_weight=0.5))
    assert "question.text" in message


def test_formatter_not_importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REASONKIT_TRUST_CODE", "1")  # past the refusal of code outside reasonkit
    body = JSONL_SOURCE.format(weight=0.5, extra='formatter = "no_such_module_xyz:fmt"')
    message = recipe_error(write_recipe(tmp_path, body, plain_weight=0.5))
    assert "'no_such_module_xyz:fmt' cannot be imported" in message and "'qa'" in message


def test_jsonl_source_needs_one_renderer(tmp_path: Path) -> None:
    message = recipe_error(
        write_recipe(tmp_path, JSONL_SOURCE.format(weight=0.5, extra=""), plain_weight=0.5)
    )
    assert "[[sources]] #2 (qa)" in message and "template" in message


def test_unknown_shipped_name() -> None:
    with pytest.raises(RecipeError, match="tiny"):
        load_recipe("no-such-recipe")


SHARED = Path(
    os.environ.get("REASONKIT_DATA_DIR", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no staged data at {SHARED} (set REASONKIT_DATA_DIR)")
def test_shipped_finetune_recipe_starts_from_the_embedded_model() -> None:
    from reasonkit.models import default_model_dir

    recipe = load_recipe("csqa_finetune", data_dir=SHARED)
    assert recipe.init_dir == default_model_dir().resolve()
    assert recipe.architecture(8192).n_layer == 6 and recipe.init_weights_sha256 is not None
    assert {check.path for check in recipe.leak_check} >= {"commonsenseqa/dev.jsonl"}


def test_shipped_arithmetic_recipe_needs_no_data_folder() -> None:
    """Its sources are the suite's train split, drawn after (and disjoint from) the test splits."""
    recipe = load_recipe("arithmetic_mini")
    assert {source.format for source in recipe.sources} == {"generated"}
    assert all(source.generator_args["suite"] == "arithmetic" for source in recipe.sources)


def test_mixture_from_trains_on_another_recipes_sources_and_leak_checks(tmp_path: Path) -> None:
    first = write_recipe(tmp_path, JSONL_SOURCE.format(weight=0.5, extra='template = "{answer}"'), 0.5)
    first.write_text(
        first.read_text() + '\n[[leak_check]]\npath = "qa.jsonl"\nquestion_field = "question.stem"\n'
    )
    second = tmp_path / "second.toml"
    second.write_text('name = "second"\ndata_dir = "data"\nmixture_from = "r.toml"\n[train]\nsteps = 3\n')
    loaded, base = load_recipe(second), load_recipe(first)
    assert loaded.sources == base.sources and loaded.leak_check == base.leak_check
    assert loaded.mixture_from == "r.toml" and loaded.train.steps == 3


def test_mixture_from_refuses_a_mixture_of_its_own_and_names_a_missing_recipe(tmp_path: Path) -> None:
    write_recipe(tmp_path, "")
    both = tmp_path / "both.toml"
    both.write_text(
        'name = "b"\ndata_dir = "data"\nmixture_from = "r.toml"\n' + TEXT_SOURCE.format(weight=1.0)
    )
    assert "mixture_from = 'r.toml' brings the sources and leak checks; remove [[sources]]" in recipe_error(
        both
    )
    missing = tmp_path / "missing.toml"
    missing.write_text('name = "m"\ndata_dir = "data"\nmixture_from = "nowhere.toml"\n')
    message = recipe_error(missing)
    assert f"{missing}: mixture_from = 'nowhere.toml'" in message and "recipe file not found" in message


def test_a_recipe_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    message = recipe_error(path)
    assert str(path) in message and "UTF-8" in message


@pytest.mark.parametrize(
    "nested",
    ["a = " + "[" * 5000 + "]" * 5000, "a = " + "{b = " * 5000 + "1" + "}" * 5000],
    ids=["array", "table"],
)
def test_a_deeply_nested_recipe_is_named(tmp_path: Path, nested: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(nested)
    message = recipe_error(path)
    assert str(path) in message and "nested too deeply" in message


def test_a_mixture_from_recipe_that_is_not_utf8_or_too_deep_is_named(tmp_path: Path) -> None:
    (tmp_path / "latin1.toml").write_bytes(b'name = "caf\xe9"\n')
    (tmp_path / "deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000)
    for other, problem in (("latin1.toml", "UTF-8"), ("deep.toml", "nested too deeply")):
        path = write_recipe(tmp_path, "")
        path.write_text(f'mixture_from = "{other}"\n' + path.read_text().split("[[sources]]")[0])
        message = recipe_error(path)
        assert other in message and problem in message


RECIPES = Path(__file__).resolve().parents[2] / "lm" / "recipes"


def seeded_against_base(stage: str, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """`{stage}.toml` and `{stage}_seed{seed}.toml` as TOML data, once every source of the seeded one is checked to
    draw from world `seed` (that seed taken out) and the base's seed-0 leak_check_suites is taken out."""
    import tomllib

    base = tomllib.loads((RECIPES / f"{stage}.toml").read_text(encoding="utf-8"))
    seeded = tomllib.loads((RECIPES / f"{stage}_seed{seed}.toml").read_text(encoding="utf-8"))
    assert [source["generator_args"].pop("seed") for source in seeded["sources"]] == [seed] * len(
        base["sources"]
    )
    assert base.pop("leak_check_suites") == ["consistency"]
    return base, seeded


def same_but_name(seeded: dict[str, Any], base: dict[str, Any]) -> bool:
    return {k: v for k, v in seeded.items() if k != "name"} == {k: v for k, v in base.items() if k != "name"}


def evaluation_statements(world: SuiteSplits) -> set[str]:
    return {q.text for split in ("test", "held_out") for q in world.splits[split]}


def assert_train_rows_only(rows: list[dict[str, Any]], evaluation: set[str], where: object) -> None:
    assert rows and not {str(row["text"]) for row in rows} & evaluation, where
    assert all(row.get("split", "train") == "train" for row in rows), where


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_world_seed_recipes_are_the_consistency_recipe_on_another_world(seed: int) -> None:
    """consistency_seed{N}.toml is consistency.toml with every generated source drawn from world seed N and no
    leak_check_suites (which draws seed 0's splits), and none of its rows holds a test or held-out statement of
    world N."""
    from reasonkit.benchmarks.synthetic.consistency import ConsistencySuite
    from reasonkit.lm.recipe import generated_rows

    base, seeded = seeded_against_base("consistency", seed)
    assert same_but_name(seeded, base)

    world = ConsistencySuite().generate(seed)
    evaluation = evaluation_statements(world)
    assert len(evaluation) == 1000
    sources = load_recipe(RECIPES / f"consistency_seed{seed}.toml").sources
    for source in sources:
        assert_train_rows_only(generated_rows(source), evaluation, source.name)
    # the facts a held-out tree is built from are there: the held-out entities' kinds, as documents
    held_out_kinds = {f"{q.metadata['entity']} is a {q.metadata['kind']}." for q in world.splits["held_out"]}
    assert held_out_kinds <= {row["text"] for row in generated_rows(sources[0])}


@pytest.mark.parametrize(
    ("stage", "seed"),
    [*(("consistency_nli", s) for s in (1, 2, 3, 4)), *(("consistency_judge", s) for s in (2, 3, 4))],
)
def test_a_later_stage_on_another_world_is_the_seed_0_stage_on_it(stage: str, seed: int) -> None:
    """consistency_nli_seed{N}.toml (second stage) and consistency_judge_seed{N}.toml start from world N's first
    stage and train what their seed-0 recipe does, every source drawn from world N, with no leak_check_suites
    (their rows are checked below)."""
    base, seeded = seeded_against_base(stage, seed)
    assert (base.pop("init_from"), seeded.pop("init_from")) == (
        "../../runs/c5/seed0/model",
        f"../../runs/c5/world{seed}/model",
    )
    assert same_but_name(seeded, base)
    assert sum(source["weight"] for source in base["sources"]) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "recipe",
    [
        "consistency_nli",
        *(f"consistency_nli_seed{s}" for s in (1, 2, 3, 4)),
        "consistency_judge",
        *(f"consistency_judge_seed{s}" for s in (2, 3, 4)),
    ],
)
def test_no_second_stage_or_judge_row_is_an_evaluation_statement_of_its_world(recipe: str) -> None:
    """The second stage and the judge draw more rows than the first stage (20,000 NLI pairs): none of them
    may be a test or held-out statement of the world they are drawn from. (They cannot be loaded with
    load_recipe here: their init_from is a trained model.)"""
    import tomllib

    from reasonkit.benchmarks.synthetic.consistency import ConsistencySuite
    from reasonkit.lm.recipe import Source, generated_rows

    raw_sources = tomllib.loads((RECIPES / f"{recipe}.toml").read_text(encoding="utf-8"))["sources"]
    world = ConsistencySuite().generate(raw_sources[0]["generator_args"].get("seed", 0))
    evaluation = evaluation_statements(world)
    for raw in raw_sources:
        assert_train_rows_only(generated_rows(Source(**raw)), evaluation, (recipe, raw["name"]))
