"""Benchmarks by name: the bundled commonsense sets, the synthetic suites, and loaders users register.

`load_questions("csqa")`, `load_questions("multistep", split="test_long")`, a dataset declared once with
`reasonkit.datasets.register_dataset(DatasetSpec(...))`, or a user's loader registered with
`@register_benchmark("mine")` (for formats that need code; plain JSONL needs none, see custom.py).
`prepare(strategy, questions)` takes the protocol steps a benchmark defines before its first question (the
feedback of the corrections suite), so runners stay free of benchmark-specific code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from reasonkit.benchmarks.loaders import load_benchmark
from reasonkit.datasets import available_datasets
from reasonkit.plugins import Registry, unknown_name
from reasonkit.strategy import Strategy
from reasonkit.types import Question

Loader = Callable[[Path | None, str], list[Question]]
"""(data_dir, split) -> questions."""


class BenchmarkInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    kind: str
    default_split: str
    origin: str  # "dataset" | "synthetic" | "user"


@dataclass(frozen=True)
class _Registered:
    info: BenchmarkInfo
    loader: Loader | None  # None: a synthetic suite, drawn by load_questions


SYNTHETIC_DESCRIPTIONS = {
    "arithmetic": (
        "free_form",
        "multi-digit addition / multiplication by a digit (scratchpad); test_long: longer",
    ),
    "multistep": ("multiple_choice", "2-4 step arithmetic chains, 5 numeric options; test_long: 5-6 steps"),
    "world": ("binary", "true/false statements that follow from two facts of a made-up world"),
    "consistency": (
        "binary",
        "true/false statements that follow from two or three facts (entity, kind, class, exceptions); held_out: "
        "a second test draw",
    ),
    "corrections": (
        "multiple_choice",
        "questions whose answers a stated correction changes; strategies that "
        "take feedback (memory) get it on another phrasing first",
    ),
    "longchains": (
        "multiple_choice",
        "multistep chains with decompositions (least-to-most); test_long: 6-8 steps",
    ),
    "countdown": ("free_form", "make a target from 4 numbers with + - x (tree of thoughts)"),
    "twohop": (
        "free_form",
        "two-hop questions over a made-up world (self-ask); hop1 / hop2: their single hops",
    ),
}


def _load_suites() -> None:
    for name, (kind, description) in SYNTHETIC_DESCRIPTIONS.items():
        info = BenchmarkInfo(
            name=name, description=description, kind=kind, default_split="test", origin="synthetic"
        )
        _registry.add(name, _Registered(info, None))


_registry: Registry[_Registered] = Registry("benchmark", load_builtins=_load_suites)
"""The synthetic suites and the loaders users register; the datasets come from `reasonkit.datasets`."""


def register_benchmark(
    name: str, description: str = "", kind: str = "multiple_choice", default_split: str = "dev"
) -> Callable[[Loader], Loader]:
    """Decorator for a loader `(data_dir, split) -> questions`, for formats a `DatasetSpec` cannot read."""

    def decorate(loader: Loader) -> Loader:
        if name in available_benchmarks():
            raise ValueError(f"benchmark {name!r} is already registered")
        info = BenchmarkInfo(
            name=name,
            description=description or (loader.__doc__ or "").strip(),
            kind=kind,
            default_split=default_split,
            origin="user",
        )
        _registry.add(name, _Registered(info, loader))
        return loader

    return decorate


def available_benchmarks() -> dict[str, BenchmarkInfo]:
    """The datasets, then the synthetic suites, then the loaders users registered."""
    infos = {
        spec.name: BenchmarkInfo(
            name=spec.name,
            description=spec.description,
            kind=spec.kind,
            default_split=spec.evaluation_split,
            origin="dataset",
        )
        for spec in available_datasets().values()
    }
    infos.update({name: registered.info for name, registered in _registry.all().items()})
    return infos


def load_questions(
    name: str,
    data_dir: Path | None = None,
    split: str | None = None,
    suite_seed: int | None = None,
    world_seed: int | None = None,
) -> list[Question]:
    """A benchmark's questions. suite_seed (synthetic suites only): draw the split again from that seed,
    leaving out every question of the trained seed's suite (`fresh_split`). world_seed (a suite whose
    questions depend on their world's facts): the split of that seed's world (`world_split`)."""
    infos = available_benchmarks()
    if name not in infos:
        raise KeyError(unknown_name("benchmark", name, infos))
    info = infos[name]
    split = split or info.default_split
    if (suite_seed is not None or world_seed is not None) and info.origin != "synthetic":
        raise ValueError(
            f"benchmark {name!r} is not a synthetic suite; a suite seed draws synthetic suites only"
        )
    if suite_seed is not None and world_seed is not None:
        raise ValueError(f"benchmark {name!r}: a suite seed or a world seed, not both")
    if info.origin == "dataset":
        # the train split (from --data-dir) measures how well a model fits what it was trained on
        return load_benchmark(name, data_dir, split=split)
    if info.origin == "synthetic":
        from reasonkit.benchmarks.synthetic import fresh_split, suites, world_split
        from reasonkit.benchmarks.synthetic.base import TRAINED_SEED

        if split == "train":
            raise ValueError(f"benchmark {name!r}: the train split is for training, not evaluation")
        if suite_seed is not None and suite_seed != TRAINED_SEED:
            return fresh_split(suites()[name], split, suite_seed)
        if world_seed is not None:
            return world_split(suites()[name], split, world_seed)
        generated = suites()[name].generate(TRAINED_SEED)
        if split not in generated.splits:
            raise ValueError(
                f"benchmark {name!r} has no split {split!r}; it has {', '.join(generated.splits)}"
            )
        return list(generated.splits[split])
    loader = _registry.get(name).loader
    assert loader is not None
    return loader(data_dir, split)


FEEDBACK_ON, CORRECTION = "feedback_on", "correction"
"""Question metadata of the MemPrompt protocol: a phrasing the user gave feedback on, and that feedback."""


def feedback_takers(strategy: Strategy) -> Iterator[Strategy]:
    """The strategy and the strategies inside it (options holding strategies) that take feedback."""
    if callable(getattr(strategy, "feedback", None)):
        yield strategy
    for value in getattr(strategy, "__dict__", {}).values():
        for inner in value if isinstance(value, list | tuple) else (value,):
            if isinstance(inner, Strategy):
                yield from feedback_takers(inner)


def prepare(strategy: Strategy, questions: Sequence[Question]) -> dict[str, Any]:
    """Do what the benchmark's protocol asks before the first question; returns a record of it for run.json
    ({} when nothing was done).

    MemPrompt (Madaan et al. 2022): a question carrying metadata "feedback_on" and "correction" stands for a
    user who corrected the model on another phrasing earlier. Every strategy inside `strategy` with a
    `feedback(question, correction)` method (e.g. `memory`) gets all of it first; others answer without it.
    """
    feedback = [
        (q.metadata[FEEDBACK_ON], q.metadata[CORRECTION])
        for q in questions
        if FEEDBACK_ON in q.metadata and CORRECTION in q.metadata
    ]
    takers = list(feedback_takers(strategy))
    if not feedback or not takers:
        return {}
    for taker in takers:
        for phrasing, correction in feedback:
            taker.feedback(phrasing, correction)  # type: ignore[attr-defined]
    return {
        "feedback": {
            "given": len(feedback),
            "to": [t.name for t in takers],
            "from_metadata": [FEEDBACK_ON, CORRECTION],
        }
    }
