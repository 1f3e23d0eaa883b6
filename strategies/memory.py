"""Memory (MemPrompt, Madaan et al. 2022): facts and feedback similar to the question go into its prompt.

`WithMemory` wraps any strategy without its cooperation: the retrieved entries become "Note: ..." lines
before the question's text, and the inner strategy answers that augmented question. Feedback given on one
answer (`feedback`) is stored and reaches later questions that are similar enough.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, ConfigDict, Field
from pydantic.dataclasses import dataclass

from reasonkit.client import solve_traced
from reasonkit.registry import register_strategy
from reasonkit.strategies.memory_store import MemoryHit, MemoryStore, QueryBatcher
from reasonkit.strategies.prompts import NOTE_PREFIX
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace


def notes_text(hits: list[MemoryHit]) -> str:
    """The lines put before the question: one "Note: <value>" line per retrieved entry, most similar first."""
    return "".join(f"{NOTE_PREFIX}{' '.join(hit.entry.value.split())}\n" for hit in hits)


def with_notes(question: Question, hits: list[MemoryHit]) -> Question:
    """The question with its notes prepended (unchanged when nothing was similar enough)."""
    if not hits:
        return question
    return question.model_copy(update={"text": notes_text(hits) + question.text})


def as_store(value: MemoryStore | str | Path | None) -> MemoryStore:
    """A store as given, or the store in a folder (a spec gives a path: "memory(inner=direct, store='memory/')"),
    or a new empty one for None."""
    return value if isinstance(value, MemoryStore) else MemoryStore(value)


@register_strategy("memory")
@dataclass(frozen=True, repr=False, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class WithMemory(Strategy):
    """`inner` answers the question with the `k` most similar memory entries (similarity >= `threshold`)."""

    name: ClassVar[str] = "memory"

    inner: Strategy
    store: Annotated[MemoryStore, BeforeValidator(as_store)] = Field(None, validate_default=True)
    k: int = Field(3, ge=1)
    threshold: float = Field(0.5, ge=-1.0, le=1.0, description="a cosine similarity")

    def __post_init__(self) -> None:
        batcher = QueryBatcher(
            lambda texts: self.store.search_many(texts, k=self.k, threshold=self.threshold)
        )
        object.__setattr__(self, "batcher", batcher)  # state, not an option: frozen fields stay as given

    def applies_to(self, question: Question) -> bool:
        return self.inner.applies_to(question)

    def config(self) -> dict[str, Any]:
        """The store by its folder (None for one held in memory), last, as runs recorded it before."""
        config = {key: value for key, value in super().config().items() if key != "store"}
        config["store"] = str(self.store.path) if self.store.path is not None else None
        return config

    def augment(self, question: Question) -> tuple[Question, list[MemoryHit]]:
        """The question with its notes prepended (unchanged when nothing is similar enough) and the hits."""
        hits = self.store.search(question.text, k=self.k, threshold=self.threshold)
        return with_notes(question, hits), hits

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        hits = (await self.batcher.search([question.text]))[0]  # batched with the other questions in flight
        augmented = with_notes(question, hits)
        inner = await solve_traced(self.inner, augmented, lm)
        trace = Trace(
            strategy=self.name,
            steps={
                "retrieved": [
                    {**hit.entry.model_dump(), "similarity": hit.similarity, "index": hit.index}
                    for hit in hits
                ],
                "prompt_text": augmented.text,
            },
            notes=[f"{len(hits)} memory entries above similarity {self.threshold}"],
            children=[inner.trace],
        )
        return inner.model_copy(update={"trace": trace})

    def feedback(self, question: Question | str, correction: str) -> None:
        """Remember `correction` for this question (saved at once when the store has a path)."""
        text = question.text if isinstance(question, Question) else question
        self.store.feedback(text, correction)
        if self.store.path is not None:
            self.store.save()


def corrections_text(row: dict[str, Any]) -> str | None:
    """Training formatter ("reasonkit.strategies.memory:corrections_text") for the corrections suite's TRAIN
    rows: the question answered with its correction given as a memory note, then without it (the old
    answer), so the model learns to follow notes exactly as WithMemory writes them. A row whose metadata
    holds the "fact" it corrects (the suite's note drills) starts with that fact, so the note must win over
    a fact in view as well as one learned."""
    from reasonkit.strategies.prompts import direct_example

    question = Question.model_validate(row)
    meta = question.metadata
    if question.split != "train" or question.options is None or "correction" not in meta:
        return None
    noted = direct_example(
        f"{NOTE_PREFIX}{meta['correction']}\n{question.text}", question.options, question.gold
    )
    plain = direct_example(question.text, question.options, question.options.index(meta["original"]))
    fact = f"{meta['fact']}\n\n" if "fact" in meta else ""
    return f"{fact}{noted}\n\n{plain}"
