"""The values that cross module boundaries: questions, predictions and traces."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Answer = int | bool
"""An option index for multiple-choice questions, True / False for binary statements."""


class Question(BaseModel):
    """A multiple-choice question (`options` given, `gold` an index) or a binary statement (`options` None,
    `gold` a bool)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    text: str
    options: tuple[str, ...] | None = None
    gold: Answer | None = None
    split: str = "dev"
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Question:
        where = f"question {self.id!r}"
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
                key = option.strip().lower()
                if key in seen:
                    raise ValueError(f"{where}: field 'options' has the duplicate option {option!r}")
                seen.add(key)
            if isinstance(self.gold, bool):
                raise ValueError(f"{where}: field 'gold' is binary ({self.gold}) on a multiple-choice question")
            if self.gold is not None and not 0 <= self.gold < len(self.options):
                raise ValueError(f"{where}: field 'gold' = {self.gold} is not an index into {len(self.options)} options")
        elif self.gold is not None and not isinstance(self.gold, bool):
            raise ValueError(f"{where}: field 'gold' must be true/false on a binary question, got {self.gold!r}")
        return self

    @property
    def is_binary(self) -> bool:
        return self.options is None

    @property
    def choices(self) -> tuple[str, ...]:
        """The labels an answer is chosen from: the options, or ("True", "False")."""
        return self.options if self.options is not None else ("True", "False")

    def answer_of(self, choice_index: int) -> Answer:
        return choice_index if self.options is not None else choice_index == 0


class LMCall(BaseModel):
    """One request to the model as the strategy saw it: the exact prompt, the output and how long it took."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["loglikelihood", "generate"]
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
        return self.answer is not None and question.gold is not None and self.answer == question.gold and (
            isinstance(self.answer, bool) == isinstance(question.gold, bool)
        )
