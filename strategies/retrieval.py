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
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, ConfigDict, Field
from pydantic.dataclasses import dataclass

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


def loaded_store(value: MemoryStore | str | Path) -> MemoryStore:
    """The store as given or from its folder (a spec gives a path); one with no entries could answer nothing."""
    if isinstance(value, MemoryStore):
        store = value
    elif not isinstance(value, str | Path):
        raise ValueError(f"expected a store folder or a MemoryStore, got {type(value).__name__}")
    else:
        try:
            store = MemoryStore.load(value)
        except FileNotFoundError as error:  # a ValueError reaches the user as a bad option, not a traceback
            raise ValueError(f"{error} (build one with `reasonkit memory`)") from error
    if len(store) == 0:
        raise ValueError(f"the store at {store.path} holds no entries")
    return store


@register_strategy("retrieval")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class Retrieval(Strategy):
    """The option whose query has the most similar entry in `store` wins; with `threshold`, a statement is
    true when its most similar entry is at least that similar.

    `Prediction.scores` are the cosine similarities (for a statement: "True" its similarity, "False" the
    threshold); `confidence` is their softmax at `temperature`.
    """

    name: ClassVar[str] = "retrieval"

    store: Annotated[MemoryStore, BeforeValidator(loaded_store)]
    temperature: float = Field(0.05, gt=0.0)
    threshold: float | None = Field(None, ge=-1.0, le=1.0, description="a cosine similarity")

    def __post_init__(self) -> None:
        batcher = QueryBatcher(lambda queries: nearest_hits(self.store, queries))
        object.__setattr__(self, "batcher", batcher)  # state, not an option: frozen fields stay as given

    def applies_to(self, question: Question) -> bool:
        return question.options is not None or (question.is_binary and self.threshold is not None)

    def config(self) -> dict[str, Any]:
        """The store by its folder; no threshold when none is set, so older runs' fingerprints still match."""
        config = super().config()
        config["store"] = str(self.store.path) if self.store.path is not None else None
        if self.threshold is None:
            del config["threshold"]
        return config

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        trace = Trace(strategy=self.name)
        if not self.applies_to(question):
            trace.notes.append(
                "retrieval scores options, or statements given a threshold; this question is neither"
            )
            return Prediction(question_id=question.id, answer=None, trace=trace)
        queries = (
            [question.text]
            if question.options is None
            else [option_query(question, o) for o in question.options]
        )
        found = await self.batcher.search(queries)
        best = [hits[0] for hits in found]
        similarities = [hit.similarity for hit in best]
        if question.options is None and self.threshold is not None:  # a statement (applies_to)
            similarities.append(
                self.threshold
            )  # "False" scores the threshold: true iff the statement reaches it
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
