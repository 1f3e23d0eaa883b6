"""The consistency suite: statements that follow from two or three documented facts, on disjoint entities per
split, and explanations that derive each label from the documents."""

from __future__ import annotations

from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.synthetic import suites
from reasonkit.benchmarks.synthetic.consistency import ConsistencySuite, abductive_drill_rows
from reasonkit.strategies.beliefs import sentences
from reasonkit.types import Question


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


def test_abductive_drills_are_about_fresh_entities_and_follow_the_suites_facts() -> None:
    """The drills name none of the suite's entities, are train rows, and each explanation starts with the
    statement's own entity and reaches the label through the suite's documented kind, class and property
    facts (only the entity's kind is new)."""
    generated = ConsistencySuite().generate(0)
    documents = set(generated.documents)
    suite_entities = {q.metadata["entity"] for qs in generated.splits.values() for q in qs}
    drills = [Question.model_validate(row) for row in abductive_drill_rows(n_entities=50)]
    assert {q.metadata["entity"] for q in drills}.isdisjoint(suite_entities)
    assert len({q.metadata["entity"] for q in drills}) == 50
    assert len({q.id for q in drills}) == len(drills)
    for q in drills:
        first, *rest = sentences(q.metadata["explanation"])
        assert q.split == "train" and first == f"{q.metadata['entity']} is a {q.metadata['kind']}."
        assert set(rest) <= documents, q
        assert rest[-1].endswith(" not " + q.metadata["property"] + ".") != q.gold


def test_the_drills_documents_state_the_kinds_their_explanations_use() -> None:
    rows = abductive_drill_rows(n_entities=30)
    facts = {row["text"] for row in abductive_drill_rows(n_entities=30, documents=True)}
    assert len(facts) == 30
    assert {sentences(str(row["metadata"]["explanation"]))[0] for row in rows} == facts  # type: ignore[index]
