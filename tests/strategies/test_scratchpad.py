import pytest

from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest
from reasonkit.strategies.arithmetic_format import (
    ArithmeticProblem,
    parse_answer,
    render_completion,
    render_prompt,
    scratch_lines,
    spaced,
    to_question,
)
from reasonkit.strategies.scratchpad import ArithmeticDirect, Scratchpad
from reasonkit.strategies.self_consistency import SelfConsistency
from reasonkit.types import Question

PROBLEM = ArithmeticProblem(op="add", operands=(487, 59))
QUESTION = to_question(PROBLEM, "arith-0")


def generation_requests(lm: FakeLM) -> list[GenerationRequest]:
    return [r for r in lm.requests if isinstance(r, GenerationRequest)]


def test_reads_the_answer_from_a_correct_scratchpad():
    lm = FakeLM({render_prompt(PROBLEM): render_completion(PROBLEM)})
    prediction = Scratchpad().run(QUESTION, lm)
    assert prediction.answer == str(PROBLEM.result) and prediction.is_correct(QUESTION)
    [request] = generation_requests(lm)
    assert request.prompt == render_prompt(PROBLEM) and request.temperature == 0.0
    assert request.max_tokens >= len(render_completion(PROBLEM))  # never cut a well-formed scratchpad
    trace = prediction.trace
    assert trace.strategy == "scratchpad" and trace.steps["mode"] == "scratchpad"
    assert trace.steps["scratch"] == scratch_lines(PROBLEM)
    assert [call.request["prompt"] for call in trace.calls] == [request.prompt]
    assert prediction.scores.keys() == {prediction.answer} and 0.0 < prediction.confidence <= 1.0


def test_the_answer_is_the_last_line_even_when_the_steps_disagree():
    wrong = render_completion(PROBLEM).replace(f"Answer: {spaced(PROBLEM.result)}", "Answer: 5 4 7")
    prediction = Scratchpad().run(QUESTION, FakeLM(default=wrong))
    assert prediction.answer == "547" and not prediction.is_correct(QUESTION)


@pytest.mark.parametrize(
    "output",
    [
        "<scratch>\n4 8 7 + 5 9, carry 0: 7 + 9 + 0 = 16, write 6, so far 6\n4 8 + 5,",  # ran out of tokens mid-scratchpad
        "the answer is five hundred and forty-six",
    ],
)
def test_abstains_with_the_raw_text_when_there_is_no_answer_line(output):
    prediction = Scratchpad().run(QUESTION, FakeLM(default=output))
    assert prediction.answer is None and prediction.abstained
    assert prediction.trace.steps["output"] == output
    assert any("abstained" in note for note in prediction.trace.notes)


def test_direct_mode_asks_for_the_answer_alone():
    problem = ArithmeticProblem(op="mul", operands=(305, 4))
    question = to_question(problem, "arith-1")
    lm = FakeLM({render_prompt(problem, scratchpad=False): render_completion(problem, scratchpad=False)})
    prediction = ArithmeticDirect().run(question, lm)
    assert prediction.answer == str(problem.result) and prediction.is_correct(question)
    assert generation_requests(lm)[0].prompt.endswith("\nAnswer:")
    assert prediction.trace.strategy == "arithmetic_direct" and "scratch" not in prediction.trace.steps


def test_lines_before_the_problem_go_before_the_prompt():
    noted = QUESTION.model_copy(update={"text": "Note: carry the one.\n" + QUESTION.text})
    lm = FakeLM(default=render_completion(PROBLEM))
    Scratchpad().run(noted, lm)
    assert generation_requests(lm)[0].prompt == "Note: carry the one.\n" + render_prompt(PROBLEM)


def test_problem_read_from_text_when_metadata_is_absent():
    question = Question(id="plain", text="1 2 * 7", gold="84")
    problem = ArithmeticProblem(op="mul", operands=(12, 7))
    prediction = Scratchpad().run(question, FakeLM({render_prompt(problem): render_completion(problem)}))
    assert prediction.is_correct(question)


def test_does_not_apply_to_other_questions_and_makes_no_call():
    question = Question(id="q", text="Is the sky blue?", gold=True)
    lm = FakeLM(default="Answer: 1")
    assert not Scratchpad().applies_to(question)
    prediction = Scratchpad().run(question, lm)
    assert prediction.abstained and lm.n_calls == 0


def test_self_consistency_votes_over_sampled_scratchpads():
    correct = render_completion(PROBLEM)
    wrong = correct.replace(f"Answer: {spaced(PROBLEM.result)}", "Answer: 5 4 7")
    lm = FakeLM({render_prompt(PROBLEM): [correct, wrong, correct, "<scratch>\n7 + 9"]})
    prediction = SelfConsistency(inner=Scratchpad(), n=4, temperature=0.7).run(QUESTION, lm)
    [request] = generation_requests(lm)
    assert request.n == 4 and request.temperature == 0.7
    assert prediction.answer == str(PROBLEM.result) and prediction.is_correct(QUESTION)
    assert [path["answer"] for path in prediction.trace.steps["paths"]] == [
        prediction.answer,
        "547",
        prediction.answer,
        None,
    ]


def test_rejects_bad_max_tokens():
    with pytest.raises(ValueError, match="max_tokens"):
        Scratchpad(max_tokens=0)


def test_end_to_end_on_the_tiny_model(tiny_engine):
    """No accuracy claim: the trained-in-session tiny model only has to yield well-formed predictions."""
    problems = [ArithmeticProblem(op="add", operands=(23, 58)), ArithmeticProblem(op="mul", operands=(41, 3))]
    questions = [to_question(p, f"tiny-{i}") for i, p in enumerate(problems)]
    for strategy in (Scratchpad(max_tokens=48), ArithmeticDirect(max_tokens=8)):
        predictions = strategy.run_many(questions, tiny_engine)
        for question, prediction in zip(questions, predictions, strict=True):
            assert prediction.question_id == question.id
            assert [call.kind for call in prediction.trace.calls] == ["generate"]
            output = prediction.trace.steps["output"]
            expected = parse_answer("Answer:" + output if strategy.direct else output)
            assert prediction.answer == expected
            assert prediction.abstained == (expected is None)
