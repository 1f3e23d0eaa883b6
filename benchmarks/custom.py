"""A user's own benchmark without code: a JSONL file plus a mapping from its fields to a Question's.

The whole file is validated before any model call; a bad line fails with file, line number and field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from reasonkit.datasets import FieldMapping
from reasonkit.jsonl import JsonlError, iter_jsonl
from reasonkit.types import Question

TRUE_WORDS = {"true", "yes", "1", "correct", "t", "y"}
FALSE_WORDS = {"false", "no", "0", "incorrect", "f", "n"}


class DatasetError(ValueError):
    """A dataset file that cannot be read; the message names the file and line."""


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


def merged_options(
    texts: list[str], gold: int | None, metadata: dict[str, Any]
) -> tuple[list[str], int | None]:
    """Identical option texts are one answer: keep the first copy, point gold at it, count the merge."""
    options = list(dict.fromkeys(texts))
    if len(options) < len(texts):
        metadata["merged_duplicate_options"] = len(texts) - len(options)
    return options, None if gold is None else options.index(texts[gold])


class JsonlBenchmark(BaseModel):
    """The questions of a user's file and what was read into them that the user should hear about."""

    model_config = ConfigDict(frozen=True)

    questions: list[Question]
    answer_base: Literal[0, 1] | None = None  # None: no answer was an option number
    answer_base_detected: bool = False
    merged_rows: int = 0  # rows whose repeated options were merged into one
    skipped_rows: int = 0  # rows left with a single option once merged: nothing to choose between

    def notes(self) -> list[str]:
        """One line per thing read that the mapping did not say outright."""
        notes = []
        if self.answer_base_detected and self.answer_base == 1:
            notes.append(
                "numeric answers read as 1-based (none is 0 and some equal the number of options); "
                "--answer-base 0 or 1 says it outright"
            )
        if self.merged_rows:
            notes.append(
                f"{self.merged_rows} row(s) repeat an option: the copies were merged into one option "
                "(as the bundled loaders do)"
            )
        if self.skipped_rows:
            notes.append(f"{self.skipped_rows} of them had a single option left and were skipped")
        return notes


def _check_fields(row: dict[str, Any], mapping: FieldMapping, where: str) -> None:
    """Every mapped field is there; the missing ones are named all at once, with the row's own fields and
    the --field options that map them (a file with other field names fails here on its first line)."""
    wanted = {
        "question": [mapping.question],
        "answer": [mapping.answer],
        "id": [mapping.id],
        "options": [n.strip() for n in mapping.options.split(",")] if mapping.options else [],
    }
    missing: dict[str, list[str]] = {}
    for key, names in wanted.items():
        for name in names:
            if name is not None and not _has(row, name):
                missing.setdefault(key, []).append(name)
    if missing:
        names = ", ".join(f"'{name}'" for names in missing.values() for name in names)
        fixes = " ".join(
            f"--field {key}={'FIELD1,FIELD2' if key == 'options' else 'FIELD'}" for key in missing
        )
        raise DatasetError(
            f"{where}: missing field {names}; this row has the fields "
            f"{', '.join(row) or 'none'}: map yours with {fixes}"
        )


def _has(row: dict[str, Any], name: str) -> bool:
    try:
        field(row, name, "")
    except DatasetError:
        return False
    return True


def _option_text(option: Any, mapping: FieldMapping, where: str) -> str:
    if not isinstance(option, dict):
        return str(option)
    if mapping.option_text not in option:
        raise DatasetError(
            f"{where}: an option has no field '{mapping.option_text}' (it has {', '.join(option) or 'none'}): "
            f"map the one holding its text with --field option_text=KEY"
        )
    return str(option[mapping.option_text])


def _options(row: dict[str, Any], mapping: FieldMapping, where: str) -> list[str] | None:
    if mapping.options is None:
        return None
    names = [name.strip() for name in mapping.options.split(",")]
    if len(names) > 1:
        return [_option_text(field(row, name, where), mapping, where) for name in names]
    raw = field(row, mapping.options, where)
    if not isinstance(raw, list):
        raise DatasetError(
            f"{where}: field '{mapping.options}' must be a list of options; for one option per field, "
            "name them all: --field options=FIELD1,FIELD2"
        )
    return [_option_text(o, mapping, where) for o in raw]


def _number(raw: Any, options: list[str]) -> int | None:
    """An answer that is an option number (an int, or digits that are not an option's own text)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit() and raw.strip() not in options:
        return int(raw)
    return None


def answer_base_of(numbers: list[tuple[int, int]]) -> Literal[0, 1]:
    """From (answer number, number of options) over the file: 1-based when no answer is 0 and some answer
    equals its row's number of options (out of range counted from 0); else 0-based."""
    if all(n != 0 for n, _ in numbers) and any(n == count for n, count in numbers):
        return 1
    return 0


def _answer(
    raw: Any, options: list[str] | None, kind: str, base: int, where: str, name: str
) -> int | bool | str:
    if kind == "free_form":
        return str(raw)
    if options is None:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
        raise DatasetError(f"{where}: field '{name}' = {raw!r} is not true/false")
    number = _number(raw, options)
    if number is not None:
        if 0 <= number - base < len(options):
            return number - base
        raise DatasetError(
            f"{where}: field '{name}' = {raw!r} is not an option number counted from {base} "
            f"({len(options)} options)"
        )
    text = str(raw).strip()
    if text in options:
        return options.index(text)
    if len(text) == 1 and text.isascii() and text.isalpha() and ord(text.upper()) - ord("A") < len(options):
        return ord(text.upper()) - ord("A")
    raise DatasetError(
        f"{where}: field '{name}' = {raw!r} is neither an option index, letter nor option text"
    )


def load_jsonl_benchmark(path: str | Path, mapping: FieldMapping, name: str | None = None) -> list[Question]:
    return read_jsonl_benchmark(path, mapping, name).questions


def read_jsonl_benchmark(path: str | Path, mapping: FieldMapping, name: str | None = None) -> JsonlBenchmark:
    """Every line read and checked before any question is returned; numeric answers counted from
    `mapping.answer_base`, or from the base the whole file shows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file {path} does not exist")
    benchmark = name or path.stem
    rows = []
    for number, row in read_jsonl(path):
        where = f"{path}:{number}"
        _check_fields(row, mapping, where)
        options = _options(row, mapping, where)
        raw = field(row, mapping.answer, where) if mapping.answer is not None else None
        rows.append((where, number, row, options, raw))
    numbers = [
        (n, len(options))
        for *_, options, raw in rows
        if options is not None and raw is not None and (n := _number(raw, options)) is not None
    ]
    base = mapping.answer_base if mapping.answer_base is not None else answer_base_of(numbers)
    questions: list[Question] = []
    seen: set[str] = set()
    merged_rows = skipped_rows = 0
    for where, number, row, options, raw in rows:
        kind = mapping.kind if mapping.kind != "auto" else ("multiple_choice" if options else "binary")
        gold = None if raw is None else _answer(raw, options, kind, base, where, mapping.answer or "")
        metadata: dict[str, Any] = {"benchmark": benchmark}
        if options is not None and not isinstance(gold, bool | str):
            options, gold = merged_options(
                [o.strip() for o in options], gold if isinstance(gold, int) else None, metadata
            )
            merged_rows += "merged_duplicate_options" in metadata
            if len(options) == 1:
                skipped_rows += 1
                continue
        qid = str(field(row, mapping.id, where)) if mapping.id else str(number)
        if qid in seen:
            raise DatasetError(f"{where}: duplicate id {qid!r}")
        seen.add(qid)
        try:
            questions.append(
                Question(
                    id=qid,
                    text=str(field(row, mapping.question, where)),
                    kind=kind,
                    options=None if options is None else tuple(options),
                    gold=gold,
                    metadata=metadata,
                )
            )
        except ValidationError as error:
            message = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
            raise DatasetError(f"{where}: {message}") from error
    if not questions:
        raise DatasetError(f"{path}: no questions")
    return JsonlBenchmark(
        questions=questions,
        answer_base=base if numbers else None,
        answer_base_detected=mapping.answer_base is None and bool(numbers),
        merged_rows=merged_rows,
        skipped_rows=skipped_rows,
    )
