"""Cross-question batching: strategies written as plain sequential code reach the backend in full batches."""

from __future__ import annotations

import asyncio

import pytest

from reasonkit.client import BatchingClient, solve_traced
from reasonkit.driver import (
    QuestionError,
    arun_questions,
    iter_outcomes,
    iter_predictions,
    run_questions,
)
from reasonkit.fake import FakeLM
from reasonkit.protocol import (
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Sample,
)
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question, Trace


class ThinkThenScore(Strategy):
    """A user-written strategy: generate a thought, then score the options after it. No batching code."""

    name = "think_then_score"

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        [thought] = await lm.generate(
            [GenerationRequest(prompt=f"Q: {question.text}\nThought:", max_tokens=8)]
        )
        context = f"Q: {question.text}\nThought:{thought.samples[0].text}\nA:"
        scored = await lm.loglikelihood(
            [LoglikelihoodRequest(context=context, continuation=f" {o}") for o in question.choices]
        )
        scores = {label: r.logprob for label, r in zip(question.choices, scored, strict=True)}
        best = max(range(len(scored)), key=lambda i: scored[i].logprob)
        return Prediction(
            question_id=question.id,
            answer=question.answer_of(best),
            scores=scores,
            trace=Trace(steps={"thought": thought.samples[0].text}, notes=["scored after thinking"]),
        )


def questions(n: int) -> list[Question]:
    return [
        Question(id=f"q{i}", text=f"What is {i} plus {i}?", options=(str(2 * i), str(2 * i + 1)))
        for i in range(n)
    ]


def fake() -> FakeLM:
    return FakeLM({r"What is (\d+)": ["it is even", "let me add"]}, regex=True)


def test_fifty_questions_reach_the_backend_in_a_few_full_batches() -> None:
    lm = fake()
    predictions = run_questions(ThinkThenScore(), questions(50), lm, concurrency=64)
    assert [p.question_id for p in predictions] == [f"q{i}" for i in range(50)]
    # 50 questions x (1 generate + 1 loglikelihood of 2 options): one batch per step, not 100 calls.
    assert lm.generate_batches == [50]
    assert lm.loglikelihood_batches == [64, 36]


def test_max_batch_and_concurrency_bound_the_batches() -> None:
    lm = fake()
    run_questions(ThinkThenScore(), questions(20), BatchingClient(lm, max_batch=8), concurrency=10)
    assert max(lm.generate_batches + lm.loglikelihood_batches) <= 8
    assert sum(lm.generate_batches) == 20 and sum(lm.loglikelihood_batches) == 40


def test_traces_hold_each_questions_own_prompts_and_the_strategys_steps() -> None:
    predictions = run_questions(ThinkThenScore(), questions(12), fake(), concurrency=5)
    for i, prediction in enumerate(predictions):
        trace = prediction.trace
        assert trace.strategy == "think_then_score"
        assert [c.kind for c in trace.calls] == ["generate", "loglikelihood", "loglikelihood"]
        prompts = [c.request.get("prompt") or c.request["context"] for c in trace.calls]
        assert all(p.startswith(f"Q: What is {i} plus {i}?") for p in prompts)
        assert trace.calls[0].output["samples"][0]["text"] == trace.steps["thought"]
        assert trace.calls[1].request["continuation"] == f" {2 * i}"
        assert trace.notes == ["scored after thinking"]
        assert not any(c.cached for c in trace.calls)


def test_answers_do_not_depend_on_concurrency() -> None:
    one = run_questions(ThinkThenScore(), questions(15), fake(), concurrency=1)
    many = run_questions(ThinkThenScore(), questions(15), fake(), concurrency=64)
    strip = [p.model_dump(exclude={"trace": {"calls": {"__all__": {"latency_s"}}}}) for p in one]
    assert strip == [p.model_dump(exclude={"trace": {"calls": {"__all__": {"latency_s"}}}}) for p in many]


def test_identical_requests_of_different_questions_are_sent_once() -> None:
    lm = fake()
    same = [Question(id=f"dup{i}", text="What is 1 plus 1?", options=("2", "3")) for i in range(4)]
    predictions = run_questions(ThinkThenScore(), same, lm)
    assert lm.generate_batches == [1] and lm.loglikelihood_batches == [2]
    assert all(len(p.trace.calls) == 3 for p in predictions)


class Fails(Strategy):
    name = "fails_on_q3"

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        await lm.loglikelihood([LoglikelihoodRequest(context=question.text, continuation=" x")])
        if question.id == "q3":
            raise ZeroDivisionError("boom")
        await lm.loglikelihood([LoglikelihoodRequest(context=question.text, continuation=" y")])
        return Prediction(question_id=question.id, answer=0)


def test_a_failing_question_raises_with_its_id_and_does_not_hang_the_others() -> None:
    with pytest.raises(
        QuestionError, match=r"question 'q3': strategy 'fails_on_q3' failed: ZeroDivisionError: boom"
    ):
        run_questions(Fails(), questions(10), fake())


def test_a_backend_error_reaches_the_question_that_asked() -> None:
    with pytest.raises(QuestionError, match="no generation rule"):
        run_questions(ThinkThenScore(), [Question(id="odd", text="Unscripted?", options=("a", "b"))], fake())


class RejectsSeven(FakeLM):
    """Rejects a whole batch when one request in it is bad, as a backend that validates its input does."""

    def __init__(self) -> None:
        super().__init__({r"What is (\d+)": ["it is even"]}, regex=True)
        self.failed_calls = 0

    def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
        bad = [i for i, r in enumerate(requests) if "What is 7 " in r.context]
        if bad:
            self.failed_calls += 1
            raise ValueError(f"loglikelihood request {bad[0]}: too long for the window")
        return super().loglikelihood(requests)


def test_a_bad_request_fails_only_its_own_question_not_the_others_in_its_batch() -> None:
    lm = RejectsSeven()
    with pytest.raises(QuestionError, match=r"question 'q7'.*too long for the window"):
        run_questions(ThinkThenScore(), questions(10), lm)


def test_a_request_batched_with_a_bad_one_still_gets_its_answer() -> None:
    lm = RejectsSeven()
    client = BatchingClient(lm)

    async def ask(question: str) -> object:
        [result] = await client.loglikelihood([LoglikelihoodRequest(context=question, continuation=" x")])
        return result

    async def both() -> list[object]:
        return await asyncio.gather(
            ask("What is 1 plus 1?"), ask("What is 7 plus 7?"), return_exceptions=True
        )

    good, bad = asyncio.run(both())
    assert isinstance(bad, ValueError) and "too long" in str(bad)
    assert good == lm.loglikelihood([LoglikelihoodRequest(context="What is 1 plus 1?", continuation=" x")])[0]
    assert lm.failed_calls == 2  # the batch of both, then the bad request alone


def test_other_backend_errors_still_fail_the_whole_batch_without_retries() -> None:
    class Broken(RejectsSeven):
        def loglikelihood(self, requests):  # type: ignore[no-untyped-def]
            self.failed_calls += 1
            raise RuntimeError("device lost")

    lm = Broken()
    with pytest.raises(QuestionError, match="device lost"):
        run_questions(ThinkThenScore(), questions(10), lm)
    assert lm.failed_calls == 1


class Composite(Strategy):
    """Runs an inner strategy twice in parallel and keeps the inner traces as children."""

    name = "composite"

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        inner = await asyncio.gather(*(solve_traced(ThinkThenScore(), question, lm) for _ in range(2)))
        await lm.loglikelihood([LoglikelihoodRequest(context=question.text, continuation=" own")])
        return Prediction(
            question_id=question.id, answer=inner[0].answer, trace=Trace(children=[p.trace for p in inner])
        )


def test_composites_keep_inner_calls_in_child_traces_and_still_batch() -> None:
    lm = fake()
    predictions = run_questions(Composite(), questions(6), lm)
    for prediction in predictions:
        assert [c.request["continuation"] for c in prediction.trace.calls] == [" own"]
        assert [len(child.calls) for child in prediction.trace.children] == [3, 3]
        assert {child.strategy for child in prediction.trace.children} == {"think_then_score"}
    assert lm.generate_batches == [6]  # the twin inner generations are identical: sent once per question


def test_iter_predictions_yields_every_question_once() -> None:
    async def collect() -> list[tuple[int, Prediction]]:
        return [
            item async for item in iter_predictions(ThinkThenScore(), questions(9), fake(), concurrency=4)
        ]

    got = asyncio.run(collect())
    assert sorted(i for i, _ in got) == list(range(9))
    assert all(p.question_id == f"q{i}" for i, p in got)


def test_strategies_that_do_not_apply_abstain_with_a_note() -> None:
    class OnlyBinary(ThinkThenScore):
        name = "only_binary"

        def applies_to(self, question: Question) -> bool:
            return question.is_binary

    [prediction] = run_questions(OnlyBinary(), questions(1), fake())
    assert prediction.abstained and "does not apply" in prediction.trace.notes[0]


def test_run_works_inside_a_running_event_loop() -> None:
    async def inside() -> Prediction:
        return ThinkThenScore().run(questions(1)[0], fake())

    assert asyncio.run(inside()).question_id == "q0"


def test_iter_outcomes_hands_back_a_failed_question_and_goes_on_with_the_others() -> None:
    async def collect() -> list[tuple[int, Prediction | QuestionError]]:
        return [item async for item in iter_outcomes(Fails(), questions(8), fake(), concurrency=3)]

    got = dict(asyncio.run(collect()))
    assert sorted(got) == list(range(8))
    assert isinstance(got[3], QuestionError) and "boom" in str(got[3])
    assert all(isinstance(got[i], Prediction) for i in got if i != 3)


class ScoresNaN(Strategy):
    """A backend gone wrong: one question's scores come back NaN or infinite."""

    name = "scores_nan"

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        score = {"q1": float("nan"), "q2": float("-inf")}.get(question.id, -1.0)
        return Prediction(question_id=question.id, answer=0, scores={"A": score, "B": -2.0})


def test_a_non_finite_score_is_an_error_for_that_question_never_an_answer() -> None:
    async def collect() -> dict[int, Prediction | QuestionError]:
        return dict([item async for item in iter_outcomes(ScoresNaN(), questions(4), fake())])

    got = asyncio.run(collect())
    for index in (1, 2):
        error = got[index]
        assert isinstance(error, QuestionError) and isinstance(error.__cause__, ValueError)
        assert f"question 'q{index}'" in str(error) and "non-finite score {'A':" in str(error)
    assert isinstance(got[0], Prediction) and isinstance(got[3], Prediction)
    with pytest.raises(QuestionError, match="non-finite score"):
        run_questions(ScoresNaN(), questions(4), fake())


class AnswersWith(Strategy):
    """Answers every question with a fixed value, right type or not (as a hurried custom strategy might)."""

    name = "answers_with"

    def __init__(self, answer: int | bool | str) -> None:
        self.answer = answer

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        return Prediction(question_id=question.id, answer=self.answer)


PLATE = Question(id="plate", text="Where does a clean plate go?", options=("cupboard", "sink"), gold=0)


def test_a_prediction_carries_its_answer_as_text() -> None:
    [by_index] = run_questions(AnswersWith(0), [PLATE], FakeLM())
    assert (by_index.answer, by_index.answer_text) == (0, "cupboard")
    [binary] = run_questions(AnswersWith(False), [Question(id="b", text="Ice is hot.", gold=False)], FakeLM())
    assert (binary.answer, binary.answer_text) == (False, "False")


@pytest.mark.parametrize(
    ("question", "answer", "message"),
    [
        (PLATE, "cupboard", "the answer 'cupboard' is an option's text; answer with its index, 0"),
        (PLATE, 2, "the answer 2 is not an option index 0-1"),
        (PLATE, True, "the answer True is not an option index 0-1"),
        (Question(id="b", text="Ice is hot."), 1, "the answer 1 is not True or False"),
        (Question(id="f", text="1 + 1 =", gold="2"), 2, "the answer 2 is not a string"),
    ],
)
def test_an_answer_of_the_wrong_type_is_refused_by_name(
    question: Question, answer: object, message: str
) -> None:
    with pytest.raises(QuestionError) as caught:
        run_questions(AnswersWith(answer), [question], FakeLM())  # type: ignore[arg-type]
    assert message in str(caught.value) and f"question {question.id!r}" in str(caught.value)


class GatedLM:
    """An async-only backend: the request "slow" stays out until a question opens its gate."""

    fingerprint = "gated"

    def __init__(self) -> None:
        self.sent: list[list[str]] = []
        self.done: list[str] = []
        self.gate = asyncio.Event()

    async def agenerate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        self.sent.append([r.prompt for r in requests])
        for request in requests:
            if request.prompt == "slow":
                await self.gate.wait()
            self.done.append(request.prompt)
        return [GenerationResult(samples=(Sample(text=r.prompt, finish_reason="stop"),)) for r in requests]

    async def aloglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        raise NotImplementedError

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        raise AssertionError("the batching client awaits the async form")

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        raise AssertionError("the batching client awaits the async form")


class SlowOrFast(Strategy):
    """Question "slow" asks for "slow"; the other asks later for "fast", then opens the slow request's gate."""

    name = "slow_or_fast"

    def __init__(self, lm: GatedLM) -> None:
        self.gated = lm

    async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
        if question.id != "slow":
            for _ in range(10):  # more rounds than the client waits: "slow" is out before this is asked
                await asyncio.sleep(0)
        [result] = await lm.generate([GenerationRequest(prompt=question.id)])
        if question.id != "slow":
            self.gated.gate.set()
        return Prediction(
            question_id=question.id, answer=None, trace=Trace(steps={"text": result.samples[0].text})
        )


def test_an_async_backend_waiting_on_one_request_does_not_hold_up_the_other_questions() -> None:
    lm = GatedLM()
    batch = [Question(id=name, text="?", options=("a", "b")) for name in ("slow", "fast")]
    run = arun_questions(SlowOrFast(lm), batch, BatchingClient(lm), concurrency=2)
    predictions = asyncio.run(asyncio.wait_for(run, timeout=30))  # a client that blocked would never finish
    assert lm.sent == [["slow"], ["fast"]]
    assert lm.done == ["fast", "slow"]
    assert [p.trace.steps["text"] for p in predictions] == ["slow", "fast"]
    assert [len(p.trace.calls) for p in predictions] == [1, 1]


def test_a_question_cancelled_while_its_batch_is_out_leaves_the_others_their_results() -> None:
    """A served request dropped mid-batch (the client went away) must not strand the requests batched with it."""
    lm = GatedLM()
    client = BatchingClient(lm)

    async def main() -> list[GenerationResult]:
        dropped = asyncio.create_task(client.generate([GenerationRequest(prompt="slow")]))
        kept = asyncio.create_task(client.generate([GenerationRequest(prompt="kept")]))
        while not lm.sent:
            await asyncio.sleep(0)
        dropped.cancel()
        lm.gate.set()
        return await asyncio.wait_for(kept, timeout=30)  # the old client never woke this one

    [result] = asyncio.run(main())
    assert result.samples[0].text == "kept"
