"""A minimal OpenAI-compatible server over the native engine, on 127.0.0.1, for the `openai:` backend's tests.

`completions_app` is the only part tied to this file: once `reasonkit serve` exists, `serving(...)` can run its
app instead and every test in test_openai_backend.py runs against the real server unchanged. Knobs simulate
servers that differ: no prompt log-probabilities (echo ignored), an API key, failures before success.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reasonkit.lm.engine import Engine
from reasonkit.protocol import GenerationRequest


@dataclass
class Behaviour:
    """How the server misbehaves; `calls` counts /v1/completions requests (failed ones included)."""

    echo: bool = True
    api_key: str | None = None
    failures: list[int] = field(default_factory=list)  # HTTP statuses answered before the real answers
    calls: int = 0


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


def completions_app(engine: Engine, model_id: str, behaviour: Behaviour) -> FastAPI:
    app = FastAPI()
    lock = threading.Lock()  # one engine call at a time
    tokenizer = engine.tokenizer

    def authorised(request: Request) -> bool:
        return (
            behaviour.api_key is None or request.headers.get("authorization") == f"Bearer {behaviour.api_key}"
        )

    @app.get("/v1/models")
    def models(request: Request) -> Any:
        if not authorised(request):
            return _error(401, "invalid API key")
        return {"object": "list", "data": [{"id": model_id, "object": "model", "root": "tiny-weights"}]}

    def echoed(prompt: str) -> dict[str, Any]:
        """Prompt tokens with their log-probs and top-1, plus one greedy token (max_tokens=1)."""
        ids = tokenizer.encode(prompt)
        positions = engine.scheme.for_ids(tokenizer, ids, prompt) if engine.scheme else None
        with torch.inference_mode():
            logits = engine.model(
                torch.tensor([ids]), positions=None if positions is None else torch.tensor([positions])
            )[0].float()
        logprobs = logits.log_softmax(-1)
        offsets = [len(tokenizer.decode(ids[:i])) for i in range(len(ids))]
        tokens = [tokenizer.decode(ids[: i + 1])[offsets[i] :] for i in range(len(ids))]
        token_logprobs: list[float | None] = [None] + [
            float(logprobs[i - 1, ids[i]]) for i in range(1, len(ids))
        ]
        tops: list[dict[str, float] | None] = [None]
        for i in range(1, len(ids)):
            best = int(logprobs[i - 1].argmax())
            tops.append({tokenizer.decode([best]): float(logprobs[i - 1, best])})
        following = int(logprobs[-1].argmax())
        text = tokenizer.decode([following])
        return {
            "text": prompt + text,
            "logprobs": {
                "tokens": [*tokens, text],
                "token_logprobs": [*token_logprobs, float(logprobs[-1, following])],
                "top_logprobs": [*tops, {text: float(logprobs[-1, following])}],
                "text_offset": [*offsets, len(prompt)],
            },
        }

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        behaviour.calls += 1
        if not authorised(request):
            return _error(401, "invalid API key")
        if behaviour.failures:
            status = behaviour.failures.pop(0)
            return _error(status, "try again later")
        body = await request.json()
        if body.get("model") != model_id:
            return _error(404, f"The model `{body.get('model')}` does not exist.")
        prompt = str(body["prompt"])
        if int(body.get("n", 1)) > 64:
            return _error(400, "n must be at most 64")
        echo = bool(body.get("echo")) and behaviour.echo
        length, window = len(tokenizer.encode(prompt)), engine.config.block_size
        if echo and length > window:
            return _error(
                400,
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{length} tokens in the prompt.",
            )
        with lock:
            if echo:
                choice = echoed(prompt)
                return {"choices": [{"index": 0, "finish_reason": "length", **choice}]}
            sampling = GenerationRequest(
                prompt=prompt,
                n=int(body.get("n", 1)),
                max_tokens=int(body.get("max_tokens", 16)),
                temperature=float(body.get("temperature", 1.0)),
                top_p=body.get("top_p"),
                top_k=body.get("top_k"),
                stop=tuple(body.get("stop") or ()),
                seed=int(body.get("seed", 0)),
            )
            try:
                [result] = engine.generate([sampling])
            except ValueError as error:
                return _error(400, str(error))
        choices = []
        for index, sample in enumerate(result.samples):
            stop_reason = None if sample.finish_reason == "eos" else "stop-string"
            choices.append(
                {
                    "index": index,
                    "text": sample.text,
                    "finish_reason": "length" if sample.finish_reason == "length" else "stop",
                    "stop_reason": None if sample.finish_reason == "length" else stop_reason,
                    "logprobs": {
                        "token_logprobs": list(sample.token_logprobs),
                        "tokens": list(sample.tokens),
                    },
                }
            )
        return {"choices": choices}

    return app


def free_port() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1 (the server takes it over)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` on 127.0.0.1 in a thread; yields its /v1 URL and stops it (bounded waits) on exit."""
    sock = free_port()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("test server did not start within 5 s")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
