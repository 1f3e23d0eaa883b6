"""Questions per second of each strategy, batched across questions vs one question at a time, and the cost of
self-consistency (n=20) relative to one greedy chain-of-thought call, measured side by side in one run.

Figures: BENCHMARKS.md, "Strategies and batching: speed"; docs/studies/strategy_speed.md.

    python -m reasonkit.benchmarks.studies.strategy_speed --model runs/small/model --questions 200
    python -m reasonkit.benchmarks.studies.strategy_speed --strategies direct cot --questions 50 --reps 1

Batched means `run_many(questions, concurrency=64)`: the batching client gathers the LM calls of all questions
in flight into full engine batches. One at a time means concurrency=1 (each question's calls alone). Both
sides run interleaved, repetition by repetition, on the same questions; medians are compared.
"""

from __future__ import annotations

import statistics
import time

import click
import torch

from reasonkit.benchmarks.registry import load_questions
from reasonkit.models import load_model
from reasonkit.protocol import LanguageModel
from reasonkit.registry import build_strategy
from reasonkit.strategy import Strategy
from reasonkit.types import Question

DEFAULT_STRATEGIES = ("direct", "cot", "self_consistency(n=20)")


def timed(strategy: Strategy, questions: list[Question], lm: LanguageModel, concurrency: int) -> float:
    started = time.perf_counter()
    strategy.run_many(questions, lm, concurrency=concurrency)
    return time.perf_counter() - started


@click.command()
@click.option("--model", "model_spec", default=None, help="Model folder (default: the embedded model).")
@click.option("--benchmark", default="csqa", show_default=True)
@click.option("--questions", "n_questions", type=int, default=200, show_default=True)
@click.option("--strategies", "-s", multiple=True, default=DEFAULT_STRATEGIES, show_default=True)
@click.option(
    "--sequential-questions",
    type=int,
    default=20,
    show_default=True,
    help="One-at-a-time runs use the first N questions (they are slow); q/s is compared.",
)
@click.option("--reps", type=int, default=2, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
def main(
    model_spec: str | None,
    benchmark: str,
    n_questions: int,
    strategies: tuple[str, ...],
    sequential_questions: int,
    reps: int,
    threads: int,
) -> None:
    torch.set_num_threads(threads)
    lm = load_model(model_spec)
    questions = load_questions(benchmark)[:n_questions]
    sequential = questions[:sequential_questions]
    click.echo(
        f"{benchmark}: {len(questions)} questions batched, {len(sequential)} one at a time; "
        f"{threads} threads, {reps} reps, medians"
    )
    per_question: dict[str, float] = {}
    for spec in strategies:
        strategy = build_strategy(spec)
        strategy.run_many(questions[:4], lm)  # warm-up
        batched, alone = [], []
        for _ in range(reps):
            batched.append(timed(strategy, questions, lm, 64) / len(questions))
            alone.append(timed(strategy, sequential, lm, 1) / len(sequential))
        b, a = statistics.median(batched), statistics.median(alone)
        per_question[spec] = a
        click.echo(
            f"{spec:>28}: batched {1 / b:7.2f} q/s | one at a time {1 / a:7.2f} q/s | ratio {a / b:5.2f}x"
        )
    if "cot" in per_question and "self_consistency(n=20)" in per_question:
        ratio = per_question["self_consistency(n=20)"] / per_question["cot"]
        click.echo(
            f"self_consistency(n=20) / greedy cot, one question at a time: {ratio:.2f}x wall time (goal <= 4x)"
        )


if __name__ == "__main__":
    main()
