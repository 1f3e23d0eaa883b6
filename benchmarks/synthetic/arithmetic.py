"""Multi-digit addition and multiplication by one digit, for the scratchpad strategy (Nye et al. 2021).

The training set is small and fixed (a scratchpad's advantage is sample efficiency: Lee et al. 2023), test
problems have the training lengths, and a longer split tests length generalisation. Formats live in
reasonkit.strategies.arithmetic_format so training text and parsing never drift apart.
"""

from __future__ import annotations

import random

from reasonkit.benchmarks.synthetic.base import SuiteSplits, check_disjoint
from reasonkit.strategies.arithmetic_format import OPS, make_problem, to_question
from reasonkit.types import Question

TRAIN_DIGITS = (1, 2, 3, 4, 5)
LONG_DIGITS = (6, 7)


class ArithmeticSuite:
    name = "arithmetic"
    self_contained = True

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        n_train = 4000 if n_train is None else n_train
        n_test = 400 if n_test is None else n_test
        rng = random.Random(f"{self.name}-{seed}")
        seen: set[str] = set()

        def draw(count: int, split: str, digits: tuple[int, ...]) -> list[Question]:
            questions: list[Question] = []
            attempts = 0
            while len(questions) < count:
                attempts += 1
                if attempts > 100 * count:
                    raise ValueError(f"suite {self.name}: cannot draw {count} distinct {split} problems")
                problem = make_problem(rng, rng.choice(digits), rng.choice(OPS))
                question = to_question(problem, f"{self.name}-{split}-{len(questions)}", split)
                if question.text in seen:
                    continue
                seen.add(question.text)
                questions.append(
                    question.model_copy(update={"metadata": {**question.metadata, "benchmark": self.name}})
                )
            return questions

        test = draw(n_test, "test", TRAIN_DIGITS[1:])
        test_long = draw(n_test, "test_long", LONG_DIGITS)
        train = draw(n_train, "train", TRAIN_DIGITS)
        check_disjoint(self.name, train, test, test_long)
        return SuiteSplits(
            name=self.name,
            seed=seed,
            splits={"train": tuple(train), "test": tuple(test), "test_long": tuple(test_long)},
        )
