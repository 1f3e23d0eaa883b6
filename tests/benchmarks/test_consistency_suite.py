"""The consistency suite: statements that follow from two or three documented facts, on disjoint entities per
split, and explanations that derive each label from the documents."""

from __future__ import annotations

from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.synthetic import suites
from reasonkit.benchmarks.synthetic.consistency import ConsistencySuite, abductive_drill_rows, nli_drill_rows
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


def test_nli_drills_are_about_fresh_entities_and_labelled_by_their_premise() -> None:
    """Every label follows from the premise's words alone: a statement about the premise's entity and its
    last fact's property is entailed or contradicted by the polarities, another property or another entity is
    neutral; another explanation of the entity contradicts it when it gives another kind. All three labels
    occur, and both polarities of a premise's last fact, so the world's truth cannot stand in for reading."""
    generated = ConsistencySuite().generate(0)
    suite_entities = {q.metadata["entity"] for qs in generated.splits.values() for q in qs}
    rows = nli_drill_rows(n_pairs=600)
    assert len(rows) == 600 and {row["label"] for row in rows} == {"entail", "neutral", "contradict"}

    def parts(text: str) -> tuple[str, str, bool]:  # (subject of the first sentence, last predicate, holds)
        first, *_, last = sentences(text) if len(sentences(text)) > 1 else [text, text]
        words = last.rstrip(".").split()
        return first.split()[0], words[-1], "not" not in words

    last_polarities = set()
    for row in rows:
        premise, hypothesis, label = str(row["premise"]), str(row["text"]), row["label"]
        entity, prop, holds = parts(premise)
        last_polarities.add(holds)
        assert entity not in suite_entities
        if len(sentences(hypothesis)) == 1:
            subject, claim, claimed = parts(hypothesis)
            same = subject == entity and claim == prop
            assert label == ("neutral" if not same else "entail" if claimed == holds else "contradict"), row
        else:
            kind, other_kind = sentences(premise)[0].split()[-1], sentences(hypothesis)[0].split()[-1]
            if kind != other_kind:
                assert label == "contradict", row
            else:
                assert label == ("entail" if hypothesis == premise else "neutral"), row
    assert last_polarities == {True, False}
