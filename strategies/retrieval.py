"""Retrieval scoring, the information-retrieval solver of Clark et al. 2016 (Aristo) with sentence
embeddings: each option is scored by how close "question + option" comes to a sentence of a knowledge store
(e.g. GenericsKB). It makes no LM call. Alone it is a baseline that says how much the store knows; in
`ensemble(vote='scores')` beside `direct` it adds that evidence to the model's scores.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reasonkit.registry import register_strategy
from reasonkit.strategies.memory_store import MemoryHit, MemoryStore
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace


class QueryBatcher:
    """Gathers the option queries of every question in flight into one encoder call, as the batching client
    does for LM calls: the sentence encoder is many times faster on a few hundred texts than on five.

    A question's queries wait until `idle_rounds` event-loop rounds pass with no new query, then all waiting
    queries are searched at once and each question gets its own hits.
    """

    def __init__(self, search: Callable[[list[str]], list[list[MemoryHit]]], idle_rounds: int = 4) -> None:
        self._search = search
        self.idle_rounds = idle_rounds
        self.encoder_calls = 0
        self._pending: list[tuple[list[str], asyncio.Future[list[list[MemoryHit]]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def search(self, queries: list[str]) -> list[list[MemoryHit]]:
        loop = asyncio.get_running_loop()
        if self._flusher is not None and self._flusher.get_loop() is not loop:
            self._pending = []  # left by a run whose loop is gone (e.g. stopped by an error): nobody waits
        future: asyncio.Future[list[list[MemoryHit]]] = loop.create_future()
        self._pending.append((queries, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_when_idle())
        return await future

    async def _flush_when_idle(self) -> None:
        quiet = 0
        while quiet < self.idle_rounds:
            size = len(self._pending)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self._pending) == size else 0
        pending, self._pending = self._pending, []
        pending = [(queries, future) for queries, future in pending if not future.done()]
        self.encoder_calls += 1
        try:
            hits = self._search([query for queries, _ in pending for query in queries])
        except Exception as error:  # every waiting question gets the error; none is dropped
            for _, future in pending:
                future.set_exception(error)
            return
        start = 0
        for queries, future in pending:
            future.set_result(hits[start : start + len(queries)])
            start += len(queries)


def option_query(question: Question, option: str) -> str:
    return f"{question.text} {option}"


@register_strategy("retrieval")
class Retrieval(Strategy):
    """Multiple choice only: the option whose query has the most similar entry in `store` wins.

    `Prediction.scores` are the cosine similarities; `confidence` is their softmax at `temperature`.
    """

    name = "retrieval"

    def __init__(self, store: MemoryStore | str | Path, temperature: float = 0.05) -> None:
        if temperature <= 0:
            raise ValueError(f"retrieval: temperature must be > 0, got {temperature}")
        self.store = store if isinstance(store, MemoryStore) else MemoryStore.load(store)
        if len(self.store) == 0:
            raise ValueError(f"retrieval: the store at {self.store.path} holds no entries")
        self.temperature = temperature
        # threshold -1: the nearest entry counts even when its cosine similarity is negative
        self.batcher = QueryBatcher(lambda queries: self.store.search_many(queries, k=1, threshold=-1.0))

    def applies_to(self, question: Question) -> bool:
        return question.options is not None

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "store": str(self.store.path) if self.store.path is not None else None,
            "temperature": self.temperature,
        }

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        if question.options is None:
            trace.notes.append("retrieval scores options; this question has none")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        queries = [option_query(question, option) for option in question.options]
        found = await self.batcher.search(queries)
        best = [hits[0] for hits in found]
        similarities = [hit.similarity for hit in best]
        winner = max(range(len(best)), key=lambda i: (similarities[i], -i))
        exps = [math.exp((s - similarities[winner]) / self.temperature) for s in similarities]
        trace.steps = {
            "retrieved": [
                {"query": query, "key": hit.entry.key, "value": hit.entry.value, "similarity": hit.similarity}
                for query, hit in zip(queries, best, strict=True)
            ]
        }
        return Prediction(
            question_id=question.id,
            answer=question.answer_of(winner),
            scores=dict(zip(question.choices, similarities, strict=True)),
            confidence=exps[winner] / sum(exps),
            trace=trace,
        )
