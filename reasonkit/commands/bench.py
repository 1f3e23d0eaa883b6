"""`reasonkit bench`: run strategies on benchmarks into resumable run folders and print the scores.

Everything a user can get wrong (benchmark names, --jsonl lines, strategy specs) is checked before the model
is loaded and before any run folder is written. Under `torchrun` every process answers its share of the
questions and rank 0 merges the shares into one results.jsonl per run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from reasonkit.benchmarks.custom import FieldMapping, read_jsonl_benchmark
from reasonkit.benchmarks.metrics import bootstrap_accuracy
from reasonkit.benchmarks.plan import (
    ALL_STRATEGIES,
    DEFAULT_STRATEGY,
    MAX_SEED,
    EvaluationPlan,
    PlanError,
    PlannedRun,
    RunOutcome,
    SpecSource,
    read_strategy_config,
)
from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.runner import ResultLine, RunError
from reasonkit.protocol import ContextWindowError, LanguageModel
from reasonkit.torchrun import PeerFailed, launched_rank, process_group
from reasonkit.types import Question

console = Console(stderr=True)


def strategy_specs(specs: tuple[str, ...], config_file: Path | None) -> list[SpecSource]:
    """Specs from --strategy, then from a TOML file of [[strategy]] tables (name plus options)."""
    result = [SpecSource(spec=spec, option="--strategy") for spec in specs]
    if config_file is None:
        return result
    try:
        return [*result, *read_strategy_config(config_file)]
    except PlanError as error:
        raise as_click(error) from error


def as_click(error: PlanError) -> click.UsageError:
    """A plan that cannot be made is a usage error, naming the option at fault when there is one."""
    if error.option is None:
        return click.UsageError(str(error))
    return click.BadParameter(str(error), param_hint=error.option)


def say(message: str) -> None:
    """A line to stderr, once under torchrun (rank 0), not once per process."""
    if launched_rank() == 0:
        click.echo(message, err=True)


def load_suites(
    benchmarks: tuple[str, ...],
    jsonl: Path | None,
    fields: tuple[str, ...],
    fields_toml: Path | None,
    data_dir: Path | None,
    split: str | None,
    suite_seed: int | None = None,
    answer_base: int | None = None,
    world_seed: int | None = None,
) -> dict[str, list[Question]]:
    """Questions of every benchmark asked for, each checked in full (no model is loaded yet)."""
    if jsonl is None and (fields or fields_toml or answer_base is not None):
        raise click.UsageError(
            "--field, --fields-toml and --answer-base describe a --jsonl file; give --jsonl too"
        )
    if fields and fields_toml:
        raise click.UsageError("give the field mapping with --field or with --fields-toml, not both")
    if jsonl is not None and (suite_seed is not None or world_seed is not None):
        raise click.UsageError(
            "--suite-seed and --world-seed draw a synthetic suite again; a --jsonl file has no seed"
        )
    if not benchmarks and jsonl is None:
        benchmarks = ("csqa",)
    suites: dict[str, list[Question]] = {}
    for name in dict.fromkeys(benchmarks):
        try:
            suites[name] = load_questions(name, data_dir, split, suite_seed, world_seed)
        except KeyError as error:
            raise click.BadParameter(str(error.args[0]), param_hint="--benchmark") from error
        except (ValueError, FileNotFoundError) as error:
            hint = (
                "--benchmark / --split / --data-dir"
                + (" / --suite-seed" if suite_seed is not None else "")
                + (" / --world-seed" if world_seed is not None else "")
            )
            raise click.BadParameter(str(error), param_hint=hint) from error
    if jsonl is not None:
        try:
            mapping = (
                FieldMapping.from_toml(fields_toml) if fields_toml else FieldMapping.parse_pairs(list(fields))
            )
            if answer_base is not None:
                mapping = mapping.model_copy(update={"answer_base": answer_base})
        except ValueError as error:
            raise click.BadParameter(
                str(error), param_hint="--fields-toml" if fields_toml else "--field"
            ) from error
        if not jsonl.stem.strip("."):
            raise click.UsageError(
                f"--jsonl {jsonl}: its name {jsonl.stem!r} cannot name a run folder; rename the file"
            )
        if jsonl.stem in suites:
            raise click.UsageError(
                f"--jsonl {jsonl}: its name {jsonl.stem!r} is also a --benchmark; rename the file"
            )
        try:
            read = read_jsonl_benchmark(jsonl, mapping)
        except (ValueError, FileNotFoundError) as error:
            raise click.BadParameter(str(error), param_hint="--jsonl") from error
        suites[jsonl.stem] = read.questions
        if launched_rank() == 0:
            for note in read.notes():
                click.echo(f"--jsonl {jsonl}: {note}", err=True)
    empty = [name for name, questions in suites.items() if not questions]
    if empty:
        raise click.UsageError(f"no questions in {', '.join(empty)}")
    return suites


def summary_table(rows: list[dict[str, Any]]) -> Table:
    """No box and one space between columns, so a typical table fits 80 columns with every header whole;
    names that do not fit fold onto more lines rather than end in "…"."""
    columns = {
        "benchmark": "benchmark",
        "strategy": "strategy",
        "n": "n",
        "accuracy": "accuracy %\n[95% CI]",
        "abstained": "abstained",
        "errors": "errors",
        "calls": "calls/q",
        "tokens": "tokens/q",
        "qps": "q/s",
    }
    if not any(row["errors"] for row in rows):
        del columns["errors"]  # shown only when some question could not be run, to keep 80 columns
    table = Table(
        title="reasonkit bench", box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold"
    )
    for key, column in columns.items():
        named = key in ("benchmark", "strategy")
        table.add_column(
            column,
            justify="left" if named else "right",
            no_wrap=not named,
            overflow="fold",
            min_width=max(len(line) for line in column.splitlines()),
        )
    for row in rows:
        table.add_row(*(str(row[key]) for key in columns))
    return table


def summary_row(benchmark: str, label: str, lines: list[ResultLine]) -> dict[str, Any]:
    seconds = max((line.finished_s for line in lines), default=0.0)
    n = max(len(lines), 1)
    return {
        "benchmark": benchmark,
        "strategy": label,
        "n": len(lines),
        "accuracy": str(bootstrap_accuracy([line.correct for line in lines])),
        "abstained": sum(line.abstained for line in lines),
        "errors": sum(line.error is not None for line in lines),
        "first_error": next((line.error for line in lines if line.error is not None), None),
        "calls": f"{sum(line.lm_calls for line in lines) / n:.1f}",
        "tokens": f"{sum(line.tokens for line in lines) / n:.0f}",
        "qps": f"{len(lines) / seconds:.2f}" if seconds else "-",
    }


@click.command()
@click.option(
    "--benchmark",
    "-b",
    "benchmarks",
    multiple=True,
    help="Benchmark name (repeatable; default csqa); see `reasonkit list`.",
)
@click.option(
    "--jsonl", type=click.Path(path_type=Path, dir_okay=False), help="Your own benchmark: a JSONL file."
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="With --jsonl: KEY=FIELD (repeatable), e.g. --field question=stem --field options=choices "
    "--field answer=label --field id=uid; options from several fields: --field options=sol1,sol2; "
    "a sentence with a blank _ and its fillers: --field kind=fill_blank.",
)
@click.option(
    "--fields-toml",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="With --jsonl: the field mapping as TOML.",
)
@click.option(
    "--answer-base",
    type=click.IntRange(0, 1),
    default=None,
    help="With --jsonl: numeric answers count the options from 0 or 1 (default: read from the file, "
    "and said).",
)
@click.option(
    "--strategy",
    "-s",
    "strategies",
    multiple=True,
    help='Strategy spec (repeatable), e.g. cot or "self_consistency(n=20)"; "all" runs every strategy '
    "that applies. Default: direct.",
)
@click.option(
    "--strategy-config",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="TOML file of [[strategy]] tables (name = ..., then options).",
)
@click.option(
    "--model",
    "model_spec",
    default=None,
    help="Model spec: default (the bundled model), a model folder, hf:NAME, openai:URL?model=NAME, or any backend `reasonkit list` shows.",
)
@click.option("--device", default=None, help="Torch device for the model, e.g. cuda.")
@click.option(
    "--truncation",
    type=click.Choice(["error", "left"]),
    default="error",
    show_default=True,
    help="A prompt longer than the model's window: fail, or drop its oldest tokens.",
)
@click.option(
    "--split",
    default=None,
    help="Split to evaluate (default: the benchmark's evaluation split). "
    "'train' of a dataset (read from --data-dir) measures how well a model fits its training data.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N questions only.")
@click.option(
    "--skip",
    type=click.IntRange(min=0),
    default=0,
    help="Leave out the first N questions (with --limit M: questions N+1 to N+M), e.g. a held-out draw's "
    "part not looked at before.",
)
@click.option(
    "--suite-seed",
    type=click.IntRange(min=1),
    default=None,
    help="Synthetic suites (arithmetic, multistep): draw the split again from this seed, leaving out "
    "every question of the trained seed-0 suite; a held-out set no earlier run has seen.",
)
@click.option(
    "--world-seed",
    type=click.IntRange(min=1),
    default=None,
    help="Suites whose questions depend on their world's facts (consistency): the split of this seed's "
    "world, for a model trained on that world (lm/recipes/consistency_seed1.toml for seed 1).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0, max=MAX_SEED),
    default=0,
    show_default=True,
    help="Seed for strategies that sample (unless a spec sets one).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of the original datasets (default: bundled copies).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("runs"),
    show_default=True,
    help="Runs go to OUT/<benchmark>/<strategy>/.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Questions in flight at once.",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Most requests sent to the model at once.",
)
@click.option(
    "--fail-fast",
    is_flag=True,
    help="Stop at the first question that cannot be run (e.g. a prompt over the window) instead of "
    "recording its error and going on.",
)
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="sqlite cache of LM calls (off by default).",
)
def bench(
    benchmarks: tuple[str, ...],
    jsonl: Path | None,
    fields: tuple[str, ...],
    fields_toml: Path | None,
    answer_base: int | None,
    strategies: tuple[str, ...],
    strategy_config: Path | None,
    model_spec: str | None,
    device: str | None,
    truncation: str,
    split: str | None,
    limit: int | None,
    skip: int,
    suite_seed: int | None,
    world_seed: int | None,
    seed: int,
    data_dir: Path | None,
    out: Path,
    concurrency: int,
    max_batch: int,
    fail_fast: bool,
    cache_path: Path | None,
) -> None:
    """Run strategies on benchmarks; rerun the same command to resume after a crash (questions that failed are
    tried again). A question that cannot be run is recorded as that question's error and the run goes on,
    unless --fail-fast. Under torchrun (`torchrun --nproc_per_node N -m reasonkit bench ...`) the questions
    are shared across processes."""
    suites = load_suites(
        benchmarks, jsonl, fields, fields_toml, data_dir, split, suite_seed, answer_base, world_seed
    )
    every = ALL_STRATEGIES in strategies
    sources = strategy_specs(tuple(s for s in strategies if s != ALL_STRATEGIES), strategy_config)
    if not sources and not every:
        say(
            f"no --strategy given: running {DEFAULT_STRATEGY} (each option's log-likelihood); "
            f"-s cot, -s maieutic, ... pick others, -s {ALL_STRATEGIES} runs every strategy that applies"
        )
    try:
        plan = EvaluationPlan.build(
            suites,
            [*sources, *([ALL_STRATEGIES] if every else [])],
            seed=seed,
            limit=limit,
            skip=skip,
            out=out,
            on_note=say,
        )
        for line in plan.describe():
            say(line)
        plan.check_folders()
    except PlanError as error:
        raise as_click(error) from error
    model_options = {"truncation": truncation}
    rows: list[dict[str, Any]] = []

    def finished(outcome: RunOutcome) -> None:
        rows.append(summary_row(outcome.benchmark, outcome.label, outcome.lines))
        click.echo(f"{outcome.benchmark} {outcome.label}: {rows[-1]['accuracy']} -> {outcome.run_dir}")

    with process_group(backend="gloo") as context:
        options = {**model_options, **({"device": context.device_name(device)} if device else {})}
        lm = load_lm(model_spec, cache_path, options)
        try:
            plan.execute(
                lm,
                model=model_spec or "default",
                model_options=model_options,
                concurrency=concurrency,
                max_batch=max_batch,
                fail_fast=fail_fast,
                context=context,
                track=partial(progress_bar, shown=context.is_main),
                on_finished=finished,
            )
        except RunError as error:
            raise click.ClickException(f"{error}{hint_for(error)}") from error
        except PeerFailed:
            raise click.exceptions.Exit(1) from None  # rank 0 says why
    if rows:
        print_summary(summary_table(rows))
    failed = [row for row in rows if row["errors"]]
    if failed:
        count = sum(row["errors"] for row in failed)
        raise click.ClickException(
            f"{count} question{'s' if count > 1 else ''} could not be run and count as wrong (the errors column; "
            f"first: {failed[0]['first_error']}); their errors are in results.jsonl, and rerunning the same command "
            "tries them again"
        )


def print_summary(table: Table) -> None:
    """In a terminal the table fits its width; elsewhere (a log, a pipe) it takes the width it needs."""
    out = Console()
    if not out.is_terminal:
        out.width = max(out.width, Measurement.get(out, out.options.update_width(10_000), table).maximum)
    out.print(table)


def load_lm(model_spec: str | None, cache_path: Path | None, options: dict[str, Any]) -> LanguageModel:
    from reasonkit.models import load_model

    try:
        return load_model(model_spec, cache=cache_path, **options)
    except (FileNotFoundError, NotADirectoryError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--model") from error


class RunProgress:
    """What the progress bar shows. The rate is this process's answers over the time since it started
    answering: answers found from earlier runs fill the bar and the running accuracy but add no speed, and a
    batch of answers arriving in the same millisecond does not read as thousands of questions a second (as
    rich's own rate, taken between the first and last answer it saw, does)."""

    def __init__(self, progress: Progress, description: str, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=total, acc="acc -", qps="", eta="")
        self.correct = self.answered = self.new = 0
        self.started = progress.get_time()

    def resumed(self, lines: list[ResultLine]) -> None:
        self.correct, self.answered = sum(line.correct for line in lines), len(lines)
        self.started = self.progress.get_time()
        self.progress.update(self.task, completed=len(lines), acc=self.accuracy())

    def result(self, line: ResultLine) -> None:
        self.correct += line.correct
        self.answered += 1
        self.new += 1
        speed = self.speed
        left = self.progress.tasks[self.task].remaining
        self.progress.update(
            self.task,
            advance=1,
            acc=self.accuracy(),
            qps=f"{speed:.2f} q/s" if speed else "",
            eta=f"{timedelta(seconds=round((left - 1) / speed))} left" if speed and left else "",
        )

    @property
    def speed(self) -> float | None:
        seconds = self.progress.get_time() - self.started
        return self.new / seconds if self.new and seconds > 0 else None

    def accuracy(self) -> str:
        return f"acc {100 * self.correct / self.answered:.1f}%" if self.answered else "acc -"


@contextmanager
def progress_bar(run: PlannedRun, share: int, *, shown: bool) -> Iterator[RunProgress]:
    """This rank's share of a run as a progress bar (questions/s, running accuracy, ETA), on rank 0 only."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[acc]}"),
        TextColumn("{task.fields[qps]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
    ]
    with Progress(*columns, console=console, disable=not shown) as progress:
        yield RunProgress(progress, f"{run.benchmark} · {run.label}", share)


def hint_for(error: BaseException) -> str:
    """What to try when a question failed because its prompt is over the model's window."""
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, ContextWindowError):
            return "; rerun with --truncation left, or give the strategy fewer shots"
        cause = cause.__cause__
    return ""
