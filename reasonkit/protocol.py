"""The two services every language-model backend offers: log-likelihood scoring and generation.

Kept free of heavy imports: `reasonkit.lm`, the Hugging Face backend, the cache and `FakeLM` all implement it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_serializer, model_validator
from pydantic_core.core_schema import SerializerFunctionWrapHandler

__all__ = [
    "CONSTRAINED_GENERATION",
    "MAX_NEW_TOKENS",
    "MAX_SAMPLES",
    "AsyncLanguageModel",
    "Constraint",
    "ContextWindowError",
    "GenerationRequest",
    "GenerationResult",
    "LanguageModel",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "PromptLogprobsRequest",
    "PromptLogprobsResult",
    "Sample",
    "ScoresPromptTokens",
    "TokenLogprob",
    "TruncationPolicy",
    "UnsupportedRequestError",
    "call_backend",
    "find_stop",
    "refuse_constraints",
]

MAX_SAMPLES = 256
"""Most samples one generation request may draw. Each sample holds a KV cache of the whole context: for the
bundled model (512-token window, 6 layers x 2 x 256 fp32 values a token) 256 samples are 1.5 GiB."""

MAX_NEW_TOKENS = 32_768
"""Most new tokens a request may ask for. A backend stops a sample at its model's context window anyway
(finish_reason "length"), so a larger value could never be used: it is a mistake, refused early."""


def _at_most(limit: int, why: str) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value > limit:
            raise ValueError(f"more than {limit}, {why}")
        return value

    return check


SampleCount = Annotated[
    int,
    Field(ge=1),
    AfterValidator(
        _at_most(
            MAX_SAMPLES, "the most samples one request may draw (each holds a KV cache of the whole context)"
        )
    ),
]
NewTokens = Annotated[
    int,
    Field(ge=1),
    AfterValidator(
        _at_most(
            MAX_NEW_TOKENS,
            "the most new tokens one request may ask for (a sample also stops at the model's context window)",
        )
    ),
]


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


CONSTRAINED_GENERATION = "constrained_generation"
"""The capability of a backend that honours `GenerationRequest.constraint`."""


class Constraint(BaseModel):
    """What a generated sample must be: one of `choices`, or a full match of the regular expression `regex`.

    The backend masks, at every step, the tokens that could not continue a match (end-of-text only once the
    text matches), so the text always parses unless `max_tokens` ends it first. Stop strings still apply.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    choices: tuple[str, ...] | None = Field(None, min_length=1)
    regex: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Constraint:
        if (self.choices is None) == (self.regex is None):
            raise ValueError("a constraint needs exactly one of 'choices' and 'regex'")
        if self.choices is not None and not all(self.choices):
            raise ValueError("constraint choices must be non-empty strings")
        return self


class UnsupportedRequestError(RuntimeError):
    """A backend was asked for something it cannot do (e.g. constrained generation); names the backend."""


def refuse_constraints(backend: str, requests: Sequence[GenerationRequest]) -> None:
    """What a backend without `CONSTRAINED_GENERATION` calls first: a constraint it would ignore is an error."""
    for i, request in enumerate(requests):
        if request.constraint is not None:
            raise UnsupportedRequestError(
                f"backend {backend} cannot honour generation request {i}'s constraint "
                f"(it lacks the {CONSTRAINED_GENERATION!r} capability)"
            )


class GenerationRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    n: SampleCount = Field(1, description="samples drawn from this prompt; they share its KV cache")
    max_tokens: NewTokens = Field(128, description="a backend also stops at its model's context window")
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy")
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: tuple[str, ...] = ()
    seed: int = 0
    constraint: Constraint | None = Field(None, description="restricts what the samples may be")

    @model_serializer(mode="wrap")
    def _without_unset_constraint(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """An unconstrained request serialises as it did before constraints existed (cache keys stay)."""
        data: dict[str, object] = handler(self)
        if self.constraint is None:
            data.pop("constraint", None)
        return data


class Sample(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(description="generated text, cut before the first stop string")
    token_logprobs: tuple[float, ...] = ()
    tokens: tuple[str, ...] = Field(
        (), description="the text of each generated token, where the backend says"
    )
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
    """A request does not fit the model's context window and the truncation policy is "error". `index` is
    the request's position in the batch the backend was given (so a batcher can set that one aside)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


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
class AsyncLanguageModel(Protocol):
    """The async form of the protocol, for a backend that waits on the network (`reasonkit.backends.openai`).

    The batching client awaits these when a backend has them, so other questions keep running (and sending)
    while a request is out. Such a backend still offers the sync `LanguageModel` methods for one-off calls.
    """

    @property
    def fingerprint(self) -> str: ...

    async def aloglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...


async def call_backend(
    lm: LanguageModel, kind: Literal["loglikelihood", "generate"], requests: list[Any]
) -> list[Any]:
    """`requests` sent to `lm`: awaited through the async form where the backend has it, else called inline."""
    if isinstance(lm, AsyncLanguageModel):
        return list(
            await (lm.aloglikelihood(requests) if kind == "loglikelihood" else lm.agenerate(requests))
        )
    return list(lm.loglikelihood(requests) if kind == "loglikelihood" else lm.generate(requests))


@runtime_checkable
class ScoresPromptTokens(Protocol):
    """A backend that can also give the log-probability of every token of a text (optional)."""

    def prompt_logprobs(self, requests: Sequence[PromptLogprobsRequest]) -> list[PromptLogprobsResult]: ...
