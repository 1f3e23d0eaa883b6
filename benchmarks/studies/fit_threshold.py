"""Fit `retrieval(threshold=...)` for true/false statements on a train split.

Question: Which similarity threshold lets `retrieval` answer a true/false set best, fitted on its train
split? Figures: BENCHMARKS.md, "Accuracy on the real sets"; docs/studies/retrieval_true_false.md.

    python -m reasonkit.benchmarks.studies.fit_threshold --store STORE -b creak --data-dir ../shared/data

Each train statement's similarity to its nearest store entry is computed as `retrieval` computes it; the
threshold printed is the one that classifies them best ("True" at or above it), the midpoint between two
neighbouring similarities. The AUC beside it says whether the similarity carries the label at all. Take the
threshold to the evaluation split once; fitted there it would measure the fit, not the strategy.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from pydantic import BaseModel

from reasonkit.benchmarks.loaders import load_benchmark
from reasonkit.benchmarks.metrics import auc
from reasonkit.strategies.memory_store import MemoryStore
from reasonkit.strategies.retrieval import nearest_hits


class ThresholdFit(BaseModel):
    n: int
    true_fraction: float
    auc: float
    threshold: float
    accuracy: float  # on the statements it was fitted on


def best_threshold(similarities: list[float], labels: list[bool]) -> tuple[float, float]:
    """The threshold with the most statements on their label's side, and that accuracy; ties: the lowest."""
    values = np.asarray(similarities, dtype=np.float64)
    truth = np.asarray(labels, dtype=bool)
    if values.shape != truth.shape or values.size == 0:
        raise ValueError(
            f"need one label per similarity; got {values.size} similarities and {truth.size} labels"
        )
    distinct = np.unique(values)
    # every cut that separates distinct values, plus "all true" and "all false"
    cuts = np.concatenate([[distinct[0] - 1e-6], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + 1e-6]])
    called_true = values[None, :] >= cuts[:, None]
    right = (called_true == truth[None, :]).sum(axis=1)
    best = int(np.argmax(right))
    return float(cuts[best]), float(right[best] / values.size)


def fit(store: MemoryStore, statements: list[str], labels: list[bool]) -> ThresholdFit:
    similarities = [hits[0].similarity for hits in nearest_hits(store, statements)]
    threshold, accuracy = best_threshold(similarities, labels)
    return ThresholdFit(
        n=len(labels),
        true_fraction=sum(labels) / len(labels),
        auc=auc(similarities, labels),
        threshold=threshold,
        accuracy=accuracy,
    )


@click.command()
@click.option(
    "--store", "store_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "-b", "--benchmark", required=True, help="A true/false benchmark with a train split, e.g. creak."
)
@click.option("--data-dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--limit", type=click.IntRange(min=2), help="First N train statements only.")
def main(store_dir: Path, benchmark: str, data_dir: Path, limit: int | None) -> None:
    try:
        questions = load_benchmark(benchmark, data_dir, split="train")
    except (KeyError, ValueError, FileNotFoundError) as error:
        raise click.BadParameter(str(error), param_hint="--benchmark") from error
    statements = [q for q in questions if q.is_binary and isinstance(q.gold, bool)][:limit]
    if len(statements) < 2:
        raise click.BadParameter(
            f"{benchmark!r} has no true/false train statements", param_hint="--benchmark"
        )
    try:
        store = MemoryStore.load(store_dir)
    except (FileNotFoundError, ValueError) as error:
        raise click.BadParameter(
            f"{error} (build one with `reasonkit memory`)", param_hint="--store"
        ) from error
    result = fit(store, [q.text for q in statements], [bool(q.gold) for q in statements])
    click.echo(
        f"{benchmark} train: {result.n} statements, {100 * result.true_fraction:.1f}% true; AUC of the similarity "
        f"{result.auc:.3f}; threshold {result.threshold:.6f} classifies {100 * result.accuracy:.1f}% of them"
    )
    click.echo(f"use: retrieval(store='{store_dir}', threshold={result.threshold:.6f})")


if __name__ == "__main__":
    main()
