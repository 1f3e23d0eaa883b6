"""The fine-tune recipe of an iteration: TOML that reads back as written, replay weights, leak checks."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

from reasonkit.atomic import sha256_file
from reasonkit.star import StarOptions
from reasonkit.star.recipe import ROWS_SOURCE, recipe_table, to_toml, write_recipe


def test_toml_reads_back_as_written() -> None:
    table = {
        "name": 'quote " backslash \\ newline \n tab \t é',
        "seed": 3,
        "flag": False,
        "rate": 1e-05,
        "names": ["a", "b c"],
        "train": {"steps": 2, "key with space": 0.5},
        "sources": [{"name": "x", "args": {"suite": "multistep", "n": 3}}, {"name": "y"}],
        "empty": [],
    }
    assert tomllib.loads(to_toml(table)) == table


def test_the_recipe_replays_the_start_mixture_and_checks_the_benchmark(
    star_start_model: Path, tmp_path: Path
) -> None:
    options = StarOptions(
        model=str(star_start_model),
        model_sha256=sha256_file(star_start_model / "model.safetensors"),
        benchmark="multistep",
        strategy="cot",
        eval_strategies=("cot",),
        iterations=1,
        questions=10,
        samples=1,
        temperature=0.0,
        steps=7,
        batch_size=4,
        lr=1e-3,
        warmup_steps=20,
        replay_recipe="self_taught",
        replay_weight=0.25,
    )
    (tmp_path / "rows.jsonl").write_text(
        '{"id": "q", "question": "Q?", "text": "Question: Q?\\nAnswer: 1"}\n'
    )
    table = recipe_table(options, "star-1", star_start_model, "rows.jsonl", 7)
    recipe = write_recipe(tmp_path / "recipe.toml", table)
    weights = {source.name: source.weight for source in recipe.sources}
    assert weights[ROWS_SOURCE] == 0.75 and math.isclose(sum(weights.values()), 1.0)
    assert math.isclose(weights["multistep_hinted"], 0.2 * 0.25)  # the hint format rationalisation needs
    assert all(source.drop_eval_overlap for source in recipe.sources)
    assert recipe.leak_check_suites == ["arithmetic", "multistep"]
    assert recipe.init_dir == star_start_model and recipe.train.steps == 7 and recipe.train.warmup_steps == 6
