"""A world where a statement follows from two or three facts, so combining facts should beat judging the
statement alone: the setting maieutic prompting's consistency step is for.

Documents state each entity's kind ("Tomiku is a blick."), each kind's class ("Blicks are zorbas."), each
class's properties ("Zorbas are furry." / "Zorbas are not heavy."), and, for some kinds, an exception to a
class property ("Blicks are not furry."). "Tomiku is furry." is true by the exception where the kind has
one, else by the class: three facts (entity -> kind -> class -> property), or two (entity -> kind ->
exception). Train statements carry that chain as their explanation; test and held-out statements are about
other entities (disjoint sets), whose facts are documents but were never combined in training. The
held-out split is for one planned look after a belief function is chosen on train or test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from reasonkit.benchmarks.synthetic.base import SuiteSplits, check_disjoint
from reasonkit.benchmarks.synthetic.names import nonce_words
from reasonkit.benchmarks.synthetic.world import PROPERTIES, kind_fact
from reasonkit.types import Question

SPLIT_SHARES = (("train", 0.5), ("test", 0.25), ("held_out", 0.25))
"""Entities per split; every split's statements are about its own entities."""


@dataclass(frozen=True)
class _World:
    kinds: list[str]
    names: list[str]
    class_of: dict[str, str]
    traits: dict[str, dict[str, bool]]  # class -> property -> holds
    exceptions: dict[str, dict[str, bool]]  # kind -> property -> holds, against its class

    def statements(self, suite: str, split: str, name: str, kind: str, first: int) -> list[Question]:
        """One statement per property of the entity's class, each with its chain of facts as explanation."""
        cls = self.class_of[kind]
        out: list[Question] = []
        for prop, class_holds in self.traits[cls].items():
            exception = prop in self.exceptions[kind]
            holds = self.exceptions[kind][prop] if exception else class_holds
            chain = [f"{name} is a {kind}."]
            chain += (
                [kind_fact(kind, prop, holds)]
                if exception
                else [f"{kind.capitalize()}s are {cls}s.", kind_fact(cls, prop, holds)]
            )
            out.append(
                Question(
                    id=f"{suite}-{split}-{first + len(out)}",
                    text=f"{name} is {prop}.",
                    gold=holds,
                    split=split,
                    metadata={
                        "benchmark": suite,
                        "style": "statement",
                        "explanation": " ".join(chain),
                        "entity": name,
                        "kind": kind,
                        "class": cls,
                        "property": prop,
                        "exception": exception,
                    },
                )
            )
        return out


class ConsistencySuite:
    name = "consistency"
    self_contained = False

    def __init__(
        self,
        n_classes: int = 4,
        n_kinds: int = 12,
        props_per_class: int = 5,
        exception_rate: float = 0.25,
        n_entities: int = 400,
    ) -> None:
        self.n_classes, self.n_kinds, self.props_per_class = n_classes, n_kinds, props_per_class
        self.exception_rate, self.n_entities = exception_rate, n_entities

    def _world(self, rng: random.Random) -> _World:
        """The kinds, classes, properties and exceptions (and the entities' names, still without kinds)."""
        words = nonce_words(rng, self.n_classes + self.n_kinds + self.n_entities)
        classes = words[: self.n_classes]
        kinds = words[self.n_classes : self.n_classes + self.n_kinds]
        names = [w.capitalize() for w in words[self.n_classes + self.n_kinds :]]
        class_of = {kind: classes[i % self.n_classes] for i, kind in enumerate(kinds)}
        traits = {
            c: {p: rng.random() < 0.5 for p in rng.sample(PROPERTIES, self.props_per_class)} for c in classes
        }
        exceptions = {
            kind: {
                p: not holds
                for p, holds in traits[class_of[kind]].items()
                if rng.random() < self.exception_rate
            }
            for kind in kinds
        }
        return _World(kinds=kinds, names=names, class_of=class_of, traits=traits, exceptions=exceptions)

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        """n_test caps the test and the held-out split alike."""
        rng = random.Random(f"{self.name}-{seed}")
        world = self._world(rng)
        kinds, names, class_of = world.kinds, world.names, world.class_of
        traits, exceptions = world.traits, world.exceptions
        kind_of = {name: rng.choice(kinds) for name in names}
        documents = [f"{name} is a {kind}." for name, kind in kind_of.items()]
        documents += [f"{kind.capitalize()}s are {class_of[kind]}s." for kind in kinds]
        documents += [kind_fact(c, p, holds) for c, props in traits.items() for p, holds in props.items()]
        documents += [kind_fact(k, p, holds) for k, props in exceptions.items() for p, holds in props.items()]
        rng.shuffle(documents)

        order = list(names)
        rng.shuffle(order)
        split_of: dict[str, str] = {}
        start = 0
        for split, share in SPLIT_SHARES:
            stop = len(order) if split == SPLIT_SHARES[-1][0] else start + round(share * len(order))
            split_of.update(dict.fromkeys(order[start:stop], split))
            start = stop
        statements: dict[str, list[Question]] = {split: [] for split, _ in SPLIT_SHARES}
        for name in names:
            split = split_of[name]
            statements[split] += world.statements(
                self.name, split, name, kind_of[name], len(statements[split])
            )
        for split, limit in (("train", n_train), ("test", n_test), ("held_out", n_test)):
            rng.shuffle(statements[split])
            if limit is not None:
                statements[split] = statements[split][:limit]
        check_disjoint(self.name, statements["train"], statements["test"], statements["held_out"])
        check_disjoint(self.name, statements["test"], statements["held_out"])
        return SuiteSplits(
            name=self.name,
            seed=seed,
            documents=tuple(documents),
            splits={k: tuple(v) for k, v in statements.items()},
        )


def _fresh_names(world: _World, rng: random.Random, count: int) -> list[str]:
    """`count` capitalised nonce names that are none of the world's entities, kinds or classes."""
    taken = {name.lower() for name in world.names} | set(world.kinds) | set(world.class_of.values())
    return [w.capitalize() for w in nonce_words(rng, count + len(taken)) if w not in taken][:count]


def abductive_drill_rows(
    n_entities: int = 2000, seed: int = 0, documents: bool = False
) -> list[dict[str, object]]:
    """Train statements about fresh made-up entities, none of the suite's, with a random kind and the suite's
    own kinds, classes and properties, for a recipe source (`generator = "reasonkit.benchmarks.synthetic.
    consistency:abductive_drill_rows"`). The suite has 200 train entities, few enough that an explanation can
    be memorised per name; more fresh names make copying the statement's entity into the explanation the way
    to fit them (a small model otherwise explains "X is p." with facts about someone else). documents: the
    fresh entities' kind facts ({"text": "X is a K."}) instead, so that the kind in an explanation is one the
    model can recall, as it must for a test entity, rather than one it must guess."""
    suite = ConsistencySuite()
    world = suite._world(random.Random(f"{suite.name}-{seed}"))
    rng = random.Random(f"{suite.name}-drills-{seed}")
    fresh = _fresh_names(world, rng, n_entities)
    kind_of = {name: rng.choice(world.kinds) for name in fresh}
    if documents:
        return [{"text": f"{name} is a {kind}."} for name, kind in kind_of.items()]
    rows: list[dict[str, object]] = []
    for name, kind in kind_of.items():
        for question in world.statements(f"{suite.name}-drill", "train", name, kind, len(rows)):
            rows.append(question.model_dump(mode="json"))
    return rows


def nli_drill_rows(n_pairs: int = 6000, seed: int = 0) -> list[dict[str, object]]:
    """Premise / hypothesis pairs about fresh entities, labelled by what the premise says (entail, contradict,
    neutral), in the relation scorer's format (`reasonkit.strategies.relations:nli_text`), for a recipe source.

    Maieutic reads "P is true, because E" as E -> P whatever E says, and asks the LM's NLI prompt whether E
    bears on P (`link='lm'`) and how explanations relate (`relations='lm'`); the paper uses an NLI model for
    both, which the consistency model never learned (docs/studies/maieutic_consistency.md, fifth attempt).
    A premise is an explanation in the suite's form: "X is a K. Ks are Cs. Cs are [not] q." (C is K's class)
    or "X is a K. Ks are [not] q.", its last fact's polarity drawn at random so that the label follows from
    the premise and not from what the world holds. Hypotheses: "X is [not] p." with p = q (entail or
    contradict by the polarities), with another property or about another entity (neutral); or another
    explanation of X (contradict when it gives X another kind, entail when it is the premise, neutral when it
    ends on another property). Each row: {"text": hypothesis, "premise", "label"}. A recipe trains on the answer
    only (`loss_after = "\\nAnswer:"`), so a premise that states what the world denies is never learned."""
    suite = ConsistencySuite()
    world = suite._world(random.Random(f"{suite.name}-{seed}"))
    rng = random.Random(f"{suite.name}-nli-{seed}")
    names = _fresh_names(world, rng, max(n_pairs // 6, 2))

    def chain(name: str, kind: str, prop: str, holds: bool) -> str:
        if rng.random() < 0.25:
            return f"{name} is a {kind}. {kind_fact(kind, prop, holds)}"
        cls = world.class_of[kind]
        return f"{name} is a {kind}. {kind.capitalize()}s are {cls}s. {kind_fact(cls, prop, holds)}"

    def statement(name: str, prop: str, holds: bool) -> str:
        return f"{name} is {'' if holds else 'not '}{prop}."

    rows: list[dict[str, object]] = []
    for _ in range(n_pairs):
        name, kind = rng.choice(names), rng.choice(world.kinds)
        props = list(world.traits[world.class_of[kind]])
        prop, holds = rng.choice(props), rng.random() < 0.5
        premise = chain(name, kind, prop, holds)
        other_prop = rng.choice([p for p in PROPERTIES if p != prop])
        case = rng.randrange(6)
        if case in (0, 1):  # the claim the premise concludes, or its negation
            said = rng.random() < 0.5
            hypothesis, label = statement(name, prop, said), "entail" if said == holds else "contradict"
        elif case == 2:  # another property of the same entity
            hypothesis, label = statement(name, other_prop, rng.random() < 0.5), "neutral"
        elif case == 3:  # the same claim of another entity
            other = rng.choice([n for n in names if n != name])
            hypothesis, label = statement(other, prop, rng.random() < 0.5), "neutral"
        else:  # another explanation of the same entity
            other_kind = rng.choice([k for k in world.kinds if k != kind])
            hypothesis, label = rng.choice(
                [
                    (chain(name, other_kind, prop, rng.random() < 0.5), "contradict"),
                    (premise, "entail"),
                    (chain(name, kind, other_prop, rng.random() < 0.5), "neutral"),
                ]
            )
        rows.append({"text": hypothesis, "premise": premise, "label": label})
    return rows
