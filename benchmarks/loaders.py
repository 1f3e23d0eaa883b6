"""Loaders that turn the commonsense QA datasets into `Question`s.

Each loader reads the dataset's own file format. The evaluation splits of the permissively licensed sets
ship gzip-compressed in `benchmarks/data/` (see SOURCES.md there), so a fresh clone runs without the shared
data folder; Com2Sense states no licence and loads only from a folder the user gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from reasonkit.jsonl import JsonlError, iter_jsonl
from reasonkit.types import Question

RowParser = Callable[[dict[str, Any], str, int], Question]


class DatasetError(ValueError):
    """A dataset file that cannot be read; the message names the file and line."""


class BenchmarkSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    kind: str  # multiple_choice | binary
    split: str
    shared_path: str  # relative to the shared data folder
    bundled_file: str | None  # file in benchmarks/data, None when the licence does not allow shipping it
    license: str
    train_path: str  # the train split in the shared data folder (never shipped): for memorisation checks
    pairs_file: str | None = None
    """Beside the split's file: a JSON map from each id to its complementary statement's id ("{split}" is the
    file's stem). Com2Sense's official pairwise accuracy counts a pair only when both statements are right."""


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for every non-blank line; .gz transparently; bad JSON names file and line."""
    try:
        yield from iter_jsonl(path)
    except JsonlError as error:
        raise DatasetError(str(error)) from None


def field(row: dict[str, Any], name: str, where: str) -> Any:
    """A required field, by dotted path; a missing one names the file, line and field."""
    value: Any = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise DatasetError(f"{where}: missing field '{name}'")
        value = value[part]
    return value


def _merged(texts: list[str], gold: int | None, metadata: dict[str, Any]) -> tuple[list[str], int | None]:
    """Identical option texts are one answer: keep the first copy, point gold at it, count the merge."""
    options = list(dict.fromkeys(texts))
    if len(options) < len(texts):
        metadata["merged_duplicate_options"] = len(texts) - len(options)
    return options, None if gold is None else options.index(texts[gold])


def _csqa(row: dict[str, Any], split: str, benchmark: str, where: str) -> Question:
    """24 dev rows repeat an option verbatim; identical texts are one answer, so keep the first copy."""
    choices = field(row, "question.choices", where)
    texts = [choice["text"] for choice in choices]
    labels = [choice["label"] for choice in choices]
    answer_key = row.get("answerKey")
    if answer_key is not None and answer_key not in labels:
        raise DatasetError(f"{where}: answerKey {answer_key!r} is not one of the labels {labels}")
    metadata: dict[str, Any] = {"benchmark": benchmark, "concept": row["question"].get("question_concept")}
    options, gold = _merged(texts, labels.index(answer_key) if answer_key is not None else None, metadata)
    return Question(
        id=str(field(row, "id", where)),
        text=field(row, "question.stem", where),
        options=tuple(options),
        gold=gold,
        split=split,
        metadata=metadata,
    )


def _strategyqa(row: dict[str, Any], split: str, benchmark: str, where: str) -> Question:
    return Question(
        id=str(field(row, "qid", where)),
        text=field(row, "question", where),
        gold=bool(field(row, "answer", where)),
        split=split,
        metadata={"benchmark": benchmark, "style": "question"},
    )


def _creak(row: dict[str, Any], split: str, benchmark: str, where: str) -> Question:
    label = row.get("label")
    return Question(
        id=str(field(row, "ex_id", where)),
        text=field(row, "sentence", where),
        gold=None if label is None else label == "true",
        split=split,
        metadata={"benchmark": benchmark, "style": "statement", "entity": row.get("entity")},
    )


def _csqa2(row: dict[str, Any], split: str, benchmark: str, where: str) -> Question:
    answer = row.get("answer")
    return Question(
        id=str(field(row, "id", where)),
        text=field(row, "question", where),
        gold=None if answer is None else answer == "yes",
        split=split,
        metadata={"benchmark": benchmark, "style": "question"},
    )


def _com2sense(row: dict[str, Any], split: str, benchmark: str, where: str) -> Question:
    label = row.get("label")
    return Question(
        id=str(field(row, "id", where)),
        text=field(row, "sent", where),
        gold=None if label is None else label == "True",
        split=split,
        metadata={
            "benchmark": benchmark,
            "style": "statement",
            "domain": row.get("domain"),
            "scenario": row.get("scenario"),
        },
    )


def _indexed_choices(row: dict[str, Any], split: str, benchmark: str, where: str) -> Question:
    """ARC and OpenBookQA in the LLM-Adapters copy: question, choices list, 0-based label. `idx` counts from 0
    in each file, so a train question's id names its split (evaluation ids stay as runs recorded them)."""
    metadata: dict[str, Any] = {"benchmark": benchmark}
    options, gold = _merged(list(field(row, "choices", where)), int(field(row, "label", where)), metadata)
    prefix = f"{benchmark}-train" if split == "train" else benchmark
    return Question(
        id=f"{prefix}-{field(row, 'idx', where)}",
        text=field(row, "question", where),
        options=tuple(options),
        gold=gold,
        split=split,
        metadata=metadata,
    )


PARSERS: dict[str, Callable[[dict[str, Any], str, str, str], Question]] = {
    "csqa": _csqa,
    "strategyqa": _strategyqa,
    "creak": _creak,
    "csqa2": _csqa2,
    "com2sense": _com2sense,
    "arc_easy": _indexed_choices,
    "arc_challenge": _indexed_choices,
    "openbookqa": _indexed_choices,
}

BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in (
        BenchmarkSpec(
            name="csqa",
            description="CommonsenseQA v1.11, 5-way multiple choice",
            kind="multiple_choice",
            split="dev",
            shared_path="commonsenseqa/dev.jsonl",
            bundled_file="csqa_dev.jsonl.gz",
            license="MIT",
            train_path="commonsenseqa/train.jsonl",
        ),
        BenchmarkSpec(
            name="strategyqa",
            description="StrategyQA yes/no questions needing implicit steps",
            kind="binary",
            split="dev",
            shared_path="strategyqa/dev.jsonl",
            bundled_file="strategyqa_dev.jsonl.gz",
            license="MIT",
            train_path="strategyqa/train.jsonl",
        ),
        BenchmarkSpec(
            name="creak",
            description="CREAK true/false claims about entities",
            kind="binary",
            split="dev",
            shared_path="creak/dev.jsonl",
            bundled_file="creak_dev.jsonl.gz",
            license="MIT",
            train_path="creak/train.jsonl",
        ),
        BenchmarkSpec(
            name="csqa2",
            description="CommonsenseQA 2.0 yes/no questions",
            kind="binary",
            split="dev",
            shared_path="csqa2/dev.jsonl",
            bundled_file="csqa2_dev.jsonl.gz",
            license="CC BY 4.0",
            train_path="csqa2/train.jsonl",
        ),
        BenchmarkSpec(
            name="com2sense",
            description="Com2Sense true/false statements (complementary pairs)",
            kind="binary",
            split="dev",
            shared_path="com2sense/dev.jsonl",
            bundled_file=None,
            license="none stated",
            train_path="com2sense/train.jsonl",
            pairs_file="pair_id_{split}.json",
        ),
        BenchmarkSpec(
            name="arc_easy",
            description="AI2 ARC-Easy science questions",
            kind="multiple_choice",
            split="test",
            shared_path="arc/easy_test.jsonl",
            bundled_file="arc_easy_test.jsonl.gz",
            license="CC BY-SA 4.0",
            train_path="arc/easy_train.jsonl",
        ),
        BenchmarkSpec(
            name="arc_challenge",
            description="AI2 ARC-Challenge science questions",
            kind="multiple_choice",
            split="test",
            shared_path="arc/challenge_test.jsonl",
            bundled_file="arc_challenge_test.jsonl.gz",
            license="CC BY-SA 4.0",
            train_path="arc/challenge_train.jsonl",
        ),
        BenchmarkSpec(
            name="openbookqa",
            description="OpenBookQA (main), 4-way multiple choice",
            kind="multiple_choice",
            split="test",
            shared_path="openbookqa/test.jsonl",
            bundled_file="openbookqa_test.jsonl.gz",
            license="Apache-2.0",
            train_path="openbookqa/train.jsonl",
        ),
    )
}


def resolve_path(spec: BenchmarkSpec, data_dir: str | Path | None) -> Path:
    """The shared data folder when given, else the bundled copy."""
    if data_dir is not None:
        path = Path(data_dir) / spec.shared_path
        if not path.is_file():
            raise FileNotFoundError(f"benchmark {spec.name!r}: {path} does not exist (check --data-dir)")
        return path
    if spec.bundled_file is None:
        raise FileNotFoundError(
            f"benchmark {spec.name!r} is not shipped with reasonkit (its licence: {spec.license}, so it cannot "
            f"be redistributed); pass the folder that holds {spec.shared_path} with --data-dir"
        )
    return Path(str(resources.files("reasonkit.benchmarks") / "data" / spec.bundled_file))


def train_split_path(spec: BenchmarkSpec, data_dir: str | Path | None) -> Path:
    """The train split, which only the shared data folder holds."""
    if data_dir is None:
        raise FileNotFoundError(
            f"benchmark {spec.name!r}: the train split is not shipped; pass the folder that holds "
            f"{spec.train_path} with --data-dir"
        )
    path = Path(data_dir) / spec.train_path
    if not path.is_file():
        raise FileNotFoundError(f"benchmark {spec.name!r}: {path} does not exist (check --data-dir)")
    return path


def load_benchmark(
    name: str, data_dir: str | Path | None = None, path: str | Path | None = None, split: str | None = None
) -> list[Question]:
    """All questions of a benchmark's evaluation split (or, with split="train", of its train split), in file
    order; `path` overrides the file itself."""
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    spec = BENCHMARKS[name]
    split = split or spec.split
    if split not in (spec.split, "train"):
        raise ValueError(f"benchmark {name!r} has its {spec.split!r} and 'train' splits here, not {split!r}")
    if path is not None:
        source = Path(path)
    else:
        source = train_split_path(spec, data_dir) if split == "train" else resolve_path(spec, data_dir)
    parse = PARSERS[name]
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, row in read_jsonl(source):
        where = f"{source}:{number}"
        try:
            question = parse(row, split, name, where)
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, DatasetError):
                raise
            raise DatasetError(f"{where}: {error}") from error
        if question.id in seen:
            raise DatasetError(f"{where}: duplicate id {question.id!r} (first on line {seen[question.id]})")
        seen[question.id] = number
        questions.append(question)
    if spec.pairs_file is not None:
        questions = with_pair_ids(questions, source.parent / spec.pairs_file.format(split=source.name.split(".")[0]))
    return questions


def with_pair_ids(questions: list[Question], pairs_path: Path) -> list[Question]:
    """Each question whose complementary partner is also in the file gets metadata "pair_id"; without the
    pairs file the questions load unpaired (the report then has no pairwise accuracy for them)."""
    if not pairs_path.is_file():
        return questions
    try:
        partner_of = json.loads(pairs_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{pairs_path}: not a readable JSON object ({error})") from None
    if not isinstance(partner_of, dict) or not all(isinstance(v, str) for v in partner_of.values()):
        raise DatasetError(f"{pairs_path}: expected a JSON object mapping each id to its partner's id")
    loaded = {q.id for q in questions}
    for key, partner in partner_of.items():
        if key in loaded and partner in loaded and partner_of.get(partner) != key:
            raise DatasetError(
                f"{pairs_path}: id {key!r} is paired with {partner!r}, but {partner!r} is paired with "
                f"{partner_of.get(partner)!r}"
            )
    return [
        q.model_copy(update={"metadata": {**q.metadata, "pair_id": partner_of[q.id]}})
        if partner_of.get(q.id) in loaded else q
        for q in questions
    ]
