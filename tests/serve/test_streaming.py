"""Token-by-token streaming from `reasonkit serve`, read with the official openai client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

import pytest
import torch
from torch import Tensor

from reasonkit.decoding import DecodeRow, decode_loop
from reasonkit.protocol import GenerationRequest, GenerationResult, LoglikelihoodRequest, LoglikelihoodResult
from reasonkit.serve.streaming import stable_text

openai = pytest.importorskip("openai")

Serve = Callable[..., AbstractContextManager[str]]

VOCAB = ["<eot>", " one", " two", " three", " four", " five"]
EOT = 0


def _decode(ids: Sequence[int]) -> str:
    return "".join(VOCAB[i] for i in ids)


def _logits(token: int, rows: int) -> Tensor:
    logits = torch.zeros(rows, len(VOCAB))
    logits[:, token] = 10.0
    return logits


class CountingLM:
    """A backend on the shared decode loop whose model says " one two three four five", then end-of-text.

    Before computing the third token it waits (at most `patience` seconds) for `gate`, which the test sets once
    it has read the first streamed chunk: `waited` records whether the gate opened in time."""

    fingerprint = "counting"

    def __init__(self, patience: float = 20.0) -> None:
        self.gate = threading.Event()
        self.waited: list[bool] = []
        self.patience = patience

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        raise NotImplementedError

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results = []
        for index, request in enumerate(requests):
            rows = [DecodeRow(index, k, request, request.max_tokens) for k in range(request.n)]
            decode_loop(
                _logits(1, len(rows)), rows, _Counting(self), eos_ids=frozenset({EOT}), decode=_decode
            )
            results.append(GenerationResult(samples=tuple(row.sample(_decode) for row in rows)))
        return results


class _Counting:
    def __init__(self, lm: CountingLM) -> None:
        self.lm = lm

    def __call__(self, chosen: Tensor, step: int, rows: Sequence[DecodeRow]) -> Tensor:
        if step == 1:
            self.lm.waited.append(self.lm.gate.wait(self.lm.patience))
        return _logits(step + 2 if step + 2 < len(VOCAB) else EOT, len(rows))

    def select(self, keep: Tensor) -> None:
        pass


def test_completion_tokens_reach_the_client_while_the_sample_is_generated(serve: Serve) -> None:
    lm = CountingLM()
    with serve(lm) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        texts, finishes = [], []
        for chunk in client.completions.create(
            model="test-model", prompt="count", max_tokens=10, temperature=0, stream=True
        ):
            texts.append(chunk.choices[0].text)
            finishes.append(chunk.choices[0].finish_reason)
            lm.gate.set()
    assert lm.waited == [True]  # the third token was computed after the client had read the first
    assert texts[0] == " one"
    assert "".join(texts) == " one two three four five"
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}


def test_chat_tokens_reach_the_client_while_the_sample_is_generated(serve: Serve) -> None:
    lm = CountingLM()
    with serve(lm) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        chunks = []
        for chunk in client.chat.completions.create(
            model="test-model",
            messages=[{"role": "user", "content": "count"}],
            n=2,
            temperature=0,
            stream=True,
        ):
            chunks.append(chunk.choices[0])
            if chunk.choices[0].delta.content:
                lm.gate.set()
    assert lm.waited == [True]
    for k in (0, 1):
        mine = [c for c in chunks if c.index == k]
        assert mine[0].delta.role == "assistant"
        assert (
            "".join(c.delta.content or "" for c in mine) == "one two three four five"
        )  # leading space dropped
        assert [c.finish_reason for c in mine][-1] == "stop"
        assert len([c for c in mine if c.delta.content]) > 1


def test_a_streamed_sample_never_shows_the_start_of_its_stop_string(serve: Serve) -> None:
    with serve(CountingLM(patience=0.0)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        texts = [
            chunk.choices[0].text
            for chunk in client.completions.create(
                model="test-model", prompt="count", max_tokens=10, stop=[" three x"], stream=True
            )
        ]
    assert "".join(texts) == " one two three four five"  # " three" held back, then sent: no stop
    with serve(CountingLM(patience=0.0)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        texts = [
            chunk.choices[0].text
            for chunk in client.completions.create(
                model="test-model", prompt="count", max_tokens=10, stop=[" three four"], stream=True
            )
        ]
    assert "".join(texts) == " one two"
    assert not any("three" in text for text in texts)


@pytest.mark.parametrize(
    ("text", "stops", "stable"),
    [
        ("one two", ("\nUser:",), "one two"),
        ("one two\nUs", ("\nUser:",), "one two"),
        ("one two\n", ("\nUser:", "\n\n"), "one two"),
        ("caf\ufffd", (), "caf"),
        ("one", ("one more",), ""),
    ],
)
def test_stable_text_holds_back_what_a_later_token_could_change(
    text: str, stops: tuple[str, ...], stable: str
) -> None:
    assert stable_text(text, stops) == stable


def test_a_streamed_request_over_the_window_still_gets_a_400(serve: Serve, tiny_engine: object) -> None:
    with serve(tiny_engine) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError) as caught:
            next(iter(client.completions.create(model="test-model", prompt="word " * 2000, stream=True)))
    assert caught.value.code == "context_length_exceeded"


def test_a_streamed_engine_sample_equals_the_unstreamed_one(serve: Serve, tiny_engine: object) -> None:
    with serve(tiny_engine) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        whole = client.completions.create(
            model="test-model", prompt="The cat", max_tokens=12, temperature=0.8, seed=5, n=2
        )
        pieces: dict[int, list[str]] = {0: [], 1: []}
        for chunk in client.completions.create(
            model="test-model", prompt="The cat", max_tokens=12, temperature=0.8, seed=5, n=2, stream=True
        ):
            pieces[chunk.choices[0].index].append(chunk.choices[0].text)
    assert ["".join(pieces[k]) for k in (0, 1)] == [c.text for c in whole.choices]
    assert max(len(p) for p in pieces.values()) > 2  # several chunks, not the whole sample at once
