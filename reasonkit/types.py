"""The values that cross module boundaries: questions, predictions and traces."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Answer = int | bool | str
"""An option index (multiple choice), True / False (binary statement) or a string (free-form, e.g. arithmetic)."""

QuestionKind = Literal["multiple_choice", "binary", "free_form"]


class Question(BaseModel):
    """A multiple-choice question (`options` given, `gold` an index), a binary statement (`gold` a bool) or a
    free-form question (`gold` a string, compared after stripping). `kind` is inferred when not given."""

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
        if self.kind == "multiple_choice" and self.options is None:
            raise ValueError(f"{where}: field 'options' is missing on a multiple-choice question")
        if self.kind != "multiple_choice" and self.options is not None:
            raise ValueError(f"{where}: field 'options' is given on a {self.kind} question")
        if self.kind == "free_form" and self.gold is not None and not isinstance(self.gold, str):
            raise ValueError(f"{where}: field 'gold' must be a string on a free-form question, got {self.gold!r}")
        if not self.id.strip():
            raise ValueError("question with an empty 'id' field")
        if not self.text.strip():
            raise ValueError(f"{where}: field 'text' is empty")
        if self.options is not None:
            if len(self.options) < 2:
                raise ValueError(f"{where}: field 'options' needs at least 2 options, got {len(self.options)}")
            if any(not option.strip() for option in self.options):
                raise ValueError(f"{where}: field 'options' has an empty option")
            seen: set[str] = set()
            for option in self.options:
                key = option.strip()
                if key in seen:
                    raise ValueError(f"{where}: field 'options' has the duplicate option {option!r}")
                seen.add(key)
            if isinstance(self.gold, bool):
                raise ValueError(f"{where}: field 'gold' is binary ({self.gold}) on a multiple-choice question")
            if isinstance(self.gold, str):
                raise ValueError(f"{where}: field 'gold' must be an option index on a multiple-choice question, got {self.gold!r}")
            if self.gold is not None and not 0 <= self.gold < len(self.options):
                raise ValueError(f"{where}: field 'gold' = {self.gold} is not an index into {len(self.options)} options")
        elif self.kind == "binary" and self.gold is not None and not isinstance(self.gold, bool):
            raise ValueError(f"{where}: field 'gold' must be true/false on a binary question, got {self.gold!r}")
        return self

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


class Prediction(BaseModel):
    """A strategy's answer; `answer` None is an abstention (counted wrong, kept with its raw text)."""

    model_config = ConfigDict(extra="forbid")

    question_id: str
    answer: Answer | None
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
        return self.answer == question.gold and isinstance(self.answer, bool) == isinstance(question.gold, bool)
