"""Fit the weight of `ensemble(vote='scores')` from runs already made, instead of one run per weight.

Question: Which weight should `ensemble(vote='scores')` give a second strategy's scores, read from runs
already made? Figures: BENCHMARKS.md, "Retrieval and memory"; docs/studies/retrieval_scoring.md.

    python -m reasonkit.benchmarks.studies.pool_weights RUNS/csqa/direct RUNS/csqa/retrieval_... --weight 1 --weight 8

For each weight W the second run's per-choice scores are added, times W, to the first run's (weight 1), as
`ensemble(members=[first, second], vote='scores', weights=[1, W])` would pool them, and the accuracy of the
pooled answers is printed with its 95% interval and its paired difference from the first run. Run it on
held-out questions (a train split the model was not evaluated on), pick W there, and take only that W to the
evaluation split: a weight picked on the evaluation split measures the pick, not the strategy.
"""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import BaseModel

from reasonkit.benchmarks.metrics import Interval, PairedComparison, bootstrap_accuracy, paired_comparison
from reasonkit.benchmarks.runner import ResultLine, RunError, load_run
from reasonkit.strategies.ensemble import pool_scores, pooled_prediction
from reasonkit.types import Trace


class PooledAccuracy(BaseModel):
    weight: float
    accuracy: Interval
    versus_first: PairedComparison


def shared_lines(first: list[ResultLine], second: list[ResultLine]) -> list[tuple[ResultLine, ResultLine]]:
    """The questions both runs answered, ordered by id as `reasonkit report` pairs them (so the bootstrap
    draws the same resamples and the paired intervals agree with the report's; its accuracy intervals resample
    in each run's own line order and may differ from these in the last digit)."""
    theirs = {line.question_id: line for line in second}
    ours = {line.question_id: line for line in first}
    return [(ours[question_id], theirs[question_id]) for question_id in sorted(ours.keys() & theirs.keys())]


def sweep(first: list[ResultLine], second: list[ResultLine], weights: list[float]) -> list[PooledAccuracy]:
    pairs = shared_lines(first, second)
    if not pairs:
        raise ValueError("the two runs share no question")
    alone = [a.correct for a, _ in pairs]
    results = []
    for weight in weights:
        correct = []
        for a, b in pairs:
            members = [("first", 1.0, a.prediction), ("second", weight, b.prediction)]
            pooled = pool_scores(a.question, members, [])
            correct.append(pooled_prediction(a.question, pooled, Trace()).is_correct(a.question))
        results.append(
            PooledAccuracy(
                weight=weight,
                accuracy=bootstrap_accuracy(correct),
                versus_first=paired_comparison(correct, alone),
            )
        )
    return results


def load_lines(run_dir: Path) -> list[ResultLine]:
    try:
        return load_run(run_dir)[1]
    except (RunError, FileNotFoundError) as error:
        raise click.BadParameter(str(error), param_hint="RUNS") from error


@click.command()
@click.argument("first_run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("second_run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--weight", "weights", type=float, multiple=True, required=True, help="W for the second run.")
def main(first_run: Path, second_run: Path, weights: tuple[float, ...]) -> None:
    try:
        results = sweep(load_lines(first_run), load_lines(second_run), list(weights))
    except ValueError as error:
        raise click.UsageError(f"{first_run} and {second_run}: {error}") from error
    n = results[0].accuracy.n
    click.echo(f"{n} questions; first run alone is W = 0")
    for result in results:
        a, d = result.accuracy, result.versus_first
        click.echo(
            f"W = {result.weight:g}: {a}  "
            f"{100 * d.difference.estimate:+.1f} [{100 * d.difference.low:+.1f}, {100 * d.difference.high:+.1f}] "
            f"vs the first run (p = {d.p_value:.2g})"
        )


if __name__ == "__main__":
    main()
