"""Retrieval scoring, the information-retrieval solver of Clark et al. 2016 (Aristo) with sentence
embeddings: each option is scored by how close "question + option" comes to a sentence of a knowledge store
(e.g. GenericsKB). It makes no LM call. Alone it is a baseline that says how much the store knows; in
`ensemble(vote='scores')` beside `direct` it adds that evidence to the model's scores.

Given a `threshold`, it also answers true/false statements: true when some entry comes that close. This is
the support score of retrieval-based fact checking: a false claim tends to sit farther from anything the
store says. The threshold is fitted on a train split
(`python -m reasonkit.benchmarks.studies.fit_threshold`), never on the split it is evaluated on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasonkit.registry import register_strategy
from reasonkit.strategies.direct import softmax
from reasonkit.strategies.memory_store import MemoryHit, MemoryStore, QueryBatcher
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace


def option_query(question: Question, option: str) -> str:
    return f"{question.text} {option}"


def nearest_hits(store: MemoryStore, texts: list[str]) -> list[list[MemoryHit]]:
    """Each text's most similar entry, as a one-hit list; threshold -1 keeps it even when its cosine
    similarity is negative."""
    return store.search_many(texts, k=1, threshold=-1.0)


@register_strategy("retrieval")
class Retrieval(Strategy):
    """The option whose query has the most similar entry in `store` wins; with `threshold`, a statement is
    true when its most similar entry is at least that similar.

    `Prediction.scores` are the cosine similarities (for a statement: "True" its similarity, "False" the
    threshold); `confidence` is their softmax at `temperature`.
    """

    name = "retrieval"

    def __init__(
        self, store: MemoryStore | str | Path, temperature: float = 0.05, threshold: float | None = None
    ) -> None:
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
        if threshold is not None and not -1.0 <= threshold <= 1.0:
            raise ValueError(f"retrieval: threshold is a cosine similarity in [-1, 1], got {threshold}")
        self.threshold = threshold
        self.batcher = QueryBatcher(lambda queries: nearest_hits(self.store, queries))

    def applies_to(self, question: Question) -> bool:
        return question.options is not None or (question.is_binary and self.threshold is not None)

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": self.name,
            "store": str(self.store.path) if self.store.path is not None else None,
            "temperature": self.temperature,
        }
        if self.threshold is not None:  # absent otherwise, so older runs' fingerprints still match
            config["threshold"] = self.threshold
        return config

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        if not self.applies_to(question):
            trace.notes.append("retrieval scores options, or statements given a threshold; this question is neither")
            return Prediction(question_id=question.id, answer=None, trace=trace)
        queries = [question.text] if question.options is None else [option_query(question, o) for o in question.options]
        found = await self.batcher.search(queries)
        best = [hits[0] for hits in found]
        similarities = [hit.similarity for hit in best]
        if question.options is None and self.threshold is not None:  # a statement (applies_to)
            similarities.append(self.threshold)  # "False" scores the threshold: true iff the statement reaches it
        winner = max(range(len(similarities)), key=lambda i: (similarities[i], -i))
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
