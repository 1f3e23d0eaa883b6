"""`reasonkit train`: train a model from a recipe (one process, or every rank under `torchrun`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import get_args

import click
from pydantic import ValidationError

from reasonkit.lm.config import SizeName
from reasonkit.torchrun import launched_rank


@click.command()
@click.option(
    "--recipe", "recipe_name", required=True, help="A shipped recipe name (e.g. tiny) or a TOML path."
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder the recipe's source paths are relative to (overrides the recipe's data_dir).",
)
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint on the same trajectory.")
@click.option("--steps", type=click.IntRange(min=1), help="Override [train] steps (the schedule follows).")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where tokenized data is cached (default ~/.cache/reasonkit/data, shared by runs).",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Override [train] device.")
@click.option(
    "--dtype",
    type=click.Choice(["auto", "fp32", "bf16"]),
    help="Override [train] dtype (fp32 on a CPU without native bf16: bf16 is emulated there and slow).",
)
@click.option(
    "--size",
    type=click.Choice(get_args(SizeName)),
    help="Override [model] size, dropping the recipe's own n_layer / n_head / n_embd (a scale study: the same "
    "data and schedule at another width and depth).",
)
@click.option(
    "--position-scheme",
    metavar="NAME",
    help="Override [model] position_scheme: position ids from the text's structure for the texts it knows "
    "(coupled: position coupling for arithmetic; MODULE:FUNCTION with REASONKIT_TRUST_CODE=1).",
)
def train(
    recipe_name: str,
    out_dir: Path,
    data_dir: Path | None,
    resume: bool,
    steps: int | None,
    cache_dir: Path | None,
    device: str | None,
    dtype: str | None,
    size: str | None,
    position_scheme: str | None,
) -> None:
    """Train a language model from a recipe into OUT (checkpoint/, model/, metrics.jsonl, loss.png).

    Overrides (--steps, --device, --dtype, --size, --position-scheme, --data-dir) are part of the run's recipe: pass the same ones with --resume.
    For several processes: torchrun --nproc_per_node N -m reasonkit train ...
    """
    from reasonkit.lm.checkpoint import CheckpointError
    from reasonkit.lm.data import DataError
    from reasonkit.lm.recipe import RecipeError, load_recipe
    from reasonkit.lm.train import TrainError
    from reasonkit.lm.train import train as run_training

    if logging.getLogger().level > logging.INFO:  # progress lines when stderr is not a terminal
        logging.getLogger("reasonkit.lm.train").setLevel(logging.INFO)
    try:
        recipe = load_recipe(recipe_name, data_dir=data_dir)
        overrides = {
            key: value
            for key, value in (("steps", steps), ("device", device), ("dtype", dtype))
            if value is not None
        }
        if overrides:
            train_section = type(recipe.train).model_validate({**recipe.train.model_dump(), **overrides})
            recipe = recipe.model_copy(update={"train": train_section})
        if size is not None and recipe.init_dir is not None:
            raise click.UsageError(
                f"--size changes the model, and this recipe fine-tunes {recipe.init_dir} (init_from): its "
                "architecture is that model's"
            )
        shape: dict[str, str | None] = {}
        if size is not None:
            shape = {"size": size, "n_layer": None, "n_head": None, "n_embd": None}
        if position_scheme is not None:
            shape["position_scheme"] = position_scheme
        if shape:
            # a fine-tune's [model] holds the scheme alone: the init model brings everything else
            base = recipe.model.model_dump(exclude_unset=recipe.init_dir is not None)
            try:
                model_section = type(recipe.model).model_validate({**base, **shape})
            except ValidationError as error:
                raise click.BadParameter(error.errors()[0]["msg"], param_hint="--position-scheme") from None
            recipe = recipe.model_copy(update={"model": model_section})
        result = run_training(recipe, out_dir, resume=resume, cache_dir=cache_dir)
    except (RecipeError, CheckpointError, DataError, TrainError) as error:
        raise click.ClickException(str(error)) from None
    if launched_rank() == 0:
        click.echo(
            f"trained {result.steps} steps ({result.tokens_seen:,} tokens) in {result.seconds:.0f} s; "
            f"val loss {result.val_loss:.4f}; model in {result.model_dir}"
        )
