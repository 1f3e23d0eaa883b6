"""The one micro-batcher: what the coroutines in flight on an event loop submit goes out together.

A model (or a sentence encoder) is many times faster on one batch of a few hundred inputs than on a few
hundred calls of one, and the coroutines (one per question) each submit a few inputs and wait. A submission
is parked; a flusher task yields to the other coroutines until `idle_rounds` event-loop rounds pass with no
new submission, or, when the caller says how many submitters are running, until every one of them waits.
Then everything waiting is handed to `send` in one list per group (groups go out together, in the order
given), and each submitter wakes with the results of its own items. The LM client (`reasonkit.client`) and the
memory store's searches (`reasonkit.strategies.memory_store`) both batch through this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["MicroBatcher", "Send"]

T = TypeVar("T")
R = TypeVar("R")

Send = Callable[[str, list[T]], Awaitable[Sequence[R | BaseException]]]
"""(group, items) -> one result per item, or the error that item failed with (its submitter gets it)."""


@dataclass(eq=False)
class _Waiting(Generic[T, R]):
    items: list[T]
    group: str
    owner: int | None
    future: asyncio.Future[list[R]]


class MicroBatcher(Generic[T, R]):
    """Gathers submissions into batches for `send`.

    `groups`: the groups a submission may name, sent in this order. `running`: how many submitters are
    running (None: unknown); once each of them has a submission waiting or out, the batch is complete and
    goes after one quiet round instead of `idle_rounds`. If `send` raises, every item it was given fails.
    """

    def __init__(
        self,
        send: Send[T, R],
        idle_rounds: int = 4,
        groups: Sequence[str] = ("",),
        running: Callable[[], int] | None = None,
    ) -> None:
        self.idle_rounds = idle_rounds
        self.groups = tuple(groups)
        self._send = send
        self._running = running
        self._pending: list[_Waiting[T, R]] = []
        self._out: list[_Waiting[T, R]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._flushers: set[asyncio.Task[None]] = set()  # strong references while they send

    async def submit(self, items: Sequence[T], group: str = "", owner: int | None = None) -> list[R]:
        """The results of `items`, in order, once their batch has been sent. `owner` names the submitter
        (e.g. the question's slot) for the `running` rule."""
        if group not in self.groups:
            raise ValueError(f"micro-batcher: unknown group {group!r}, expected one of {self.groups}")
        loop = asyncio.get_running_loop()
        if self._flusher is not None and self._flusher.get_loop() is not loop:
            # left by a run whose loop is gone (e.g. stopped by an error): nobody waits on them, and that
            # loop's flusher will never run, so this loop needs its own
            self._pending, self._out, self._flusher = [], [], None
        waiting = _Waiting(list(items), group, owner, loop.create_future())
        self._pending.append(waiting)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_when_idle())
            self._flushers.add(self._flusher)
            self._flusher.add_done_callback(self._flushers.discard)
        return await waiting.future

    def _all_waiting(self) -> bool:
        if self._running is None:
            return False
        running = self._running()
        out = [w for w in self._out if not w.future.done()]
        owners = {w.owner for w in (*self._pending, *out) if w.owner is not None}
        return running > 0 and len(owners) >= running

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
        self._flusher = None  # while these are out (an async send), new submissions gather and go meanwhile
        self._out.extend(pending)
        try:
            if len(self.groups) == 1:
                await self._send_group(self.groups[0], pending)
            else:
                await asyncio.gather(
                    *(self._send_group(g, [w for w in pending if w.group == g]) for g in self.groups)
                )
        finally:
            self._out = [w for w in self._out if w not in pending]

    async def _send_group(self, group: str, waiting: list[_Waiting[T, R]]) -> None:
        waiting = [w for w in waiting if not w.future.done()]  # a cancelled submitter no longer waits
        if not waiting:
            return
        items = [item for w in waiting for item in w.items]
        try:
            results: Sequence[R | BaseException] = await self._send(group, items)
            if len(results) != len(items):
                raise RuntimeError(f"micro-batcher: {len(results)} results for {len(items)} items")
        except Exception as error:  # every waiting submitter gets the error; none is dropped
            results = [error] * len(items)
        start = 0
        for w in waiting:
            mine = results[start : start + len(w.items)]
            start += len(w.items)
            if w.future.done():  # cancelled while its batch was out
                continue
            failed = next((r for r in mine if isinstance(r, BaseException)), None)
            if failed is not None:
                w.future.set_exception(failed)
            else:
                w.future.set_result(list(mine))  # type: ignore[arg-type]
