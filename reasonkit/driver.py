"""The run driver: answers many questions through a strategy, their LM calls batched across questions.

Each question runs as an asyncio task (up to `concurrency` at once) that calls the strategy's `solve` with a
`BatchingClient` (`reasonkit.client`), which gathers the requests of all of them into full batches; a
question that fails is a `QuestionError` naming it, and a prediction with a NaN or infinite score is one. The
benchmark runner, the CLI and `Strategy.run` / `run_many` go through here; strategies never do (they call the
client, and a composite runs its members with `reasonkit.client.solve_traced`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from reasonkit.client import BatchingClient, Solver, solve_traced
from reasonkit.protocol import LanguageModel
from reasonkit.types import Prediction, Question, Trace

__all__ = [
    "QuestionError",
    "arun_questions",
    "check_finite",
    "iter_outcomes",
    "iter_predictions",
    "run_questions",
]


class QuestionError(RuntimeError):
    """A strategy failed on one question; the message names the question and the strategy."""

    def __init__(self, question_id: str, strategy: str, error: BaseException) -> None:
        super().__init__(
            f"question {question_id!r}: strategy {strategy!r} failed: {type(error).__name__}: {error}"
        )
        self.question_id = question_id


def _client_for(lm: LanguageModel | BatchingClient) -> BatchingClient:
    return lm if isinstance(lm, BatchingClient) else BatchingClient(lm)


def _not_applicable(strategy: Solver, question: Question) -> Prediction:
    note = f"strategy {strategy.name!r} does not apply to this question"
    return Prediction(question_id=question.id, answer=None, trace=Trace(strategy=strategy.name, notes=[note]))


def check_finite(prediction: Prediction) -> Prediction:
    """A NaN or infinite score (e.g. from a broken backend) is an error, never an answer: argmax over NaN picks
    an option arbitrarily and JSON would write it as null, leaving a results line that cannot be read back."""
    bad = {label: score for label, score in prediction.scores.items() if not math.isfinite(score)}
    if bad:
        raise ValueError(f"non-finite score {bad}")
    if prediction.confidence is not None and not math.isfinite(prediction.confidence):
        raise ValueError(f"non-finite confidence {prediction.confidence}")
    return prediction


async def _solve_one(strategy: Solver, question: Question, client: BatchingClient, slot: int) -> Prediction:
    if not strategy.applies_to(question):
        return _not_applicable(strategy, question)
    with client.question(slot):
        try:
            return check_finite(await solve_traced(strategy, question, client))
        except Exception as error:
            raise QuestionError(question.id, strategy.name, error) from error


async def iter_outcomes(
    strategy: Solver,
    questions: Iterable[Question],
    lm: LanguageModel | BatchingClient,
    concurrency: int = 64,
) -> AsyncIterator[tuple[int, Prediction | QuestionError]]:
    """Yield (index, prediction) as each question finishes, with up to `concurrency` questions in flight; a
    question that fails yields (index, QuestionError) and the others go on. Closing the iterator cancels the
    questions in flight."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    client = _client_for(lm)
    todo = iter(enumerate(questions))
    done: asyncio.Queue[tuple[int, Prediction | QuestionError] | BaseException | None] = asyncio.Queue()

    async def worker(slot: int) -> None:
        try:
            for index, question in todo:
                outcome: Prediction | QuestionError
                try:
                    outcome = await _solve_one(strategy, question, client, slot)
                except QuestionError as error:
                    outcome = error
                await done.put((index, outcome))
        except Exception as error:
            await done.put(error)
        finally:
            await done.put(None)

    workers = [asyncio.create_task(worker(slot)) for slot in range(concurrency)]
    try:
        running = len(workers)
        while running:
            item = await done.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def iter_predictions(
    strategy: Solver,
    questions: Iterable[Question],
    lm: LanguageModel | BatchingClient,
    concurrency: int = 64,
) -> AsyncIterator[tuple[int, Prediction]]:
    """Yield (index, prediction) as each question finishes, with up to `concurrency` questions in flight.

    The first failure cancels the questions in flight and raises `QuestionError` naming the question.
    """
    async with contextlib.aclosing(iter_outcomes(strategy, questions, lm, concurrency)) as outcomes:
        async for index, outcome in outcomes:
            if isinstance(outcome, QuestionError):
                raise outcome
            yield index, outcome


async def arun_questions(
    strategy: Solver,
    questions: Sequence[Question],
    lm: LanguageModel | BatchingClient,
    concurrency: int = 64,
) -> list[Prediction]:
    predictions: list[Prediction | None] = [None] * len(questions)
    async for index, prediction in iter_predictions(strategy, questions, lm, concurrency):
        predictions[index] = prediction
    return [p for p in predictions if p is not None]


def run_questions(
    strategy: Solver,
    questions: Sequence[Question],
    lm: LanguageModel | BatchingClient,
    concurrency: int = 64,
) -> list[Prediction]:
    """Answer `questions` in order, their LM calls batched across questions.

    Works inside a running event loop too (e.g. Jupyter) by running in a helper thread.
    """
    coroutine = arun_questions(strategy, list(questions), lm, concurrency)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coroutine)
        except BaseException as error:  # re-raised in the caller's thread below
            box["error"] = error

    thread = threading.Thread(target=target, name="reasonkit-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
