"""The values that cross module boundaries: questions, predictions and traces."""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "BLANK",
    "Answer",
    "LMCall",
    "Prediction",
    "Question",
    "QuestionKind",
    "Trace",
]

Answer = int | bool | str
"""An option index (multiple choice), True / False (binary statement) or a string (free-form, e.g. arithmetic)."""

QuestionKind = Literal["multiple_choice", "binary", "free_form", "fill_blank"]

BLANK = "_"
"""Marks the gap in a fill-in-the-blank sentence (WinoGrande's convention); its options are the fillers."""


class Question(BaseModel):
    """A multiple-choice question (`options` given, `gold` an index), a binary statement (`gold` a bool), a
    free-form question (`gold` a string, compared after stripping) or a fill-in-the-blank sentence (`text` holds
    one `_`, `options` the fillers, `gold` an index). `kind` is inferred when not given (never as fill_blank)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    text: str
    kind: QuestionKind = "binary"
    options: tuple[str, ...] | None = None
    gold: Answer | None = None
    split: str = "dev"
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _infer_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") is None:
            if data.get("options") is not None:
                kind = "multiple_choice"
            elif isinstance(data.get("gold"), str):
                kind = "free_form"
            else:
                kind = "binary"
            data = {**data, "kind": kind}
        return data

    @model_validator(mode="after")
    def _check(self) -> Question:
        where = f"question {self.id!r}"
        if self.has_options and self.options is None:
            raise ValueError(
                f"{where}: field 'options' is missing on a {self.kind.replace('_', '-')} question"
            )
        if not self.has_options and self.options is not None:
            raise ValueError(f"{where}: field 'options' is given on a {self.kind} question")
        if self.kind == "free_form" and self.gold is not None and not isinstance(self.gold, str):
            raise ValueError(
                f"{where}: field 'gold' must be a string on a free-form question, got {self.gold!r}"
            )
        if not self.id.strip():
            raise ValueError("question with an empty 'id' field")
        for name, value in self._texts():
            if (bad := _lone_surrogate(value)) is not None:
                raise ValueError(
                    f"{where}: field {name!r} has a lone surrogate {value[bad]!r} at character {bad + 1}"
                    " (not valid Unicode; was the text decoded with errors='surrogateescape'?)"
                )
        if not self.text.strip():
            raise ValueError(f"{where}: field 'text' is empty")
        if self.kind == "fill_blank" and not self.text.partition(BLANK)[2].strip():
            raise ValueError(f"{where}: field 'text' needs a blank {BLANK!r} with words after it")
        if self.options is not None:
            if len(self.options) < 2:
                raise ValueError(
                    f"{where}: field 'options' needs at least 2 options, got {len(self.options)}"
                )
            if any(not option.strip() for option in self.options):
                raise ValueError(f"{where}: field 'options' has an empty option")
            seen: set[str] = set()
            for option in self.options:
                key = option.strip()
                if key in seen:
                    raise ValueError(f"{where}: field 'options' has the duplicate option {option!r}")
                seen.add(key)
            if isinstance(self.gold, bool):
                raise ValueError(
                    f"{where}: field 'gold' is binary ({self.gold}) on a multiple-choice question"
                )
            if isinstance(self.gold, str):
                raise ValueError(
                    f"{where}: field 'gold' must be an option index on a multiple-choice question, got {self.gold!r}"
                )
            if self.gold is not None and not 0 <= self.gold < len(self.options):
                raise ValueError(
                    f"{where}: field 'gold' = {self.gold} is not an index into {len(self.options)} options"
                )
        elif self.kind == "binary" and self.gold is not None and not isinstance(self.gold, bool):
            raise ValueError(
                f"{where}: field 'gold' must be true/false on a binary question, got {self.gold!r}"
            )
        return self

    def _texts(self) -> list[tuple[str, str]]:
        """(field, string) for every string a model or a results file will see."""
        texts = [("id", self.id), ("text", self.text), ("split", self.split)]
        texts += [("options", option) for option in self.options or ()]
        return texts + ([("gold", self.gold)] if isinstance(self.gold, str) else [])

    @property
    def has_options(self) -> bool:
        """Multiple choice and fill-in-the-blank: the answer is an index into `options`."""
        return self.kind in ("multiple_choice", "fill_blank")

    @property
    def is_fill_blank(self) -> bool:
        return self.kind == "fill_blank"

    @property
    def is_binary(self) -> bool:
        return self.kind == "binary"

    @property
    def is_free_form(self) -> bool:
        return self.kind == "free_form"

    @property
    def choices(self) -> tuple[str, ...]:
        """The labels an answer is chosen from: the options, ("True", "False"), or none for free-form."""
        if self.options is not None:
            return self.options
        return ("True", "False") if self.kind == "binary" else ()

    def answer_of(self, choice_index: int) -> Answer:
        return choice_index if self.options is not None else choice_index == 0

    def answer_text(self, answer: Answer | None) -> str | None:
        """What an answer reads as to a person: the option's text for an index, "True"/"False", the string;
        None for an abstention. The answer must have this question's type (see `check_answer`)."""
        if answer is None:
            return None
        self.check_answer(answer)
        if self.options is not None:
            assert isinstance(answer, int)
            return self.options[answer]
        return str(answer)

    def check_answer(self, answer: Answer | None) -> None:
        """Refuse an answer of the wrong type for this question, which would otherwise be scored wrong
        without a word: an option's text where its index is due, 1 where True is, a number where a string is."""
        if answer is None:
            return
        where = f"question {self.id!r} ({self.kind.replace('_', ' ')})"
        if self.options is not None:
            if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(self.options):
                return
            stripped = [option.strip() for option in self.options]
            if isinstance(answer, str) and answer.strip() in stripped:
                index = stripped.index(answer.strip())
                raise ValueError(
                    f"{where}: the answer {answer!r} is an option's text; answer with its index, "
                    f"{index} (question.options.index(text))"
                )
            raise ValueError(
                f"{where}: the answer {answer!r} is not an option index 0-{len(self.options) - 1}"
            )
        if self.kind == "binary" and not isinstance(answer, bool):
            raise ValueError(f"{where}: the answer {answer!r} is not True or False")
        if self.kind == "free_form" and not isinstance(answer, str):
            raise ValueError(f"{where}: the answer {answer!r} is not a string")


def _lone_surrogate(text: str) -> int | None:
    """Index of the first code point UTF-8 cannot encode (U+D800..U+DFFF), or None."""
    match = _SURROGATE.search(text)
    return None if match is None else match.start()


_SURROGATE = re.compile("[\ud800-\udfff]")


class LMCall(BaseModel):
    """One request to the model as the strategy saw it: the exact prompt, the output and how long it took."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["loglikelihood", "generate", "prompt_logprobs"]
    request: dict[str, Any]
    output: dict[str, Any]
    latency_s: float = 0.0
    cached: bool = False


class Trace(BaseModel):
    """Everything a strategy did for one question: its LM calls and its own structures (JSON-able)."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = ""
    calls: list[LMCall] = Field(default_factory=list)
    steps: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    children: list[Trace] = Field(default_factory=list)

    def steps_as(self, view: type[StepsView]) -> StepsView | None:
        """The steps read through `view`, a typed model of what one kind of strategy writes; None where they do
        not fit it (another strategy's steps). Steps the view does not name are ignored."""
        try:
            return view.model_validate(self.steps)
        except ValidationError:
            return None


StepsView = TypeVar("StepsView", bound=BaseModel)


class ScoredSteps(BaseModel):
    """The steps of a strategy that scored the choices (direct; cot's fallback): each normalisation's score per
    choice label, and the normalisation it answered by."""

    model_config = ConfigDict(frozen=True)

    scores: dict[str, dict[str, float]]
    normalization: str = "raw"


class VoteAtK(BaseModel):
    """Both votes over the first k sampled paths (answer values, so a report can score them against gold) and
    how many of those k paths gave no answer."""

    model_config = ConfigDict(frozen=True)

    k: int = Field(ge=1)
    majority: Answer | None
    weighted: Answer | None
    abstained: int = Field(ge=0)


class SampledSteps(BaseModel):
    """The steps of a strategy that votes over sampled paths (self_consistency): the votes at each k."""

    model_config = ConfigDict(frozen=True)

    votes_at_k: tuple[VoteAtK, ...]


class Prediction(BaseModel):
    """A strategy's answer; `answer` None is an abstention (counted wrong, kept with its raw text).
    `answer_text` is the answer as a person reads it (the option's text for an index), filled in when the
    strategy runs; None for an abstention and in results written before it existed."""

    model_config = ConfigDict(extra="forbid")

    question_id: str
    answer: Answer | None
    answer_text: str | None = None
    scores: dict[str, float] = Field(default_factory=dict, description="score per choice label")
    confidence: float | None = None
    trace: Trace = Field(default_factory=Trace)

    @property
    def abstained(self) -> bool:
        return self.answer is None

    def is_correct(self, question: Question) -> bool:
        if self.answer is None or question.gold is None:
            return False
        if isinstance(question.gold, str):
            return isinstance(self.answer, str) and self.answer.strip() == question.gold.strip()
        return self.answer == question.gold and isinstance(self.answer, bool) == isinstance(
            question.gold, bool
        )
