"""The memory store with the real all-MiniLM-L6-v2 encoder (loaded once per test process)."""

import asyncio
import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reasonkit.strategies import memory_store
from reasonkit.strategies.memory_store import DEFAULT_MODEL, MemoryEntry, MemoryStore, top_k

FACTS = {
    "The capital of Australia is Canberra.": "Canberra is the capital of Australia, not Sydney.",
    "Spiders have eight legs.": "A spider has eight legs; insects have six.",
    "Water boils at 100 degrees Celsius at sea level.": "At sea level water boils at 100 C.",
    "The Mona Lisa was painted by Leonardo da Vinci.": "Leonardo painted the Mona Lisa.",
}


@pytest.fixture(scope="module")
def store() -> MemoryStore:
    store = MemoryStore()
    assert store.add_many(MemoryEntry(key=key, value=value) for key, value in FACTS.items()) == len(FACTS)
    return store


def test_a_paraphrase_ranks_its_entry_above_unrelated_ones(store):
    hits = store.search("Which city is Australia's capital?", k=len(FACTS))
    assert hits[0].entry.key == "The capital of Australia is Canberra."
    assert hits[0].similarity > 0.5 > max(hit.similarity for hit in hits[1:])
    assert [hit.similarity for hit in hits] == sorted((hit.similarity for hit in hits), reverse=True)


def test_threshold_and_k_limit_the_hits(store):
    assert store.search("Who painted the Mona Lisa?", k=1)[0].entry.key.startswith("The Mona Lisa")
    assert len(store.search("Who painted the Mona Lisa?", k=2)) == 2
    assert store.search("How do I bake sourdough bread?", k=3, threshold=0.5) == []
    with pytest.raises(ValueError, match="k must be"):
        store.search("anything", k=0)


def test_search_many_gives_each_text_what_search_gives_it(store):
    texts = ["How many legs does a spider have?", "Who painted the Mona Lisa?", "capital city of Australia"]
    many = store.search_many(texts, k=2, threshold=0.2)
    for text, hits in zip(texts, many, strict=True):
        alone = store.search(text, k=2, threshold=0.2)
        assert [h.index for h in hits] == [h.index for h in alone]
        assert [h.similarity for h in hits] == pytest.approx([h.similarity for h in alone], abs=1e-5)
    assert MemoryStore().search_many(texts) == [[], [], []]


def test_saves_and_reloads_with_equal_search_results(store, tmp_path, monkeypatch):
    saved = MemoryStore()
    saved.add_many(store.entries)
    saved.feedback("Is a whale a fish?", "A whale is a mammal, not a fish.")
    path = saved.save(tmp_path / "memory")
    meta = json.loads((path / "meta.json").read_text())
    assert meta["embedding_model"] == DEFAULT_MODEL and meta["count"] == len(saved) == len(FACTS) + 1
    assert len((path / "entries.jsonl").read_text().splitlines()) == len(saved)
    assert np.load(path / "embeddings.npy", allow_pickle=False).shape == (len(saved), meta["dim"])
    assert not [p.name for p in path.iterdir() if p.name.endswith(".tmp")]

    # The saved embeddings are used as they are: loading computes none.
    def no_embedding(self, texts):
        raise AssertionError("embeddings should come from embeddings.npy")

    monkeypatch.setattr(MemoryStore, "embed", no_embedding)
    loaded = MemoryStore.load(path)
    monkeypatch.undo()
    assert loaded.entries == saved.entries and loaded.path == path
    for query in (
        "Which city is Australia's capital?",
        "Are whales fish?",
        "How many legs does a spider have?",
    ):
        assert loaded.search(query, k=3) == saved.search(query, k=3)


def test_hand_edited_entries_are_embedded_on_load(tmp_path):
    path = tmp_path / "m"
    first = MemoryStore(path)
    first.add("Paris is the capital of France.", "France's capital is Paris.")
    first.save()
    with open(path / "entries.jsonl", "a") as f:
        f.write(
            json.dumps({"key": "Octopuses have three hearts.", "value": "An octopus has 3 hearts."}) + "\n"
        )
    loaded = MemoryStore(path)
    assert len(loaded) == 2
    top = loaded.search("How many hearts does an octopus have?", k=1)[0]
    assert top.entry.key == "Octopuses have three hearts." and top.index == 1


def test_a_bad_entry_line_is_named_by_file_and_line(tmp_path):
    (tmp_path / "entries.jsonl").write_text('{"key": "a", "value": "b"}\n{"key": "", "value": "c"}\n')
    with pytest.raises(ValueError, match=r"entries\.jsonl:2"):
        MemoryStore.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="entries.jsonl"):
        MemoryStore.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="needs a path"):
        MemoryStore().save()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"key": "caf\xe9", "value": "c"}', "not UTF-8"),
        (b'{"key": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "JSON nested too deeply"),
    ],
    ids=["not-utf8", "deep"],
)
def test_entries_that_are_not_utf8_or_nested_too_deeply_are_named_by_file_and_line(tmp_path, line, problem):
    (tmp_path / "entries.jsonl").write_bytes(b'{"key": "a", "value": "b"}\n' + line + b"\n")
    with pytest.raises(ValueError, match=rf"entries\.jsonl:2: {problem}"):
        MemoryStore.load(tmp_path)


def test_feedback_replaces_earlier_feedback_and_duplicates_are_ignored():
    memory = MemoryStore()
    memory.add("Spiders have eight legs.", "Eight legs.")
    memory.add("Spiders have eight legs.", "Eight legs.")
    assert memory.add_many([MemoryEntry(key="Spiders have eight legs.", value="Eight legs.")]) == 0
    memory.feedback("Is a tomato a vegetable?", "A tomato is a fruit.")
    memory.feedback("Is a tomato a vegetable?", "Botanically, a tomato is a fruit.")
    assert [(e.kind, e.value) for e in memory.entries] == [
        ("fact", "Eight legs."),
        ("feedback", "Botanically, a tomato is a fruit."),
    ]


def test_the_encoder_is_loaded_once_and_offline(store):
    MemoryStore().add("One more store.", "Same encoder.")
    assert list(memory_store._encoders) == [DEFAULT_MODEL]
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@given(st.lists(st.integers(0, 4), min_size=1, max_size=60), st.integers(1, 70))
def test_top_k_orders_as_a_stable_full_sort(values, k):
    """Ties (many here: five distinct values) go to the lower index, as np.argsort(kind='stable') orders them."""
    array = np.asarray(values, dtype=np.float32)
    assert top_k(array, k).tolist() == np.argsort(-array, kind="stable")[:k].tolist()


def test_a_batcher_left_waiting_by_a_dead_loop_serves_the_next_one(store):
    """A run stopped mid-way leaves a query and an unfinished flusher behind; the next run must not wait on
    them (a new loop needs a new flusher) and must not receive their hits."""
    batcher = memory_store.QueryBatcher(lambda texts: store.search_many(texts, k=1))
    stale_loop = asyncio.new_event_loop()
    stale_loop.create_task(batcher.search(["capital of Australia"]))
    stale_loop.run_until_complete(asyncio.sleep(0))  # the query is queued; the loop stops before the flush
    left = asyncio.all_tasks(stale_loop)  # the question and the flusher, neither finished
    assert len(left) == 2 and batcher.encoder_calls == 0

    [hits] = asyncio.run(asyncio.wait_for(batcher.search(["How many legs does a spider have?"]), timeout=30))
    assert [h.entry.key for h in hits] == ["Spiders have eight legs."]
    assert batcher.encoder_calls == 1
    for task in left:
        task.cancel()
    stale_loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
    stale_loop.close()
