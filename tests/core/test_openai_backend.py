"""The `openai:` backend against a served model: the real tiny model behind an OpenAI-compatible server on
127.0.0.1 (tests/core/completions_server.py), compared with the same engine called natively."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from completions_server import Behaviour, completions_app, free_port, serving

from reasonkit.backends.openai import (
    OpenAIBackendError,
    OpenAICompletionsLM,
    OpenAIRequestError,
    ScoringUnsupportedError,
)
from reasonkit.benchmarks.loaders import load_benchmark
from reasonkit.benchmarks.runner import load_run
from reasonkit.cache import CachedLM
from reasonkit.cli import main
from reasonkit.client import BatchingClient
from reasonkit.driver import QuestionError, iter_outcomes
from reasonkit.lm.engine import Engine
from reasonkit.models import load_model
from reasonkit.protocol import (
    Constraint,
    ContextWindowError,
    GenerationRequest,
    LoglikelihoodRequest,
    UnsupportedRequestError,
)
from reasonkit.registry import build_strategy
from reasonkit.strategy import Strategy
from reasonkit.types import Question

MODEL_ID = "tiny"


@contextlib.contextmanager
def served(engine: Engine, behaviour: Behaviour | None = None) -> Iterator[tuple[str, Behaviour]]:
    behaviour = behaviour or Behaviour()
    with serving(completions_app(engine, MODEL_ID, behaviour)) as url:
        yield url, behaviour


@pytest.fixture(scope="module")
def server(tiny_engine: Engine) -> Iterator[tuple[str, Behaviour]]:
    with served(tiny_engine) as running:
        yield running


@pytest.fixture
def remote(server: tuple[str, Behaviour]) -> Iterator[OpenAICompletionsLM]:
    lm = load_model(f"openai:{server[0]}?model={MODEL_ID}&max_retries=0")
    assert isinstance(lm, OpenAICompletionsLM)
    with lm:
        yield lm


def outcomes(strategy: Strategy, questions: list[Question], lm: Any) -> list[tuple[str | None, str | None]]:
    """(answer, error type) per question, in order: both backends must answer and fail alike."""

    async def collect() -> list[tuple[str | None, str | None]]:
        found: dict[int, tuple[str | None, str | None]] = {}
        async with contextlib.aclosing(iter_outcomes(strategy, questions, BatchingClient(lm), 16)) as stream:
            async for index, outcome in stream:
                if isinstance(outcome, QuestionError):
                    found[index] = (
                        None,
                        "too long" if isinstance(outcome.__cause__, ValueError) else repr(outcome),
                    )
                else:
                    found[index] = (outcome.answer, None)
        return [found[i] for i in range(len(questions))]

    return asyncio.run(collect())


@pytest.fixture(scope="module")
def csqa() -> list[Question]:
    return load_benchmark("csqa")[:40]


def test_direct_predictions_match_the_native_engine(
    tiny_engine: Engine, remote: OpenAICompletionsLM, csqa: list[Question]
) -> None:
    direct = build_strategy("direct")
    native = outcomes(direct, csqa, tiny_engine)
    assert outcomes(direct, csqa, remote) == native
    assert sum(answer is not None for answer, _ in native) >= 20  # most fit the tiny window


def test_greedy_cot_predictions_match_the_native_engine(
    tiny_engine: Engine, remote: OpenAICompletionsLM, csqa: list[Question]
) -> None:
    cot = build_strategy("cot(shots=0, max_tokens=24)")
    native = outcomes(cot, csqa[:12], tiny_engine)
    assert outcomes(cot, csqa[:12], remote) == native
    assert any(answer is not None for answer, _ in native)


def test_scores_and_greediness_match_the_native_engine(
    tiny_engine: Engine, remote: OpenAICompletionsLM
) -> None:
    requests = [
        LoglikelihoodRequest(context="The cat sat on the", continuation=" mat"),
        LoglikelihoodRequest(
            context="Answer: ", continuation="yes"
        ),  # trailing space moves to the continuation
        LoglikelihoodRequest(context="One, two,", continuation=" three, four"),
        LoglikelihoodRequest(context="Nothing follows", continuation=""),
    ]
    native, served_ = tiny_engine.loglikelihood(requests), remote.loglikelihood(requests)
    for here, there in zip(native, served_, strict=True):
        assert there.n_tokens == here.n_tokens and there.is_greedy == here.is_greedy
        assert there.logprob == pytest.approx(here.logprob, abs=1e-3)


def test_self_consistency_honours_seeds(
    tiny_engine: Engine, remote: OpenAICompletionsLM, csqa: list[Question]
) -> None:
    questions = csqa[:3]

    def paths(spec: str, lm: Any) -> list[tuple[Any, ...]]:
        predictions = build_strategy(spec).run_many(questions, lm)
        return [
            (p.answer, path["text"], path["n_tokens"], path["finish_reason"], path["logprob"])
            for p in predictions
            for path in p.trace.steps["paths"]
        ]

    spec = "self_consistency(inner=cot(shots=0, max_tokens=16), n=4, temperature=1.0, seed={})"
    native, remote_paths = paths(spec.format(1), tiny_engine), paths(spec.format(1), remote)
    assert [p[:4] for p in remote_paths] == [p[:4] for p in native]
    assert [p[4] for p in remote_paths] == pytest.approx([p[4] for p in native], abs=1e-3)  # batched vs one
    assert [p[1] for p in paths(spec.format(2), remote)] != [p[1] for p in native]
    request = GenerationRequest(prompt="The weather today", n=4, max_tokens=8, temperature=1.0, seed=7)
    again = request.model_copy(update={"seed": 8})
    [first], [second], [other] = (
        remote.generate([request]),
        remote.generate([request]),
        remote.generate([again]),
    )
    assert first == second == tiny_engine.generate([request])[0]
    assert [s.text for s in other.samples] != [s.text for s in first.samples]


def test_a_server_without_prompt_logprobs_is_found_at_the_first_call(
    tiny_engine: Engine, csqa: list[Question]
) -> None:
    with served(tiny_engine, Behaviour(echo=False)) as (url, behaviour):
        with OpenAICompletionsLM(url, max_retries=0) as lm:
            assert lm.model == MODEL_ID  # the only model served needs no ?model=
            with pytest.raises(QuestionError) as caught:
                build_strategy("direct").run(csqa[0], lm)
            assert isinstance(caught.value.__cause__, ScoringUnsupportedError)
            assert not isinstance(
                caught.value.__cause__, ValueError
            )  # the runner stops: no question could run
            message = str(caught.value)
            assert "\n" not in message and "self_consistency" in message and "scratchpad" in message
            calls = behaviour.calls
            with pytest.raises(ScoringUnsupportedError):
                lm.loglikelihood([LoglikelihoodRequest(context="a", continuation=" b")])
            assert behaviour.calls == calls  # known by now: no second try
            prediction = build_strategy("cot(shots=0, max_tokens=8, fallback='abstain')").run(csqa[0], lm)
            assert prediction.trace.calls and prediction.trace.calls[0].kind == "generate"


def test_unreachable_server_wrong_model_and_bad_key_fail_with_one_line(
    tiny_engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sock = free_port()  # bound but never listening: connections are refused
    port = sock.getsockname()[1]
    with pytest.raises(
        ValueError, match=rf"cannot reach http://127.0.0.1:{port}/v1/models .*is the server running"
    ):
        load_model(f"openai:http://127.0.0.1:{port}/v1?max_retries=0")
    sock.close()
    secret = "sk-test-secret-123"
    with served(tiny_engine, Behaviour(api_key=secret)) as (url, _):
        with pytest.raises(
            ValueError, match=r"/models answered 404 .*check the URL \(usually ending in /v1\)"
        ):
            load_model(f"openai:{url.removesuffix('/v1')}?max_retries=0")
        with pytest.raises(ValueError, match=r"serves no model 'nope' \(it serves: tiny\)"):
            monkeypatch.setenv("REASONKIT_OPENAI_API_KEY", secret)
            load_model(f"openai:{url}?model=nope")
        monkeypatch.setenv("REASONKIT_OPENAI_API_KEY", "sk-wrong")
        with pytest.raises(
            ValueError, match=r"refused the request \(HTTP 401.*set \$REASONKIT_OPENAI_API_KEY"
        ):
            load_model(f"openai:{url}?model=tiny")
        monkeypatch.delenv("REASONKIT_OPENAI_API_KEY")
        monkeypatch.setenv("OPENAI_API_KEY", secret)
        caplog.set_level(logging.DEBUG)
        with load_model(f"openai:{url}") as lm:  # type: ignore[attr-defined]
            lm.generate([GenerationRequest(prompt="Hi", max_tokens=2)])
            assert secret not in lm.fingerprint + repr(lm)
        assert secret not in caplog.text


def test_429_and_5xx_are_retried_with_backoff_and_give_up_after_the_bound(tiny_engine: Engine) -> None:
    request = GenerationRequest(prompt="Hello", max_tokens=3)
    with served(tiny_engine) as (url, behaviour):
        with OpenAICompletionsLM(url, max_retries=2, backoff_s=0.01) as lm:
            behaviour.failures[:] = [503, 429]
            before = behaviour.calls
            assert lm.generate([request]) == tiny_engine.generate([request])
            assert behaviour.calls - before == 3
            behaviour.failures[:] = [500, 502, 503, 504]
            with pytest.raises(OpenAIBackendError, match=r"kept failing \(HTTP 503 after 3 tries\)"):
                lm.generate([request])


def test_a_rejected_request_fails_its_question_only(tiny_engine: Engine, remote: OpenAICompletionsLM) -> None:
    long = LoglikelihoodRequest(context=" ".join(["word"] * 400), continuation=" end")
    with pytest.raises(ContextWindowError, match="HTTP 400.*maximum context length is 128"):
        remote.loglikelihood([long])  # as the native engine: cot abstains on it, the runner goes on
    with pytest.raises(OpenAIRequestError, match=r"\(HTTP 400\): n must be at most 64") as caught:
        remote.generate([GenerationRequest(prompt="Hi", max_tokens=2, n=65)])
    assert not isinstance(caught.value, ContextWindowError)


def test_the_cache_and_traces_work_as_with_every_backend(
    server: tuple[str, Behaviour], remote: OpenAICompletionsLM, csqa: list[Question], tmp_path: Path
) -> None:
    url, behaviour = server
    cached = CachedLM(remote, tmp_path / "cache.sqlite")
    first = build_strategy("direct").run_many(csqa[:3], cached)
    calls = behaviour.calls
    again = build_strategy("direct").run_many(csqa[:3], cached)
    assert behaviour.calls == calls
    assert [p.answer for p in again] == [p.answer for p in first]
    assert all(call.cached for p in again for call in p.trace.calls)
    assert not any(call.cached for p in first for call in p.trace.calls)
    pinned = load_model(f"openai:{url}?model={MODEL_ID}&pin=v2")
    with pinned:  # type: ignore[attr-defined]
        assert pinned.fingerprint != remote.fingerprint


def test_bench_runs_on_a_served_model_and_records_its_fingerprint(
    server: tuple[str, Behaviour], tiny_model_dir: Path, tmp_path: Path
) -> None:
    url = server[0]
    spec = f"openai:{url}?model={MODEL_ID}&max_retries=0"
    for model, out in ((spec, tmp_path / "served"), (str(tiny_model_dir), tmp_path / "native")):
        result = CliRunner().invoke(
            main,
            [
                "bench",
                "--model",
                model,
                "--out",
                str(out),
                "-b",
                "csqa",
                "--limit",
                "4",
                "-s",
                "direct",
                "--cache",
                str(out / "cache.sqlite"),
            ],
        )
        assert result.exit_code == 0, result.output
    served_record, served_lines = load_run(tmp_path / "served" / "csqa" / "direct")
    _, native_lines = load_run(tmp_path / "native" / "csqa" / "direct")
    assert served_record.model == spec and served_record.model_fingerprint.startswith("openai-")
    assert [line.prediction.answer for line in served_lines] == [
        line.prediction.answer for line in native_lines
    ]
    wrong = CliRunner().invoke(
        main,
        [
            "bench",
            "--model",
            f"openai:{url}?model=other",
            "--out",
            str(tmp_path / "x"),
            "-b",
            "csqa",
            "--limit",
            "1",
            "-s",
            "direct",
        ],
    )
    assert wrong.exit_code != 0 and "serves no model 'other' (it serves: tiny)" in wrong.output
    assert "Traceback" not in wrong.output


def test_a_constraint_the_server_cannot_honour_is_refused_by_name(remote: OpenAICompletionsLM) -> None:
    request = GenerationRequest(
        prompt="The answer is", max_tokens=4, constraint=Constraint(choices=(" yes", " no"))
    )
    with pytest.raises(UnsupportedRequestError, match="openai.*constrained_generation"):
        remote.generate([request])
