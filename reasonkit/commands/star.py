"""`reasonkit star`: the self-taught reasoner loop (reasonkit/star/), or its answers-only baseline."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click
from rich.table import Table

from reasonkit.commands.bench import print_summary, progress_bar


@click.command()
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="The start model folder (config.json, model.safetensors, tokenizer.json).",
)
@click.option("--benchmark", "-b", required=True, help="A benchmark with a train split with gold answers.")
@click.option(
    "--strategy",
    "-s",
    default="cot",
    show_default=True,
    help='The generating strategy that writes rationales, e.g. "cot(shots=0)" or scratchpad.',
)
@click.option(
    "--eval-strategy",
    "eval_strategies",
    multiple=True,
    help="Strategy to evaluate each iteration with (repeatable; default: --strategy, greedy).",
)
@click.option("--iterations", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--questions",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Train questions in the pool (the first N after --skip; every iteration samples all of them).",
)
@click.option(
    "--skip",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Leave out the first N train questions (e.g. those the start model saw with rationales).",
)
@click.option(
    "--samples", type=click.IntRange(min=1), default=4, show_default=True, help="Rationales per question."
)
@click.option("--temperature", type=click.FloatRange(min=0.0), default=0.7, show_default=True)
@click.option(
    "--rationalize/--no-rationalize",
    default=True,
    show_default=True,
    help="Ask the missed questions again with the answer as a hint; keep what reaches it (without the hint).",
)
@click.option(
    "--answers-only",
    is_flag=True,
    help="The baseline: fine-tune once on the pool's gold answers (--answers-format), STEPS x ITERATIONS steps.",
)
@click.option(
    "--answers-format",
    default="reasonkit.strategies.prompts:question_direct_text",
    show_default=True,
    help="With --answers-only: the formatter that writes a question with its gold answer.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="Fine-tune steps per iteration.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0.0, min_open=True), default=1e-3, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=20, show_default=True)
@click.option(
    "--replay-recipe",
    default=None,
    help="A recipe (name or TOML) whose sources are mixed back into every fine-tune, e.g. the start model's.",
)
@click.option(
    "--replay-weight",
    type=click.FloatRange(min=0.0, max=1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="The share of each batch from --replay-recipe.",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--split", "eval_split", default=None, help="Evaluation split (default: the benchmark's).")
@click.option(
    "--suite-seed",
    type=click.IntRange(min=1),
    default=None,
    help="Synthetic suites: evaluate on a fresh draw from this seed (disjoint from the train split).",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N evaluation questions only.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of the original datasets (benchmarks that are not synthetic).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Run folder.")
@click.option("--concurrency", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--max-batch", type=click.IntRange(min=1), default=64, show_default=True)
def star(
    model_dir: Path,
    benchmark: str,
    strategy: str,
    eval_strategies: tuple[str, ...],
    iterations: int,
    questions: int,
    skip: int,
    samples: int,
    temperature: float,
    rationalize: bool,
    answers_only: bool,
    answers_format: str,
    steps: int,
    batch_size: int,
    lr: float,
    warmup_steps: int,
    replay_recipe: str | None,
    replay_weight: float,
    device: str,
    seed: int,
    eval_split: str | None,
    suite_seed: int | None,
    limit: int | None,
    data_dir: Path | None,
    out: Path,
    concurrency: int,
    max_batch: int,
) -> None:
    """STaR, the self-taught reasoner: sample rationales on the train split, keep those that reach the gold
    answer, rationalise the misses with the answer as a hint, fine-tune from the current model, evaluate;
    ITERATIONS times. The method is Zelikman et al. 2022's. Every iteration's rows, recipe, model and evaluation
    stay in OUT, with OUT/star.json. Rerun the same command to resume after a kill (finished stages are
    skipped)."""
    from reasonkit.atomic import sha256_file
    from reasonkit.benchmarks.runner import RunError
    from reasonkit.lm.checkpoint import CheckpointError
    from reasonkit.lm.data import DataError
    from reasonkit.lm.recipe import RecipeError
    from reasonkit.lm.train import TrainError
    from reasonkit.star import StarError, StarOptions, run_star
    from reasonkit.star.loop import Execution
    from reasonkit.star.state import summary

    if (replay_recipe is None) != (replay_weight == 0):
        raise click.UsageError(
            "--replay-recipe and --replay-weight go together (a weight above 0 with a recipe)"
        )
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise click.BadParameter(f"{model_dir} holds no model.safetensors", param_hint="--model")
    options = StarOptions(
        model=str(model_dir.resolve()),
        model_sha256=sha256_file(weights),
        benchmark=benchmark,
        strategy=strategy,
        eval_strategies=eval_strategies or (strategy,),
        iterations=iterations,
        questions=questions,
        skip=skip,
        samples=samples,
        temperature=temperature,
        rationalize=rationalize,
        answers_only=answers_only,
        answers_formatter=answers_format,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        warmup_steps=warmup_steps,
        replay_recipe=replay_recipe,
        replay_weight=replay_weight,
        device=device,
        seed=seed,
        eval_split=eval_split,
        suite_seed=suite_seed,
        limit=limit,
    )
    execution = Execution(
        concurrency=concurrency,
        max_batch=max_batch,
        track=partial(progress_bar, shown=True),
        data_dir=data_dir,
    )
    try:
        state = run_star(options, out, execution, on_event=lambda line: click.echo(line, err=True))
    except (StarError, RecipeError, DataError, TrainError, CheckpointError, RunError) as error:
        raise click.ClickException(str(error)) from None
    rows = summary(state)
    table = Table(title=f"reasonkit star: {out}", box=None, pad_edge=False, padding=(0, 1, 0, 0))
    columns = list(dict.fromkeys(column for row in rows for column in row))
    for column in columns:
        table.add_column(column, justify="left" if column == "model_sha256" else "right")
    for row in rows:
        table.add_row(*("-" if row.get(column) is None else str(row[column]) for column in columns))
    print_summary(table)
