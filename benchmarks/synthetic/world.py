"""A consistent world of entities, kinds and properties; true/false statements that follow from two facts.

Documents (training text) state each entity's kind ("Tomiku is a blick.") and each kind's properties
("Blicks are furry." / "Blicks are not heavy."). A statement "Tomiku is furry." is true or false only by
combining the two. Training statements (with their explanation, the two facts) are about one set of
entities; test statements are about the others, whose facts were seen but never combined in training.
This is the setting maieutic prompting targets: explanations the model believes, chained by logic.
"""

from __future__ import annotations

import random

from reasonkit.benchmarks.synthetic.base import SuiteSplits, check_disjoint
from reasonkit.benchmarks.synthetic.names import nonce_words
from reasonkit.types import Question

PROPERTIES = (
    "red", "blue", "green", "heavy", "loud", "quiet", "furry", "scaly", "fast", "slow",
    "cold", "warm", "shiny", "soft", "tall", "small", "sweet", "sour", "round", "striped",
)


def kind_fact(kind: str, prop: str, holds: bool) -> str:
    return f"{kind.capitalize()}s are {'' if holds else 'not '}{prop}."


class WorldSuite:
    name = "world"

    def __init__(self, n_kinds: int = 12, props_per_kind: int = 6, n_entities: int = 400) -> None:
        self.n_kinds = n_kinds
        self.props_per_kind = props_per_kind
        self.n_entities = n_entities

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        rng = random.Random(f"{self.name}-{seed}")
        words = nonce_words(rng, self.n_kinds + self.n_entities)
        kinds, names = words[: self.n_kinds], [w.capitalize() for w in words[self.n_kinds :]]
        traits = {k: {p: rng.random() < 0.5 for p in rng.sample(PROPERTIES, self.props_per_kind)} for k in kinds}
        kind_of = {name: rng.choice(kinds) for name in names}
        documents = [f"{name} is a {kind}." for name, kind in kind_of.items()]
        documents += [kind_fact(k, p, holds) for k, props in traits.items() for p, holds in props.items()]
        rng.shuffle(documents)

        test_names = set(names[: len(names) // 4])
        statements: dict[str, list[Question]] = {"train": [], "test": []}
        for name in names:
            kind = kind_of[name]
            split = "test" if name in test_names else "train"
            for prop, holds in traits[kind].items():
                explanation = f"{name} is a {kind}. {kind_fact(kind, prop, holds)}"
                statements[split].append(Question(
                    id=f"{self.name}-{split}-{len(statements[split])}",
                    text=f"{name} is {prop}.",
                    gold=holds,
                    split=split,
                    metadata={"benchmark": self.name, "style": "statement", "explanation": explanation,
                              "entity": name, "kind": kind, "property": prop},
                ))
        for split, limit in (("train", n_train), ("test", n_test)):
            rng.shuffle(statements[split])
            if limit is not None:
                statements[split] = statements[split][:limit]
        check_disjoint(self.name, statements["train"], statements["test"])
        return SuiteSplits(name=self.name, seed=seed, documents=tuple(documents),
                           splits={k: tuple(v) for k, v in statements.items()})
