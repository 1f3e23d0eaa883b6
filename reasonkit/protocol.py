"""The two services every language-model backend offers: log-likelihood scoring and generation.

Kept free of heavy imports: `reasonkit.lm`, the Hugging Face backend, the cache and `FakeLM` all implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class LoglikelihoodRequest(BaseModel):
    """Score `continuation` after `context`; both are encoded jointly and split (lm-evaluation-harness rule)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    context: str
    continuation: str


class LoglikelihoodResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    logprob: float = Field(description="summed log-probability of the continuation tokens")
    n_tokens: int = Field(ge=0, description="number of continuation tokens")
    is_greedy: bool = Field(description="greedy decoding from the context would produce the continuation")


class GenerationRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    n: int = Field(1, ge=1, description="samples drawn from this prompt; they share its KV cache")
    max_tokens: int = Field(128, ge=1)
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy")
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: tuple[str, ...] = ()
    seed: int = 0


class Sample(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="generated text, cut before the first stop string")
    token_logprobs: tuple[float, ...] = ()
    tokens: tuple[str, ...] = Field((), description="the text of each generated token, where the backend says")
    finish_reason: Literal["stop", "length", "eos"]

    @property
    def logprob(self) -> float:
        return float(sum(self.token_logprobs))


class GenerationResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: tuple[Sample, ...]


class PromptLogprobsRequest(BaseModel):
    """Every token of `text` with its log-probability given the tokens before it (a server's echo=True)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1)
    top: int = Field(0, ge=0, le=20, description="also the `top` most likely tokens at each position")


class TokenLogprob(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str
    offset: int = Field(ge=0, description="where the token starts in the text, in characters")
    logprob: float | None = Field(description="None for the first token: nothing comes before it")
    top: dict[str, float] = Field(default_factory=dict)


class PromptLogprobsResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: tuple[TokenLogprob, ...]


TruncationPolicy = Literal["error", "left"]


class ContextWindowError(ValueError):
    """A request does not fit the model's context window and the truncation policy is "error"."""


def find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where a backend cuts generated text: the start of the earliest stop string in `text`, or None."""
    found = [at for stop in stops if stop and (at := text.find(stop)) >= 0]
    return min(found) if found else None


@runtime_checkable
class LanguageModel(Protocol):
    """A backend. `fingerprint` identifies weights + tokenizer so caches never mix models."""

    @property
    def fingerprint(self) -> str: ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...


@runtime_checkable
class ScoresPromptTokens(Protocol):
    """A backend that can also give the log-probability of every token of a text (optional)."""

    def prompt_logprobs(self, requests: Sequence[PromptLogprobsRequest]) -> list[PromptLogprobsResult]: ...
