"""Retrieval scoring, the information-retrieval solver of Clark et al. 2016 (Aristo) with sentence
embeddings: each option is scored by how close "question + option" comes to a sentence of a knowledge store
(e.g. GenericsKB). It makes no LM call. Alone it is a baseline that says how much the store knows; in
`ensemble(vote='scores')` beside `direct` it adds that evidence to the model's scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasonkit.registry import register_strategy
from reasonkit.strategies.direct import softmax
from reasonkit.strategies.memory_store import MemoryStore, QueryBatcher
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace


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
        if not isinstance(store, MemoryStore):
            try:
                store = MemoryStore.load(store)
            except FileNotFoundError as error:  # a ValueError reaches the user as a bad option, not a traceback
                raise ValueError(f"retrieval: option 'store': {error} (build one with `reasonkit memory`)") from error
        self.store = store
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
            confidence=softmax([s / self.temperature for s in similarities])[winner],
            trace=trace,
        )
