"""Token-by-token streaming: the decode loop's listeners, the backend moved off the event loop while a stream
waits on it, and the text a stream may already send.

A local backend computes on the thread that calls it. Called on the event loop (as the server does, so that
requests arriving meanwhile wait in the socket and form the next batch), nothing can be written to a stream
until the whole batch is done. So while any request of a batch is streamed, `StreamingBackend` runs the
batch in a worker thread and the loop goes on sending tokens; otherwise it calls the backend inline as
before. One lock keeps the model to one batch at a time either way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import ExitStack
from typing import Any, TypeVar

from reasonkit.decoding import token_listeners
from reasonkit.protocol import (
    AsyncLanguageModel,
    GenerationRequest,
    GenerationResult,
    LanguageModel,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    PromptLogprobsRequest,
    PromptLogprobsResult,
)

T = TypeVar("T")


class StreamingBackend:
    """`lm` for the server's batcher: generation batches that a stream waits on run in a worker thread."""

    def __init__(self, lm: LanguageModel) -> None:
        self.lm = lm
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return self.lm.fingerprint

    def _locked(self, call: Callable[[], T]) -> T:
        with self._lock:
            return call()

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self._locked(lambda: self.lm.loglikelihood(requests))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return self._locked(lambda: self.lm.generate(requests))

    def prompt_logprobs(self, requests: Sequence[PromptLogprobsRequest]) -> list[PromptLogprobsResult]:
        return self._locked(lambda: self.lm.prompt_logprobs(requests))  # type: ignore[attr-defined]

    async def aloglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        if isinstance(self.lm, AsyncLanguageModel):
            return list(await self.lm.aloglikelihood(requests))
        return await self._off_loop_if(self._lock.locked(), lambda: self.lm.loglikelihood(requests))

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if isinstance(self.lm, AsyncLanguageModel):
            return list(await self.lm.agenerate(requests))
        streamed = any(token_listeners.of(request) for request in requests)
        return await self._off_loop_if(streamed or self._lock.locked(), lambda: self.lm.generate(requests))

    async def _off_loop_if(self, thread: bool, call: Callable[[], T]) -> T:
        """In a worker thread (the loop keeps streaming), or inline when nothing streams and the model is free."""
        if thread:
            return await asyncio.to_thread(self._locked, call)
        return self._locked(call)


def stable_text(text: str, stops: Sequence[str]) -> str:
    """The part of a growing sample's text that later tokens cannot change: without a trailing replacement
    character (an incomplete UTF-8 sequence) and without a tail that could still begin a stop string."""
    text = text.rstrip("\ufffd")
    hold = max((k for stop in stops for k in range(1, len(stop)) if text.endswith(stop[:k])), default=0)
    return text[: len(text) - hold]


class ChoiceStreams:
    """The texts of a response's choices as the backend generates them, delivered on the event loop.

    `listen(request, first_index)` registers the decode loop's listener for one request: its sample k is
    choice `first_index + k`. `deltas()` yields (choice index, new text) as tokens come, until `work` is done.
    """

    def __init__(self, stops: Sequence[str], shown: Callable[[str], str] = lambda text: text) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._stops = stops
        self._shown = shown  # what of a sample's text the client sees (e.g. chat strips leading space)
        self._sent: dict[int, str] = {}
        self._listening = ExitStack()

    def listen(self, request: GenerationRequest, first_index: int) -> None:
        def heard(sample_index: int, text: str) -> None:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (first_index + sample_index, text))

        self._listening.enter_context(token_listeners.listening(request, heard))

    def close(self) -> None:
        self._listening.close()

    def delta(self, index: int, text: str, *, final: bool = False) -> str:
        """The text of choice `index` not sent yet; unless `final`, only what later tokens cannot change."""
        shown = self._shown(text if final else stable_text(text, self._stops))
        sent = self._sent.get(index, "")
        if not final and not shown.startswith(sent):
            return ""
        self._sent[index] = shown
        return shown[len(sent) :] if shown.startswith(sent) else shown

    async def deltas(self, work: asyncio.Future[Any]) -> AsyncIterator[tuple[int, str]]:
        """(choice index, new text) as tokens arrive, until `work` is done (its result is not awaited here)."""
        while True:
            got = asyncio.ensure_future(self._queue.get())
            await asyncio.wait({got, work}, return_when=asyncio.FIRST_COMPLETED)
            if not got.done():
                got.cancel()
            items = [got.result()] if got.done() and not got.cancelled() else []
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            for index, text in items:
                if new := self.delta(index, text):
                    yield index, new
            if work.done() and self._queue.empty():
                return
