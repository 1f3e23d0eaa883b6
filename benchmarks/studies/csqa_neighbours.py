"""Probe: do the CommonsenseQA *train* questions nearest a dev question point at its answer?

Figures: BENCHMARKS.md, "Retrieval and memory"; docs/studies/true_false_signal.md.

Retrieval of training questions (with their answers and explanations) through the `memory` strategy is
fair and did not help the default model (BENCHMARKS.md). This says what such notes carry before any model
reads them: for each dev question, the answers of its k nearest train questions (all-MiniLM-L6-v2 cosine
similarity of the stems) are matched against the dev question's options. CommonsenseQA builds its
distractors from ConceptNet neighbours of the question concept, so a similar train question's answer is
often one of a dev question's distractors.

    python -m reasonkit.benchmarks.studies.csqa_neighbours --data-dir ../shared/data
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from pydantic import BaseModel

from reasonkit.benchmarks.loaders import load_benchmark
from reasonkit.benchmarks.registry import load_questions
from reasonkit.strategies.memory_store import MemoryStore
from reasonkit.types import Question


class NeighbourCounts(BaseModel):
    k: int
    n: int
    gold_among: int  # questions where some neighbour's answer is the gold option
    distractor_among: int  # ... is one of the other options
    vote_right: int  # the option named by most neighbours (ties: first) is gold


def train_answers(data_dir: Path) -> tuple[list[str], list[str]]:
    """Stems and answer texts of the official train split (no dev question in it)."""
    train = load_benchmark("csqa", data_dir, split="train")
    pairs = [(q.text, q.options[q.gold]) for q in train if q.options is not None and isinstance(q.gold, int)]
    return [stem for stem, _ in pairs], [answer for _, answer in pairs]


def neighbour_counts(
    questions: list[Question],
    train_vectors: np.ndarray,
    answers: list[str],
    query_vectors: np.ndarray,
    k: int,
) -> NeighbourCounts:
    nearest = np.argsort(-(query_vectors @ train_vectors.T), axis=1, kind="stable")[:, :k]
    gold_among = distractor_among = vote_right = 0
    for question, row in zip(questions, nearest, strict=True):
        if question.options is None or not isinstance(question.gold, int):
            raise ValueError(f"question {question.id}: needs options and a gold option index")
        named = [answers[i].strip().lower() for i in row]
        counts = [named.count(option.strip().lower()) for option in question.options]
        gold_among += counts[question.gold] > 0
        distractor_among += any(c > 0 for i, c in enumerate(counts) if i != question.gold)
        vote_right += max(counts) > 0 and counts.index(max(counts)) == question.gold
    return NeighbourCounts(
        k=k, n=len(questions), gold_among=gold_among, distractor_among=distractor_among, vote_right=vote_right
    )


@click.command()
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder holding commonsenseqa/train.jsonl and dev.jsonl.",
)
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First dev question.")
@click.option(
    "--stop", type=click.IntRange(min=1), default=500, show_default=True, help="Dev question to stop at."
)
def main(data_dir: Path, start: int, stop: int) -> None:
    questions = load_questions("csqa", data_dir=data_dir)[start:stop]
    stems, answers = train_answers(data_dir)
    store = MemoryStore()
    train_vectors, query_vectors = store.embed(stems), store.embed([q.text for q in questions])
    click.echo(
        f"{len(questions)} dev questions ({start}-{start + len(questions)}), {len(stems)} train questions"
    )
    click.echo(f"{'k':>3s}  {'gold among answers':>18s}  {'a distractor among':>18s}  {'vote right':>10s}")
    for k in (1, 3, 10):
        c = neighbour_counts(questions, train_vectors, answers, query_vectors, k)
        click.echo(
            f"{k:3d}  {100 * c.gold_among / c.n:17.1f}%  {100 * c.distractor_among / c.n:17.1f}%  "
            f"{100 * c.vote_right / c.n:9.1f}%"
        )


if __name__ == "__main__":
    main()
