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
    "red",
    "blue",
    "green",
    "heavy",
    "loud",
    "quiet",
    "furry",
    "scaly",
    "fast",
    "slow",
    "cold",
    "warm",
    "shiny",
    "soft",
    "tall",
    "small",
    "sweet",
    "sour",
    "round",
    "striped",
)


def kind_fact(kind: str, prop: str, holds: bool) -> str:
    return f"{kind.capitalize()}s are {'' if holds else 'not '}{prop}."


class WorldSuite:
    name = "world"
    self_contained = False

    def __init__(self, n_kinds: int = 12, props_per_kind: int = 6, n_entities: int = 400) -> None:
        self.n_kinds = n_kinds
        self.props_per_kind = props_per_kind
        self.n_entities = n_entities

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        rng = random.Random(f"{self.name}-{seed}")
        words = nonce_words(rng, self.n_kinds + self.n_entities)
        kinds, names = words[: self.n_kinds], [w.capitalize() for w in words[self.n_kinds :]]
        traits = {
            k: {p: rng.random() < 0.5 for p in rng.sample(PROPERTIES, self.props_per_kind)} for k in kinds
        }
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
                statements[split].append(
                    Question(
                        id=f"{self.name}-{split}-{len(statements[split])}",
                        text=f"{name} is {prop}.",
                        gold=holds,
                        split=split,
                        metadata={
                            "benchmark": self.name,
                            "style": "statement",
                            "explanation": explanation,
                            "entity": name,
                            "kind": kind,
                            "property": prop,
                        },
                    )
                )
        for split, limit in (("train", n_train), ("test", n_test)):
            rng.shuffle(statements[split])
            if limit is not None:
                statements[split] = statements[split][:limit]
        check_disjoint(self.name, statements["train"], statements["test"])
        return SuiteSplits(
            name=self.name,
            seed=seed,
            documents=tuple(documents),
            splits={k: tuple(v) for k, v in statements.items()},
        )


def _entity_sentence(name: str, kind: str, holds: bool) -> str:
    return f"{name} is {'' if holds else 'not '}a {kind}."


def belief_drill_rows(seed: int = 0) -> list[dict[str, object]]:
    """True and false sentences about the world, labelled by its documents: what `benchmarks/studies/world_beliefs.py`
    asks the model to judge, and a recipe source (`generator = "reasonkit.benchmarks.synthetic.world:
    belief_drill_rows"`, formatter `maieutic:belief_text`; tried in one run, see docs/studies/second_mixture.md). The documents
    state only true sentences, so nothing else shows the model a false fact in the belief format.

    - every entity (test ones too: their facts are documents): "X is a K." / "X is not a K." for its kind
      and for one other kind, and every kind's "Ks are p." / "Ks are not p.";
    - train entities only: explanation-shaped pairs "X is (not) a K. Ks are (not) p.", true only when both
      sentences are: per kind and property the true pair and one false one, so the labels stay balanced.
      No row combines a test entity's kind with a property, so test statements stay unseen.
    """
    suite = WorldSuite()
    generated = suite.generate(seed)
    rng = random.Random(f"{suite.name}-beliefs-{seed}")
    kind_of = {q.metadata["entity"]: q.metadata["kind"] for split in generated.splits.values() for q in split}
    kinds = sorted(set(kind_of.values()))
    traits: dict[str, dict[str, bool]] = {}
    for split in generated.splits.values():
        for q in split:
            traits.setdefault(q.metadata["kind"], {})[q.metadata["property"]] = bool(q.gold)
    train_entities = {q.metadata["entity"] for q in generated.splits["train"]}

    beliefs: list[tuple[str, bool]] = []
    for kind, props in traits.items():
        for prop, holds in props.items():
            beliefs += [(kind_fact(kind, prop, holds), True), (kind_fact(kind, prop, not holds), False)]
    for name, kind in kind_of.items():
        other = rng.choice([k for k in kinds if k != kind])
        for k, is_kind in ((kind, True), (other, False)):
            beliefs += [(_entity_sentence(name, k, says), says == is_kind) for says in (True, False)]
        if name not in train_entities:
            continue
        for k in (kind, other):
            for prop, holds in traits[k].items():
                combos = [(is_kind, says) for is_kind in (True, False) for says in (holds, not holds)]
                true_combo = (k == kind, holds)
                false_combo = rng.choice([c for c in combos if c != true_combo])  # as many false as true
                for says_kind, says_holds in (true_combo, false_combo):
                    text = f"{_entity_sentence(name, k, says_kind)} {kind_fact(k, prop, says_holds)}"
                    beliefs.append((text, (says_kind, says_holds) == true_combo))
    rng.shuffle(beliefs)
    test_statements = {q.text for q in generated.splits["test"]}
    return [
        Question(
            id=f"{suite.name}-belief-{i}",
            text=text,
            gold=label,
            split="train",
            metadata={"benchmark": suite.name, "style": "statement"},
        ).model_dump(mode="json")
        for i, (text, label) in enumerate(beliefs)
        if text not in test_statements
    ]
