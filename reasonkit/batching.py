"""Cross-question batching and call tracing, so strategies hold no batching or tracing code.

The runner solves many questions at once, each as an asyncio task. When a strategy awaits
`lm.loglikelihood(...)` or `lm.generate(...)`, the `BatchingClient` parks the request and lets the other
tasks run; once every question in flight waits on the model (or no new request arrived for a few event-loop
rounds, e.g. because one question awaits something else), it sends everything waiting to the backend in
chunks of `max_batch` (identical requests sent once, sorted by length so batches pad little) and wakes each
question with its own results. A backend with the async protocol (`AsyncLanguageModel`, e.g. one waiting on
a server) is awaited, and requests gathered while a batch is out are sent meanwhile. Each request is recorded
as an `LMCall` in the trace of the question that made it, found through a context variable the runner sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from reasonkit.cache import CachedLM, ReportsCacheHits
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
from reasonkit.strategy import Strategy
from reasonkit.types import LMCall, Prediction, Question, Trace

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


@dataclass
class _Outcome:
    results: list[Any]
    cached: list[bool]
    latency_s: list[float]


@dataclass
class _Pending:
    kind: Kind
    requests: list[BaseModel]
    future: asyncio.Future[_Outcome]
    slot: int | None


class QuestionError(RuntimeError):
    """A strategy failed on one question; the message names the question and the strategy."""

    def __init__(self, question_id: str, strategy: str, error: BaseException) -> None:
        super().__init__(
            f"question {question_id!r}: strategy {strategy!r} failed: {type(error).__name__}: {error}"
        )
        self.question_id = question_id


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
        self.idle_rounds = idle_rounds
        self.backend_calls = 0
        self.backend_requests = 0
        self._pending: list[_Pending] = []
        self._in_flight: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flushers: set[asyncio.Task[None]] = set()  # strong references while they send
        self._active_slots = 0

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

    def question_started(self) -> None:
        self._active_slots += 1

    def question_finished(self) -> None:
        self._active_slots -= 1

    async def _submit(self, kind: Kind, requests: Sequence[BaseModel]) -> list[Any]:
        if not requests:
            return []
        recorder = _recorder.get()
        loop = asyncio.get_running_loop()
        pending = _Pending(kind, list(requests), loop.create_future(), recorder.slot if recorder else None)
        self._pending.append(pending)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_when_idle())
            self._flushers.add(self._flusher)
            self._flusher.add_done_callback(self._flushers.discard)
        outcome = await pending.future
        if recorder is not None:
            for request, result, cached, latency in zip(
                pending.requests, outcome.results, outcome.cached, outcome.latency_s, strict=True
            ):
                recorder.calls.append(
                    LMCall(
                        kind=kind,
                        request=request.model_dump(mode="json"),
                        output=result.model_dump(mode="json"),
                        latency_s=latency,
                        cached=cached,
                    )
                )
        return outcome.results

    def _all_waiting(self) -> bool:
        out = [p for p in self._in_flight if not p.future.done()]
        waiting = {p.slot for p in (*self._pending, *out) if p.slot is not None}
        return self._active_slots > 0 and len(waiting) >= self._active_slots

    async def _flush_when_idle(self) -> None:
        """Yield to the other tasks until the batch is complete, then send it."""
        quiet = 0
        while True:
            size = len(self._pending)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self._pending) == size else 0
            if quiet >= self.idle_rounds or (quiet >= 1 and self._all_waiting()):
                break
        pending, self._pending = self._pending, []
        self._flusher = None  # while these are out (an async backend), new requests gather and go meanwhile
        self._in_flight.extend(pending)
        try:
            await asyncio.gather(*(self._send(kind, [p for p in pending if p.kind == kind]) for kind in _KINDS))
        finally:
            self._in_flight = [p for p in self._in_flight if p not in pending]

    async def _send(self, kind: Kind, group: list[_Pending]) -> None:
        group = [p for p in group if not p.future.done()]  # a cancelled question no longer waits
        unique = sorted(dict.fromkeys(r for p in group for r in p.requests), key=_length, reverse=True)
        answers: dict[BaseModel, tuple[Any, bool, float]] = {}
        errors: dict[BaseModel, BaseException] = {}
        users = {r: 0 for r in unique}
        for p in group:
            for r in p.requests:
                users[r] += 1
        await asyncio.gather(
            *(
                self._answer(kind, unique[start : start + self.max_batch], users, answers, errors)
                for start in range(0, len(unique), self.max_batch)
            )
        )
        for p in group:
            failed = next((errors[r] for r in p.requests if r in errors), None)
            if failed is not None:
                p.future.set_exception(failed)
            else:
                got = [answers[r] for r in p.requests]
                p.future.set_result(_Outcome([g[0] for g in got], [g[1] for g in got], [g[2] for g in got]))

    async def _answer(
        self,
        kind: Kind,
        chunk: list[Any],
        users: dict[Any, int],
        answers: dict[Any, tuple[Any, bool, float]],
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
            answers[request] = (result, hit, share)

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


def _client_for(lm: LanguageModel | BatchingClient) -> BatchingClient:
    return lm if isinstance(lm, BatchingClient) else BatchingClient(lm)


async def solve_traced(strategy: Strategy, question: Question, lm: Any) -> Prediction:
    """Run `strategy.solve` with its LM calls recorded into the returned prediction's trace.

    The runner calls this for each question; a composite strategy calls it for an inner strategy to get the
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
    return prediction.model_copy(update={"trace": trace, "answer_text": question.answer_text(prediction.answer)})


def _not_applicable(strategy: Strategy, question: Question) -> Prediction:
    note = f"strategy {strategy.name!r} does not apply to this question"
    return Prediction(question_id=question.id, answer=None, trace=Trace(strategy=strategy.name, notes=[note]))


def check_finite(prediction: Prediction) -> Prediction:
    """A NaN or infinite score (e.g. from a broken backend) is an error, never an answer: argmax over NaN picks
    an option arbitrarily and JSON would write it as null, leaving a results line that cannot be read back."""
    bad = {label: score for label, score in prediction.scores.items() if not math.isfinite(score)}
    if bad:
        raise ValueError(f"non-finite score {bad}")
    if prediction.confidence is not None and not math.isfinite(prediction.confidence):
        raise ValueError(f"non-finite confidence {prediction.confidence}")
    return prediction


async def _solve_one(strategy: Strategy, question: Question, client: BatchingClient, slot: int) -> Prediction:
    if not strategy.applies_to(question):
        return _not_applicable(strategy, question)
    token = _recorder.set(_Recorder(slot=slot))
    client.question_started()
    try:
        return check_finite(await solve_traced(strategy, question, client))
    except Exception as error:
        raise QuestionError(question.id, strategy.name, error) from error
    finally:
        client.question_finished()
        _recorder.reset(token)


async def iter_outcomes(
    strategy: Strategy,
    questions: Iterable[Question],
    lm: LanguageModel | BatchingClient,
    concurrency: int = 64,
) -> AsyncIterator[tuple[int, Prediction | QuestionError]]:
    """Yield (index, prediction) as each question finishes, with up to `concurrency` questions in flight; a
    question that fails yields (index, QuestionError) and the others go on. Closing the iterator cancels the
    questions in flight."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    client = _client_for(lm)
    todo = iter(enumerate(questions))
    done: asyncio.Queue[tuple[int, Prediction | QuestionError] | BaseException | None] = asyncio.Queue()

    async def worker(slot: int) -> None:
        try:
            for index, question in todo:
                outcome: Prediction | QuestionError
                try:
                    outcome = await _solve_one(strategy, question, client, slot)
                except QuestionError as error:
                    outcome = error
                await done.put((index, outcome))
        except Exception as error:
            await done.put(error)
        finally:
            await done.put(None)

    workers = [asyncio.create_task(worker(slot)) for slot in range(concurrency)]
    try:
        running = len(workers)
        while running:
            item = await done.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def iter_predictions(
    strategy: Strategy,
    questions: Iterable[Question],
    lm: LanguageModel | BatchingClient,
    concurrency: int = 64,
) -> AsyncIterator[tuple[int, Prediction]]:
    """Yield (index, prediction) as each question finishes, with up to `concurrency` questions in flight.

    The first failure cancels the questions in flight and raises `QuestionError` naming the question.
    """
    async with contextlib.aclosing(iter_outcomes(strategy, questions, lm, concurrency)) as outcomes:
        async for index, outcome in outcomes:
            if isinstance(outcome, QuestionError):
                raise outcome
            yield index, outcome


async def arun_questions(
    strategy: Strategy,
    questions: Sequence[Question],
    lm: LanguageModel | BatchingClient,
    concurrency: int = 64,
) -> list[Prediction]:
    predictions: list[Prediction | None] = [None] * len(questions)
    async for index, prediction in iter_predictions(strategy, questions, lm, concurrency):
        predictions[index] = prediction
    return [p for p in predictions if p is not None]


def run_questions(
    strategy: Strategy,
    questions: Sequence[Question],
    lm: LanguageModel | BatchingClient,
    concurrency: int = 64,
) -> list[Prediction]:
    """Answer `questions` in order, their LM calls batched across questions.

    Works inside a running event loop too (e.g. Jupyter) by running in a helper thread.
    """
    coroutine = arun_questions(strategy, list(questions), lm, concurrency)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller's thread below
            box["error"] = error

    thread = threading.Thread(target=target, name="reasonkit-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
