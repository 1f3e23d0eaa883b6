"""`reasonkit serve` over real loopback HTTP: the official openai client, errors, batching, load, disconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest, GenerationResult, LoglikelihoodRequest

openai = pytest.importorskip("openai")

Serve = Callable[..., AbstractContextManager[str]]


class SlowFakeLM(FakeLM):
    """A FakeLM whose generate call blocks for `delay` seconds, as a real model's batch does."""

    def __init__(self, delay: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay = delay

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        time.sleep(self.delay)
        return super().generate(requests)


def test_the_openai_client_talks_to_the_server(serve: Serve) -> None:
    fake = FakeLM({"two plus two": "four"}, default="something")
    with serve(fake) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        assert [m.id for m in client.models.list()] == ["test-model"]

        made = client.completions.create(
            model="test-model",
            prompt=["two plus two is", "hello"],
            n=2,
            max_tokens=5,
            temperature=0.7,
            top_p=0.9,
            stop=["\n"],
            seed=3,
        )
        assert [c.index for c in made.choices] == [0, 1, 2, 3]
        assert [c.text for c in made.choices] == ["four", "four", "something", "something"]
        sent = fake.requests[-1]
        assert isinstance(sent, GenerationRequest)
        assert (sent.n, sent.max_tokens, sent.temperature, sent.top_p, sent.stop, sent.seed) == (
            2, 5, 0.7, 0.9, ("\n",), 3
        )  # fmt: skip

        chat = client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "what is two plus two?"}], max_tokens=8
        )
        assert chat.choices[0].message.content == "four"
        assert fake.requests[-1].prompt == "User: what is two plus two?\nAssistant:"  # type: ignore[union-attr]

        streamed = client.completions.create(model="test-model", prompt="two plus two", stream=True)
        assert "".join(chunk.choices[0].text for chunk in streamed) == "four"
        chat_stream = client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "two plus two"}], stream=True
        )
        assert "".join(chunk.choices[0].delta.content or "" for chunk in chat_stream) == "four"


def test_echo_logprobs_score_the_prompt_like_loglikelihood(serve: Serve, tiny_engine: Any) -> None:
    """What lm-evaluation-harness's local-completions reads: prompt token logprobs (the first null), then one
    generated token; summed over the continuation they equal the engine's own loglikelihood."""
    context, continuation = "Question: where is the milk?\nAnswer:", " in the fridge"
    with serve(tiny_engine) as url:
        response = httpx.post(
            f"{url}/v1/completions",
            json={
                "model": "test-model",
                "prompt": context + continuation,
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": 1,
                "echo": True,
            },
            timeout=60,
        )
    assert response.status_code == 200, response.text
    logprobs = response.json()["choices"][0]["logprobs"]
    n_context = len(tiny_engine.tokenizer.encode(context))
    n_prompt = len(tiny_engine.tokenizer.encode(context + continuation))
    assert len(logprobs["tokens"]) == n_prompt + 1
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    assert "".join(logprobs["tokens"][:n_prompt]) == context + continuation
    assert logprobs["text_offset"][:3] == [
        0,
        len(logprobs["tokens"][0]),
        sum(map(len, logprobs["tokens"][:2])),
    ]
    expected = tiny_engine.loglikelihood([LoglikelihoodRequest(context=context, continuation=continuation)])[
        0
    ]
    assert sum(logprobs["token_logprobs"][n_context:-1]) == pytest.approx(expected.logprob, abs=1e-4)
    for value, top in zip(logprobs["token_logprobs"][1:-1], logprobs["top_logprobs"][1:-1], strict=True):
        assert max(top.values()) >= value - 1e-5


def _post(url: str, body: Any, path: str = "/v1/completions", timeout: float = 60) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(
            url + path, content=body, headers={"content-type": "application/json"}, timeout=timeout
        )
    return httpx.post(url + path, json=body, timeout=timeout)


@pytest.mark.parametrize(
    ("body", "path", "status", "param", "code"),
    [
        (b"{not json", "/v1/completions", 400, None, None),
        ({"model": "other", "prompt": "hi"}, "/v1/completions", 404, "model", "model_not_found"),
        ({"model": "test-model", "prompt": "word " * 2000}, "/v1/completions", 400, "prompt", "context_length_exceeded"),
        ({"model": "test-model", "prompt": "hi", "n": 17}, "/v1/completions", 400, "n", None),
        ({"model": "test-model", "prompt": "hi", "max_tokens": 513}, "/v1/completions", 400, "max_tokens", None),
        ({"model": "test-model", "prompt": [[1, 2, 3]]}, "/v1/completions", 400, "prompt", None),
        ({"model": "test-model", "prompt": "hi", "logprobs": 6}, "/v1/completions", 400, "logprobs", None),
        ({"model": "test-model"}, "/v1/chat/completions", 400, "messages", None),
        ({"model": "test-model", "messages": [{"role": "user", "content": "hi"}], "n": 99},
         "/v1/chat/completions", 400, "n", None),
    ],
)  # fmt: skip
def test_bad_requests_get_an_openai_error_and_the_server_stays_up(
    serve: Serve, tiny_engine: Any, body: Any, path: str, status: int, param: str | None, code: str | None
) -> None:
    with serve(tiny_engine, max_n=16) as url:
        response = _post(url, body, path)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["message"] and error["type"] == "invalid_request_error"
        assert (error["param"], error["code"]) == (param, code)
        assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 200


def test_self_consistency_20_samples_fit_the_default_sample_limit(serve: Serve) -> None:
    """`self_consistency(n=20)` asks for 20 samples in one request: the default limits (app and CLI) allow it."""
    from reasonkit.commands.serve import serve as serve_command

    (max_n,) = [p.default for p in serve_command.params if p.name == "max_n"]
    assert isinstance(max_n, int) and max_n >= 20
    with serve(FakeLM(default="yes")) as url:
        response = _post(url, {"model": "test-model", "prompt": "hi", "n": 20, "temperature": 0.7})
    assert response.status_code == 200, response.text
    assert len(response.json()["choices"]) == 20


def test_a_prompt_over_the_window_fails_alone_when_batched_with_good_ones(
    serve: Serve, tiny_engine: Any
) -> None:
    async def both(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            bodies = [
                {"model": "test-model", "prompt": p, "max_tokens": 2} for p in ("Hello", "word " * 2000)
            ]
            return await asyncio.gather(*(client.post("/v1/completions", json=b) for b in bodies))

    with serve(tiny_engine) as url:
        good, bad = asyncio.run(both(url))
    assert good.status_code == 200 and len(good.json()["choices"]) == 1
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "context_length_exceeded"


def test_echo_logprobs_need_a_backend_that_scores_prompt_tokens(serve: Serve) -> None:
    with serve(FakeLM(default="x")) as url:
        response = _post(
            url, {"model": "test-model", "prompt": "hi", "echo": True, "logprobs": 0, "max_tokens": 0}
        )
    assert response.status_code == 400 and response.json()["error"]["param"] == "echo"


def test_the_api_key_is_checked_when_set(serve: Serve) -> None:
    with serve(FakeLM(default="ok"), api_key="sesame") as url:
        assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 401
        wrong = httpx.get(f"{url}/v1/models", headers={"authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="sesame", max_retries=0)
        assert client.completions.create(model="test-model", prompt="hi").choices[0].text == "ok"


async def _load(url: str, n_requests: int, concurrency: int) -> list[httpx.Response]:
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(i: int) -> httpx.Response:
            async with gate:
                return await client.post(
                    "/v1/completions",
                    json={"model": "test-model", "prompt": f"question {i}", "max_tokens": 4},
                )

        return await asyncio.gather(*(one(i) for i in range(n_requests)))


def test_concurrent_requests_are_batched_into_the_backend(serve: Serve) -> None:
    fake = SlowFakeLM(0.05, default="answer")
    with serve(fake) as url:
        responses = asyncio.run(_load(url, 64, 64))
    assert all(r.status_code == 200 for r in responses)
    assert sum(fake.generate_batches) == 64
    assert max(fake.generate_batches) > 1 and len(fake.generate_batches) < 64


def test_load_200_requests_at_concurrency_64(serve: Serve) -> None:
    """The bounded load test (benchmarks/studies/serve_speed.py runs 2,000 against the real model)."""
    fake = FakeLM({r"question (\d+)": "n"}, regex=True)
    with serve(fake) as url:
        responses = asyncio.run(_load(url, 200, 64))
    assert [r.status_code for r in responses] == [200] * 200
    assert {r.json()["choices"][0]["text"] for r in responses} == {"n"}
    assert len({r.json()["id"] for r in responses}) == 200


def test_a_client_killed_mid_request_costs_nothing_else(serve: Serve) -> None:
    """A client gives up while the backend is busy with another request: its request never reaches the
    backend, the other request is answered, and the server goes on serving."""
    fake = SlowFakeLM(1.5, default="done")
    with serve(fake) as url:
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(_post, url, {"model": "test-model", "prompt": "busy"})
            time.sleep(0.3)
            with pytest.raises(httpx.ReadTimeout):
                _post(url, {"model": "test-model", "prompt": "abandoned"}, timeout=0.3)
            assert busy.result().status_code == 200
        fake.delay = 0.0
        responses = asyncio.run(_load(url, 16, 8))
    assert all(r.status_code == 200 for r in responses)
    assert "busy" in fake.prompts and "abandoned" not in fake.prompts


def test_serve_binds_to_loopback_unless_told() -> None:
    from reasonkit.cli import main

    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "--api-key" in result.output
