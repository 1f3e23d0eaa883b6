"""Retrieval scoring with the real all-MiniLM-L6-v2 encoder over a small store: no LM call is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasonkit.driver import QuestionError
from reasonkit.fake import FakeLM
from reasonkit.registry import StrategySpecError, build_strategy
from reasonkit.strategies.memory_store import MemoryEntry, MemoryHit, MemoryStore
from reasonkit.strategies.retrieval import Retrieval
from reasonkit.types import Question

FACTS = [
    "Spiders have eight legs.",
    "Revolving doors are common at the entrances of banks.",
    "Penguins live in Antarctica.",
    "Milk is kept in a refrigerator.",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MemoryStore:
    store = MemoryStore(tmp_path_factory.mktemp("retrieval") / "store")
    store.add_many(MemoryEntry(key=fact, value=fact) for fact in FACTS)
    store.save()
    return store


def test_the_option_whose_query_meets_a_fact_wins_and_no_lm_call_is_made(store: MemoryStore) -> None:
    question = Question(
        id="q", text="Where do you keep milk cold?", options=("oven", "refrigerator", "garden"), gold=1
    )
    prediction = Retrieval(store).run(question, FakeLM())
    assert prediction.answer == 1
    assert max(prediction.scores, key=prediction.scores.__getitem__) == "refrigerator"
    assert 1 / 3 < prediction.confidence <= 1.0
    retrieved = prediction.trace.steps["retrieved"]
    assert [r["query"] for r in retrieved] == [f"Where do you keep milk cold? {o}" for o in question.options]
    assert retrieved[1]["key"] == "Milk is kept in a refrigerator."
    assert prediction.trace.calls == []


def test_only_multiple_choice_and_a_spec_loads_the_store_folder(store: MemoryStore) -> None:
    retrieval = build_strategy(f"retrieval(store='{store.path}', temperature=0.1)")
    assert isinstance(retrieval, Retrieval) and len(retrieval.store) == len(FACTS)
    assert retrieval.config() == {"name": "retrieval", "store": str(store.path), "temperature": 0.1}
    statement = Question(id="s", text="Spiders have six legs.", gold=False)
    assert not retrieval.applies_to(statement)
    assert retrieval.run(statement, FakeLM()).abstained


def test_with_a_threshold_a_statement_is_true_when_some_entry_comes_that_close(store: MemoryStore) -> None:
    near = Question(id="near", text="Penguins live in Antarctica.", gold=True)
    far = Question(id="far", text="Volcanoes erupt during elections.", gold=False)
    similarity = {q.id: store.search(q.text, k=1, threshold=-1.0)[0].similarity for q in (near, far)}
    assert similarity["near"] > 0.99 and similarity["far"] < 0.5
    retrieval = build_strategy(f"retrieval(store='{store.path}', threshold=0.5)")
    assert retrieval.config()["threshold"] == 0.5
    assert [retrieval.run(q, FakeLM()).answer for q in (near, far)] == [True, False]
    prediction = retrieval.run(far, FakeLM())
    assert prediction.scores == pytest.approx({"True": similarity["far"], "False": 0.5})
    assert prediction.trace.steps["retrieved"][0]["query"] == far.text and prediction.trace.calls == []
    at_the_threshold = Retrieval(store, threshold=similarity["far"]).run(far, FakeLM())
    assert at_the_threshold.answer is True  # "True" at or above the threshold


def test_bad_options_are_named(tmp_path: Path, store: MemoryStore) -> None:
    with pytest.raises(ValueError, match=r"temperature\n.*greater than 0"):
        Retrieval(store, temperature=0)
    with pytest.raises(ValueError, match=r"threshold\n.*less than or equal to 1"):
        Retrieval(store, threshold=1.5)
    with pytest.raises(ValueError, match=r"memory store: no entries.jsonl in .*reasonkit memory"):
        Retrieval(tmp_path / "missing")
    with pytest.raises(StrategySpecError, match=r"option 'store' = .*: memory store: no entries.jsonl in "):
        build_strategy(f"retrieval(store={str(tmp_path / 'missing')!r})")


def test_a_store_that_is_no_path_is_a_spec_error() -> None:
    with pytest.raises(StrategySpecError, match=r"option 'store' = None: .*a store folder"):
        build_strategy({"name": "retrieval", "store": None})


def test_questions_in_flight_share_one_encoder_call_and_get_their_own_hits(store: MemoryStore) -> None:
    questions = [
        Question(
            id=f"q{i}", text=text, options=("refrigerator", "bank", "Antarctica", "eight legs"), gold=gold
        )
        for i, (text, gold) in enumerate(
            [
                ("Where is milk kept?", 0),
                ("Where are revolving doors common?", 1),
                ("Where do penguins live?", 2),
            ]
            * 4
        )
    ]
    batched = Retrieval(store)
    together = batched.run_many(questions, FakeLM(), concurrency=64)
    assert batched.batcher.encoder_calls == 1
    alone = Retrieval(store)
    one_by_one = [alone.run(q, FakeLM()) for q in questions]
    assert alone.batcher.encoder_calls == len(questions)
    assert [p.answer for p in together] == [p.answer for p in one_by_one] == [q.gold for q in questions]
    for a, b in zip(together, one_by_one, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_an_encoder_failure_reaches_every_waiting_question(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    retrieval = Retrieval(store)

    def broken(queries: list[str], k: int, threshold: float) -> list[list[MemoryHit]]:
        raise RuntimeError("encoder lost")

    monkeypatch.setattr(store, "search_many", broken)
    questions = [
        Question(id=f"q{i}", text="Where is milk kept?", options=("a", "b"), gold=0) for i in range(3)
    ]
    with pytest.raises(QuestionError, match="encoder lost"):
        retrieval.run_many(questions, FakeLM())
