"""A model that writes multistep rationales in the cot format, trained in a few seconds: what the STaR loop needs
to have correct samples to keep (chance is one in five) and missed ones to rationalise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

RECIPE = """
name = "star-unit"
data_dir = "."
seed = 0

[tokenizer]
vocab_size = 300
sample_chars = 100000

[model]
size = "tiny"
n_layer = 1
n_head = 2
n_embd = 48
block_size = 128

[train]
steps = 80
batch_size = 8
lr = 1e-2
warmup_steps = 5
eval_interval = 80
eval_batches = 2
checkpoint_interval = 80
device = "cpu"
compile = false

[[sources]]
name = "cot"
format = "generated"
generator = "reasonkit.benchmarks.synthetic:rows"
generator_args = { suite = "multistep", n_train = 300 }
weight = 0.7
formatter = "reasonkit.strategies.prompts:question_cot_text"

[[sources]]
name = "hinted"
format = "generated"
generator = "reasonkit.benchmarks.synthetic:rows"
generator_args = { suite = "multistep", n_train = 300 }
weight = 0.3
formatter = "reasonkit.strategies.rationalization:hinted_cot_text"
"""


@pytest.fixture(scope="session")
def star_start_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: tests that fine-tune copy nothing from it but its weights (init_from)."""
    from reasonkit.lm.recipe import load_recipe
    from reasonkit.lm.train import train

    root = tmp_path_factory.mktemp("star_start")
    (root / "recipe.toml").write_text(RECIPE)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(
            load_recipe(root / "recipe.toml"), root / "run", cache_dir=root / "cache", progress=False
        ).model_dir
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
