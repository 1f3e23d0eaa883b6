"""`reasonkit bench`: run strategies on benchmarks into resumable run folders and print the scores.

Everything a user can get wrong (benchmark names, --jsonl lines, strategy specs) is checked before the model
is loaded and before any run folder is written. Under `torchrun` every process answers its share of the
questions and rank 0 merges the shares into one results.jsonl per run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
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
from reasonkit.benchmarks.registry import load_questions, prepare
from reasonkit.benchmarks.runner import (
    ResultLine,
    RunError,
    RunRecord,
    data_hash,
    merge_shards,
    prepare_run_dir,
    run_benchmark,
    run_lock,
)
from reasonkit.driver import QuestionError
from reasonkit.protocol import ContextWindowError, LanguageModel
from reasonkit.registry import StrategySpecError, available_strategies, build_strategy
from reasonkit.strategy import Strategy
from reasonkit.types import Question

log = logging.getLogger(__name__)
console = Console(stderr=True)

Spec = str | dict[str, Any]


@dataclass(frozen=True)
class SpecSource:
    """A strategy spec and the option it came from (for error messages)."""

    spec: Spec
    option: str


@dataclass
class PlannedRun:
    benchmark: str
    questions: list[Question]
    label: str
    strategy: Strategy


SLUG_LENGTH = 80
MAX_SEED = 2**63 - 1


def slug(text: str) -> str:
    """A folder name for a strategy label or a benchmark; a long one is cut and ends in a hash of the whole label,
    so specs that differ only past the cut (e.g. in an ensemble's last weight) get folders of their own. No
    leading dot: a name such as ".." must not lead out of --out."""
    name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", re.sub(r"[\"']", "", text)).lstrip("._").rstrip("_") or "strategy"
    if len(name) <= SLUG_LENGTH:
        return name
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{name[: SLUG_LENGTH - 9]}-{digest}"


def spec_label(spec: Spec) -> str:
    """How a run is named: the spec string as given, or a dict spec written as one, `name(option=value)`."""
    if isinstance(spec, str):
        return " ".join(spec.split())

    def render(value: Any) -> str:
        return spec_label(value) if isinstance(value, dict) and "name" in value else repr(value)

    options = ", ".join(f"{key}={render(value)}" for key, value in spec.items() if key != "name")
    return f"{spec['name']}({options})" if options else str(spec["name"])


def strategy_specs(specs: tuple[str, ...], config_file: Path | None) -> list[SpecSource]:
    """Specs from --strategy, then from a TOML file of [[strategy]] tables (name plus options)."""
    result = [SpecSource(spec, "--strategy") for spec in specs]
    if config_file is None:
        return result
    raw = config_file.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise click.BadParameter(f"{config_file}:{line}: not UTF-8 text", param_hint="--strategy-config") from None
    except tomllib.TOMLDecodeError as error:
        raise click.BadParameter(f"{config_file}: {error}", param_hint="--strategy-config") from error
    except RecursionError:
        raise click.BadParameter(f"{config_file}: nested too deeply to read", param_hint="--strategy-config") from None
    tables = data.get("strategy", [])
    if not isinstance(tables, list) or not tables:
        raise click.BadParameter(f"{config_file}: expected [[strategy]] tables", param_hint="--strategy-config")
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict) or not isinstance(table.get("name"), str):
            raise click.BadParameter(
                f"{config_file}: [[strategy]] table {number} needs a name = \"...\"", param_hint="--strategy-config"
            )
        result.append(SpecSource(table, f"--strategy-config ({config_file}, [[strategy]] table {number})"))
    return result


def sets_seed(spec: Any) -> bool:
    """Whether a spec sets a seed anywhere, nested strategies included."""
    if isinstance(spec, str):
        return re.search(r"\bseed\s*=", spec) is not None
    if isinstance(spec, dict):
        return "seed" in spec or any(sets_seed(value) for value in spec.values())
    if isinstance(spec, list | tuple):
        return any(sets_seed(value) for value in spec)
    return False


def seeded(config: Any, seed: int) -> Any:
    """The config with every `seed` option, nested ones included, set to `seed`."""
    if isinstance(config, dict):
        return {key: seed if key == "seed" else seeded(value, seed) for key, value in config.items()}
    if isinstance(config, list | tuple):
        return type(config)(seeded(value, seed) for value in config)
    return config


def build(source: SpecSource, seed: int) -> Strategy:
    """The strategy, with the run's --seed in every strategy that samples unless the spec sets a seed."""
    try:
        strategy = build_strategy(source.spec)
        if sets_seed(source.spec):
            return strategy
        config = strategy.config()
        with_seed = seeded(config, seed)
        return strategy if with_seed == config else build_strategy(with_seed)
    except StrategySpecError as error:
        raise click.BadParameter(str(error), param_hint=source.option) from error


ALL_STRATEGIES = "all"
"""`-s all`: every registered strategy that builds without options and applies to the questions."""
DEFAULT_STRATEGY = "direct"
"""What a bare `reasonkit bench` runs: the cheapest strategy (lm-eval's default scoring), not all of them."""


def say(message: str) -> None:
    """A line to stderr, once under torchrun (rank 0), not once per process."""
    if int(os.environ.get("RANK", "0")) == 0:
        click.echo(message, err=True)


def announce(plan: list[PlannedRun], out: Path) -> None:
    """What the command is about to do, before the model loads: runs, questions, and answers to compute
    (each run then shows its own progress and time left)."""
    total = sum(len(run.questions) for run in plan)
    say(f"plan: {len(plan)} run{'s' * (len(plan) != 1)}, {total} answers in all, into {out}/")
    for benchmark in dict.fromkeys(run.benchmark for run in plan):
        runs = [run for run in plan if run.benchmark == benchmark]
        say(f"  {benchmark} ({len(runs[0].questions)} questions): {', '.join(run.label for run in runs)}")


def default_strategies(questions: list[Question]) -> list[SpecSource]:
    """Every registered strategy that builds without options and applies to most of the questions."""
    sources = []
    sample = questions[:20]
    for name in available_strategies():
        try:
            strategy = build_strategy(name)
        except StrategySpecError as error:  # needs options we cannot guess
            log.info("skipping strategy %s as a default: %s", name, error)
            continue
        if sum(strategy.applies_to(q) for q in sample) > len(sample) / 2:
            sources.append(SpecSource(name, "default strategies"))
    return sources


def applicable(plan: list[PlannedRun]) -> list[PlannedRun]:
    """The runs whose strategy applies to some of their questions: a run that could only abstain would read
    as 0% accuracy. Each one dropped is named; if none is left, that is a usage error."""
    kept = []
    for run in plan:
        if not run.questions or any(run.strategy.applies_to(q) for q in run.questions):
            kept.append(run)
        elif int(os.environ.get("RANK", "0")) == 0:  # said once under torchrun, not once per process
            click.echo(f"skipping {run.label} on {run.benchmark}: it applies to none of its questions "
                       f"({describe_kind(run.questions[0])})", err=True)
    if not kept:
        raise click.UsageError("no strategy asked for applies to any question of the benchmarks asked for "
                               "(`reasonkit list` describes each strategy)")
    return kept


def describe_kind(question: Question) -> str:
    if question.options is not None:
        return f"{'fill-in-the-blank' if question.is_fill_blank else 'multiple choice'}, e.g. {question.id}"
    return f"{'true/false statements' if question.is_binary else 'free-form answers'}, e.g. {question.id}"


def load_suites(benchmarks: tuple[str, ...], jsonl: Path | None, fields: tuple[str, ...],
                fields_toml: Path | None, data_dir: Path | None, split: str | None,
                suite_seed: int | None = None, answer_base: int | None = None) -> dict[str, list[Question]]:
    """Questions of every benchmark asked for, each checked in full (no model is loaded yet)."""
    if jsonl is None and (fields or fields_toml or answer_base is not None):
        raise click.UsageError("--field, --fields-toml and --answer-base describe a --jsonl file; give --jsonl too")
    if fields and fields_toml:
        raise click.UsageError("give the field mapping with --field or with --fields-toml, not both")
    if jsonl is not None and suite_seed is not None:
        raise click.UsageError("--suite-seed draws a synthetic suite again; a --jsonl file has no seed")
    if not benchmarks and jsonl is None:
        benchmarks = ("csqa",)
    suites: dict[str, list[Question]] = {}
    for name in dict.fromkeys(benchmarks):
        try:
            suites[name] = load_questions(name, data_dir, split, suite_seed)
        except KeyError as error:
            raise click.BadParameter(str(error.args[0]), param_hint="--benchmark") from error
        except (ValueError, FileNotFoundError) as error:
            hint = "--benchmark / --split / --data-dir" + (" / --suite-seed" if suite_seed is not None else "")
            raise click.BadParameter(str(error), param_hint=hint) from error
    if jsonl is not None:
        try:
            mapping = FieldMapping.from_toml(fields_toml) if fields_toml else FieldMapping.parse_pairs(list(fields))
            if answer_base is not None:
                mapping = mapping.model_copy(update={"answer_base": answer_base})
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--fields-toml" if fields_toml else "--field") from error
        if not jsonl.stem.strip("."):
            raise click.UsageError(f"--jsonl {jsonl}: its name {jsonl.stem!r} cannot name a run folder; rename the "
                                   "file")
        if jsonl.stem in suites:
            raise click.UsageError(f"--jsonl {jsonl}: its name {jsonl.stem!r} is also a --benchmark; rename the file")
        try:
            read = read_jsonl_benchmark(jsonl, mapping)
        except (ValueError, FileNotFoundError) as error:
            raise click.BadParameter(str(error), param_hint="--jsonl") from error
        suites[jsonl.stem] = read.questions
        if int(os.environ.get("RANK", "0")) == 0:
            for note in read.notes():
                click.echo(f"--jsonl {jsonl}: {note}", err=True)
    empty = [name for name, questions in suites.items() if not questions]
    if empty:
        raise click.UsageError(f"no questions in {', '.join(empty)}")
    return suites


class Distributed:
    """Rank and world size under torchrun (gloo: CPU processes and GPUs alike), and the few collective
    steps the command needs. One process without torchrun."""

    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world_size > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("gloo")
            self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    def device(self, device: str) -> str:
        """`cuda` means this process's own GPU (LOCAL_RANK) under torchrun."""
        if device == "cuda" and self.world_size > 1:
            return f"cuda:{os.environ.get('LOCAL_RANK', self.rank)}"
        return device

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def on_rank_zero(self, step: Callable[[], None]) -> None:
        """Run `step` on rank 0; a click error it raises is raised on every rank, so all stop together."""
        message: str | None = None
        try:
            if self.rank == 0:
                step()
        except click.ClickException as error:
            if self.world_size == 1:
                raise
            message = error.format_message()
        if self.world_size > 1:
            import torch.distributed as dist

            box = [message]
            dist.broadcast_object_list(box, src=0)
            message = box[0]
        if message is not None:
            if self.rank != 0:
                raise click.exceptions.Exit(1)  # rank 0 says why
            raise click.ClickException(message)

    def close(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


@contextmanager
def distributed() -> Iterator[Distributed]:
    context = Distributed()
    try:
        yield context
    finally:
        context.close()


def summary_table(rows: list[dict[str, Any]]) -> Table:
    """No box and one space between columns, so a typical table fits 80 columns with every header whole;
    names that do not fit fold onto more lines rather than end in "…"."""
    columns = {"benchmark": "benchmark", "strategy": "strategy", "n": "n", "accuracy": "accuracy %\n[95% CI]",
               "abstained": "abstained", "errors": "errors", "calls": "calls/q", "tokens": "tokens/q", "qps": "q/s"}
    if not any(row["errors"] for row in rows):
        del columns["errors"]  # shown only when some question could not be run, to keep 80 columns
    table = Table(title="reasonkit bench", box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for key, column in columns.items():
        named = key in ("benchmark", "strategy")
        table.add_column(column, justify="left" if named else "right", no_wrap=not named, overflow="fold",
                         min_width=max(len(line) for line in column.splitlines()))
    for row in rows:
        table.add_row(*(str(row[key]) for key in columns))
    return table


def summary_row(benchmark: str, label: str, lines: list[ResultLine]) -> dict[str, Any]:
    seconds = max((line.finished_s for line in lines), default=0.0)
    n = max(len(lines), 1)
    return {
        "benchmark": benchmark, "strategy": label, "n": len(lines),
        "accuracy": str(bootstrap_accuracy([line.correct for line in lines])),
        "abstained": sum(line.abstained for line in lines),
        "errors": sum(line.error is not None for line in lines),
        "first_error": next((line.error for line in lines if line.error is not None), None),
        "calls": f"{sum(line.lm_calls for line in lines) / n:.1f}",
        "tokens": f"{sum(line.tokens for line in lines) / n:.0f}",
        "qps": f"{len(lines) / seconds:.2f}" if seconds else "-",
    }


@click.command()
@click.option("--benchmark", "-b", "benchmarks", multiple=True,
              help="Benchmark name (repeatable; default csqa); see `reasonkit list`.")
@click.option("--jsonl", type=click.Path(path_type=Path, dir_okay=False), help="Your own benchmark: a JSONL file.")
@click.option("--field", "fields", multiple=True,
              help="With --jsonl: KEY=FIELD (repeatable), e.g. --field question=stem --field options=choices "
                   "--field answer=label --field id=uid; options from several fields: --field options=sol1,sol2; "
                   "a sentence with a blank _ and its fillers: --field kind=fill_blank.")
@click.option("--fields-toml", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="With --jsonl: the field mapping as TOML.")
@click.option("--answer-base", type=click.IntRange(0, 1), default=None,
              help="With --jsonl: numeric answers count the options from 0 or 1 (default: read from the file, "
                   "and said).")
@click.option("--strategy", "-s", "strategies", multiple=True,
              help='Strategy spec (repeatable), e.g. cot or "self_consistency(n=20)"; "all" runs every strategy '
                   "that applies. Default: direct.")
@click.option("--strategy-config", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="TOML file of [[strategy]] tables (name = ..., then options).")
@click.option("--model", "model_spec", default=None, help="Model spec: default (the bundled model), a model folder, hf:NAME, openai:URL?model=NAME, or any backend `reasonkit list` shows.")
@click.option("--device", default=None, help="Torch device for the model, e.g. cuda.")
@click.option("--truncation", type=click.Choice(["error", "left"]), default="error", show_default=True,
              help="A prompt longer than the model's window: fail, or drop its oldest tokens.")
@click.option("--split", default=None, help="Split to evaluate (default: the benchmark's evaluation split). "
              "'train' of a dataset (read from --data-dir) measures how well a model fits its training data.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N questions only.")
@click.option("--suite-seed", type=click.IntRange(min=1), default=None,
              help="Synthetic suites (arithmetic, multistep): draw the split again from this seed, leaving out "
                   "every question of the trained seed-0 suite; a held-out set no earlier run has seen.")
@click.option("--seed", type=click.IntRange(min=0, max=MAX_SEED), default=0, show_default=True,
              help="Seed for strategies that sample (unless a spec sets one).")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder of the original datasets (default: bundled copies).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("runs"), show_default=True,
              help="Runs go to OUT/<benchmark>/<strategy>/.")
@click.option("--concurrency", type=click.IntRange(min=1), default=64, show_default=True,
              help="Questions in flight at once.")
@click.option("--max-batch", type=click.IntRange(min=1), default=64, show_default=True,
              help="Most requests sent to the model at once.")
@click.option("--fail-fast", is_flag=True,
              help="Stop at the first question that cannot be run (e.g. a prompt over the window) instead of "
                   "recording its error and going on.")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="sqlite cache of LM calls (off by default).")
def bench(
    benchmarks: tuple[str, ...], jsonl: Path | None, fields: tuple[str, ...], fields_toml: Path | None,
    answer_base: int | None, strategies: tuple[str, ...], strategy_config: Path | None, model_spec: str | None,
    device: str | None,
    truncation: str, split: str | None, limit: int | None, suite_seed: int | None, seed: int,
    data_dir: Path | None, out: Path, concurrency: int, max_batch: int, fail_fast: bool, cache_path: Path | None,
) -> None:
    """Run strategies on benchmarks; rerun the same command to resume after a crash (questions that failed are
    tried again). A question that cannot be run is recorded as that question's error and the run goes on,
    unless --fail-fast. Under torchrun (`torchrun --nproc_per_node N -m reasonkit bench ...`) the questions
    are shared across processes."""
    suites = load_suites(benchmarks, jsonl, fields, fields_toml, data_dir, split, suite_seed, answer_base)
    if limit is not None:
        suites = {name: questions[:limit] for name, questions in suites.items()}
    every = ALL_STRATEGIES in strategies
    sources = strategy_specs(tuple(s for s in strategies if s != ALL_STRATEGIES), strategy_config)
    if not sources and not every:
        sources = [SpecSource(DEFAULT_STRATEGY, "the default strategy")]
        say(f"no --strategy given: running {DEFAULT_STRATEGY} (each option's log-likelihood); "
            f"-s cot, -s maieutic, ... pick others, -s {ALL_STRATEGIES} runs every strategy that applies")
    plan = [
        PlannedRun(name, questions, spec_label(source.spec), build(source, seed))
        for name, questions in suites.items()
        for source in [*sources, *(s for s in (default_strategies(questions) if every else [])
                                   if s.spec not in [given.spec for given in sources])]
    ]
    plan = applicable(plan)
    announce(plan, out)
    labels = [(slug(run.benchmark), slug(run.label)) for run in plan]
    if len(set(labels)) < len(labels):
        twice = next(label for label in labels if labels.count(label) > 1)
        raise click.UsageError(f"two strategies would share the run folder {out / twice[0] / twice[1]}")
    model_options = {"truncation": truncation}
    with distributed() as dist:
        lm = load_lm(model_spec, cache_path, {**model_options, **({"device": dist.device(device)} if device else {})})
        rows = [
            row
            for run in plan
            if (row := bench_one(run, lm, model_spec, model_options, seed, limit, out, concurrency, max_batch,
                                 fail_fast, dist)) is not None
        ]
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


def bench_one(
    run: PlannedRun, lm: LanguageModel, model_spec: str | None, model_options: dict[str, Any], seed: int,
    limit: int | None, out: Path, concurrency: int, max_batch: int, fail_fast: bool, dist: Distributed,
) -> dict[str, Any] | None:
    """One strategy on one benchmark; the summary row on rank 0, None on the other ranks. Rank 0 holds the run
    folder's lock from the first check to the merge, so no other run writes there meanwhile."""
    run_dir = out / slug(run.benchmark) / slug(run.label)
    preparation = prepare(run.strategy, run.questions)
    record = RunRecord(
        benchmark=run.benchmark, split=run.questions[0].split, strategy=run.label,
        strategy_config=run.strategy.config(), model=model_spec or "default", model_fingerprint=lm.fingerprint,
        model_options=model_options, seed=seed, limit=limit, n_questions=len(run.questions),
        data_hash=data_hash(run.questions), preparation=preparation,
    )

    with ExitStack() as held:

        def check_folder() -> None:
            try:
                held.enter_context(run_lock(run_dir))
                prepare_run_dir(run_dir, record)
            except RunError as error:
                raise click.ClickException(str(error)) from error

        dist.on_rank_zero(check_folder)
        lines = run_with_progress(run, lm, run_dir, record, concurrency, max_batch, fail_fast, dist)
        if dist.world_size > 1:
            dist.barrier()
            if dist.rank != 0:
                return None
            lines = merge_shards(run_dir, dist.world_size)
    row = summary_row(run.benchmark, run.label, lines)
    click.echo(f"{run.benchmark} {run.label}: {row['accuracy']} -> {run_dir}")
    return row


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
        self.progress.update(self.task, advance=1, acc=self.accuracy(), qps=f"{speed:.2f} q/s" if speed else "",
                             eta=f"{timedelta(seconds=round((left - 1) / speed))} left" if speed and left else "")

    @property
    def speed(self) -> float | None:
        seconds = self.progress.get_time() - self.started
        return self.new / seconds if self.new and seconds > 0 else None

    def accuracy(self) -> str:
        return f"acc {100 * self.correct / self.answered:.1f}%" if self.answered else "acc -"


def run_with_progress(
    run: PlannedRun, lm: LanguageModel, run_dir: Path, record: RunRecord, concurrency: int, max_batch: int,
    fail_fast: bool, dist: Distributed,
) -> list[ResultLine]:
    """This rank's share of the run, with a progress bar (questions/s, running accuracy, ETA) on rank 0."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[acc]}"), TextColumn("{task.fields[qps]}"), TimeElapsedColumn(),
               TextColumn("{task.fields[eta]}")]
    with Progress(*columns, console=console, disable=dist.rank != 0) as progress:
        share = len(range(dist.rank, len(run.questions), dist.world_size))
        bar = RunProgress(progress, f"{run.benchmark} · {run.label}", share)
        try:
            return run_benchmark(run.questions, run.strategy, lm, run_dir, record, concurrency=concurrency,
                                 max_batch=max_batch, rank=dist.rank, world_size=dist.world_size,
                                 fail_fast=fail_fast, on_resume=bar.resumed, on_result=bar.result)
        except RunError as error:
            raise click.ClickException(str(error)) from error
        except QuestionError as error:
            raise click.ClickException(f"{run_dir}: {error}{hint_for(error)}") from error


def hint_for(error: QuestionError) -> str:
    if isinstance(error.__cause__, ContextWindowError):
        return "; rerun with --truncation left, or give the strategy fewer shots"
    return ""
