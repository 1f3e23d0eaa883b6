"""Does a trained verifier beat majority voting as the number of samples grows (Cobbe et al. 2021), on multistep
(and, with `sample --suite arithmetic`, on scratchpads)?

Plan, fixed before any look (docs/studies/verifier.md):
- generator: the self_taught model (worked rationales for the first 600 multistep train chains only);
- verifier data: the next multistep train questions of 2-4 steps (seed-0 train split from index 600 on, the
  lengths the test splits ask), 16 paths each from self_consistency(cot(shots=0)) at T=0.7, labelled by the
  gold answer (`reasonkit verifier data`), a verifier fine-tuned from the generator (`reasonkit verifier train`);
- evaluation: `reasonkit bench multistep --suite-seed S` with the `verifier` strategy at n=100, which keeps
  all 100 paths with their verifier scores; dev draw seed 281 (200 questions, where choices are made), one
  planned look at seed 2828 (400 questions);
- accuracy at n = 1, 2, 4, ..., 64, 100 of best-of-n by verifier, verifier-weighted vote and majority vote,
  all from the same 100 paths per question, each averaged over SUBSETS random n-subsets of the 100 (Cobbe's
  way; n=100 is the one full set), and a paired 95% bootstrap interval of verifier minus majority at n=100.

    python -m reasonkit.benchmarks.studies.verifier sample --model runs/generator --out runs/vstudy/train-samples
    python -m reasonkit.benchmarks.studies.verifier analyse runs/vstudy/heldout/multistep/verifier \\
        --rows runs/vstudy/rows.jsonl --verifier-run runs/vstudy/verifier
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from reasonkit.benchmarks.metrics import auc, bootstrap_accuracy, paired_comparison
from reasonkit.benchmarks.runner import RunRecord, load_run, run_benchmark
from reasonkit.benchmarks.synthetic import suites
from reasonkit.jsonl import iter_jsonl
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.scratchpad import Scratchpad
from reasonkit.strategies.self_consistency import SelfConsistency
from reasonkit.strategies.verifier import selections
from reasonkit.strategy import Strategy
from reasonkit.types import Prediction, Question

FIRST_UNTRAINED = 600
"""The generator saw rationales for the first 600 train chains (lm/recipes/self_taught.toml)."""
N_VALUES = (1, 2, 4, 8, 16, 32, 64, 100)
SUBSETS = 50
RULES = ("best_of_n", "weighted_vote", "majority")


SUITES = ("multistep", "arithmetic")
STEPS = {"multistep": "2-4 steps, "}
"""The suites the generator learned a worked format for on their first 600 train questions."""


def train_questions(count: int, suite: str = "multistep") -> list[Question]:
    """Seed-0 train questions the generator never saw a rationale for (multistep: of 2-4 steps, the lengths
    the test splits ask)."""
    train = suites()[suite].generate(0).splits["train"][FIRST_UNTRAINED:]
    chosen = [q for q in train if suite != "multistep" or q.metadata["n_steps"] >= 2][:count]
    if len(chosen) < count:
        raise click.UsageError(
            f"only {len(chosen)} {suite} train questions after the first {FIRST_UNTRAINED}"
        )
    return chosen


def sampler(suite: str) -> Strategy:
    """The generator's own worked format: zero-shot chain of thought, or the scratchpad for arithmetic."""
    return Scratchpad() if suite == "arithmetic" else ChainOfThought(shots=0, max_tokens=96)


def accuracy_at_n(
    question: Question, answers: Sequence[Any], scores: Sequence[float], n: int, rng: np.random.Generator
) -> dict[str, float]:
    """Each rule's accuracy over `SUBSETS` random n-subsets of the paths (the one full set when n = all)."""
    total = len(answers)
    draws = (
        [np.arange(total)]
        if n >= total
        else [rng.choice(total, size=n, replace=False) for _ in range(SUBSETS)]
    )
    right = dict.fromkeys(RULES, 0.0)
    for idx in draws:
        picked = selections(question, [answers[i] for i in idx], [scores[i] for i in idx])
        for rule in RULES:
            answer = picked[rule]
            right[rule] += answer is not None and Prediction(
                question_id=question.id, answer=answer
            ).is_correct(question)
    return {rule: right[rule] / len(draws) for rule in RULES}


def curves(lines: Sequence[Any], seed: int = 0) -> dict[int, dict[str, list[float]]]:
    """n -> rule -> per-question accuracy (averaged over subsets)."""
    rng = np.random.default_rng(seed)
    out: dict[int, dict[str, list[float]]] = {n: {rule: [] for rule in RULES} for n in N_VALUES}
    for line in lines:
        paths = line.prediction.trace.steps["paths"]
        answers = [p["answer"] for p in paths]
        scores = [p["verifier_score"] for p in paths]
        for n in N_VALUES:
            for rule, value in accuracy_at_n(line.question, answers, scores, n, rng).items():
                out[n][rule].append(value)
    return out


def verifier_aucs(
    lines: Sequence[tuple[Question, Sequence[Any], Sequence[float]]],
) -> tuple[float, float, int]:
    """The verifier's AUC for right against wrong paths over all paths, and its mean over the questions that
    have both: a score can separate easy questions from hard ones (the first) without ranking the solutions
    of one question (the second, what best-of-n needs)."""
    scores: list[float] = []
    labels: list[bool] = []
    within: list[float] = []
    for question, answers, path_scores in lines:
        right = [
            a is not None and Prediction(question_id=question.id, answer=a).is_correct(question)
            for a in answers
        ]
        scores.extend(path_scores)
        labels.extend(right)
        if 0 < sum(right) < len(right):
            within.append(auc(path_scores, right))
    overall = auc(scores, labels) if 0 < sum(labels) < len(labels) else float("nan")
    return overall, float(np.mean(within)) if within else float("nan"), len(within)


LABELS = {
    "best_of_n": "best-of-n (verifier)",
    "weighted_vote": "verifier-weighted vote",
    "majority": "majority",
}


def plot(table: dict[int, dict[str, list[float]]], path: Path, title: str) -> None:
    """Accuracy (95% bootstrap interval) against n for the three rules."""
    from reasonkit.benchmarks.report import accuracy_curve, plt, save_figure

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for rule in RULES:
        accuracy_curve(ax, {n: table[n][rule] for n in N_VALUES}, LABELS[rule])  # type: ignore[arg-type]
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sampled solutions per question (n)")
    ax.set_ylabel("accuracy % (95% CI)")
    ax.set_title(f"Verifier vs majority: {title}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


@click.group()
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch CPU threads."
)
def main(threads: int) -> None:
    """Verifier study: sample train solutions for the verifier's data, then analyse an evaluation run."""
    from reasonkit.threads import set_threads

    set_threads(threads)


@main.command()
@click.option(
    "--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option("--out", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--questions", "count", default=4000, show_default=True)
@click.option("--n", "n_paths", default=16, show_default=True)
@click.option("--suite", type=click.Choice(SUITES), default="multistep", show_default=True)
def sample(model_dir: Path, run_dir: Path, count: int, n_paths: int, suite: str) -> None:
    """Sample paths on train questions into a bench run folder (resumable), for `reasonkit verifier data`."""
    from reasonkit.models import load_model

    questions = train_questions(count, suite)
    strategy = SelfConsistency(sampler(suite), n=n_paths, temperature=0.7, seed=0)
    lm = load_model(str(model_dir))
    preparation = {
        "questions": f"{suite} seed-0 train[{FIRST_UNTRAINED}:], {STEPS.get(suite, '')}first {count}"
    }
    record = RunRecord.of(suite, "train", questions, strategy, lm, str(model_dir), preparation=preparation)
    lines = run_benchmark(questions, strategy, lm, run_dir, record)
    paths = [p for line in lines for p in line.prediction.trace.steps.get("paths", [])]
    right = sum(
        p["answer"] is not None
        and Prediction(question_id=line.question.id, answer=p["answer"]).is_correct(line.question)
        for line in lines
        for p in line.prediction.trace.steps.get("paths", [])
    )
    click.echo(f"{len(lines)} questions, {len(paths)} paths, {right / max(1, len(paths)):.3f} of them right")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--rows", "rows_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--verifier-run", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="PNG."
)
@click.option(
    "--leave-out-failed",
    is_flag=True,
    help="Leave questions that failed (e.g. over the verifier's window) out of all three rules, and say so.",
)
def analyse(
    run_dir: Path, rows_path: Path, verifier_run: Path | None, plot_path: Path | None, leave_out_failed: bool
) -> None:
    """Accuracy against n for the three rules, the n=100 paired interval, compute, and the disjointness check."""
    record, lines = load_run(run_dir)
    failed = [line for line in lines if line.error is not None]
    if failed and not leave_out_failed:
        raise click.ClickException(f"{run_dir}: {len(failed)} questions failed; resume the run first")
    if failed:
        click.echo(f"left out of every rule: {len(failed)} failed questions ({failed[0].error})")
        lines = [line for line in lines if line.error is None]
    trained_on = {row["question"] for _, row in iter_jsonl(rows_path)}
    overlap = [line.question.id for line in lines if line.question.text in trained_on]
    click.echo(
        f"{run_dir}: {len(lines)} questions (split {record.split}); questions also in the verifier's rows: "
        f"{len(overlap)}"
    )
    if overlap:
        raise click.ClickException(f"evaluation questions in the verifier's training rows: {overlap[:5]}")
    table = curves(lines)
    click.echo("| n | best-of-n (verifier) | verifier-weighted vote | majority vote |")
    click.echo("|---|---|---|---|")
    n_max = max(len(line.prediction.trace.steps["paths"]) for line in lines)
    for n in [n for n in N_VALUES if n < n_max] + [
        max(N_VALUES)
    ]:  # n at and past the run's paths: all of them
        cells = [str(bootstrap_accuracy(table[n][rule])) for rule in RULES]  # type: ignore[arg-type]
        click.echo(f"| {min(n, n_max)} | {' | '.join(cells)} |")
    if plot_path is not None:
        plot(table, plot_path, f"multistep {record.split}, {len(lines)} questions")
    top = max(N_VALUES)
    for rule in ("best_of_n", "weighted_vote"):
        paired = paired_comparison(table[top][rule], table[top]["majority"])  # type: ignore[arg-type]
        click.echo(
            f"{rule} - majority at n={min(top, n_max)}: {100 * paired.difference.estimate:+.1f} "
            f"[{100 * paired.difference.low:+.1f}, {100 * paired.difference.high:+.1f}] "
            f"({paired.a_only} vs {paired.b_only} discordant, McNemar p={paired.p_value:.3g})"
        )
    n_paths = [len(line.prediction.trace.steps["paths"]) for line in lines]
    path_right = np.mean(
        [
            p["answer"] is not None
            and Prediction(question_id=line.question.id, answer=p["answer"]).is_correct(line.question)
            for line in lines
            for p in line.prediction.trace.steps["paths"]
        ]
    )
    click.echo(
        f"paths per question {np.mean(n_paths):.0f}, {100 * path_right:.1f}% of paths right; per question "
        f"{np.mean([line.lm_calls for line in lines]):.0f} LM calls, {np.mean([line.tokens for line in lines]):.0f} "
        f"tokens (generated + scored); run wall {max(line.finished_s for line in lines) / 60:.1f} min"
    )
    overall, within, both = verifier_aucs(
        [
            (
                line.question,
                [p["answer"] for p in line.prediction.trace.steps["paths"]],
                [p["verifier_score"] for p in line.prediction.trace.steps["paths"]],
            )
            for line in lines
        ]
    )
    click.echo(
        f"verifier AUC, right vs wrong paths: {overall:.3f} over all paths; {within:.3f} within a question "
        f"(mean over the {both} questions with both)"
    )
    if verifier_run is not None:
        metrics = [json.loads(text) for text in (verifier_run / "metrics.jsonl").read_text().splitlines()]
        steps = [m for m in metrics if "tokens" in m]
        click.echo(f"verifier training: {steps[-1]['step']} steps, {steps[-1]['tokens']:,} tokens")


if __name__ == "__main__":
    main()
