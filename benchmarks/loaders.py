"""Loaders that turn the commonsense QA datasets into `Question`s, reading their specs (`reasonkit.datasets`).

Each built-in dataset's rows are read by a parser here (its spec names it); a spec without one is read with
its field mapping, as `reasonkit bench --jsonl` reads a user's file. The evaluation splits of the
permissively licensed sets ship gzip-compressed in `benchmarks/data/` (see SOURCES.md there), so a fresh
clone runs without the shared data folder; Com2Sense states no licence and loads only from a folder the
user gives.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from reasonkit.benchmarks.custom import DatasetError, field, merged_options, read_jsonl, read_jsonl_benchmark
from reasonkit.datasets import TRAIN, DatasetSpec, available_datasets
from reasonkit.plugins import unknown_name
from reasonkit.types import Question

RowParser = Callable[[dict[str, Any], str, DatasetSpec, str], Question]
"""(row, split, spec, "file:line") -> Question; the field names come from `spec.fields`."""


def _names(spec: DatasetSpec, *keys: str) -> list[str]:
    """The spec's field names for `keys` (question, options, answer, id); a parser needs every one given."""
    names = [getattr(spec.fields, key) for key in keys]
    missing = [key for key, name in zip(keys, names, strict=True) if name is None]
    if missing:
        raise DatasetError(f"dataset {spec.name!r}: its parser needs fields.{', fields.'.join(missing)}")
    return names


def _optional(row: dict[str, Any], name: str) -> Any:
    """A field an unlabelled split leaves out (its answer): None when absent."""
    try:
        return field(row, name, "")
    except DatasetError:
        return None


def csqa_row(row: dict[str, Any], split: str, spec: DatasetSpec, where: str) -> Question:
    """24 dev rows repeat an option verbatim; identical texts are one answer, so keep the first copy."""
    question, options_field, answer, qid = _names(spec, "question", "options", "answer", "id")
    choices = field(row, options_field, where)
    texts = [choice[spec.fields.option_text] for choice in choices]
    labels = [choice["label"] for choice in choices]
    answer_key = _optional(row, answer)
    if answer_key is not None and answer_key not in labels:
        raise DatasetError(f"{where}: {answer} {answer_key!r} is not one of the labels {labels}")
    metadata: dict[str, Any] = {"benchmark": spec.name, "concept": row["question"].get("question_concept")}
    options, gold = merged_options(
        texts, labels.index(answer_key) if answer_key is not None else None, metadata
    )
    return Question(
        id=str(field(row, qid, where)),
        text=field(row, question, where),
        options=tuple(options),
        gold=gold,
        split=split,
        metadata=metadata,
    )


STRATEGYQA_STEPS = ("decomposition", "facts")
"""StrategyQA's annotations kept in the metadata where a row has them. The decomposition (the steps to take,
each a question) is an input like the question itself, in every split: `least_to_most` / `self_ask` solve it
in their oracle mode. The facts state the grounds of the answer; no strategy reads them (analysis only)."""


def strategyqa_row(row: dict[str, Any], split: str, spec: DatasetSpec, where: str) -> Question:
    question, answer, qid = _names(spec, "question", "answer", "id")
    metadata: dict[str, Any] = {"benchmark": spec.name, "style": "question"}
    for name in STRATEGYQA_STEPS:
        value = row.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(step, str) for step in value):
            raise DatasetError(f"{where}: field {name!r} must be a list of strings, got {value!r}")
        metadata[name] = value
    return Question(
        id=str(field(row, qid, where)),
        text=field(row, question, where),
        gold=bool(field(row, answer, where)),
        split=split,
        metadata=metadata,
    )


def creak_row(row: dict[str, Any], split: str, spec: DatasetSpec, where: str) -> Question:
    question, answer, qid = _names(spec, "question", "answer", "id")
    label = _optional(row, answer)
    return Question(
        id=str(field(row, qid, where)),
        text=field(row, question, where),
        gold=None if label is None else label == "true",
        split=split,
        metadata={"benchmark": spec.name, "style": "statement", "entity": row.get("entity")},
    )


def csqa2_row(row: dict[str, Any], split: str, spec: DatasetSpec, where: str) -> Question:
    question, answer_field, qid = _names(spec, "question", "answer", "id")
    answer = _optional(row, answer_field)
    return Question(
        id=str(field(row, qid, where)),
        text=field(row, question, where),
        gold=None if answer is None else answer == "yes",
        split=split,
        metadata={"benchmark": spec.name, "style": "question"},
    )


def com2sense_row(row: dict[str, Any], split: str, spec: DatasetSpec, where: str) -> Question:
    question, answer, qid = _names(spec, "question", "answer", "id")
    label = _optional(row, answer)
    return Question(
        id=str(field(row, qid, where)),
        text=field(row, question, where),
        gold=None if label is None else label == "True",
        split=split,
        metadata={
            "benchmark": spec.name,
            "style": "statement",
            "domain": row.get("domain"),
            "scenario": row.get("scenario"),
        },
    )


def indexed_choices_row(row: dict[str, Any], split: str, spec: DatasetSpec, where: str) -> Question:
    """ARC and OpenBookQA in the LLM-Adapters copy: question, choices list, 0-based label. `idx` counts from 0
    in each file, so a train question's id names its split (evaluation ids stay as runs recorded them)."""
    question, options_field, answer, qid = _names(spec, "question", "options", "answer", "id")
    metadata: dict[str, Any] = {"benchmark": spec.name}
    options, gold = merged_options(
        list(field(row, options_field, where)), int(field(row, answer, where)), metadata
    )
    prefix = f"{spec.name}-train" if split == "train" else spec.name
    return Question(
        id=f"{prefix}-{field(row, qid, where)}",
        text=field(row, question, where),
        options=tuple(options),
        gold=gold,
        split=split,
        metadata=metadata,
    )


def split_path(spec: DatasetSpec, split: str, data_dir: str | Path | None) -> Path:
    """A split's file: under the data folder when one is given, else its bundled copy."""
    file = spec.files[split]
    if data_dir is not None:
        path = Path(data_dir) / file.path
        if not path.is_file():
            raise FileNotFoundError(f"benchmark {spec.name!r}: {path} does not exist (check --data-dir)")
        return path
    if file.bundled is not None:
        return Path(str(resources.files("reasonkit.benchmarks") / "data" / file.bundled))
    if split == TRAIN:
        raise FileNotFoundError(
            f"benchmark {spec.name!r}: the train split is not shipped; pass the folder that holds "
            f"{file.path} with --data-dir"
        )
    raise FileNotFoundError(
        f"benchmark {spec.name!r} is not shipped with reasonkit (its licence: {spec.license}, so it cannot "
        f"be redistributed); pass the folder that holds {file.path} with --data-dir"
    )


def row_parser(spec: DatasetSpec) -> RowParser:
    """The function its spec names ('package.module:function')."""
    assert spec.parser is not None
    module, _, attr = spec.parser.partition(":")
    try:
        parser = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as error:
        raise DatasetError(
            f"dataset {spec.name!r}: parser {spec.parser!r} cannot be imported ({error})"
        ) from None
    return parser  # type: ignore[no-any-return]


def load_benchmark(
    name: str, data_dir: str | Path | None = None, path: str | Path | None = None, split: str | None = None
) -> list[Question]:
    """All questions of a dataset's evaluation split (or, with split="train", of its train split), in file
    order; `path` overrides the file itself."""
    known = available_datasets()
    if name not in known:
        raise KeyError(unknown_name("benchmark", name, known))
    spec = known[name]
    split = split or spec.evaluation_split
    if split not in spec.loadable_splits:
        here = " and ".join(repr(s) for s in spec.loadable_splits)
        raise ValueError(
            f"benchmark {name!r} has its {here} split{'s' * (len(spec.loadable_splits) > 1)} here, "
            f"not {split!r}"
        )
    source = Path(path) if path is not None else split_path(spec, split, data_dir)
    if spec.parser is None:  # the spec's kind where its field mapping leaves it to the file
        fields = (
            spec.fields if spec.fields.kind != "auto" else spec.fields.model_copy(update={"kind": spec.kind})
        )
        questions = [
            q.model_copy(update={"split": split})
            for q in read_jsonl_benchmark(source, fields, name).questions
        ]
    else:
        questions = _parsed(row_parser(spec), source, split, spec)
    if spec.pairs_file is not None:
        questions = with_pair_ids(
            questions, source.parent / spec.pairs_file.format(split=source.name.split(".")[0])
        )
    return questions


def _parsed(parse: RowParser, source: Path, split: str, spec: DatasetSpec) -> list[Question]:
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, row in read_jsonl(source):
        where = f"{source}:{number}"
        try:
            question = parse(row, split, spec, where)
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, DatasetError):
                raise
            raise DatasetError(f"{where}: {error}") from error
        if question.id in seen:
            raise DatasetError(f"{where}: duplicate id {question.id!r} (first on line {seen[question.id]})")
        seen[question.id] = number
        questions.append(question)
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
        if partner_of.get(q.id) in loaded
        else q
        for q in questions
    ]
