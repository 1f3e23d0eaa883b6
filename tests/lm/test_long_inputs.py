"""A question far longer than the window fails at once, with a clear error, without being tokenised."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from reasonkit.client import BatchingClient
from reasonkit.driver import QuestionError, run_questions
from reasonkit.lm.engine import Engine
from reasonkit.protocol import (
    ContextWindowError,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from reasonkit.registry import build_strategy
from reasonkit.types import Question

BIG = "Is this a question? " * 500_000  # 10 MB


@pytest.fixture
def encoded(tiny_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text the engine's tokenizer encodes."""
    lengths: list[int] = []
    real = tiny_engine.tokenizer.encode

    def encode(text: str) -> list[int]:
        lengths.append(len(text))
        return real(text)

    monkeypatch.setattr(tiny_engine.tokenizer, "encode", encode)
    return lengths


def test_scoring_a_huge_context_fails_before_tokenising(tiny_engine: Engine, encoded: list[int]) -> None:
    requests = [
        LoglikelihoodRequest(context="Fine?", continuation=" yes"),
        LoglikelihoodRequest(context=BIG, continuation=" yes"),
    ]
    with pytest.raises(
        ContextWindowError,
        match=r"^loglikelihood request 1: 10000004 characters are at least \d+ "
        rf"tokens, the context window is {tiny_engine.config.block_size}",
    ) as raised:
        tiny_engine.loglikelihood(requests)
    assert raised.value.index == 1 and encoded == []


def test_a_huge_prompt_fails_before_tokenising(tiny_engine: Engine, encoded: list[int]) -> None:
    with pytest.raises(ContextWindowError, match=r"^generation request 0: 10000000 characters") as raised:
        tiny_engine.generate([GenerationRequest(prompt=BIG, max_tokens=4)])
    assert raised.value.index == 0 and encoded == []


def test_a_huge_question_fails_alone_and_its_neighbours_are_answered(
    tiny_engine: Engine, encoded: list[int]
) -> None:
    questions = [Question(id=f"q{i}", text=BIG if i == 3 else f"Is {i} even?") for i in range(8)]
    with pytest.raises(QuestionError, match=r"question 'q3': strategy 'direct' failed: ContextWindowError: "):
        run_questions(build_strategy("direct"), questions, tiny_engine)
    assert max(encoded) < 1000
    fine = run_questions(build_strategy("direct"), questions[:3], tiny_engine)
    assert [p.question_id for p in fine] == ["q0", "q1", "q2"]


class NamesTheRequest:
    """A backend that rejects a batch holding a request it names, as the engine does, and counts calls."""

    fingerprint = "names-the-request"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def loglikelihood(self, requests: Any) -> list[Any]:
        self.calls.append(len(requests))
        for i, request in enumerate(requests):
            if request.context == "too long":
                raise ContextWindowError(f"loglikelihood request {i}: too long", i)
        return [LoglikelihoodResult(logprob=-1.0, n_tokens=1, is_greedy=True) for _ in requests]

    def generate(self, requests: Any) -> list[Any]:
        raise NotImplementedError


def test_the_batcher_sets_a_named_request_aside_instead_of_halving() -> None:
    lm = NamesTheRequest()
    client = BatchingClient(lm, max_batch=64)  # type: ignore[arg-type]
    contexts = [f"q{i}" for i in range(64)]
    contexts[10] = "too long"

    async def score_all() -> list[Any]:
        asks = [client.loglikelihood([LoglikelihoodRequest(context=c, continuation=" x")]) for c in contexts]
        return await asyncio.gather(*asks, return_exceptions=True)

    results = asyncio.run(score_all())
    assert isinstance(results[10], ContextWindowError)
    assert sum(isinstance(r, BaseException) for r in results) == 1
    assert lm.calls == [64, 63]
