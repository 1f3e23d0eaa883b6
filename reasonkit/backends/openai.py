"""A model behind an OpenAI-compatible server (vLLM, llama.cpp, SGLang, Ollama, `reasonkit serve`).

Generation goes through /v1/completions (n, temperature, top_p, stop, seed, max_tokens). Log-likelihood
follows lm-evaluation-harness's `local-completions`: the prompt context+continuation is sent with echo=true,
logprobs=1 and max_tokens=1, and the continuation's tokens are those the server's `text_offset` places after
the context (a token straddling the boundary counts as continuation: it carries continuation text); the top-1
log-probability of each gives `is_greedy`. A server that echoes no prompt log-probabilities is found at the
first scoring call; scoring then fails with one line naming the strategies that only generate.

Requests run on one event loop in a thread of this backend, so the batching client's loop awaits them without
blocking the other questions; at most `max_concurrency` are out at once, each with a timeout, and 429 / 5xx /
lost connections are retried with exponential backoff. The API key comes from an environment variable and
goes only into the Authorization header: never into the spec, the fingerprint, a trace or a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import httpx

from reasonkit.protocol import (
    ContextWindowError,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Sample,
    find_stop,
    refuse_constraints,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
FALLBACK_KEY_ENV = "OPENAI_API_KEY"
_GREEDY_TOLERANCE = 1e-5  # servers round log-probs; a top-1 within this of the token's own is a tie
_MAX_RETRY_AFTER_S = 60.0
# how vLLM, OpenAI, llama.cpp and SGLang word a prompt longer than the model's window
_CONTEXT_WORDS = re.compile(
    r"context (length|window|size)|maximum context|too long|exceeds the", re.IGNORECASE
)


class OpenAIBackendError(RuntimeError):
    """The server cannot serve this run (unreachable, refused the key, no such model, keeps failing)."""


class ScoringUnsupportedError(OpenAIBackendError):
    """The server returns no prompt log-probabilities, so log-likelihood requests cannot be answered."""


class OpenAIRequestError(ValueError):
    """The server rejected one request (HTTP 400/422)."""


class ServerContextWindowError(OpenAIRequestError, ContextWindowError):
    """The server rejected a request as longer than its context window (strategies handle it as they handle the
    native engine's `ContextWindowError`)."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _detail(response: httpx.Response) -> str:
    """The server's error message: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the body."""
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text or response.reason_phrase)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and "message" in error:
            return _one_line(str(error["message"]))
        for key in ("error", "detail", "message"):
            if key in body:
                return _one_line(str(body[key]))
    return _one_line(str(body))


def generate_only_strategies() -> list[str]:
    """The registered strategies that, with their default options, never ask for log-likelihoods (what a
    server that cannot score still runs)."""
    from reasonkit.registry import available_strategies

    names = []
    for name, info in available_strategies().items():
        try:
            strategy = info.cls()
        except Exception:  # a strategy that needs options: it says nothing about its defaults
            continue
        if not strategy.uses_loglikelihood():
            names.append(name)
    return names


class OpenAICompletionsLM:
    """A `LanguageModel` (and `AsyncLanguageModel`) over an OpenAI-compatible /v1/completions endpoint.

    `url` is the API root (usually ending in /v1); `model` the served model's id (may be left out when the
    server serves exactly one); `pin` a label of your own (e.g. a weights hash) added to the fingerprint, which
    otherwise comes from the server's model id. The model is looked up once, here, so a wrong URL, key or model
    name fails at once with one line.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        pin: str | None = None,
        max_concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        api_key_env: str = "REASONKIT_OPENAI_API_KEY",
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"openai backend: {url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        if max_concurrency < 1 or max_retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise ValueError(
                "openai backend: max_concurrency >= 1, max_retries >= 0, timeout_s > 0 and backoff_s >= 0 needed"
            )
        self.url = url.rstrip("/")
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.key_env = api_key_env
        key = os.environ.get(api_key_env) or os.environ.get(FALLBACK_KEY_ENV)
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._scoring: bool | None = None  # unknown until the first scoring call
        self._warned_no_top = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="reasonkit-openai", daemon=True)
        self._thread.start()
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        try:
            self.model, root = self._run(self._resolve_model(model))
        except (OpenAIBackendError, OpenAIRequestError) as error:
            self.close()
            raise ValueError(str(error)) from None  # bad user input (URL, key, model): one line under --model
        payload = {"model": self.model, "root": root, "pin": pin}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
        self._fingerprint = f"openai-{digest}"

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def __repr__(self) -> str:
        return f"OpenAICompletionsLM({self.url!r}, model={self.model!r})"

    # ------------------------------------------------------------------ plumbing

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on this backend's loop and wait (the sync protocol)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _on_own_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on this backend's loop; the caller's loop stays free meanwhile (the async protocol)."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Close the connections and stop the backend's thread."""
        if not self._loop.is_running():
            return
        if self._client is not None:
            self._run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> OpenAICompletionsLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        if self._client is None or self._slots is None:
            limits = httpx.Limits(
                max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
            )
            self._client = httpx.AsyncClient(
                base_url=self.url, headers=self._headers, timeout=self.timeout_s, limits=limits
            )
            self._slots = asyncio.Semaphore(self.max_concurrency)
        return self._client, self._slots

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call with bounded concurrency, a timeout, and retries with backoff on 429 / 5xx / lost
        connections; other failures become one-line errors naming the URL."""
        client, slots = self._connection()
        where = f"{self.url}{path}"
        async with slots:
            for attempt in range(self.max_retries + 1):
                last = attempt == self.max_retries
                delay = self.backoff_s * 2**attempt
                try:
                    response = await client.request(method, path, json=body)
                except httpx.TimeoutException as error:
                    if last:
                        raise OpenAIBackendError(
                            f"openai backend: {where} did not answer within {self.timeout_s:g} s "
                            f"({self.max_retries + 1} tries; raise ?timeout_s=): {type(error).__name__}"
                        ) from None
                except httpx.TransportError as error:
                    if last:
                        raise OpenAIBackendError(
                            f"openai backend: cannot reach {where} ({type(error).__name__}: {_one_line(str(error))}); "
                            "is the server running, and does the URL end where its API starts (usually /v1)?"
                        ) from None
                else:
                    status = response.status_code
                    if status < 400:
                        try:
                            return response.json()
                        except ValueError:
                            raise OpenAIBackendError(
                                f"openai backend: {where} answered with no JSON; is {self.url} the root of an "
                                "OpenAI-compatible API (usually ending in /v1)?"
                            ) from None
                    if status in (401, 403):
                        raise OpenAIBackendError(
                            f"openai backend: {where} refused the request (HTTP {status}: {_detail(response)}); "
                            f"set ${self.key_env} (or ${FALLBACK_KEY_ENV}) to a key this server accepts"
                        )
                    if status == 404:
                        raise OpenAIBackendError(
                            f"openai backend: {where} answered 404 ({_detail(response)}); check the URL (usually "
                            f"ending in /v1) and the model name ({getattr(self, 'model', None)!r})"
                        )
                    if status != 429 and status < 500:
                        detail = _detail(response)
                        rejected = (
                            ServerContextWindowError if _CONTEXT_WORDS.search(detail) else OpenAIRequestError
                        )
                        raise rejected(
                            f"openai backend: {where} rejected a request (HTTP {status}): {detail}"
                        )
                    if last:
                        raise OpenAIBackendError(
                            f"openai backend: {where} kept failing (HTTP {status} after {self.max_retries + 1} "
                            f"tries): {_detail(response)}"
                        )
                    delay = max(delay, _retry_after(response))
                    log.info("%s: HTTP %d, retrying in %.1f s", where, status, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last try returns or raises")

    async def _resolve_model(self, model: str | None) -> tuple[str, str | None]:
        """The served model's id (and `root`, where the server names the weights behind it)."""
        listing = await self._request("GET", "/models")
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list):
            raise OpenAIBackendError(f"openai backend: {self.url}/models lists no models (no 'data' list)")
        served = {str(m.get("id")): m for m in data if isinstance(m, dict)}
        if model is None:
            if len(served) != 1:
                raise OpenAIBackendError(
                    f"openai backend: {self.url} serves {len(served)} models ({', '.join(sorted(served)) or 'none'}); "
                    "name one with ?model=NAME"
                )
            model = next(iter(served))
        elif model not in served:
            raise OpenAIBackendError(
                f"openai backend: {self.url} serves no model {model!r} (it serves: "
                f"{', '.join(sorted(served)) or 'none'}); fix ?model="
            )
        root = served[model].get("root")
        return model, None if root is None else str(root)

    # ------------------------------------------------------------------ scoring

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self._run(self._loglikelihood(requests))

    async def aloglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return await self._on_own_loop(self._loglikelihood(requests))

    async def _loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        if not requests:
            return []
        if self._scoring is False:
            raise self._unsupported()
        first: list[LoglikelihoodResult] = []
        if self._scoring is None:  # learn whether the server can score before sending the rest
            first = [await self._score(requests[0])]
        rest = await asyncio.gather(*(self._score(r) for r in requests[len(first) :]))
        return [*first, *rest]

    def _unsupported(self) -> ScoringUnsupportedError:
        names = ", ".join(generate_only_strategies()) or "none registered"
        return ScoringUnsupportedError(
            f"openai backend: {self.url} (model {self.model!r}) returns no prompt log-probabilities (completions "
            f"with echo=true and logprobs), so it cannot score; strategies that only generate: {names} "
            "(and cot with fallback='abstain')"
        )

    async def _score(self, request: LoglikelihoodRequest) -> LoglikelihoodResult:
        context = request.context.rstrip()  # trailing whitespace belongs to the continuation (lm-eval rule)
        prompt = request.context + request.continuation
        if len(prompt) == len(context):
            return LoglikelihoodResult(logprob=0.0, n_tokens=0, is_greedy=True)
        if not context:
            raise OpenAIRequestError(
                "openai backend: cannot score a continuation after an empty context (the server gives the first "
                "prompt token no log-probability)"
            )
        body = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "echo": True,
            "logprobs": 1,
        }
        try:
            data = await self._request("POST", "/completions", body)
        except OpenAIRequestError as error:
            if self._scoring is None and any(word in str(error).lower() for word in ("echo", "logprob")):
                self._scoring = False
                raise self._unsupported() from None
            raise
        parsed = self._continuation_logprobs(data, prompt, len(context))
        if parsed is None:
            self._scoring = False
            raise self._unsupported()
        self._scoring = True
        logprobs, greedy = parsed
        return LoglikelihoodResult(logprob=sum(logprobs), n_tokens=len(logprobs), is_greedy=greedy)

    def _continuation_logprobs(
        self, data: Any, prompt: str, boundary: int
    ) -> tuple[list[float], bool] | None:
        """The continuation tokens' log-probs and whether each is the top-1; None if the answer holds no
        echoed prompt log-probabilities."""
        try:
            logprobs = data["choices"][0]["logprobs"]
            offsets = [int(o) for o in logprobs["text_offset"]]
            token_logprobs = list(logprobs["token_logprobs"])
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        tops = logprobs.get("top_logprobs") or [None] * len(offsets)
        prompt_tokens = [i for i, offset in enumerate(offsets) if offset < len(prompt)]
        if not prompt_tokens or offsets[0] != 0 or len(token_logprobs) != len(offsets):
            return None  # echo was ignored: the answer starts after the prompt
        ends = [*offsets[1:], len(prompt)]
        chosen = [i for i in prompt_tokens if min(ends[i], len(prompt)) > boundary]
        values = [token_logprobs[i] for i in chosen]
        if any(v is None for v in values):
            if all(token_logprobs[i] is None for i in prompt_tokens):
                return None
            raise OpenAIRequestError(
                f"openai backend: the server gave no log-probability for a continuation token of {prompt!r} "
                "(the context is too short to score after)"
            )
        greedy = True
        for i, value in zip(chosen, values, strict=True):
            top = tops[i] if i < len(tops) else None
            if not top:
                if not self._warned_no_top:
                    self._warned_no_top = True
                    log.warning("%s sends no top_logprobs; is_greedy is reported as False", self.url)
                greedy = False
            elif max(top.values()) > value + _GREEDY_TOLERANCE:
                greedy = False
        return [float(v) for v in values], greedy

    # ------------------------------------------------------------------ generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return self._run(self._generate(requests))

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return await self._on_own_loop(self._generate(requests))

    async def _generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        refuse_constraints("openai", requests)  # /v1/completions has no token masks to honour one
        return list(await asyncio.gather(*(self._complete(r) for r in requests)))

    async def _complete(self, request: GenerationRequest) -> GenerationResult:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": request.prompt,
            "n": request.n,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
            "logprobs": 1,
        }
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.top_k is not None:
            body["top_k"] = request.top_k  # not in OpenAI's API; vLLM, llama.cpp and SGLang accept it
        if request.stop:
            body["stop"] = list(request.stop)
        data = await self._request("POST", "/completions", body)
        choices = sorted(data.get("choices") or [], key=lambda c: int(c.get("index", 0)))
        if len(choices) != request.n:
            raise OpenAIBackendError(
                f"openai backend: {self.url} returned {len(choices)} completions for n={request.n}; "
                "the server does not honour n"
            )
        return GenerationResult(samples=tuple(_sample(choice, request.stop) for choice in choices))


def _sample(choice: dict[str, Any], stops: Sequence[str]) -> Sample:
    """A choice as a Sample: cut at a stop string the server left in, EOS told apart from a stop string by
    vLLM's `stop_reason` (None when the model ended the text)."""
    text = str(choice.get("text", ""))
    logprobs = choice.get("logprobs") or {}
    tokens = [str(t) for t in logprobs.get("tokens") or []]
    values = [float(v) for v in logprobs.get("token_logprobs") or [] if v is not None]
    cut = find_stop(text, stops)
    if cut is not None:
        kept, length = 0, 0
        while kept < len(tokens) and length < cut:
            length += len(tokens[kept])
            kept += 1
        text, values, tokens, finish = text[:cut], values[:kept], tokens[:kept], "stop"
    elif choice.get("finish_reason") == "length":
        finish = "length"
    elif "stop_reason" in choice and choice["stop_reason"] is None:
        finish = "eos"
    else:
        finish = "stop"
    return Sample(text=text, token_logprobs=tuple(values), tokens=tuple(tokens), finish_reason=finish)


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("retry-after", 0.0)), _MAX_RETRY_AFTER_S)
    except ValueError:
        return 0.0
