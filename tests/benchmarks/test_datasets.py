"""One dataset spec, declared once, is what the loaders, the recipes' leak checks and the exemplar builder read."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reasonkit import datasets
from reasonkit.benchmarks.build_exemplars import evaluation_questions
from reasonkit.benchmarks.registry import available_benchmarks, load_questions
from reasonkit.benchmarks.runner import load_run
from reasonkit.cli import main
from reasonkit.datasets import (
    BUILTIN,
    DatasetFile,
    DatasetSpec,
    DatasetSpecError,
    FieldMapping,
    available_datasets,
    get_dataset,
    register_dataset,
)
from reasonkit.lm.data import DataLeakError, LeakChecker, apply_leak_check, read_documents
from reasonkit.lm.recipe import RecipeError, dataset_leak_checks, load_recipe
from reasonkit.strategies.exemplars import normalize_text

DEV = {"u1": ("Penguins can fly over the sea.", "no"), "u2": ("Water boils when heated enough.", "yes")}
TEST = {"u9": ("A stone floats on a calm lake.", "no")}
TRAIN = {"u5": ("Snow is cold to the touch.", "yes")}

TOY = DatasetSpec(
    name="toy_claims",
    description="claims of a test, true or false",
    kind="binary",
    license="CC0",
    files={
        "train": DatasetFile(path="toy/train.jsonl"),
        "dev": DatasetFile(path="toy/dev.jsonl"),
        "test": DatasetFile(path="toy/test.jsonl"),
    },
    evaluation_split="dev",
    fields=FieldMapping(question="claim", answer="verdict", id="uid"),
)


def write_rows(path: Path, rows: dict[str, tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps({"uid": k, "claim": c, "verdict": v}) + "\n" for k, (c, v) in rows.items())
    )


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[Path]:
    """The toy spec registered (and forgotten after the test); its files under tmp_path/data."""
    data = tmp_path / "data"
    write_rows(data / "toy" / "train.jsonl", TRAIN)
    write_rows(data / "toy" / "dev.jsonl", DEV)
    write_rows(data / "toy" / "test.jsonl", TEST)
    register_dataset(TOY)
    yield data
    datasets.unregister_dataset(TOY.name)


def test_one_spec_makes_a_benchmark_loadable_by_name(toy: Path) -> None:
    info = available_benchmarks()[TOY.name]
    assert (info.origin, info.kind, info.default_split) == ("dataset", "binary", "dev")
    dev = load_questions(TOY.name, toy)
    assert [(q.id, q.text, q.gold, q.split) for q in dev] == [
        ("u1", DEV["u1"][0], False, "dev"),
        ("u2", DEV["u2"][0], True, "dev"),
    ]
    assert [q.id for q in load_questions(TOY.name, toy, split="train")] == ["u5"]
    with pytest.raises(FileNotFoundError, match=r"toy_claims.*toy/dev.jsonl.*--data-dir"):
        load_questions(TOY.name)  # not shipped: the message names the file to bring


def test_reasonkit_bench_runs_a_registered_dataset_from_the_data_folder(
    toy: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "bench",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(tmp_path / "runs"),
            "-b",
            TOY.name,
            "--data-dir",
            str(toy),
            "-s",
            "direct",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    record, lines = load_run(tmp_path / "runs" / TOY.name / "direct")
    assert record.benchmark == TOY.name
    assert sorted((line.question_id, line.gold) for line in lines) == [("u1", False), ("u2", True)]


def test_a_recipe_checks_every_held_out_file_of_a_registered_dataset(toy: Path, tmp_path: Path) -> None:
    expected = [("toy/dev.jsonl", "claim", "uid"), ("toy/test.jsonl", "claim", "uid")]
    every = dataset_leak_checks("all")  # what the shipped `small` recipe names
    assert [(c.path, c.question_field, c.id_field) for c in every if c.path.startswith("toy/")] == expected
    recipe_path = tmp_path / "r.toml"
    recipe_path.write_text(
        f'name = "r"\ndata_dir = "data"\nleak_check_datasets = ["{TOY.name}"]\n'
        '[[sources]]\nname = "claims"\npath = "toy/train.jsonl"\nformat = "jsonl"\nweight = 1.0\n'
        'template = "{claim} {verdict}"\nquestion_field = "claim"\n'
    )
    recipe = load_recipe(recipe_path)
    assert [(c.path, c.question_field, c.id_field) for c in recipe.leak_check] == expected
    source = recipe.sources[0]
    write_rows(toy / "toy" / "train.jsonl", {**TRAIN, "leak": TEST["u9"]})
    docs = read_documents(source, recipe.source_path(source))
    with pytest.raises(DataLeakError, match=r"toy/test.jsonl question u9"):
        apply_leak_check(LeakChecker.for_recipe(recipe), source, recipe.source_path(source), docs)


def test_dataset_leak_checks_are_the_same_recipe_as_listing_the_files(toy: Path, tmp_path: Path) -> None:
    """The shipped recipes moved from [[leak_check]] lists to leak_check_datasets with their fingerprints kept."""
    head = 'name = "r"\ndata_dir = "data"\n'
    body = '[[sources]]\nname = "claims"\npath = "toy/train.jsonl"\nformat = "jsonl"\nweight = 1.0\nfield = "claim"\n'
    listed = tmp_path / "listed.toml"
    listed.write_text(
        head
        + body
        + "".join(
            f'[[leak_check]]\npath = "toy/{split}.jsonl"\nquestion_field = "claim"\nid_field = "uid"\n'
            for split in ("dev", "test")
        )
    )
    named = tmp_path / "named.toml"
    named.write_text(head + f'leak_check_datasets = ["{TOY.name}"]\n' + body)
    both = tmp_path / "both.toml"  # a file named twice is checked once
    both.write_text(head + f'leak_check_datasets = ["{TOY.name}"]\n' + listed.read_text().removeprefix(head))
    assert load_recipe(named).leak_check == load_recipe(listed).leak_check == load_recipe(both).leak_check
    assert load_recipe(named).fingerprint == load_recipe(listed).fingerprint


def test_an_unknown_dataset_in_a_recipe_is_named_with_suggestions(toy: Path, tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        'name = "r"\ndata_dir = "data"\nleak_check_datasets = ["toy_claim"]\n'
        '[[sources]]\nname = "c"\npath = "toy/train.jsonl"\nformat = "jsonl"\nweight = 1.0\nfield = "claim"\n'
    )
    with pytest.raises(
        RecipeError,
        match=r"r.toml: leak_check_datasets: unknown dataset 'toy_claim'; "
        r"did you mean 'toy_claims'\?",
    ):
        load_recipe(path)


def test_exemplar_building_keeps_out_every_held_out_question_of_a_registered_dataset(toy: Path) -> None:
    forbidden = evaluation_questions(toy)
    assert {normalize_text(c) for c, _ in [*DEV.values(), *TEST.values()]} <= forbidden
    assert normalize_text(TRAIN["u5"][0]) not in forbidden


def test_a_name_is_one_spec_and_the_evaluation_split_is_held_out(toy: Path) -> None:
    register_dataset(TOY)  # the same spec again is no clash
    with pytest.raises(DatasetSpecError, match="dataset name 'toy_claims' is taken"):
        register_dataset(TOY.model_copy(update={"description": "another"}))
    with pytest.raises(ValueError, match="evaluation_split 'train' must be one of its held-out splits"):
        DatasetSpec.model_validate({**TOY.model_dump(), "evaluation_split": "train"})


def test_a_plugin_dataset_comes_from_its_entry_point_and_a_broken_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "toy_plugin.py").write_text(
        "from reasonkit.datasets import DatasetFile, DatasetSpec\n"
        "SPEC = DatasetSpec(name='plugged', description='d', kind='binary', license='MIT',\n"
        "                   files={'dev': DatasetFile(path='p/dev.jsonl')}, evaluation_split='dev')\n"
    )
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('no such thing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("toy_plugin", "broken_plugin"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    points = [
        importlib.metadata.EntryPoint("plugged", "toy_plugin:SPEC", datasets.ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("broken", "broken_plugin:SPEC", datasets.ENTRY_POINT_GROUP),
    ]
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda **selection: (
            points if selection.get("group") == datasets.ENTRY_POINT_GROUP else real(**selection)
        ),
    )
    monkeypatch.setattr(datasets, "_registry", datasets._new_registry())
    assert list(available_datasets())[: len(BUILTIN)] == [spec.name for spec in BUILTIN]
    assert get_dataset("plugged").origin == "plugin"
    with pytest.raises(
        DatasetSpecError, match="dataset 'broken': entry point 'broken_plugin:SPEC' failed to load"
    ):
        get_dataset("broken")


def test_the_readme_example_registers_a_dataset_that_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = readme.split("### Adding a dataset", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    rows = [
        {"id": f"m{i}", "goal": f"Goal {i}?", "sol1": "this", "sol2": "that", "label": i % 2}
        for i in range(2)
    ]
    (tmp_path / "myqa").mkdir()
    (tmp_path / "myqa" / "dev.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    exec(compile(code, "README.md (Adding a dataset)", "exec"), {})
    try:
        questions = load_questions("myqa", tmp_path)
    finally:
        datasets.unregister_dataset("myqa")
    assert [(q.id, q.options, q.gold) for q in questions] == [
        ("m0", ("this", "that"), 0),
        ("m1", ("this", "that"), 1),
    ]
