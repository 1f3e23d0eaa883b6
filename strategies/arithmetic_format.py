"""The arithmetic formats a model is trained on and read back with: scratchpad and direct.

One module renders training text and parses model output, so the two can never drift apart. Numbers are
written digit by digit with spaces ("4 8 7") so a BPE tokenizer keeps one token per digit. The scratchpad
works from the least significant digit up, one line per digit position (Nye et al. 2021). Each line restates
the digits still to be added and the incoming carry (the digits the step uses are the last ones before "+"
and ","), and ends with the result so far (the answer is a copy of the last line's):

    Input: 4 8 7 + 5 9
    Target:
    <scratch>
    4 8 7 + 5 9, carry 0: 7 + 9 + 0 = 16, write 6, so far 6
    4 8 + 5, carry 1: 8 + 5 + 1 = 14, write 4, so far 4 6
    4 + 0, carry 1: 4 + 0 + 1 = 5, write 5, so far 5 4 6
    </scratch>
    Answer: 5 4 6

Every step is a copy of the line above with a local change; a model never has to find the i-th digit of an
operand by counting, which is what a small model got wrong with one-digit-pair lines (docs/studies/default_model_table.md). An
exhausted operand reads "0", and a final carry gets a line of its own ("0 + 0, carry 1: ..."). Multiplication
by one digit has the same shape ("4 8 7 * 6, carry 0: 7 * 6 + 0 = 42, write 2, so far 2"). The direct format
of the same problem is "Input: 4 8 7 + 5 9\\nAnswer: 5 4 6". The prompt's second line ("Target:" or "Answer:")
tells the model which format to produce, so both can share a training corpus. Every example ends with a
blank line (`END`), the stop string at generation time.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reasonkit.types import Question

Op = Literal["add", "mul"]
OPS: tuple[Op, ...] = ("add", "mul")
SYMBOLS: dict[Op, str] = {"add": "+", "mul": "*"}
END = "\n\n"
"""Ends every rendered example; generation stops on it."""
SCRATCH_OPEN, SCRATCH_CLOSE = "<scratch>", "</scratch>"

_INPUT_RE = re.compile(r"^\s*(?:Input:\s*)?((?:\d\s*)+?)\s*([+*])\s*((?:\d\s*)+?)\s*$")
_ANSWER_RE = re.compile(r"^\s*Answer:\s*((?:\d\s*)+)$")


class ArithmeticProblem(BaseModel):
    """`operands[0] op operands[1]`; for "mul" the second operand is a single digit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: Op
    operands: tuple[int, int] = Field(description="non-negative integers")

    @model_validator(mode="after")
    def _check(self) -> ArithmeticProblem:
        if any(x < 0 for x in self.operands):
            raise ValueError(
                f"arithmetic problem: field 'operands' must be non-negative, got {self.operands}"
            )
        if self.op == "mul" and self.operands[1] > 9:
            raise ValueError(
                f"arithmetic problem: 'mul' takes a single-digit second operand, got {self.operands[1]}"
            )
        return self

    @property
    def result(self) -> int:
        a, b = self.operands
        return a + b if self.op == "add" else a * b


def spaced(n: int) -> str:
    """487 -> "4 8 7"."""
    return " ".join(str(n))


def render_input(problem: ArithmeticProblem) -> str:
    """The problem line without its "Input:" label, e.g. "4 8 7 + 5 9" (also a Question's text)."""
    a, b = problem.operands
    return f"{spaced(a)} {SYMBOLS[problem.op]} {spaced(b)}"


def scratch_lines(problem: ArithmeticProblem) -> list[str]:
    """One line per digit position, least significant first, until no digit and no carry is left."""
    a, b = problem.operands
    symbol = SYMBOLS[problem.op]
    a_rest = str(a)
    b_rest = str(b) if problem.op == "add" else ""
    carry = 0
    written: list[str] = []
    lines: list[str] = []
    while True:
        x = int(a_rest[-1]) if a_rest else 0
        if problem.op == "add":
            y = int(b_rest[-1]) if b_rest else 0
            shown_b = " ".join(b_rest) if b_rest else "0"
            total = x + y + carry
            step = f"{x} + {y} + {carry} = {total}"
        else:
            shown_b = str(b)
            total = x * b + carry
            step = f"{x} * {b} + {carry} = {total}"
        shown_a = " ".join(a_rest) if a_rest else "0"
        written.insert(0, str(total % 10))
        lines.append(
            f"{shown_a} {symbol} {shown_b}, carry {carry}: {step}, write {total % 10}, "
            f"so far {' '.join(written)}"
        )
        a_rest, b_rest, carry = a_rest[:-1], b_rest[:-1], total // 10
        if not a_rest and not b_rest and not carry:
            return lines


def render_prompt(problem: ArithmeticProblem, scratchpad: bool = True) -> str:
    """What the model sees before it answers; it continues with `render_completion`."""
    return f"Input: {render_input(problem)}\n" + ("Target:\n" if scratchpad else "Answer:")


def render_completion(problem: ArithmeticProblem, scratchpad: bool = True) -> str:
    """What the model should write after `render_prompt`, ending with `END`."""
    answer = spaced(problem.result)
    if not scratchpad:
        return f" {answer}{END}"
    body = "\n".join([SCRATCH_OPEN, *scratch_lines(problem), SCRATCH_CLOSE])
    return f"{body}\nAnswer: {answer}{END}"


def render_example(problem: ArithmeticProblem, scratchpad: bool = True) -> str:
    """A complete training example: prompt + completion; concatenating examples gives a training text."""
    return render_prompt(problem, scratchpad) + render_completion(problem, scratchpad)


def parse_answer(text: str) -> str | None:
    """The answer on the last non-empty line, "Answer: 5 4 6" -> "546"; None when that line is not an answer.

    Direct-format output starts after "Answer:", so callers prepend it before parsing.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    match = _ANSWER_RE.match(lines[-1])
    if match is None:
        return None
    return str(int(re.sub(r"\s+", "", match.group(1))))


def parse_problem(text: str) -> ArithmeticProblem | None:
    """Read a problem line such as "4 8 7 + 5 9", "Input: 4 8 7 * 6" or "487+59"; None when it is not one."""
    match = _INPUT_RE.match(text)
    if match is None:
        return None
    a, symbol, b = (re.sub(r"\s+", "", match.group(i)) for i in (1, 2, 3))
    op: Op = "add" if symbol == "+" else "mul"
    if op == "mul" and len(b) > 1:
        return None
    return ArithmeticProblem(op=op, operands=(int(a), int(b)))


def make_problem(rng: random.Random, n_digits: int, op: Op) -> ArithmeticProblem:
    """A random problem whose first operand has exactly `n_digits` digits (the second too for "add";
    a digit 2-9 for "mul", so the product is never trivial)."""
    if n_digits < 1:
        raise ValueError(f"make_problem: n_digits must be >= 1, got {n_digits}")
    if op not in OPS:
        raise ValueError(f"make_problem: unknown op {op!r}; expected one of {OPS}")
    low = 0 if n_digits == 1 else 10 ** (n_digits - 1)
    high = 10**n_digits - 1
    a = rng.randint(low, high)
    b = rng.randint(low, high) if op == "add" else rng.randint(2, 9)
    return ArithmeticProblem(op=op, operands=(a, b))


def to_question(problem: ArithmeticProblem, question_id: str, split: str = "dev") -> Question:
    """A free-form Question: text "4 8 7 + 5 9", gold "546", metadata with task, op and operands."""
    return Question(
        id=question_id,
        text=render_input(problem),
        gold=str(problem.result),
        split=split,
        metadata={"task": "arithmetic", "op": problem.op, "operands": list(problem.operands)},
    )


def problem_of(question: Question) -> ArithmeticProblem | None:
    """The problem a question asks: from its metadata when it has them, else from its text's last line."""
    return _problem_from(question.metadata, question.text, f"question {question.id!r}")


def scratchpad_text(row: Mapping[str, Any]) -> str | None:
    """Training-recipe formatter ("reasonkit.strategies.arithmetic_format:scratchpad_text"): a question row,
    as the synthetic suite writes it, to its scratchpad example; None for a row that is not arithmetic."""
    problem = _problem_from(row.get("metadata") or {}, str(row.get("text", "")), f"row {row.get('id')!r}")
    return None if problem is None else render_example(problem, scratchpad=True)


def direct_text(row: Mapping[str, Any]) -> str | None:
    """Like `scratchpad_text`, in the direct format ("Input: ...\nAnswer: ...")."""
    problem = _problem_from(row.get("metadata") or {}, str(row.get("text", "")), f"row {row.get('id')!r}")
    return None if problem is None else render_example(problem, scratchpad=False)


def _problem_from(metadata: Mapping[str, Any], text: str, where: str) -> ArithmeticProblem | None:
    if metadata.get("task") == "arithmetic" and "op" in metadata and "operands" in metadata:
        try:
            return ArithmeticProblem(op=metadata["op"], operands=tuple(metadata["operands"]))
        except ValidationError as error:
            raise ValueError(f"{where}: bad arithmetic metadata {dict(metadata)}: {error}") from error
    lines = text.strip().splitlines()
    return parse_problem(lines[-1]) if lines else None
