"""The strategy interface: an async `solve` that turns a Question into a Prediction by calling the LM.

Strategies see an `AsyncLM`. Calls made from many questions at once reach the backend as full batches
(reasonkit.batching gathers them), and every call is recorded in the question's trace, so a strategy
author writes plain sequential code and no batching or tracing code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from reasonkit.protocol import (
    GenerationRequest,
    GenerationResult,
    LanguageModel,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from reasonkit.types import Prediction, Question


class AsyncLM(Protocol):
    """What a strategy calls. Implemented by reasonkit.batching.BatchingClient."""

    async def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...


class Strategy(ABC):
    """Subclass, set `name`, implement `solve`. Strategies are values: they compose by wrapping."""

    name: ClassVar[str] = ""

    @abstractmethod
    async def solve(self, question: Question, lm: AsyncLM) -> Prediction: ...

    def applies_to(self, question: Question) -> bool:
        """Whether this strategy can answer the question (e.g. scratchpad only arithmetic)."""
        return True

    def config(self) -> dict[str, Any]:
        """The settings that define this strategy, recorded with every run."""
        return {"name": self.name}

    def run(self, question: Question, lm: LanguageModel) -> Prediction:
        """Answer one question synchronously."""
        return self.run_many([question], lm)[0]

    def run_many(self, questions: Sequence[Question], lm: LanguageModel, concurrency: int = 64) -> list[Prediction]:
        """Answer many questions with their LM calls batched across questions."""
        from reasonkit.batching import run_questions

        return run_questions(self, questions, lm, concurrency=concurrency)
