"""`reasonkit verifier`: label sampled solutions and train a verifier on them (`reasonkit.strategies.verifier`).

    reasonkit bench multistep --split train --model runs/gen/model \\
        --strategy "self_consistency(inner=cot(shots=0), n=8)" --out runs/vdata      # sample (resumable)
    reasonkit verifier data runs/vdata/multistep/self_consistency --out runs/verifier/rows.jsonl
    reasonkit verifier train runs/verifier/rows.jsonl --init-from runs/gen/model --out runs/verifier/run

Sampling is an ordinary bench run on a TRAIN split (its trace keeps every path with its answer); `data` labels
each path by the question's gold answer; `train` writes a recipe next to the run (init_from the generator, the
rows as a jsonl source, leak checks against the suites the rows come from) and trains it with the project's
trainer, so `--resume` continues a killed run on the same trajectory. The verifier is OUT/model.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

if TYPE_CHECKING:
    from reasonkit.strategies.verifier import Label, Placement

Loss = Literal["all", "verdict"]
"""What the verifier's training loss covers: every token of a row, or only what its score reads."""

ROWS_SEED = 0
"""Rows are shuffled (seeded) so that the trainer's windows, which run across row boundaries, do not put
another verdict on the same question in front of a row: a shortcut that no question has at test time."""


def rows_from_run(
    run_dir: Path, placement: Placement = "after", label: Label = "answer"
) -> tuple[list[dict[str, Any]], int]:
    """Labelled rows from every path of every finished question of a bench run, shuffled, and how many
    questions gave them. Raises VerifierDataError when the run has no paths, or only one label."""
    from reasonkit.benchmarks.runner import load_run
    from reasonkit.strategies.paths import ReasoningPath
    from reasonkit.strategies.verifier import VerifierDataError, check_labels, verifier_rows

    record, lines = load_run(run_dir)
    if record.split != "train":
        raise VerifierDataError(
            f"{run_dir}: a {record.split!r} split; verifier data must come from a train split "
            "(labelling an evaluation split's samples would train on its answers)"
        )
    rows: list[dict[str, Any]] = []
    questions = 0
    fields = set(ReasoningPath.model_fields)
    for line in lines:
        paths = line.prediction.trace.steps.get("paths") if line.error is None else None
        if not paths:
            continue
        questions += 1
        parsed = [ReasoningPath.model_validate({k: v for k, v in p.items() if k in fields}) for p in paths]
        rows.extend(verifier_rows(line.question, parsed, placement, label))
    if not rows:
        raise VerifierDataError(
            f"{run_dir}: no sampled paths in its {len(lines)} results (run a strategy whose trace keeps them, "
            "e.g. self_consistency)"
        )
    check_labels(rows, str(run_dir))
    random.Random(ROWS_SEED).shuffle(rows)
    return rows, questions


def verifier_recipe_text(
    rows_path: Path,
    init_from: Path,
    suites: Sequence[str],
    steps: int,
    batch_size: int,
    lr: float,
    loss: Loss = "all",
) -> str:
    """A fine-tuning recipe: init_from the generator, the rows' "text" as the only source. `suites` names the
    synthetic suites (leak_check_suites) and real datasets the rows come from; a dataset's every dev/test file
    is a [[leak_check]] by absolute path (the recipe's data_dir is the rows' folder): under $REASONKIT_DATA_DIR
    when it is there, else its bundled copy; a file in neither place is named in the recipe's header as not
    checked. `loss="verdict"` trains only on what follows the last "Verdict:" of a row (the source's
    loss_after): the verdict token when it comes after the solution, the verdict and the solution when it
    comes before, which is exactly the continuation the strategy scores."""
    import os

    from reasonkit.benchmarks.loaders import split_path
    from reasonkit.benchmarks.synthetic import suites as synthetic
    from reasonkit.datasets import available_datasets
    from reasonkit.star.recipe import to_toml
    from reasonkit.strategies.verifier import VERDICT_PREFIX

    data_dir = os.environ.get("REASONKIT_DATA_DIR")
    leak_checks: list[dict[str, Any]] = []
    unchecked: list[str] = []
    for name in sorted(set(suites) & set(available_datasets())):
        spec = available_datasets()[name]
        for split, file in spec.held_out.items():
            candidates = [Path(data_dir) / file.path] if data_dir else []
            try:
                candidates.append(split_path(spec, split, None))  # the bundled copy
            except FileNotFoundError:
                pass
            found = next((path for path in candidates if path.is_file()), None)
            if found is None:
                unchecked.append(f"{name} {split} ({file.path})")
                continue
            check = {"path": str(found.resolve()), "question_field": spec.fields.question}
            leak_checks.append(check | ({"id_field": spec.fields.id} if spec.fields.id else {}))
    train = {
        "steps": steps,
        "batch_size": batch_size,
        "grad_accum": 1,
        "lr": lr,
        "min_lr_ratio": 0.1,
        "warmup_steps": min(20, max(1, steps // 10)),
        "weight_decay": 0.1,
        "grad_clip": 1.0,
        "eval_interval": max(1, steps // 4),
        "eval_batches": 4,
        "checkpoint_interval": max(1, min(100, steps // 4)),
        "device": "auto",
        "dtype": "auto",
        "compile": False,
    }
    source = {
        "name": "verifier_rows",
        "path": rows_path.name,
        "format": "jsonl",
        "weight": 1.0,
        "field": "text",
        "question_field": "question",
        "drop_eval_overlap": True,
    }
    if loss == "verdict":
        source["loss_after"] = VERDICT_PREFIX
    recipe = {
        "name": "verifier",
        "data_dir": str(rows_path.parent.resolve()),
        "seed": 0,
        "init_from": str(init_from.resolve()),
        "leak_check_suites": sorted(set(suites) & set(synthetic())),
        "train": train,
        "sources": [source],
        "leak_check": leak_checks,
    }
    header = "# Written by `reasonkit verifier train`: a verifier fine-tuned from the generator on labelled samples.\n"
    if unchecked:
        header += f"# Not leak-checked (file not found; set REASONKIT_DATA_DIR): {', '.join(unchecked)}\n"
    return header + to_toml(recipe)


def suites_of(rows_path: Path) -> list[str]:
    """The synthetic suites and real datasets the rows' questions come from (their evaluation splits must not
    leak in)."""
    from reasonkit.benchmarks.synthetic import suites
    from reasonkit.datasets import available_datasets
    from reasonkit.jsonl import iter_jsonl

    known = set(suites()) | set(available_datasets())
    return sorted({row.get("benchmark") for _, row in iter_jsonl(rows_path)} & known)


def train_verifier(
    rows_path: Path,
    init_from: Path,
    out_dir: Path,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    loss: Loss = "all",
    resume: bool = False,
    max_steps: int | None = None,
    cache_dir: Path | None = None,
) -> Any:
    """Write OUT/recipe.toml and train it into OUT (the trainer's TrainResult); `resume` continues OUT."""
    from reasonkit.atomic import atomic_write_text
    from reasonkit.lm.recipe import load_recipe
    from reasonkit.lm.train import train

    out_dir.mkdir(parents=True, exist_ok=True)
    recipe_path = out_dir / "recipe.toml"
    atomic_write_text(
        recipe_path,
        verifier_recipe_text(rows_path, init_from, suites_of(rows_path), steps, batch_size, lr, loss),
    )
    recipe = load_recipe(recipe_path)
    return train(recipe, out_dir, resume=resume, max_steps=max_steps, cache_dir=cache_dir)


@click.group(short_help="Label sampled solutions and train a verifier on them.")
def verifier() -> None:
    """Data for, and training of, the model the `verifier` strategy judges solutions with."""


@verifier.command("data")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Rows (.jsonl)."
)
@click.option(
    "--verdict",
    "placement",
    type=click.Choice(["after", "before"]),
    default="after",
    show_default=True,
    help="Where the verdict goes: after the solution, or before it (a class-conditional model); the "
    "strategy's `verdict` option must match.",
)
@click.option(
    "--label",
    type=click.Choice(["answer", "option_text"]),
    default="answer",
    show_default=True,
    help="What makes a path right: its answer as read, or (option_text) its answer stating the gold option's "
    "own text, so a right letter before a value no option holds does not count.",
)
def data(run_dir: Path, out_path: Path, placement: Placement, label: Label) -> None:
    """Label every sampled path of a bench run on a train split (RUN_DIR) right or wrong by its gold answer."""
    from reasonkit.atomic import atomic_write_text
    from reasonkit.benchmarks.runner import RunError
    from reasonkit.strategies.verifier import VerifierDataError

    try:
        rows, questions = rows_from_run(run_dir, placement, label)
    except (RunError, VerifierDataError) as error:
        raise click.ClickException(str(error)) from None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_path, "".join(json.dumps(row) + "\n" for row in rows))
    right = sum(row["label"] for row in rows)
    click.echo(
        f"{len(rows)} solutions from {questions} questions ({right} right, {len(rows) - right} wrong) "
        f"-> {out_path}"
    )


@verifier.command("train")
@click.argument("rows_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--init-from",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Model folder to fine-tune (the generator).",
)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder."
)
@click.option("--steps", type=click.IntRange(min=1), default=600, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option(
    "--loss",
    type=click.Choice(["all", "verdict"]),
    default="all",
    show_default=True,
    help="What the loss covers: every token of a row (the verifier keeps modelling solutions), or only what "
    "the verifier's score reads (the verdict after the solution; the verdict and the solution before it).",
)
@click.option("--resume", is_flag=True, help="Continue OUT/checkpoint on the same trajectory.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Token cache (default: the trainer's).",
)
def train(
    rows_path: Path,
    init_from: Path,
    out_dir: Path,
    steps: int,
    batch_size: int,
    lr: float,
    loss: Loss,
    resume: bool,
    cache_dir: Path | None,
) -> None:
    """Fine-tune INIT_FROM on ROWS (from `reasonkit verifier data`) into OUT; the verifier is OUT/model."""
    from reasonkit.lm.checkpoint import CheckpointError
    from reasonkit.lm.data import DataError
    from reasonkit.lm.recipe import RecipeError
    from reasonkit.lm.train import TrainError

    try:
        result = train_verifier(
            rows_path,
            init_from,
            out_dir,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            loss=loss,
            resume=resume,
            cache_dir=cache_dir,
        )
    except (RecipeError, CheckpointError, DataError, TrainError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"trained {result.steps} steps ({result.tokens_seen:,} tokens) in {result.seconds:.0f} s; "
        f"val loss {result.val_loss:.4f}; verifier in {result.model_dir}"
    )
