"""Position coupling for the arithmetic formats (Cho et al. 2024): position ids from the text's structure.

A model that reads positions 0, 1, 2, ... learns how long the operands it was trained on are, and copies a
seven-digit operand as five digits (docs/studies/position_coupling.md). Here a character's position id says where it sits in
the format instead: line `l`, field `f` of that line (numbers and the gaps between them alternate) and, for
a digit, its significance within the number the format expects there:

    position = l * LINE_STRIDE + f * FIELD_STRIDE + offset

Digits are aligned from the right by the length the format says the number must have (a restated operand
is one digit shorter than the line above, the result so far has one digit per step), and the text before
such a number ends right before it; the line break before a step sits right before that step's first
digit. So a restated digit and the digit it copies (same field, line above; the first step copies the
problem line, three lines up), and the token before a copied number and the source's first digit, are the
same distance apart whatever the operands' length. All of it depends only on earlier text, so positions of
generated tokens can be computed as they are generated. A number whose length the format does not fix (a
step's sum, the direct format's answer) starts its field, as does the text before it.
"""

from __future__ import annotations

import re

from reasonkit.strategies.arithmetic_format import (
    ArithmeticProblem,
    parse_problem,
    render_example,
    scratch_lines,
)

LINE_STRIDE = 320
FIELD_STRIDE = 16
_NUMBER = re.compile(r"\d+(?: \d+)*")
# the text before each number of a step line and of the answer line, as the format writes it: its length is
# known before it is written, so it can end right before the number while it is being generated
_SAMPLE = ArithmeticProblem(op="add", operands=(1, 1))
_STEP_GAPS = [len(gap) for gap in _NUMBER.split(scratch_lines(_SAMPLE)[0])]
_ANSWER_GAP = len(_NUMBER.split(render_example(_SAMPLE).strip().splitlines()[-1])[0])  # "Answer: "


def coupled_positions(text: str) -> list[int] | None:
    """One position id per character of `text` (an arithmetic prompt, a partial or a whole example in either
    format); None for any other text, which keeps ordinary positions."""
    first_line = text.split("\n", 1)[0]
    if not text.startswith("Input: ") or parse_problem(first_line) is None:
        return None
    positions: list[int] = []
    expected_a = expected_b = 0
    op_is_mul = False
    steps = 0
    for line_no, line in enumerate(text.split("\n")):
        base = line_no * LINE_STRIDE
        numbers = list(_NUMBER.finditer(line))
        expected: list[int | None] = []
        gaps: list[int] | None = None  # the format's gap lengths (None: the line's own, it is whole)
        next_a: int | None = None  # a step line may follow: its first operand's expected length
        if line_no == 0:  # the problem line, always whole (it is the prompt): its own lengths
            expected = [sum(ch.isdigit() for ch in m.group()) for m in numbers]
            expected_a, expected_b = (expected + [0, 0])[:2]
            op_is_mul = "*" in line
        elif line[:1].isdigit():  # a scratchpad step
            steps += 1
            if steps > 1:
                expected_a = max(expected_a - 1, 1)
                expected_b = 1 if op_is_mul else max(expected_b - 1, 1)
            expected = [expected_a, expected_b, 1, 1, 1, 1, None, 1, steps]
            gaps = _STEP_GAPS
            next_a = max(expected_a - 1, 1)
        elif line[:1] == "A":  # "Answer: ...": as long as the result so far when there were steps
            expected = [steps or None]
            gaps = [_ANSWER_GAP]
        elif line == "<scratch>":
            next_a = expected_a
        positions.extend(_line_positions(line, base, numbers, expected, gaps))
        if next_a is None:
            positions.append(base + LINE_STRIDE - 1)  # the "\n" ending the line
        else:  # right before where the next step's first digit will be
            positions.append(base + LINE_STRIDE + 2 * FIELD_STRIDE - next_a - 1)
    del positions[len(text) :]  # the last line has no "\n"
    return positions


def _line_positions(
    line: str, base: int, numbers: list[re.Match[str]], expected: list[int | None], gaps: list[int] | None
) -> list[int]:
    """A number of known length is right-aligned in its field and the text before it ends right before it
    (when the text has the format's length); a number of unknown length starts its field, as does the text
    before it."""
    out: list[int] = []
    cursor = 0
    for index in range(len(numbers) + 1):
        match = numbers[index] if index < len(numbers) else None
        gap_end = match.start() if match is not None else len(line)
        number_base = base + (2 * index + 1) * FIELD_STRIDE
        length = expected[index] if index < len(expected) else None
        gap = gap_end - cursor
        if length is None:
            out.extend(number_base - FIELD_STRIDE + min(k, FIELD_STRIDE - 1) for k in range(gap))
        else:
            first_digit = number_base + FIELD_STRIDE - min(length, FIELD_STRIDE)
            width = gap if gaps is None or index >= len(gaps) else gaps[index]
            out.extend(first_digit - width + min(k, width) for k in range(gap))
        if match is None:
            break
        digit = -1
        for ch in match.group():
            if ch.isdigit():
                digit += 1
            offset = digit if length is None else FIELD_STRIDE - length + digit
            out.append(number_base + min(max(offset, 0), FIELD_STRIDE - 1))
        cursor = match.end()
    return out
