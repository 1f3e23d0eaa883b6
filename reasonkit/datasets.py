"""One spec per dataset (files by split, fields, licence): the single place the benchmark loaders, the training
recipes' leak checks and the exemplar builder read.

A dataset is added by declaring its `DatasetSpec` once: here for the project's own, or with
`register_dataset(DatasetSpec(...))` (or an entry point of the group "reasonkit.datasets" naming the spec) in
yours. `reasonkit bench -b NAME` then loads it, a recipe with `leak_check_datasets = "all"` refuses training
rows that hold one of its dev/test questions, and the exemplar builder keeps those questions out of the
few-shot prompts. Files live under the data folder (`--data-dir`); a bundled copy ships in
`reasonkit/benchmarks/data/` only where the licence allows it.

This module is data only (pydantic and the plugin registry): `reasonkit.lm` reads it without importing the
benchmarks.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reasonkit.plugins import Origin, Registry

ENTRY_POINT_GROUP = "reasonkit.datasets"
TRAIN = "train"
QuestionKind = Literal["multiple_choice", "binary", "free_form", "fill_blank"]


class DatasetSpecError(KeyError):
    """An unknown dataset name, or a spec that clashes with one registered; the message says which."""

    def __str__(self) -> str:  # a KeyError quotes its message; this one reads as a sentence
        return str(self.args[0]) if self.args else ""


class FieldMapping(BaseModel):
    """Which JSON field (dotted path) holds each part of a question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = "question"
    options: str | None = None
    """A field holding a list of strings (or of objects with `option_text`), or several fields each holding
    one option, comma-separated: `sol1,sol2` (PIQA), `option1,option2` (WinoGrande)."""
    answer: str | None = "answer"  # option index, option letter, option text, or true/false
    id: str | None = None  # default: the line number
    option_text: str = "text"
    kind: Literal["auto", "multiple_choice", "binary", "free_form", "fill_blank"] = "auto"
    answer_base: Literal[0, 1] | None = None
    """Whether numeric answers count options from 0 or 1; None reads it from the file (see `answer_base_of`)."""

    @classmethod
    def parse_pairs(cls, pairs: list[str]) -> FieldMapping:
        """From command-line `key=field` pairs, e.g. `question=stem options=choices answer=label`."""
        values: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key or not value:
                raise ValueError(f"--field {pair!r}: expected KEY=FIELD, e.g. question=stem")
            if key not in cls.model_fields or key == "answer_base":
                known = ", ".join(k for k in cls.model_fields if k != "answer_base")
                raise ValueError(f"--field {pair!r}: unknown key {key!r}; known: {known}")
            values[key] = value
        return cls(**values)

    @classmethod
    def from_toml(cls, path: Path) -> FieldMapping:
        try:
            data = tomllib.loads(path.read_text())
            return cls(**data.get("fields", data))
        except (tomllib.TOMLDecodeError, ValidationError) as error:
            raise ValueError(f"{path}: invalid field mapping: {error}") from error


class DatasetFile(BaseModel):
    """One split's file: where it sits under the data folder, and its bundled copy if one ships."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="relative to the data folder (--data-dir)")
    bundled: str | None = Field(None, description="file in reasonkit/benchmarks/data; None: not shipped")


class DatasetSpec(BaseModel):
    """A dataset: its files by split, the fields of a row, and where it comes from.

    Every split but "train" is held out: the recipes' leak checks and the exemplar builder read the
    `fields.question` (and `fields.id`) of each of those files. Rows are read with `fields` (see
    `reasonkit bench --jsonl`), or by `parser` ('package.module:function', (row, split, spec, "file:line")
    -> Question, reading the field names from `spec.fields`) where the format needs code.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str
    kind: QuestionKind
    license: str
    source: str = Field("", description="who made it (the data folder's SOURCE.md has the detail)")
    files: dict[str, DatasetFile] = Field(min_length=1, description="split -> file")
    evaluation_split: str = Field(description="what `reasonkit bench -b NAME` runs unless --split says")
    fields: FieldMapping = FieldMapping()
    parser: str | None = None
    pairs_file: str | None = None
    """Beside the split's file: a JSON map from each id to its complementary statement's id ("{split}" is the
    file's stem). Com2Sense's official pairwise accuracy counts a pair only when both statements are right."""
    origin: Origin = "user"

    @model_validator(mode="after")
    def _check_splits(self) -> DatasetSpec:
        if self.evaluation_split not in self.files or self.evaluation_split == TRAIN:
            raise ValueError(
                f"dataset {self.name!r}: evaluation_split {self.evaluation_split!r} must be one of its held-out "
                f"splits ({', '.join(s for s in self.files if s != TRAIN) or 'none'})"
            )
        return self

    @property
    def held_out(self) -> dict[str, DatasetFile]:
        """The files no training row and no exemplar may hold a question of (every split but train)."""
        return {split: file for split, file in self.files.items() if split != TRAIN}

    @property
    def loadable_splits(self) -> tuple[str, ...]:
        """What `load_benchmark` reads: the evaluation split, and train where there is one."""
        return (self.evaluation_split, TRAIN) if TRAIN in self.files else (self.evaluation_split,)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Make `spec` a benchmark (`reasonkit bench -b NAME`), a leak check and an exemplar filter."""
    _registry.ensure_loaded()
    owner = _registry.find(spec.name)
    if owner is not None and owner != spec:
        raise DatasetSpecError(f"dataset name {spec.name!r} is taken by another spec ({owner.description!r})")
    _registry.add(spec.name, spec)
    return spec


def unregister_dataset(name: str) -> None:
    """Forget a dataset registered at run time (a test's, a notebook's)."""
    _registry.entries.pop(name, None)


def available_datasets() -> dict[str, DatasetSpec]:
    """Every registered dataset (built-in first, then plugins and yours), by name."""
    return _registry.all()


def get_dataset(name: str) -> DatasetSpec:
    """The spec registered as `name`; unknown names get "did you mean" suggestions."""
    return _registry.get(name)


def _adopt(name: str, loaded: object) -> None:
    """An entry point naming a spec its module did not register."""
    if isinstance(loaded, DatasetSpec) and _registry.find(loaded.name) is None:
        _registry.add(loaded.name, loaded)


def _load_builtins() -> None:
    for spec in BUILTIN:
        _registry.add(spec.name, spec)


def _new_registry() -> Registry[DatasetSpec]:
    """An empty dataset registry: the built-ins and plugins load on the first look-up (tests start from one)."""
    return Registry("dataset", ENTRY_POINT_GROUP, _load_builtins, _adopt, DatasetSpecError)


_registry = _new_registry()

_LOADERS = "reasonkit.benchmarks.loaders"

BUILTIN: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        name="csqa",
        description="CommonsenseQA v1.11, 5-way multiple choice",
        kind="multiple_choice",
        license="MIT",
        source="Talmor et al. 2019",
        files={
            "train": DatasetFile(path="commonsenseqa/train.jsonl"),
            "dev": DatasetFile(path="commonsenseqa/dev.jsonl", bundled="csqa_dev.jsonl.gz"),
            "test": DatasetFile(path="commonsenseqa/test_no_answers.jsonl"),
        },
        evaluation_split="dev",
        fields=FieldMapping(
            question="question.stem", options="question.choices", answer="answerKey", id="id"
        ),
        parser=f"{_LOADERS}:csqa_row",
        origin="built-in",
    ),
    DatasetSpec(
        name="strategyqa",
        description="StrategyQA yes/no questions needing implicit steps",
        kind="binary",
        license="MIT",
        source="Geva et al. 2021",
        files={
            "train": DatasetFile(path="strategyqa/train.jsonl"),
            "dev": DatasetFile(path="strategyqa/dev.jsonl", bundled="strategyqa_dev.jsonl.gz"),
        },
        evaluation_split="dev",
        fields=FieldMapping(question="question", answer="answer", id="qid"),
        parser=f"{_LOADERS}:strategyqa_row",
        origin="built-in",
    ),
    DatasetSpec(
        name="creak",
        description="CREAK true/false claims about entities",
        kind="binary",
        license="MIT",
        source="Onoe et al. 2021",
        files={
            "train": DatasetFile(path="creak/train.jsonl"),
            "dev": DatasetFile(path="creak/dev.jsonl", bundled="creak_dev.jsonl.gz"),
            "test": DatasetFile(path="creak/test_without_labels.jsonl"),
        },
        evaluation_split="dev",
        fields=FieldMapping(question="sentence", answer="label", id="ex_id"),
        parser=f"{_LOADERS}:creak_row",
        origin="built-in",
    ),
    DatasetSpec(
        name="csqa2",
        description="CommonsenseQA 2.0 yes/no questions",
        kind="binary",
        license="CC BY 4.0",
        source="Talmor et al. 2021",
        files={
            "train": DatasetFile(path="csqa2/train.jsonl"),
            "dev": DatasetFile(path="csqa2/dev.jsonl", bundled="csqa2_dev.jsonl.gz"),
            "test": DatasetFile(path="csqa2/test_no_answers.jsonl"),
        },
        evaluation_split="dev",
        fields=FieldMapping(question="question", answer="answer", id="id"),
        parser=f"{_LOADERS}:csqa2_row",
        origin="built-in",
    ),
    DatasetSpec(
        name="com2sense",
        description="Com2Sense true/false statements (complementary pairs)",
        kind="binary",
        license="none stated",
        source="Singh et al. 2021",
        files={
            "train": DatasetFile(path="com2sense/train.jsonl"),
            "dev": DatasetFile(path="com2sense/dev.jsonl"),
            "test": DatasetFile(path="com2sense/test_no_labels.jsonl"),
        },
        evaluation_split="dev",
        fields=FieldMapping(question="sent", answer="label", id="id"),
        parser=f"{_LOADERS}:com2sense_row",
        pairs_file="pair_id_{split}.json",
        origin="built-in",
    ),
    DatasetSpec(
        name="arc_easy",
        description="AI2 ARC-Easy science questions",
        kind="multiple_choice",
        license="CC BY-SA 4.0",
        source="Clark et al. 2018 (LLM-Adapters' parsed copy)",
        files={
            "train": DatasetFile(path="arc/easy_train.jsonl"),
            "test": DatasetFile(path="arc/easy_test.jsonl", bundled="arc_easy_test.jsonl.gz"),
        },
        evaluation_split="test",
        fields=FieldMapping(question="question", options="choices", answer="label", id="idx"),
        parser=f"{_LOADERS}:indexed_choices_row",
        origin="built-in",
    ),
    DatasetSpec(
        name="arc_challenge",
        description="AI2 ARC-Challenge science questions",
        kind="multiple_choice",
        license="CC BY-SA 4.0",
        source="Clark et al. 2018 (LLM-Adapters' parsed copy)",
        files={
            "train": DatasetFile(path="arc/challenge_train.jsonl"),
            "test": DatasetFile(path="arc/challenge_test.jsonl", bundled="arc_challenge_test.jsonl.gz"),
        },
        evaluation_split="test",
        fields=FieldMapping(question="question", options="choices", answer="label", id="idx"),
        parser=f"{_LOADERS}:indexed_choices_row",
        origin="built-in",
    ),
    DatasetSpec(
        name="openbookqa",
        description="OpenBookQA (main), 4-way multiple choice",
        kind="multiple_choice",
        license="Apache-2.0",
        source="Mihaylov et al. 2018 (LLM-Adapters' parsed copy)",
        files={
            "train": DatasetFile(path="openbookqa/train.jsonl"),
            "test": DatasetFile(path="openbookqa/test.jsonl", bundled="openbookqa_test.jsonl.gz"),
        },
        evaluation_split="test",
        fields=FieldMapping(question="question", options="choices", answer="label", id="idx"),
        parser=f"{_LOADERS}:indexed_choices_row",
        origin="built-in",
    ),
)
"""The project's datasets, in the order `reasonkit list` shows them and the leak checks read them."""
