"""ECQA's train rationales as rows for a knowledge store, without the questions they must not reach.

Question: Which ECQA rationales may go into a knowledge store for CommonsenseQA without leaking dev or
weight-fitting questions? Figures: BENCHMARKS.md, "Accuracy on the real sets", "Retrieval and memory";
docs/studies/retrieval_scoring.md.

Explanations of training questions are fair knowledge for CommonsenseQA (issue 6), but two kinds of row
have to go before `reasonkit memory` embeds them. ECQA covers 794 CommonsenseQA dev questions; the store's
own leak check matches dev questions against the embedded text, and a rationale embedded alone rarely
restates its question, so those rows are dropped here by their question. And the rows of the first N train
questions, the ones an ensemble weight is fitted on: a question that finds its own explanation in the store
would read the weight's value too kindly.

    python -m reasonkit.benchmarks.studies.ecqa_rationales --data-dir ../shared/data --hold-out-train 1000 \
        --out runs/ir/ecqa_rationales.jsonl
    reasonkit memory --store STORE --jsonl runs/ir/ecqa_rationales.jsonl --key rationale \
        --value "{question} {rationale}" --leak-check small --data-dir ../shared/data
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from reasonkit.atomic import atomic_write_text
from reasonkit.benchmarks.loaders import load_benchmark
from reasonkit.jsonl import iter_jsonl
from reasonkit.lm.data import normalise

ECQA_TRAIN = Path("flan_cot") / "ecqa_train.jsonl"


def stem_of(flan_question: str) -> str:
    """The question of a FLAN-format row, without its "Options:" list."""
    return flan_question.split("\nOptions:")[0]


def rationale_rows(data_dir: Path, hold_out_train: int) -> tuple[list[dict[str, Any]], int, int]:
    """The kept rows, and how many were dropped as dev questions and as held-out train questions."""
    dev = {normalise(question.text) for question in load_benchmark("csqa", data_dir)}
    held_out = {
        normalise(question.text)
        for question in load_benchmark("csqa", data_dir, split="train")[:hold_out_train]
    }
    kept: list[dict[str, Any]] = []
    dropped_dev = dropped_held_out = 0
    for _, row in iter_jsonl(data_dir / ECQA_TRAIN):
        stem = normalise(stem_of(row["question"]))
        if stem in dev:
            dropped_dev += 1
        elif stem in held_out:
            dropped_held_out += 1
        else:
            kept.append(row)
    return kept, dropped_dev, dropped_held_out


@click.command()
@click.option("--data-dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--hold-out-train",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Drop the rows of the first N CommonsenseQA train questions (those a weight is fitted on).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSONL to write.")
def main(data_dir: Path, hold_out_train: int, out: Path) -> None:
    kept, dropped_dev, dropped_held_out = rationale_rows(data_dir, hold_out_train)
    atomic_write_text(out, "".join(json.dumps(row) + "\n" for row in kept))
    click.echo(
        f"{len(kept)} rows -> {out}; dropped {dropped_dev} of CommonsenseQA dev questions and "
        f"{dropped_held_out} of the first {hold_out_train} train questions"
    )


if __name__ == "__main__":
    main()
