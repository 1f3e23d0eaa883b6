"""Multi-step arithmetic chains: "Start with 7. Add 3. Multiply by 2. Subtract 5. What is the result?"

Each step is a one-operation fact a small model learns; the whole chain (2-4 steps) is hard to do in one
forward pass, which is where chain-of-thought should help (Wei et al. 2022). Five numeric options make the
direct (scoring) strategy applicable; distractors are the mistakes a model makes (a skipped step, an
intermediate value, off by one step's amount), so guessing from surface features does not work.
A longer split (5-6 steps) tests extrapolation.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import islice

from pydantic import BaseModel, ConfigDict

from reasonkit.benchmarks.synthetic.base import SuiteSplits, check_disjoint
from reasonkit.types import Question

MAX_VALUE = 99
N_OPTIONS = 5


class Step(BaseModel):
    model_config = ConfigDict(frozen=True)

    op: str  # "add" | "sub" | "mul"
    amount: int

    def apply(self, value: int) -> int:
        return {"add": value + self.amount, "sub": value - self.amount, "mul": value * self.amount}[self.op]

    def phrase(self) -> str:
        return {
            "add": f"Add {self.amount}.",
            "sub": f"Subtract {self.amount}.",
            "mul": f"Multiply by {self.amount}.",
        }[self.op]

    def equation(self, value: int) -> str:
        symbol = {"add": "+", "sub": "-", "mul": "*"}[self.op]
        return f"{value} {symbol} {self.amount} = {self.apply(value)}."


def random_chain(rng: random.Random, n_steps: int) -> tuple[int, tuple[Step, ...]]:
    """A start value and steps whose every intermediate value stays in [0, MAX_VALUE]."""
    while True:
        value = start = rng.randint(1, 20)
        steps: list[Step] = []
        for _ in range(n_steps):
            choices = [Step(op="add", amount=rng.randint(1, 9)), Step(op="sub", amount=rng.randint(1, 9))]
            if value <= MAX_VALUE // 2:
                choices.append(Step(op="mul", amount=rng.choice((2, 3)) if value <= MAX_VALUE // 3 else 2))
            step = rng.choice(choices)
            if not 0 <= step.apply(value) <= MAX_VALUE:
                break
            steps.append(step)
            value = step.apply(value)
        if len(steps) == n_steps:
            return start, tuple(steps)


def distractors(start: int, steps: tuple[Step, ...], rng: random.Random) -> list[int]:
    values = [start]
    for step in steps:
        values.append(step.apply(values[-1]))
    answer = values[-1]
    candidates: list[int] = values[1:-1]  # stopping early
    for skipped in range(len(steps)):  # one step forgotten
        value = start
        for i, step in enumerate(steps):
            value = value if i == skipped else step.apply(value)
        candidates.append(value)
    last = steps[-1]
    candidates += [
        answer + last.amount,
        answer - last.amount,
        answer + 1,
        answer - 1,
        answer + 10,
        answer - 10,
    ]
    unique = [c for c in dict.fromkeys(candidates) if c != answer and 0 <= c <= 2 * MAX_VALUE]
    rng.shuffle(unique)
    return unique[: N_OPTIONS - 1]


def make_question(qid: str, split: str, start: int, steps: tuple[Step, ...], rng: random.Random) -> Question:
    text = " ".join([f"Start with {start}.", *(s.phrase() for s in steps), "What is the result?"])
    value, equations = start, []
    for step in steps:
        equations.append(step.equation(value))
        value = step.apply(value)
    options = [value, *distractors(start, steps, rng)]
    rng.shuffle(options)
    return Question(
        id=qid,
        text=text,
        options=tuple(str(o) for o in options),
        gold=options.index(value),
        split=split,
        metadata={
            "benchmark": "multistep",
            "n_steps": len(steps),
            "rationale": " ".join(equations),
            "answer_text": str(value),
        },
    )


def unique_chains(
    rng: random.Random, seen: set[tuple[int, tuple[Step, ...]]], lengths: tuple[int, ...]
) -> Iterator[tuple[int, tuple[Step, ...]]]:
    """Chains of the given lengths that no earlier draw of this suite produced (`seen` is shared across splits, so
    splits are disjoint). Lazy: the caller may draw from `rng` between chains (the options), as the suites do."""
    while True:
        chain = random_chain(rng, rng.choice(lengths))
        if chain not in seen:
            seen.add(chain)
            yield chain


class MultiStepSuite:
    name = "multistep"
    self_contained = True

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        n_train = 20_000 if n_train is None else n_train
        n_test = 500 if n_test is None else n_test
        rng = random.Random(f"{self.name}-{seed}")
        seen: set[tuple[int, tuple[Step, ...]]] = set()

        def draw(count: int, split: str, lengths: tuple[int, ...]) -> list[Question]:
            chains = enumerate(islice(unique_chains(rng, seen, lengths), count))
            return [make_question(f"{self.name}-{split}-{i}", split, *chain, rng) for i, chain in chains]

        test = draw(n_test, "test", (2, 3, 4))
        test_long = draw(n_test, "test_long", (5, 6))
        train = draw(n_train, "train", (1, 2, 3, 4))
        check_disjoint(self.name, train, test, test_long)
        return SuiteSplits(
            name=self.name,
            seed=seed,
            splits={"train": tuple(train), "test": tuple(test), "test_long": tuple(test_long)},
        )
