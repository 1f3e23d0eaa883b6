"""Few-shot exemplars with rationales, shipped with the package (built from TRAINING splits only).

The files in strategies/exemplars/ are written by benchmarks/build_exemplars.py from the staged datasets;
SOURCES.md there gives each file's origin and licence. A question picks its exemplar set by
`question.metadata["benchmark"]`; other benchmarks fall back by question kind (multiple choice ->
CommonsenseQA, binary -> a pool of StrategyQA and CREAK; free-form questions need exemplars passed in).
Worked decompositions (subquestions with their answers, for least-to-most and self-ask) are a set of their own
per benchmark (`DECOMPOSITION_SETS`: StrategyQA's train decompositions).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, ValidationError

from reasonkit.strategies import prompts
from reasonkit.types import Answer, Question, QuestionKind

EXEMPLAR_SETS: dict[str, QuestionKind] = {
    "commonsenseqa": "multiple_choice",
    "multistep": "multiple_choice",
    "strategyqa": "binary",
    "creak": "binary",
}
"""The shipped sets and the kind of question each serves."""
FALLBACK: dict[QuestionKind, tuple[str, ...]] = {
    "multiple_choice": ("commonsenseqa",),
    "binary": ("strategyqa", "creak"),
    "free_form": (),
    "fill_blank": ("commonsenseqa",),  # chain of thought asks it as multiple choice over the fillers
}
ALIASES = {
    "commonsenseqa": "commonsenseqa",
    "csqa": "commonsenseqa",
    "ecqa": "commonsenseqa",
    "strategyqa": "strategyqa",
    "creak": "creak",
    "com2sense": "creak",
    "multistep": "multistep",
}
"""Benchmark name (lower case, letters and digits only) -> exemplar set; others fall back by question kind."""


class Exemplar(BaseModel):
    """A worked training example: `answer` is an option index, or True / False for a binary statement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    source: str
    question: str
    options: tuple[str, ...] | None = None
    answer: Answer
    rationale: str

    def text(self) -> str:
        return prompts.cot_example(self.question, self.options, self.rationale, self.answer)

    @classmethod
    def from_question(cls, question: Question, source: str = "") -> Exemplar:
        """A TRAIN-split question whose metadata carries a "rationale" (as the synthetic suites' train splits do)."""
        if question.split != "train":
            raise ValueError(
                f"question {question.id!r} is from split {question.split!r}; exemplars come from train"
            )
        if question.gold is None or not question.metadata.get("rationale"):
            raise ValueError(f"question {question.id!r} has no gold answer or no metadata 'rationale'")
        return cls(
            id=question.id,
            source=source or str(question.metadata.get("benchmark", "")),
            question=question.text,
            options=question.options,
            answer=question.gold,
            rationale=question.metadata["rationale"],
        )


def normalize_text(text: str) -> str:
    """Lower case, letters and digits only: the key used to check exemplars against evaluation questions."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@cache
def load_exemplars(name: str) -> tuple[Exemplar, ...]:
    """The shipped exemplar set `name` (one of EXEMPLAR_SETS)."""
    if name not in EXEMPLAR_SETS:
        raise ValueError(f"unknown exemplar set {name!r}; choose one of {list(EXEMPLAR_SETS)}")
    resource = resources.files("reasonkit.strategies").joinpath("exemplars", f"{name}.jsonl")
    exemplars = []
    for line_no, line in enumerate(resource.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            exemplars.append(Exemplar.model_validate_json(line))
        except ValidationError as error:
            raise ValueError(f"{resource}, line {line_no}: not an exemplar: {error}") from error
    return tuple(exemplars)


def exemplar_sets_for(question: Question, override: str | None = None) -> tuple[str, ...]:
    """Which shipped sets serve this question: the override, its benchmark's set, or the kind's fallback."""
    if override is not None:
        if override not in EXEMPLAR_SETS:
            raise ValueError(f"unknown exemplar set {override!r}; choose one of {list(EXEMPLAR_SETS)}")
        return (override,)
    benchmark = re.sub(r"[^a-z0-9]", "", str(question.metadata.get("benchmark", "")).lower())
    name = ALIASES.get(benchmark)
    if name is not None and EXEMPLAR_SETS[name] == question.kind:
        return (name,)
    return FALLBACK[question.kind]


def select_exemplars(
    question: Question, shots: int, seed: int = 0, override: str | None = None, pool: Sequence[Exemplar] = ()
) -> list[Exemplar]:
    """`shots` exemplars for `question` from `pool`, or else from the shipped sets that serve it; the same for
    every question of a benchmark (so their prompts share a prefix the engine can cache), chosen by `seed`.
    An exemplar that is the question itself is left out."""
    if shots == 0:
        return []
    candidates = list(pool) or [
        e for name in exemplar_sets_for(question, override) for e in load_exemplars(name)
    ]
    key = normalize_text(question.text)
    candidates = [e for e in candidates if normalize_text(e.question) != key]
    if shots > len(candidates):
        raise ValueError(
            f"shots={shots} but only {len(candidates)} exemplars serve question {question.id!r} "
            f"(kind {question.kind}); pass exemplars= or lower shots"
        )
    return random.Random(seed).sample(candidates, shots)


def dump_exemplars(exemplars: list[Exemplar]) -> str:
    return "".join(json.dumps(e.model_dump(), ensure_ascii=False) + "\n" for e in exemplars)


DECOMPOSITION_SETS = {"strategyqa": "strategyqa_decomposition"}
"""Benchmark -> its shipped set of worked decompositions (least-to-most, self-ask)."""


class DecompositionExemplar(BaseModel):
    """A TRAIN question worked as subquestions, each with its answer; the last answer is the question's
    yes / no (`answer`), the earlier ones are the dataset's facts, one per subquestion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    source: str
    question: str
    answer: bool
    subquestions: tuple[str, ...]
    subanswers: tuple[str, ...]


@cache
def load_decompositions(name: str) -> tuple[DecompositionExemplar, ...]:
    """The shipped decomposition set `name` (a value of DECOMPOSITION_SETS)."""
    resource = resources.files("reasonkit.strategies").joinpath("exemplars", f"{name}.jsonl")
    rows = []
    for line_no, line in enumerate(resource.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            rows.append(DecompositionExemplar.model_validate_json(line))
        except ValidationError as error:
            raise ValueError(f"{resource}, line {line_no}: not a decomposition exemplar: {error}") from error
    return tuple(rows)


def select_decompositions(question: Question, shots: int, seed: int = 0) -> list[DecompositionExemplar]:
    """`shots` worked decompositions for a question of a benchmark that ships a set (StrategyQA), the same
    for every question (a shared prompt prefix); none for other benchmarks. The question itself is left out."""
    benchmark = re.sub(r"[^a-z0-9]", "", str(question.metadata.get("benchmark", "")).lower())
    name = DECOMPOSITION_SETS.get(benchmark)
    if shots == 0 or name is None:
        return []
    key = normalize_text(question.text)
    candidates = [e for e in load_decompositions(name) if normalize_text(e.question) != key]
    return random.Random(seed).sample(candidates, min(shots, len(candidates)))


def given_decomposition(question: Question) -> list[str]:
    """The decomposition a question comes with, for the oracle mode of least_to_most and self_ask ([] when
    none): metadata "subquestions" (the synthetic suites) or "decomposition" (StrategyQA, every split). It is
    an input like the question, not a label: it names the steps to take and states no answer (StrategyQA's
    last step asks the comparison that gives it); the facts that do are never read here."""
    steps = question.metadata.get("subquestions") or question.metadata.get("decomposition") or []
    return [str(step) for step in steps]


def given_follow_ups(question: Question) -> list[str]:
    """Self-ask's follow-ups from the metadata: a suite's own "follow_ups" (twohop), else the decomposition
    without its last step, the yes / no judgement that self-ask states as its final answer."""
    follow_ups = question.metadata.get("follow_ups")
    if follow_ups is not None:
        return [str(step) for step in follow_ups]
    return given_decomposition(question)[:-1]
