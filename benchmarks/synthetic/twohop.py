"""Two-hop questions over a made-up world, for self-ask (Press et al. 2022) and the compositionality gap.

Documents state every fact ("The mentor of Tomiku is Bafe." / "The home town of Bafe is Lorizu."), and the
train split asks single hops about every person ("Who is the mentor of Tomiku?"), so each hop of every test
question is known. Two-hop questions ("What is the home town of the mentor of Tomiku?") are in train for
some people only; test asks them about the others: compositions never seen. `hop1` and `hop2` ask the two
hops of each test question (ids aligned by index), so a run measures the gap: questions whose both hops the
model answers but whose composition it does not. Train questions carry the self-ask rendering
(`metadata["follow_ups"]`, `["intermediate"]`) and a rationale.
"""

from __future__ import annotations

import random

from reasonkit.benchmarks.synthetic.base import SuiteSplits, check_disjoint
from reasonkit.benchmarks.synthetic.names import nonce_words
from reasonkit.types import Question


def mentor_question(person: str) -> str:
    return f"Who is the mentor of {person}?"


def town_question(person: str) -> str:
    return f"What is the home town of {person}?"


def composed_question(person: str) -> str:
    return f"What is the home town of the mentor of {person}?"


class TwoHopSuite:
    name = "twohop"
    self_contained = False
    trained_splits = ("hop1", "hop2")
    """Splits whose questions are in train by design: the single hops every composition is built from."""

    def __init__(self, n_people: int = 120, n_towns: int = 12, test_fraction: float = 0.3) -> None:
        self.n_people = n_people
        self.n_towns = n_towns
        self.test_fraction = test_fraction

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        rng = random.Random(f"{self.name}-{seed}")
        words = nonce_words(rng, self.n_people + self.n_towns)
        people = [w.capitalize() for w in words[: self.n_people]]
        towns = [w.capitalize() for w in words[self.n_people :]]
        mentor = {p: rng.choice([q for q in people if q != p]) for p in people}
        town = {p: rng.choice(towns) for p in people}
        documents = [f"The mentor of {p} is {mentor[p]}." for p in people]
        documents += [f"The home town of {p} is {town[p]}." for p in people]
        rng.shuffle(documents)

        def question(qid: str, split: str, text: str, gold: str, **metadata: object) -> Question:
            return Question(
                id=qid,
                text=text,
                gold=gold,
                split=split,
                metadata={"benchmark": self.name, "answer_text": gold, **metadata},
            )

        test_people = people[: round(self.n_people * self.test_fraction)]
        train: list[Question] = []
        for p in people:
            train.append(
                question(
                    f"{self.name}-train-{len(train)}",
                    "train",
                    mentor_question(p),
                    mentor[p],
                    hops=1,
                    rationale=f"The mentor of {p} is {mentor[p]}.",
                )
            )
            train.append(
                question(
                    f"{self.name}-train-{len(train)}",
                    "train",
                    town_question(p),
                    town[p],
                    hops=1,
                    rationale=f"The home town of {p} is {town[p]}.",
                )
            )
        for p in people[len(test_people) :]:
            m = mentor[p]
            train.append(
                question(
                    f"{self.name}-train-{len(train)}",
                    "train",
                    composed_question(p),
                    town[m],
                    hops=2,
                    rationale=f"The mentor of {p} is {m}. The home town of {m} is {town[m]}.",
                    follow_ups=[mentor_question(p), town_question(m)],
                    intermediate=[m, town[m]],
                )
            )
        test, hop1, hop2 = [], [], []
        for i, p in enumerate(test_people):
            m = mentor[p]
            test.append(
                question(
                    f"{self.name}-test-{i}",
                    "test",
                    composed_question(p),
                    town[m],
                    hops=2,
                    follow_ups=[mentor_question(p), town_question(m)],
                    intermediate=[m, town[m]],
                )
            )
            hop1.append(question(f"{self.name}-hop1-{i}", "hop1", mentor_question(p), m, hops=1))
            hop2.append(question(f"{self.name}-hop2-{i}", "hop2", town_question(m), town[m], hops=1))
        rng.shuffle(train)
        if n_train is not None:
            train = train[:n_train]
        if n_test is not None:
            test, hop1, hop2 = test[:n_test], hop1[:n_test], hop2[:n_test]
        check_disjoint(self.name, train, test)
        return SuiteSplits(
            name=self.name,
            seed=seed,
            documents=tuple(documents),
            splits={"train": tuple(train), "test": tuple(test), "hop1": tuple(hop1), "hop2": tuple(hop2)},
        )
