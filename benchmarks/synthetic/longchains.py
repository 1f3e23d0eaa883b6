"""Arithmetic chains for least-to-most prompting (Zhou et al. 2022): test chains are LONGER than any trained one.

The questions are the multistep suite's ("Start with 7. Add 3. Multiply by 2. What is the result?", five
numeric options), drawn with 1-4 steps for train and test, and 6-8 steps for `test_long`. Each question's
metadata holds its least-to-most decomposition: the subquestions ("Start with 7. Add 3.", "Multiply by 2.")
and the value after each, so a recipe can teach the reduce and solve formats
(`reasonkit.strategies.least_to_most:chain_text`). Every subquestion is a one-step problem, seen in training
at any length; only the whole chain is longer than trained, which is where chain of thought (one generation
over the whole chain) and least-to-most (one short call per step, each answer fed to the next) part ways.
"""

from __future__ import annotations

import random
from itertools import islice

from reasonkit.benchmarks.synthetic.base import SuiteSplits, check_disjoint
from reasonkit.benchmarks.synthetic.multistep import Step, make_question, unique_chains
from reasonkit.types import Question

TRAIN_STEPS = (1, 2, 3, 4)
LONG_STEPS = (6, 7, 8)


def decomposition(start: int, steps: tuple[Step, ...]) -> tuple[list[str], list[str]]:
    """The subquestions of a chain and the value after each: the first carries the start value."""
    subquestions = [f"Start with {start}. {steps[0].phrase()}", *(s.phrase() for s in steps[1:])]
    values, value = [], start
    for step in steps:
        value = step.apply(value)
        values.append(str(value))
    return subquestions, values


class LongChainsSuite:
    name = "longchains"
    self_contained = True

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        n_train = 20_000 if n_train is None else n_train
        n_test = 400 if n_test is None else n_test
        rng = random.Random(f"{self.name}-{seed}")
        seen: set[tuple[int, tuple[Step, ...]]] = set()

        def draw(count: int, split: str, lengths: tuple[int, ...]) -> list[Question]:
            questions: list[Question] = []
            for i, chain in enumerate(islice(unique_chains(rng, seen, lengths), count)):
                question = make_question(f"{self.name}-{split}-{i}", split, *chain, rng)
                subquestions, values = decomposition(*chain)
                questions.append(
                    question.model_copy(
                        update={
                            "metadata": {
                                **question.metadata,
                                "benchmark": self.name,
                                "subquestions": subquestions,
                                "subanswers": values,
                            }
                        }
                    )
                )
            return questions

        test = draw(n_test, "test", (2, 3, 4))
        test_long = draw(n_test, "test_long", LONG_STEPS)
        train = draw(n_train, "train", TRAIN_STEPS)
        check_disjoint(self.name, train, test, test_long)
        return SuiteSplits(
            name=self.name,
            seed=seed,
            splits={"train": tuple(train), "test": tuple(test), "test_long": tuple(test_long)},
        )
