"""Countdown puzzles for tree of thoughts (Yao et al. 2023): reach a target from given numbers with + - x.

"Make 22 from 3 5 7 9." A solution combines two numbers at a time ("3 * 5 = 15. Left: 7 9 15.") until one
is left, the target; subtraction never goes below zero and every value stays at most MAX_VALUE, so a small
model can do each step. Which first step keeps the target reachable is the hard part: a greedy writer
commits to one and cannot go back, a search proposes several, asks the model how promising each state is
("Value: sure" / "impossible", which `reachable` labels exactly for training) and backtracks. Train puzzles
have 3 or 4 numbers, test puzzles 4. `check_solution` re-does a written solution's arithmetic, so a model
that writes a wrong equation to land on the target is not counted as solving it.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterator
from typing import Any

from reasonkit.benchmarks.synthetic.base import SuiteSplits, check_disjoint
from reasonkit.strategies import prompts
from reasonkit.types import Question

MAX_VALUE = 99
OPS = ("+", "-", "*")
MAX_TRAIN = 10_000
"""The largest train split: numbers 1-9 make only 18,402 puzzles (1,319 of 3 numbers, 17,083 of 4), so a
larger one would leave a fresh draw (`fresh_split`, which drops every seed-0 train puzzle) almost nothing."""
STEP = re.compile(r"(\d+) ([-+*]) (\d+) = (\d+)\. Left: ([\d ]+)\.")


def apply(a: int, op: str, b: int) -> int | None:
    """a op b, or None when it leaves the puzzle's range."""
    value = a + b if op == "+" else a - b if op == "-" else a * b
    return value if 0 <= value <= MAX_VALUE else None


def moves(numbers: tuple[int, ...]) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Every step from `numbers` (larger operand first): its text "a op b = c. Left: ...." and the new numbers."""
    seen: set[str] = set()
    for i in range(len(numbers)):
        for j in range(len(numbers)):
            if i == j or numbers[i] < numbers[j]:
                continue
            rest = [n for k, n in enumerate(numbers) if k not in (i, j)]
            for op in OPS:
                value = apply(numbers[i], op, numbers[j])
                if value is None:
                    continue
                left = tuple(sorted([*rest, value]))
                text = f"{numbers[i]} {op} {numbers[j]} = {value}. Left: {state_text(left)}."
                if text not in seen:
                    seen.add(text)
                    yield text, left


def state_text(numbers: tuple[int, ...]) -> str:
    return " ".join(map(str, numbers))


@functools.cache
def reachable(numbers: tuple[int, ...], target: int) -> bool:
    """Whether `target` can be made from all of `numbers` (sorted), exactly."""
    if len(numbers) == 1:
        return numbers[0] == target
    return any(reachable(left, target) for _, left in moves(numbers))


def solution(numbers: tuple[int, ...], target: int, rng: random.Random) -> list[str] | None:
    """One solution's steps (a random one among the first moves that keep the target reachable)."""
    if len(numbers) == 1:
        return [] if numbers[0] == target else None
    options = [(text, left) for text, left in moves(numbers) if reachable(left, target)]
    if not options:
        return None
    text, left = rng.choice(options)
    rest = solution(left, target, rng)
    return None if rest is None else [text, *rest]


def replay(numbers: tuple[int, ...], text: str) -> tuple[int, ...] | None:
    """The numbers left after the steps written in `text` (up to the step that leaves one), None as soon as
    a step does not check: its operands not among the numbers left, its arithmetic or stated numbers wrong."""
    left = sorted(numbers)
    for match in STEP.finditer(text):
        a, op, b, c = int(match[1]), match[2], int(match[3]), int(match[4])
        stated = sorted(int(n) for n in match[5].split())
        pool = list(left)
        for operand in (a, b):
            if operand not in pool:
                return None
            pool.remove(operand)
        if apply(a, op, b) != c or sorted([*pool, c]) != stated:
            return None
        left = stated
        if len(left) == 1:
            break
    return tuple(left)


def check_solution(numbers: tuple[int, ...], target: int, text: str) -> bool:
    """Whether `text` holds a solution whose every step is right: operands among the numbers left, the
    arithmetic right, the stated numbers left right, and the target the one number left at the end."""
    return replay(numbers, text) == (target,)


def promising(numbers: tuple[int, ...], target: int, steps: list[str]) -> bool:
    """A perfect judge of a search state: every step is a step that checks (no more of them than the puzzle
    takes) and the target can still be made from the numbers they leave; a state that ends in an answer, when
    it answers the target and its steps solve the puzzle."""
    *done, last = steps or [""]
    if prompts.ANSWER_PREFIX in last:
        answered = last.strip() == f"{prompts.ANSWER_PREFIX} {target}."
        return (
            answered and promising(numbers, target, done) and check_solution(numbers, target, " ".join(done))
        )
    if not steps or len(steps) >= len(numbers) or not all(STEP.fullmatch(step.strip()) for step in steps):
        return False
    left = replay(numbers, " ".join(steps))
    return left is not None and reachable(left, target)


def puzzle_text(numbers: tuple[int, ...], target: int) -> str:
    return f"Make {target} from {state_text(numbers)}."


def make_puzzle(rng: random.Random, size: int) -> tuple[tuple[int, ...], int]:
    """Numbers 1-9 and a target reached by random steps; a target among the numbers is drawn again."""
    while True:
        numbers = tuple(sorted(rng.randint(1, 9) for _ in range(size)))
        current = numbers
        while len(current) > 1:
            current = rng.choice(list(moves(current)))[1]
        target = current[0]
        if target not in numbers and target > 9:
            return numbers, target


class CountdownSuite:
    name = "countdown"
    self_contained = True

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        n_train = MAX_TRAIN if n_train is None else min(n_train, MAX_TRAIN)
        n_test = 300 if n_test is None else n_test
        rng = random.Random(f"{self.name}-{seed}")
        seen: set[tuple[tuple[int, ...], int]] = set()

        def draw(count: int, split: str, sizes: tuple[int, ...]) -> list[Question]:
            questions: list[Question] = []
            attempts = 0
            while len(questions) < count:
                attempts += 1
                if attempts > 100 * count:
                    raise ValueError(f"suite {self.name}: cannot draw {count} distinct {split} puzzles")
                puzzle = make_puzzle(rng, rng.choice(sizes))
                if puzzle in seen:
                    continue
                seen.add(puzzle)
                numbers, target = puzzle
                steps = solution(numbers, target, rng) or []
                questions.append(
                    Question(
                        id=f"{self.name}-{split}-{len(questions)}",
                        text=puzzle_text(numbers, target),
                        gold=str(target),
                        split=split,
                        metadata={
                            "benchmark": self.name,
                            "numbers": list(numbers),
                            "target": target,
                            "rationale": " ".join(steps),
                            "answer_text": str(target),
                        },
                    )
                )
            return questions

        test = draw(n_test, "test", (4,))
        train = draw(n_train, "train", (3, 4))
        check_disjoint(self.name, train, test)
        return SuiteSplits(name=self.name, seed=seed, splits={"train": tuple(train), "test": tuple(test)})


def _left_of(thought: str, numbers: tuple[int, ...]) -> tuple[int, ...]:
    match = STEP.search(thought)
    return numbers if match is None else tuple(sorted(int(n) for n in match[5].split()))


def tree_text(row: dict[str, Any]) -> str | None:
    """Training text for tree of thoughts on a TRAIN puzzle: at each depth of its solution the next step
    ("Next:") and the state's value (sure), plus one random other step from there ("Next:", so sampled
    proposals vary) and that state's value (sure / impossible, exact by `reachable`)."""
    from reasonkit.strategies.tree_of_thoughts import propose_prompt, value_prompt

    question = Question.model_validate(row)
    if question.split != "train" or "numbers" not in question.metadata:
        return None
    numbers, target = tuple(question.metadata["numbers"]), int(question.metadata["target"])
    rng = random.Random(question.id)
    steps = STEP.findall(question.metadata["rationale"])
    path = [m.group(0) for m in STEP.finditer(question.metadata["rationale"])]
    if len(steps) != len(numbers) - 1:
        return None
    text, blocks, state = question.text, [], numbers
    for depth in range(len(path) + 1):
        done = path[:depth]
        if len(state) == 1:
            answer = f"{prompts.ANSWER_PREFIX} {state[0]}."
            blocks.append(f"{propose_prompt(text, done)} {answer}")
            blocks.append(f"{value_prompt(text, [*done, answer])} sure")
            break
        blocks.append(f"{propose_prompt(text, done)} {path[depth]}")
        other, left = rng.choice(list(moves(state)))
        label = "sure" if reachable(left, target) else "impossible"
        blocks.append(f"{propose_prompt(text, done)} {other}")
        blocks.append(f"{value_prompt(text, [*done, other])} {label}")
        if len(left) == 1:
            answer = f"{prompts.ANSWER_PREFIX} {left[0]}."
            blocks.append(f"{value_prompt(text, [*done, other, answer])} {label}")
        blocks.append(f"{value_prompt(text, path[: depth + 1])} sure")
        state = _left_of(path[depth], state)
    return prompts.EXEMPLAR_SEPARATOR.join(blocks)
