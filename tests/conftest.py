"""Project-wide fixtures: a real tiny model, trained once per test session from the shipped "tiny" recipe."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from reasonkit.lm.train import TrainResult


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """The full tiny recipe on CPU, one thread (a tiny model gains nothing from more, and CI shares cores)."""
    import torch

    from reasonkit.lm.recipe import load_recipe
    from reasonkit.lm.train import train

    recipe = load_recipe("tiny")
    recipe = recipe.model_copy(update={"train": recipe.train.model_copy(update={"device": "cpu"})})
    root = tmp_path_factory.mktemp("tiny_run")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(recipe, root / "run", cache_dir=root / "cache", progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_run: TrainResult) -> Path:
    """A trained model folder (config.json, model.safetensors, tokenizer.json); treat it as read-only."""
    return tiny_run.model_dir


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path) -> Any:
    from reasonkit.lm.engine import Engine

    return Engine.from_pretrained(tiny_model_dir)
