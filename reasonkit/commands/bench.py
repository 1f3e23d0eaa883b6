"""`reasonkit bench`: run strategies on benchmarks into resumable run folders and print the scores."""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from reasonkit.benchmarks.custom import FieldMapping, load_jsonl_benchmark
from reasonkit.benchmarks.metrics import bootstrap_accuracy
from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.runner import (
    ResultLine,
    RunError,
    RunRecord,
    data_hash,
    merge_shards,
    run_benchmark,
)
from reasonkit.protocol import LanguageModel
from reasonkit.registry import StrategySpecError, available_strategies, build_strategy
from reasonkit.strategy import Strategy
from reasonkit.types import Question

log = logging.getLogger(__name__)
console = Console(stderr=True)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")[:80] or "strategy"


def strategy_specs(specs: tuple[str, ...], config_file: Path | None) -> list[str | dict[str, Any]]:
    """Specs from --strategy and from a TOML file of [[strategy]] tables (name plus options)."""
    result: list[str | dict[str, Any]] = list(specs)
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text())
        except tomllib.TOMLDecodeError as error:
            raise click.BadParameter(f"{config_file}: {error}", param_hint="--strategy-config") from error
        tables = data.get("strategy", [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) and "name" in t for t in tables):
            raise click.BadParameter(f"{config_file}: expected [[strategy]] tables each with a 'name'",
                                     param_hint="--strategy-config")
        result.extend(tables)
    return result


def with_seed(spec: str | dict[str, Any], seed: int) -> Strategy:
    """Apply the run's --seed to a strategy that takes a seed and whose spec did not set one."""
    strategy = build_strategy(spec)
    config = strategy.config()
    explicit = "seed=" in spec if isinstance(spec, str) else "seed" in spec
    if "seed" in config and not explicit and config["seed"] != seed:
        return build_strategy({**config, "seed": seed})
    return strategy


def default_strategies(questions: list[Question]) -> list[str]:
    """Every registered strategy that applies to most of the benchmark's questions, with default options."""
    names = []
    for name in available_strategies():
        try:
            strategy = build_strategy(name)
        except (ValueError, TypeError) as error:  # needs options we cannot guess
            log.info("skipping strategy %s as a default: %s", name, error)
            continue
        sample = questions[:20]
        if sum(strategy.applies_to(q) for q in sample) > len(sample) / 2:
            names.append(name)
    return names


def distributed_context() -> tuple[int, int]:
    """(rank, world size) under torchrun, with a gloo process group for the final barrier."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return dist.get_rank(), world_size


def summary_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="reasonkit bench")
    for column in ("benchmark", "strategy", "n", "accuracy % [95% CI]", "abstained", "calls/q", "tokens/q", "q/s"):
        table.add_column(column, justify="left" if column in ("benchmark", "strategy") else "right")
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("benchmark", "strategy", "n", "accuracy", "abstained", "calls",
                                                "tokens", "qps")))
    return table


@click.command()
@click.option("--benchmark", "-b", "benchmarks", multiple=True, help="Benchmark name (repeatable); see `reasonkit list`.")
@click.option("--jsonl", type=click.Path(path_type=Path, dir_okay=False), help="Your own benchmark: a JSONL file.")
@click.option("--field", "fields", multiple=True, help="With --jsonl: KEY=FIELD mapping, e.g. question=stem options=choices answer=label id=uid.")
@click.option("--fields-toml", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="With --jsonl: the field mapping as TOML.")
@click.option("--strategy", "-s", "strategies", multiple=True, help='Strategy spec (repeatable), e.g. cot or "self_consistency(n=20)".')
@click.option("--strategy-config", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="TOML file of [[strategy]] tables.")
@click.option("--model", "model_spec", default=None, help="Model folder, hf:NAME, or default (the embedded model).")
@click.option("--split", default=None, help="Split to evaluate (default: the benchmark's evaluation split).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N questions only.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed given to strategies that sample.")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="Folder of the original datasets (default: bundled copies).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("runs"), show_default=True, help="Runs go to OUT/<benchmark>/<strategy>/.")
@click.option("--concurrency", type=click.IntRange(min=1), default=64, show_default=True, help="Questions in flight at once.")
@click.option("--max-batch", type=click.IntRange(min=1), default=64, show_default=True, help="Largest batch sent to the model.")
@click.option("--cache", "cache_path", type=click.Path(path_type=Path, dir_okay=False), default=None, help="sqlite cache of LM calls (off by default).")
def bench(
    benchmarks: tuple[str, ...], jsonl: Path | None, fields: tuple[str, ...], fields_toml: Path | None,
    strategies: tuple[str, ...], strategy_config: Path | None, model_spec: str | None, split: str | None,
    limit: int | None, seed: int, data_dir: Path | None, out: Path, concurrency: int, max_batch: int,
    cache_path: Path | None,
) -> None:
    """Run strategies on benchmarks; rerun the same command to resume after a crash."""
    from reasonkit.models import load_model

    if not benchmarks and jsonl is None:
        benchmarks = ("csqa",)
    suites: dict[str, list[Question]] = {}
    try:
        for name in benchmarks:
            suites[name] = load_questions(name, data_dir, split)
        if jsonl is not None:
            mapping = FieldMapping.from_toml(fields_toml) if fields_toml else FieldMapping.parse_pairs(list(fields))
            suites[jsonl.stem] = load_jsonl_benchmark(jsonl, mapping)
    except (KeyError, ValueError, FileNotFoundError) as error:
        raise click.UsageError(str(error).strip("\"'")) from error
    if limit is not None:
        suites = {name: questions[:limit] for name, questions in suites.items()}

    rank, world_size = distributed_context()
    try:
        lm = load_model(model_spec, cache=cache_path)
    except (FileNotFoundError, NotADirectoryError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--model") from error
    rows: list[dict[str, Any]] = []
    for benchmark, questions in suites.items():
        specs = strategy_specs(strategies, strategy_config) or default_strategies(questions)
        for spec in specs:
            try:
                strategy = with_seed(spec, seed)
            except StrategySpecError as error:
                raise click.BadParameter(str(error), param_hint="--strategy") from error
            label = spec if isinstance(spec, str) else strategy.config()["name"]
            run_dir = out / benchmark / slug(label)
            record = RunRecord(
                benchmark=benchmark, split=questions[0].split, strategy=str(label), strategy_config=strategy.config(),
                model=model_spec or "default", model_fingerprint=lm.fingerprint, seed=seed, limit=limit,
                n_questions=len(questions), data_hash=data_hash(questions),
            )
            lines = run_with_progress(questions, strategy, lm, run_dir, record, concurrency, max_batch, rank,
                                      world_size)
            if world_size > 1:
                import torch.distributed as dist

                dist.barrier()
                if rank != 0:
                    continue
                lines = merge_shards(run_dir, world_size)
            interval = bootstrap_accuracy([line.correct for line in lines])
            seconds = max((line.finished_s for line in lines), default=0.0)
            rows.append({
                "benchmark": benchmark, "strategy": label, "n": len(lines), "accuracy": str(interval),
                "abstained": sum(line.abstained for line in lines),
                "calls": f"{sum(line.lm_calls for line in lines) / len(lines):.1f}",
                "tokens": f"{sum(line.tokens for line in lines) / len(lines):.0f}",
                "qps": f"{len(lines) / seconds:.2f}" if seconds else "-",
            })
            click.echo(f"{benchmark} {label}: {interval} -> {run_dir}")
    if rank == 0 and rows:
        Console().print(summary_table(rows))


def run_with_progress(
    questions: list[Question], strategy: Strategy, lm: LanguageModel, run_dir: Path, record: RunRecord,
    concurrency: int, max_batch: int, rank: int, world_size: int,
) -> list[ResultLine]:
    """The run, with a progress bar showing questions/s, running accuracy and ETA (rank 0 only)."""
    correct = answered = 0
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[acc]}"), TextColumn("{task.fields[qps]}"), TimeElapsedColumn(),
               TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=rank != 0) as progress:
        share = len(range(rank, len(questions), world_size))
        task = progress.add_task(f"{record.benchmark} · {record.strategy}", total=share, acc="acc -", qps="")

        def on_result(line: ResultLine) -> None:
            nonlocal correct, answered
            correct += line.correct
            answered += 1
            speed = progress.tasks[task].speed
            progress.update(task, advance=1, acc=f"acc {100 * correct / answered:.1f}%",
                            qps=f"{speed:.2f} q/s" if speed else "")

        try:
            return run_benchmark(questions, strategy, lm, run_dir, record, concurrency=concurrency,
                                 max_batch=max_batch, rank=rank, world_size=world_size, on_result=on_result)
        except RunError as error:
            raise click.ClickException(str(error)) from error
