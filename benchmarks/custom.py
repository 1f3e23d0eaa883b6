"""A user's own benchmark without code: a JSONL file plus a mapping from its fields to a Question's.

The whole file is validated before any model call; a bad line fails with file, line number and field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from reasonkit.benchmarks.loaders import DatasetError, field, read_jsonl
from reasonkit.types import Question

TRUE_WORDS = {"true", "yes", "1", "correct", "t", "y"}
FALSE_WORDS = {"false", "no", "0", "incorrect", "f", "n"}


class FieldMapping(BaseModel):
    """Which JSON field (dotted path) holds each part of a question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = "question"
    options: str | None = None  # a list of strings, or of objects with `option_text`
    answer: str | None = "answer"  # option index, option letter, option text, or true/false
    id: str | None = None  # default: the line number
    option_text: str = "text"
    kind: Literal["auto", "multiple_choice", "binary", "free_form"] = "auto"

    @classmethod
    def parse_pairs(cls, pairs: list[str]) -> FieldMapping:
        """From command-line `key=field` pairs, e.g. `question=stem options=choices answer=label`."""
        values: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key or not value:
                raise ValueError(f"--field {pair!r}: expected KEY=FIELD, e.g. question=stem")
            if key not in cls.model_fields:
                raise ValueError(f"--field {pair!r}: unknown key {key!r}; known: {', '.join(cls.model_fields)}")
            values[key] = value
        return cls(**values)

    @classmethod
    def from_toml(cls, path: Path) -> FieldMapping:
        try:
            data = tomllib.loads(path.read_text())
            return cls(**data.get("fields", data))
        except (tomllib.TOMLDecodeError, ValidationError) as error:
            raise ValueError(f"{path}: invalid field mapping: {error}") from error


def _options(row: dict[str, Any], mapping: FieldMapping, where: str) -> tuple[str, ...] | None:
    if mapping.options is None:
        return None
    raw = field(row, mapping.options, where)
    if not isinstance(raw, list):
        raise DatasetError(f"{where}: field '{mapping.options}' must be a list of options")
    return tuple(str(o[mapping.option_text]) if isinstance(o, dict) else str(o) for o in raw)


def _answer(raw: Any, options: tuple[str, ...] | None, kind: str, where: str, name: str) -> int | bool | str:
    if kind == "free_form":
        return str(raw)
    if options is None:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
        raise DatasetError(f"{where}: field '{name}' = {raw!r} is not true/false")
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(options):
        return raw
    text = str(raw).strip()
    if text in options:
        return options.index(text)
    if len(text) == 1 and text.isascii() and text.isalpha() and ord(text.upper()) - ord("A") < len(options):
        return ord(text.upper()) - ord("A")
    raise DatasetError(f"{where}: field '{name}' = {raw!r} is neither an option index, letter nor option text")


def load_jsonl_benchmark(path: str | Path, mapping: FieldMapping, name: str | None = None) -> list[Question]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file {path} does not exist")
    benchmark = name or path.stem
    questions: list[Question] = []
    seen: set[str] = set()
    for number, row in read_jsonl(path):
        where = f"{path}:{number}"
        options = _options(row, mapping, where)
        kind = mapping.kind if mapping.kind != "auto" else ("multiple_choice" if options else "binary")
        gold = None
        if mapping.answer is not None:
            gold = _answer(field(row, mapping.answer, where), options, kind, where, mapping.answer)
        qid = str(field(row, mapping.id, where)) if mapping.id else str(number)
        if qid in seen:
            raise DatasetError(f"{where}: duplicate id {qid!r}")
        seen.add(qid)
        try:
            questions.append(
                Question(id=qid, text=str(field(row, mapping.question, where)), kind=kind, options=options,
                         gold=gold, metadata={"benchmark": benchmark})
            )
        except ValidationError as error:
            message = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
            raise DatasetError(f"{where}: {message}") from error
    if not questions:
        raise DatasetError(f"{path}: no questions")
    return questions
