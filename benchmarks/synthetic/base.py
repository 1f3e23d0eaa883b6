"""What every synthetic suite gives: disjoint train and test splits of `Question`s, generated from a seed.

Train questions carry what a training recipe needs to render them (rationales, explanations, notes) in
`metadata`; test questions are never rendered for training. Suites are small enough to learn on a CPU.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from reasonkit.atomic import atomic_write_bytes
from reasonkit.types import Question


class SuiteSplits(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    seed: int
    splits: dict[str, tuple[Question, ...]]  # "train", "test" and optional extra test splits ("test_long")
    documents: tuple[str, ...] = ()  # background text the model must know (facts of a world), training only

    def write(self, directory: Path) -> list[Path]:
        """One JSONL file of Questions per split, plus documents.jsonl; returns the paths written."""
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for split, questions in self.splits.items():
            path = directory / f"{self.name}_{split}.jsonl"
            atomic_write_bytes(path, "".join(q.model_dump_json() + "\n" for q in questions).encode())
            written.append(path)
        if self.documents:
            path = directory / f"{self.name}_documents.jsonl"
            atomic_write_bytes(path, "".join(json.dumps({"text": d}) + "\n" for d in self.documents).encode())
            written.append(path)
        return written


class SyntheticSuite(Protocol):
    name: str
    self_contained: bool
    """Whether a question can be answered without the suite's documents; only such suites can be drawn
    again from another seed (`fresh_split`): a new world's facts were never in training."""

    def generate(
        self, seed: int = 0, n_train: int | None = None, n_test: int | None = None
    ) -> SuiteSplits: ...


def check_disjoint(name: str, train: Sequence[Question], *tests: Sequence[Question]) -> None:
    """A test question whose text is also a training question's is a bug in the generator."""
    train_texts = {q.text for q in train}
    for test in tests:
        overlap = [q.id for q in test if q.text in train_texts]
        if overlap:
            raise AssertionError(
                f"suite {name}: {len(overlap)} test questions also in train, e.g. {overlap[:3]}"
            )


TRAINED_SEED = 0
"""The seed of the splits that training recipes render and `reasonkit bench` evaluates by default."""
TRAINED_N_TRAIN = 20_000
"""The largest train split a shipped recipe draws (`small.toml`: 20,000 arithmetic and multistep problems;
tests/benchmarks/test_synthetic.py checks it). A larger n_train draws a superset: train comes last."""


def world_split(suite: SyntheticSuite, split: str, seed: int) -> list[Question]:
    """`split` of the world `seed` generates, for a suite whose questions depend on their seed's facts (the
    consistency suite), evaluated with a model trained on that world (e.g. lm/recipes/consistency_seed1.toml):
    a held-out draw no earlier run has read, where `fresh_split` would ask about a world the model never saw.
    `metadata["world_seed"]` marks its questions (maieutic picks that world's exemplars by it) and their ids
    end in "-world{seed}"."""
    if suite.self_contained:
        raise ValueError(
            f"suite {suite.name!r}: its questions hold their own facts; a fresh draw of them is --suite-seed"
        )
    generated = suite.generate(seed)
    if split == "train" or split not in generated.splits:
        tests = ", ".join(name for name in generated.splits if name != "train")
        raise ValueError(f"suite {suite.name!r} has no test split {split!r}; it has {tests}")
    return [
        question.model_copy(
            update={"id": f"{question.id}-world{seed}", "metadata": {**question.metadata, "world_seed": seed}}
        )
        for question in generated.splits[split]
    ]


def fresh_split(suite: SyntheticSuite, split: str, seed: int) -> list[Question]:
    """`split` drawn again from `seed`, without any question of the seed-0 suite (its test splits and a train
    split as large as any shipped recipe's): a held-out set no earlier run or training text has seen.

    Short questions are likelier to be in the seed-0 train split, so the fresh set leans to longer ones;
    `metadata["suite_seed"]` marks its questions and their ids end in "-seed{seed}"."""
    if not suite.self_contained:
        raise ValueError(
            f"suite {suite.name!r}: its questions depend on the facts of the seed it was generated from, and "
            f"the model was trained on seed {TRAINED_SEED}'s; another seed asks about a world it never saw"
        )
    if seed == TRAINED_SEED:
        raise ValueError(f"suite {suite.name!r}: seed {TRAINED_SEED} is the trained one, not a fresh draw")
    generated = suite.generate(seed)
    if split == "train" or split not in generated.splits:
        tests = ", ".join(name for name in generated.splits if name != "train")
        raise ValueError(f"suite {suite.name!r} has no test split {split!r}; it has {tests}")
    trained = suite.generate(TRAINED_SEED, n_train=TRAINED_N_TRAIN)
    seen = {question.text for questions in trained.splits.values() for question in questions}
    return [
        question.model_copy(
            update={
                "id": f"{question.id}-seed{seed}",
                "metadata": {**question.metadata, "suite_seed": seed},
            }
        )
        for question in generated.splits[split]
        if question.text not in seen
    ]
