"""The LM client strategies call: cross-question batching and call tracing, so strategies hold neither.

The driver (`reasonkit.driver`) solves many questions at once, each as an asyncio task. When a strategy awaits
`lm.loglikelihood(...)` or `lm.generate(...)`, the `BatchingClient` parks the request (through the one
micro-batcher, `reasonkit.microbatch`) and lets the other tasks run; once every question in flight waits on
the model (or no new request arrived for a few event-loop rounds, e.g. because one question awaits something
else), it sends everything waiting to the backend in chunks of `max_batch` (identical requests sent once,
sorted by length so batches pad little) and wakes each question with its own results. A backend with the
async protocol (`AsyncLanguageModel`, e.g. one waiting on a server) is awaited, and requests gathered while a
batch is out are sent meanwhile. Each request is recorded as an `LMCall` in the trace of the question that
made it, found through a context variable set for each question (`BatchingClient.question`); a composite
strategy runs its inner strategies through `solve_traced` to give their calls a trace of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, cast

from pydantic import BaseModel

from reasonkit.cache import CachedLM, ReportsCacheHits
from reasonkit.microbatch import MicroBatcher
from reasonkit.protocol import (
    ContextWindowError,
    GenerationRequest,
    GenerationResult,
    LanguageModel,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    PromptLogprobsRequest,
    PromptLogprobsResult,
    call_backend,
)
from reasonkit.types import LMCall, Prediction, Question

__all__ = ["BatchingClient", "Kind", "Solver", "solve_traced"]


class Solver(Protocol):
    """What the client and the driver use of a strategy (`reasonkit.strategy.Strategy` is one). A protocol here keeps
    both below the strategy module, which imports the driver for `Strategy.run_many`."""

    @property
    def name(self) -> str: ...

    async def solve(self, question: Question, lm: Any) -> Prediction: ...

    def applies_to(self, question: Question) -> bool: ...


log = logging.getLogger(__name__)

Kind = Literal["loglikelihood", "generate", "prompt_logprobs"]
_KINDS: tuple[Kind, ...] = ("loglikelihood", "generate", "prompt_logprobs")


@dataclass
class _Recorder:
    """Where calls of the running question go; `slot` tells the client which question is waiting."""

    slot: int
    calls: list[LMCall] = field(default_factory=list)


_recorder: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar(
    "reasonkit_recorder", default=None
)


class _Answer(NamedTuple):
    """One request's result, whether a cache gave it, and its share of the batch's wall time."""

    result: Any
    cached: bool
    latency_s: float


def _length(request: BaseModel) -> int:
    if isinstance(request, LoglikelihoodRequest):
        return len(request.context) + len(request.continuation)
    if isinstance(request, PromptLogprobsRequest):
        return len(request.text)
    assert isinstance(request, GenerationRequest)
    return len(request.prompt)


class BatchingClient:
    """The `AsyncLM` strategies see. Gathers the requests of all waiting questions into full batches.

    `idle_rounds`: event-loop rounds without a new request after which a partial batch is sent anyway.
    """

    def __init__(self, lm: LanguageModel, max_batch: int = 64, idle_rounds: int = 4) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.lm = lm
        self.max_batch = max_batch
        self.backend_calls = 0
        self.backend_requests = 0
        self._active_slots = 0
        self._batcher: MicroBatcher[BaseModel, _Answer] = MicroBatcher(
            self._send, idle_rounds, groups=_KINDS, running=lambda: self._active_slots
        )

    @property
    def idle_rounds(self) -> int:
        return self._batcher.idle_rounds

    @property
    def fingerprint(self) -> str:
        return self.lm.fingerprint

    async def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return await self._submit("loglikelihood", requests)

    async def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return await self._submit("generate", requests)

    async def prompt_logprobs(self, requests: Sequence[PromptLogprobsRequest]) -> list[PromptLogprobsResult]:
        """Only for a backend that offers it (`reasonkit.protocol.ScoresPromptTokens`); a server's echo."""
        return await self._submit("prompt_logprobs", requests)

    @contextlib.contextmanager
    def question(self, slot: int) -> Iterator[None]:
        """While inside, the current task answers the question in `slot`: its calls are recorded for it, and
        it counts among the questions running, so a batch is complete once each of them waits."""
        token = _recorder.set(_Recorder(slot=slot))
        self._active_slots += 1
        try:
            yield
        finally:
            self._active_slots -= 1
            _recorder.reset(token)

    async def _submit(self, kind: Kind, requests: Sequence[BaseModel]) -> list[Any]:
        if not requests:
            return []
        recorder = _recorder.get()
        answers = await self._batcher.submit(requests, kind, recorder.slot if recorder else None)
        if recorder is not None:
            for request, answer in zip(requests, answers, strict=True):
                recorder.calls.append(
                    LMCall(
                        kind=kind,
                        request=request.model_dump(mode="json"),
                        output=answer.result.model_dump(mode="json"),
                        latency_s=answer.latency_s,
                        cached=answer.cached,
                    )
                )
        return [answer.result for answer in answers]

    async def _send(self, kind: str, requests: list[BaseModel]) -> list[_Answer | BaseException]:
        """One batcher group: identical requests once, longest first, in chunks of `max_batch`."""
        unique = sorted(dict.fromkeys(requests), key=_length, reverse=True)
        users = Counter(requests)
        answers: dict[BaseModel, _Answer] = {}
        errors: dict[BaseModel, BaseException] = {}
        await asyncio.gather(
            *(
                self._answer(cast(Kind, kind), unique[start : start + self.max_batch], users, answers, errors)
                for start in range(0, len(unique), self.max_batch)
            )
        )
        return [errors[r] if r in errors else answers[r] for r in requests]

    async def _answer(
        self,
        kind: Kind,
        chunk: list[Any],
        users: Counter[Any],
        answers: dict[Any, _Answer],
        errors: dict[Any, BaseException],
    ) -> None:
        """Send `chunk`; errors are handed to the questions that asked, never swallowed.

        A backend rejects a whole batch when one request in it is bad input (a ValueError, e.g. a prompt
        too long for the window). A ContextWindowError names the request: it alone fails and the rest are
        sent again. Another ValueError splits the chunk in halves until the bad requests are alone. Either
        way only the questions that sent them fail and the error names the right one; any other error (a
        lost device, a broken backend) fails the whole chunk at once, with no retries (a network backend retries
        on its own). Chunks of an async backend are out together; a sync backend answers them in turn."""
        began = time.perf_counter()
        try:
            results, cached = await self._call_backend(kind, chunk)
            if len(results) != len(chunk):
                raise RuntimeError(f"{kind} returned {len(results)} results for {len(chunk)} requests")
        except ValueError as error:
            if len(chunk) == 1:
                errors[chunk[0]] = error
                return
            at = error.index if isinstance(error, ContextWindowError) else None
            if at is not None and 0 <= at < len(chunk):  # the backend named the request: set it aside alone
                errors[chunk[at]] = error
                await self._answer(kind, chunk[:at] + chunk[at + 1 :], users, answers, errors)
                return
            middle = len(chunk) // 2
            await self._answer(kind, chunk[:middle], users, answers, errors)
            await self._answer(kind, chunk[middle:], users, answers, errors)
            return
        except Exception as error:
            errors.update(dict.fromkeys(chunk, error))
            return
        share = (time.perf_counter() - began) / sum(users[r] for r in chunk)
        for request, result, hit in zip(chunk, results, cached, strict=True):
            answers[request] = _Answer(result, hit, share)

    async def _call_backend(self, kind: Kind, chunk: list[Any]) -> tuple[list[Any], list[bool]]:
        self.backend_calls += 1
        self.backend_requests += len(chunk)
        log.debug("%s batch of %d", kind, len(chunk))
        if kind == "prompt_logprobs":
            return list(self.lm.prompt_logprobs(chunk)), [False] * len(chunk)  # type: ignore[attr-defined]
        if isinstance(self.lm, CachedLM):
            if kind == "loglikelihood":
                return await self.lm.aloglikelihood_with_hits(chunk)
            return await self.lm.agenerate_with_hits(chunk)
        if isinstance(self.lm, ReportsCacheHits):
            if kind == "loglikelihood":
                return self.lm.loglikelihood_with_hits(chunk)
            return self.lm.generate_with_hits(chunk)
        return await call_backend(self.lm, kind, chunk), [False] * len(chunk)


async def solve_traced(strategy: Solver, question: Question, lm: Any) -> Prediction:
    """Run `strategy.solve` with its LM calls recorded into the returned prediction's trace.

    The driver calls this for each question; a composite strategy calls it for an inner strategy to get the
    inner calls in a trace of their own (to put in `trace.children`) rather than in its own.
    """
    parent = _recorder.get()
    recorder = _Recorder(slot=parent.slot if parent else -1)
    token = _recorder.set(recorder)
    try:
        prediction = await strategy.solve(question, lm)
    finally:
        _recorder.reset(token)
    if prediction.question_id != question.id:
        raise ValueError(f"returned a prediction for question {prediction.question_id!r}")
    trace = prediction.trace.model_copy(
        update={"strategy": strategy.name, "calls": recorder.calls + prediction.trace.calls}
    )
    return prediction.model_copy(
        update={"trace": trace, "answer_text": question.answer_text(prediction.answer)}
    )
