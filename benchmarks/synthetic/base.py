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

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits: ...


def check_disjoint(name: str, train: Sequence[Question], *tests: Sequence[Question]) -> None:
    """A test question whose text is also a training question's is a bug in the generator."""
    train_texts = {q.text for q in train}
    for test in tests:
        overlap = [q.id for q in test if q.text in train_texts]
        if overlap:
            raise AssertionError(f"suite {name}: {len(overlap)} test questions also in train, e.g. {overlap[:3]}")
