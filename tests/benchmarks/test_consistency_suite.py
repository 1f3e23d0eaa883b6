"""The consistency suite: statements that follow from two or three documented facts, on disjoint entities per
split, and explanations that derive each label from the documents."""

from __future__ import annotations

from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.synthetic import suites
from reasonkit.benchmarks.synthetic.consistency import ConsistencySuite
from reasonkit.strategies.beliefs import sentences


def test_splits_are_about_disjoint_entities_and_texts() -> None:
    generated = ConsistencySuite().generate(0)
    assert set(generated.splits) == {"train", "test", "held_out"}
    entities = {split: {q.metadata["entity"] for q in qs} for split, qs in generated.splits.items()}
    texts = {split: {q.text for q in qs} for split, qs in generated.splits.items()}
    for a, b in (("train", "test"), ("train", "held_out"), ("test", "held_out")):
        assert not entities[a] & entities[b] and not texts[a] & texts[b]
    assert all(len(qs) >= 400 for qs in generated.splits.values())
    assert all(q.split == split for split, qs in generated.splits.items() for q in qs)


def test_every_explanation_is_documented_and_decides_the_label() -> None:
    generated = ConsistencySuite().generate(0)
    documents = set(generated.documents)
    questions = [q for qs in generated.splits.values() for q in qs]
    for q in questions:
        facts = sentences(q.metadata["explanation"])
        assert set(facts) <= documents, q
        assert len(facts) == (2 if q.metadata["exception"] else 3)
        assert facts[-1].endswith(" not " + q.metadata["property"] + ".") != q.gold  # the last fact says it
    exceptions = [q for q in questions if q.metadata["exception"]]
    assert exceptions and len(exceptions) < len(questions) / 2
    # an exception contradicts its class: the class fact in the documents says the opposite
    q = exceptions[0]
    polarity = "" if not q.gold else "not "
    assert f"{q.metadata['class'].capitalize()}s are {polarity}{q.metadata['property']}." in documents
    assert {True, False} == {q.gold for q in generated.splits["held_out"]}


def test_sizes_and_the_benchmark_name() -> None:
    small = suites()["consistency"].generate(0, n_train=50, n_test=20)
    assert [len(small.splits[s]) for s in ("train", "test", "held_out")] == [50, 20, 20]
    held_out = load_questions("consistency", split="held_out")
    assert [q.text for q in held_out] == [q.text for q in ConsistencySuite().generate(0).splits["held_out"]]
