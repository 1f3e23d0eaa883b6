"""The one micro-batcher (reasonkit.microbatch) under the LM client and the memory store's searches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from reasonkit.microbatch import MicroBatcher


class Recorder:
    """A `send` that doubles numbers, records each batch, and fails the items listed in `bad`."""

    def __init__(self, bad: Sequence[int] = (), broken: bool = False) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.bad = set(bad)
        self.broken = broken

    async def __call__(self, group: str, items: list[int]) -> list[int | BaseException]:
        self.batches.append((group, items))
        if self.broken:
            raise RuntimeError("device lost")
        return [ValueError(f"bad item {i}") if i in self.bad else 2 * i for i in items]


def test_submissions_in_flight_go_out_as_one_batch_and_each_gets_its_own_results() -> None:
    send = Recorder()
    batcher: MicroBatcher[int, int] = MicroBatcher(send)

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(5)))

    assert asyncio.run(main()) == [[2 * i, 2 * i + 200] for i in range(5)]
    assert send.batches == [("", [0, 100, 1, 101, 2, 102, 3, 103, 4, 104])]


def test_groups_go_out_separately_in_their_order_and_an_error_stays_in_its_group() -> None:
    send = Recorder(bad=[7])
    batcher: MicroBatcher[int, int] = MicroBatcher(send, groups=("first", "second"))

    async def main() -> list[list[int] | BaseException]:
        return await asyncio.gather(
            batcher.submit([1], "second"),
            batcher.submit([2], "first"),
            batcher.submit([7, 3], "first"),
            return_exceptions=True,
        )

    one, two, failed = asyncio.run(main())
    assert (one, two) == ([2], [4])
    assert isinstance(failed, ValueError) and "bad item 7" in str(failed)
    assert send.batches == [("first", [2, 7, 3]), ("second", [1])]
    with pytest.raises(ValueError, match="unknown group 'third'"):
        asyncio.run(batcher.submit([1], "third"))


def test_a_failing_send_fails_every_submitter_in_the_batch() -> None:
    batcher: MicroBatcher[int, int] = MicroBatcher(Recorder(broken=True))

    async def main() -> list[list[int] | BaseException]:
        return await asyncio.gather(*(batcher.submit([i]) for i in range(3)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, RuntimeError) and str(o) == "device lost" for o in outcomes)


def test_a_batch_goes_as_soon_as_every_running_submitter_waits() -> None:
    """With `running` known, the batch does not wait out `idle_rounds` once both submitters wait."""
    rounds = 0

    async def main() -> int:
        nonlocal rounds
        send = Recorder()
        batcher: MicroBatcher[int, int] = MicroBatcher(send, idle_rounds=1000, running=lambda: 2)

        async def count() -> None:
            nonlocal rounds
            while not send.batches:
                rounds += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count())
        await asyncio.gather(batcher.submit([1], owner=0), batcher.submit([2], owner=1))
        await counter
        return len(send.batches)

    assert asyncio.run(main()) == 1
    assert rounds < 1000


def test_a_submitter_cancelled_while_its_batch_is_out_leaves_the_others_their_results() -> None:
    out, go = asyncio.Event(), asyncio.Event()

    async def slow(group: str, items: list[int]) -> list[int | BaseException]:
        out.set()
        await go.wait()
        return list(items)

    async def main() -> list[int]:
        batcher: MicroBatcher[int, int] = MicroBatcher(slow)
        first = asyncio.create_task(batcher.submit([1]))
        second = asyncio.create_task(batcher.submit([2]))
        await out.wait()
        first.cancel()
        go.set()
        return await asyncio.wait_for(second, timeout=30)

    assert asyncio.run(main()) == [2]
