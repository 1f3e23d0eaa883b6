import json
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reasonkit.strategies.arithmetic_format import (
    END,
    ArithmeticProblem,
    direct_text,
    make_problem,
    parse_answer,
    parse_problem,
    problem_of,
    render_completion,
    render_example,
    render_input,
    render_prompt,
    scratch_lines,
    scratchpad_text,
    spaced,
    to_question,
)

problems = st.one_of(
    st.builds(
        lambda a, b: ArithmeticProblem(op="add", operands=(a, b)),
        st.integers(0, 10**12),
        st.integers(0, 10**12),
    ),
    st.builds(
        lambda a, b: ArithmeticProblem(op="mul", operands=(a, b)), st.integers(0, 10**12), st.integers(0, 9)
    ),
)


def test_addition_example_matches_the_documented_format():
    problem = ArithmeticProblem(op="add", operands=(487, 59))
    assert render_example(problem) == (
        "Input: 4 8 7 + 5 9\nTarget:\n<scratch>\n"
        "4 8 7 + 5 9, carry 0: 7 + 9 + 0 = 16, write 6, so far 6\n"
        "4 8 + 5, carry 1: 8 + 5 + 1 = 14, write 4, so far 4 6\n"
        "4 + 0, carry 1: 4 + 0 + 1 = 5, write 5, so far 5 4 6\n"
        "</scratch>\nAnswer: 5 4 6\n\n"
    )
    assert render_example(problem, scratchpad=False) == "Input: 4 8 7 + 5 9\nAnswer: 5 4 6\n\n"


def test_a_final_carry_gets_a_line_of_its_own():
    lines = scratch_lines(ArithmeticProblem(op="mul", operands=(487, 6)))
    assert lines[0] == "4 8 7 * 6, carry 0: 7 * 6 + 0 = 42, write 2, so far 2"
    assert lines[-1] == "0 * 6, carry 2: 0 * 6 + 2 = 2, write 2, so far 2 9 2 2"
    assert scratch_lines(ArithmeticProblem(op="add", operands=(99, 1)))[-1] == (
        "0 + 0, carry 1: 0 + 0 + 1 = 1, write 1, so far 1 0 0"
    )


_LINE = re.compile(
    r"(?P<a>[\d ]+) (?P<op>[+*]) (?P<b>[\d ]+), carry (?P<carry>\d): (?P<x>\d) [+*] (?P<y>\d) \+ (?P=carry) = "
    r"(?P<total>\d+), write (?P<digit>\d), so far (?P<so_far>[\d ]+)"
)


@given(problems)
def test_scratch_lines_compute_the_result(problem):
    """Each line's digits are the last ones it restates, its arithmetic holds, the next line drops them and
    takes the carry, and the last line's "so far" is the result."""
    lines = [_LINE.fullmatch(line) for line in scratch_lines(problem)]
    assert all(lines), scratch_lines(problem)
    first = lines[0]
    assert first["a"] == spaced(problem.operands[0]) and first["b"] == spaced(problem.operands[1])
    so_far = ""
    for i, step in enumerate(lines):
        x, y, carry, total = int(step["x"]), int(step["y"]), int(step["carry"]), int(step["total"])
        assert step["a"][-1] == step["x"]
        assert step["b"][-1] == step["y"] if problem.op == "add" else step["b"] == step["y"]
        assert total == (x + y if problem.op == "add" else x * y) + carry
        assert int(step["digit"]) == total % 10
        so_far = f"{step['digit']} {so_far}".strip()
        assert step["so_far"] == so_far
        if i + 1 < len(lines):
            after = lines[i + 1]
            assert int(after["carry"]) == total // 10
            assert after["a"] == (step["a"][:-2] or "0")
            if problem.op == "add":
                assert after["b"] == (step["b"][:-2] or "0")
    assert int(so_far.replace(" ", "")) == problem.result


@given(problems, st.booleans())
def test_parse_reads_back_what_render_wrote(problem, scratchpad):
    completion = render_completion(problem, scratchpad)
    assert completion.endswith(END) and END not in completion[: -len(END)]
    model_text = completion[: -len(END)]  # generation stops before the END string
    assert parse_answer(model_text if scratchpad else "Answer:" + model_text) == str(problem.result)
    assert parse_problem(render_input(problem)) == problem
    assert parse_problem(render_prompt(problem).splitlines()[0]) == problem


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<scratch>\n4 8 7 + 5 9, carry 0: 7 + 9 + 0 = 16, write 6, so far 6",
        "Answer:",
        "Answer: 5 4 x",
        "Answer: 5 4 6\nmore text",
    ],
)
def test_parse_answer_abstains_when_the_last_line_is_not_an_answer(text):
    assert parse_answer(text) is None


def test_parse_problem_accepts_compact_text_and_rejects_other_text():
    assert parse_problem("487+59") == ArithmeticProblem(op="add", operands=(487, 59))
    assert parse_problem("Input: 1 2 * 7") == ArithmeticProblem(op="mul", operands=(12, 7))
    assert parse_problem("12 * 34") is None
    assert parse_problem("Note: 12 + 3 is small") is None


@pytest.mark.parametrize("op", ["add", "mul"])
@pytest.mark.parametrize("n_digits", [1, 3, 8])
def test_make_problem_has_the_requested_size_and_is_reproducible(op, n_digits):
    made = [make_problem(random.Random(7), n_digits, op) for _ in range(2)]
    assert made[0] == made[1]
    rng = random.Random(1)
    for _ in range(50):
        problem = make_problem(rng, n_digits, op)
        a, b = problem.operands
        assert problem.op == op and len(str(a)) == n_digits
        assert len(str(b)) == n_digits if op == "add" else 2 <= b <= 9


def test_make_problem_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_digits"):
        make_problem(random.Random(0), 0, "add")
    with pytest.raises(ValueError, match="unknown op"):
        make_problem(random.Random(0), 3, "div")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="single-digit"):
        ArithmeticProblem(op="mul", operands=(3, 12))


def test_question_round_trip():
    problem = ArithmeticProblem(op="mul", operands=(305, 4))
    question = to_question(problem, "arith-1", split="test")
    assert question.is_free_form and question.gold == "1220" and question.split == "test"
    assert question.metadata == {"task": "arithmetic", "op": "mul", "operands": [305, 4]}
    assert problem_of(question) == problem
    # Without metadata the problem is read from the text's last line (e.g. after memory notes).
    bare = question.model_copy(update={"metadata": {}, "text": "Note: check carries\n" + question.text})
    assert problem_of(bare) == problem


def test_recipe_formatters_turn_suite_rows_into_examples():
    problem = ArithmeticProblem(op="add", operands=(905, 97))
    row = json.loads(to_question(problem, "arithmetic-train-0", split="train").model_dump_json())
    assert scratchpad_text(row) == render_example(problem, scratchpad=True)
    assert direct_text(row) == render_example(problem, scratchpad=False)
    assert scratchpad_text({"id": "x", "text": "Is the sky blue?", "metadata": {}}) is None
    with pytest.raises(ValueError, match="row 'bad'"):
        direct_text(
            {
                "id": "bad",
                "text": "1 + 1",
                "metadata": {"task": "arithmetic", "op": "mul", "operands": [1, 12]},
            }
        )
