import re

from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit.strategies.arithmetic_format import ArithmeticProblem, render_example, render_prompt
from reasonkit.strategies.arithmetic_positions import FIELD_STRIDE, LINE_STRIDE, coupled_positions

problems = st.one_of(
    st.builds(
        lambda a, b: ArithmeticProblem(op="add", operands=(a, b)),
        st.integers(0, 10**12 - 1),
        st.integers(0, 10**12 - 1),
    ),
    st.builds(
        lambda a, b: ArithmeticProblem(op="mul", operands=(a, b)),
        st.integers(0, 10**12 - 1),
        st.integers(0, 9),
    ),
)


def positions_of(problem: ArithmeticProblem, scratchpad: bool = True) -> tuple[str, list[int]]:
    text = render_example(problem, scratchpad)
    positions = coupled_positions(text)
    assert positions is not None and len(positions) == len(text)
    return text, positions


@settings(max_examples=60, deadline=None)
@given(problems, st.booleans())
def test_a_generated_character_is_placed_by_the_text_before_it(
    problem: ArithmeticProblem, scratchpad: bool
) -> None:
    """What makes generation possible: a token's position never waits for later text. Spaces are exempt
    (no token ends in one: the tokenizer puts a space before the word it belongs to)."""
    text, whole = positions_of(problem, scratchpad)
    for end in range(len(render_prompt(problem, scratchpad)), len(text) + 1):
        prefix = coupled_positions(text[:end])
        assert prefix is not None
        assert [p for p, ch in zip(prefix, text, strict=False) if ch != " "] == [
            p for p, ch in zip(whole[:end], text, strict=False) if ch != " "
        ]


def step_lines(text: str, positions: list[int]) -> list[tuple[str, list[int]]]:
    out, start = [], 0
    for line in text.split("\n"):
        if line[:1].isdigit():
            out.append((line, positions[start : start + len(line)]))
        start += len(line) + 1
    return out


def operand_digits(line: str, positions: list[int], field: int) -> list[tuple[str, int]]:
    match = list(re.finditer(r"\d+(?: \d+)*", line))[field]
    return [(line[i], positions[i]) for i in range(match.start(), match.end()) if line[i] != " "]


@settings(max_examples=60, deadline=None)
@given(problems)
def test_a_restated_digit_sits_a_fixed_distance_from_the_digit_it_copies(problem: ArithmeticProblem) -> None:
    """Whatever the operands' length: the next line's k-th digit is LINE_STRIDE + 1 after this line's k-th
    (its number is one digit shorter and right-aligned), and the digit a step adds sits at the same offset
    of its line in every line."""
    text, positions = positions_of(problem)
    lines = step_lines(text, positions)
    for (line, pos), (next_line, next_pos) in zip(lines, lines[1:], strict=False):
        for field in (0, 1):
            here, there = operand_digits(line, pos, field), operand_digits(next_line, next_pos, field)
            if len(there) == len(here) - 1:
                assert [p for _, p in there] == [p + LINE_STRIDE + 1 for _, p in here[:-1]]
                assert [d for d, _ in there] == [d for d, _ in here[:-1]]
    last_digit_offsets = {
        (pos[0] // LINE_STRIDE * LINE_STRIDE, operand_digits(line, pos, 0)[-1][1]) for line, pos in lines
    }
    assert len({p - base for base, p in last_digit_offsets}) == 1
    assert all((p - base) % FIELD_STRIDE == FIELD_STRIDE - 1 for base, p in last_digit_offsets)


def test_a_seven_digit_operand_uses_the_positions_of_a_five_digit_one_shifted() -> None:
    """Length generalisation in one picture: the digit a line adds is at the same position whatever the
    length, and a longer operand only reaches further left."""
    _, short = positions_of(ArithmeticProblem(op="add", operands=(12345, 67890)))
    text, long = positions_of(ArithmeticProblem(op="add", operands=(1234567, 7654321)))
    first_step = step_lines(text, long)[0]
    digits = operand_digits(*first_step, field=0)
    assert [p % LINE_STRIDE for _, p in digits] == list(range(2 * FIELD_STRIDE - 7, 2 * FIELD_STRIDE))


def test_the_token_before_a_copied_number_is_a_fixed_distance_from_its_source() -> None:
    """A model predicts a number's first digit at the token before it: that token (the line break before a
    step, the "+" before the second operand, "Answer:") must sit at the same distance from the digit to
    copy whatever the length, or a longer number puts the source at a distance never seen in training."""
    distances: dict[str, set[int]] = {"line break": set(), "plus": set(), "answer": set()}
    for digits in range(2, 10):
        problem = ArithmeticProblem(op="add", operands=(int("7" * digits), int("5" * digits)))
        text, positions = positions_of(problem)
        lines = step_lines(text, positions)
        for (line, pos), (next_line, next_pos) in zip(lines, lines[1:], strict=False):
            if len(operand_digits(line, pos, 0)) == 1:
                continue  # the operands are used up: the next line's "0" is not a copy
            line_break = positions[text.index(next_line + "\n") - 1]
            distances["line break"].add(line_break - operand_digits(line, pos, 0)[0][1])
            distances["plus"].add(next_pos[next_line.index("+")] - operand_digits(line, pos, 1)[0][1])
        colon = positions[text.index("Answer:") + len("Answer")]
        distances["answer"].add(colon - operand_digits(*lines[-1], 8)[0][1])
    assert all(len(found) == 1 for found in distances.values()), distances


def test_other_texts_keep_ordinary_positions() -> None:
    assert coupled_positions("The cat sat on the mat.") is None
    assert coupled_positions("Input: the cat\nTarget:") is None
    assert coupled_positions("") is None
