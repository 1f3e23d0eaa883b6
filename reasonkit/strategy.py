"""The strategy interface: an async `solve` that turns a Question into a Prediction by calling the LM.

Strategies see an `AsyncLM`. Calls made from many questions at once reach the backend as full batches
(reasonkit.client gathers them), and every call is recorded in the question's trace, so a strategy
author writes plain sequential code and no batching or tracing code. A strategy that runs another one
(`inner`) awaits `reasonkit.client.solve_traced(inner, question, lm)` to get the inner calls in a child
trace; independent inner runs awaited together with `asyncio.gather` share batches too. `run` and
`run_many` answer questions through the run driver (reasonkit.driver).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from reasonkit.driver import run_questions
from reasonkit.protocol import (
    GenerationRequest,
    GenerationResult,
    LanguageModel,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from reasonkit.types import Prediction, Question

__all__ = [
    "AsyncLM",
    "Strategy",
]


class AsyncLM(Protocol):
    """What a strategy calls. Implemented by reasonkit.client.BatchingClient."""

    async def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...


class Strategy(ABC):
    """Subclass, implement `solve`, register with `@reasonkit.registry.register_strategy("name")` (which
    sets `name`). Strategies are values: they compose by wrapping."""

    name: ClassVar[str] = ""

    @abstractmethod
    async def solve(self, question: Question, lm: AsyncLM) -> Prediction: ...

    def applies_to(self, question: Question) -> bool:
        """Whether this strategy can answer the question (e.g. scratchpad only arithmetic)."""
        return True

    def uses_loglikelihood(self) -> bool:
        """Whether `solve` may ask for log-likelihoods. A strategy that only generates says False, so it is
        named as one that runs on a server that cannot score (`reasonkit.backends.openai`)."""
        return True

    def config(self) -> dict[str, Any]:
        """The settings that define this strategy, recorded with every run; also a valid dict spec for
        `reasonkit.registry.build_strategy`.

        By default: the name plus each constructor argument read back from the attribute of the same name
        (nested strategies give their own config). Override when attributes and arguments differ.
        """
        config: dict[str, Any] = {"name": self.name}
        for parameter in inspect.signature(type(self)).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if hasattr(self, parameter.name):
                config[parameter.name] = _plain(getattr(self, parameter.name))
        return config

    def __repr__(self) -> str:
        """The spec string, e.g. `self_consistency(inner=cot(shots=5), n=20)`."""
        return _spec(self.config())

    def run(self, question: Question, lm: LanguageModel) -> Prediction:
        """Answer one question synchronously."""
        return self.run_many([question], lm)[0]

    def run_many(
        self, questions: Sequence[Question], lm: LanguageModel, concurrency: int = 64
    ) -> list[Prediction]:
        """Answer many questions with their LM calls batched across questions."""
        return run_questions(self, questions, lm, concurrency=concurrency)


def _plain(value: Any) -> Any:
    """A JSON-able form of a config value."""
    if isinstance(value, Strategy):
        return value.config()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _spec(config: Mapping[str, Any]) -> str:
    options = {k: v for k, v in config.items() if k != "name"}
    if not options:
        return str(config.get("name", "?"))
    return f"{config.get('name', '?')}({', '.join(f'{k}={_spec_value(v)}' for k, v in options.items())})"


def _spec_value(value: Any) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return _spec(value)
    if isinstance(value, list):
        return f"[{', '.join(_spec_value(v) for v in value)}]"
    return repr(value)
