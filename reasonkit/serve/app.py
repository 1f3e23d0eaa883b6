"""The OpenAI-compatible app: /v1/models, /v1/completions and /v1/chat/completions for any `LanguageModel`.

Every request's model calls go through one `BatchingClient`, so requests that arrive together are sent to
the backend as one batch, as the questions of a benchmark are. The backend runs on the event loop: while it
works, new requests wait in the socket and form the next batch. A request whose client goes away is
cancelled; the batcher then drops its part of a batch not yet sent.

Streaming (stream=true) sends each choice's text as its tokens are generated (`reasonkit.serve.streaming`:
the decode loop's listeners, the batch run in a worker thread meanwhile). The stream starts with the first
token, so a bad request still gets its 4xx before any event. A backend without the decode loop (a remote
one) and a stream with logprobs send each choice whole once it is done.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from reasonkit.client import BatchingClient
from reasonkit.protocol import (
    MAX_SAMPLES,
    ContextWindowError,
    GenerationRequest,
    GenerationResult,
    LanguageModel,
    PromptLogprobsRequest,
    PromptLogprobsResult,
    Sample,
    ScoresPromptTokens,
)
from reasonkit.serve.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatDelta,
    ChatMessage,
    Completion,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    ErrorBody,
    ErrorDetail,
    FinishReason,
    ModelCard,
    ModelList,
)
from reasonkit.serve.streaming import ChoiceStreams, StreamingBackend

log = logging.getLogger(__name__)

T = TypeVar("T")

ROLE_NAMES = {"system": "System", "user": "User", "assistant": "Assistant"}
CHAT_STOPS = ("\nUser:", "\nSystem:")


class ServeSettings(BaseModel):
    """What the server calls its model, whom it lets in, and how much one request may ask for."""

    model_name: str = Field(min_length=1)
    api_key: str | None = None
    max_n: int = Field(MAX_SAMPLES, ge=1, le=MAX_SAMPLES, description="samples per prompt (n)")
    max_tokens: int = Field(512, ge=1)
    max_prompts: int = Field(256, ge=1, description="prompts in one /v1/completions request")
    max_batch: int = Field(64, ge=1, description="requests per backend call")


class APIError(Exception):
    """An error the client caused (or a backend failure), sent as OpenAI's error JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(message=message, type=type, param=param, code=code)


def _error_response(status: int, detail: ErrorDetail) -> JSONResponse:
    return JSONResponse(ErrorBody(error=detail).model_dump(), status_code=status)


def render_chat(messages: Sequence[ChatMessage]) -> str:
    """Plain-text chat for a base model: "Role: content" lines, then "Assistant:" for the model to go on."""
    return "".join(f"{ROLE_NAMES[m.role]}: {m.content}\n" for m in messages) + "Assistant:"


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _finish(sample: Sample | None) -> FinishReason:
    return "stop" if sample is not None and sample.finish_reason in ("stop", "eos") else "length"


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it as soon as the client disconnects: a request still waiting in the batcher
    is then dropped from the batch before it reaches the backend."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        log.info("client disconnected; request cancelled")
        raise APIError(499, "client disconnected", code="client_closed_request")
    finally:
        task.cancel()
        watcher.cancel()


async def _disconnect(request: Request) -> None:
    """Returns when the client has gone (the ASGI server's http.disconnect; the body is read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class _Server:
    """The handlers' shared state: the model, its batcher and the settings."""

    def __init__(self, lm: LanguageModel, settings: ServeSettings) -> None:
        self.lm = lm
        self.settings = settings
        self.client = BatchingClient(StreamingBackend(lm), max_batch=settings.max_batch)
        self.created = int(time.time())

    def check_model(self, model: str) -> None:
        if model != self.settings.model_name:
            raise APIError(
                404,
                f"model {model!r} does not exist; this server serves {self.settings.model_name!r}",
                param="model",
                code="model_not_found",
            )

    def check_limits(self, n: int, max_tokens: int) -> None:
        if n > self.settings.max_n:
            raise APIError(400, f"n={n} is over this server's limit of {self.settings.max_n}", param="n")
        if max_tokens > self.settings.max_tokens:
            raise APIError(
                400,
                f"max_tokens={max_tokens} is over this server's limit of {self.settings.max_tokens}",
                param="max_tokens",
            )

    async def call(self, work: Awaitable[T]) -> T:
        """A batched model call; bad input (e.g. a prompt over the window) becomes a 400."""
        try:
            return await work
        except ContextWindowError as error:
            raise APIError(400, str(error), param="prompt", code="context_length_exceeded") from error
        except ValueError as error:
            raise APIError(400, str(error)) from error
        except Exception as error:
            log.exception("backend failed")
            raise APIError(
                500, f"backend failed: {type(error).__name__}: {error}", type="server_error"
            ) from error

    def generation(
        self,
        prompt: str,
        body: CompletionRequest | ChatCompletionRequest,
        max_tokens: int,
        stops: tuple[str, ...],
    ) -> GenerationRequest:
        return GenerationRequest(
            prompt=prompt,
            n=body.n,
            max_tokens=max_tokens,
            temperature=body.temperature,
            top_p=None if body.top_p >= 1.0 else body.top_p,
            stop=stops,
            seed=body.seed if body.seed is not None else random.SystemRandom().randrange(2**31),
        )

    def completion_requests(self, body: CompletionRequest, prompts: list[str]) -> list[GenerationRequest]:
        """One generation request per prompt; none when max_tokens is 0 (echo only)."""
        if body.max_tokens == 0:
            return []
        return [self.generation(p, body, body.max_tokens, body.stops()) for p in prompts]

    async def complete(
        self, body: CompletionRequest, prompts: list[str], requests: list[GenerationRequest]
    ) -> list[CompletionChoice]:
        generate: Awaitable[list[GenerationResult | None]]
        if requests:
            generate = self.call(self.client.generate(requests))
        else:
            generate = _constant([None] * len(prompts))
        scored: Awaitable[list[PromptLogprobsResult | None]]
        if body.echo and body.logprobs is not None:
            scored = self.call(self._prompt_scores(prompts, body.logprobs))
        else:
            scored = _constant([None] * len(prompts))
        results, scores = await asyncio.gather(generate, scored)
        choices = []
        for p, (prompt, result, score) in enumerate(zip(prompts, results, scores, strict=True)):
            samples: Sequence[Sample | None] = result.samples if result is not None else [None] * body.n
            for k, sample in enumerate(samples):
                choices.append(_completion_choice(p * body.n + k, prompt, sample, score, body))
        return choices

    async def _prompt_scores(self, prompts: list[str], top: int) -> list[PromptLogprobsResult | None]:
        """Scores of the non-empty prompts (an empty prompt has no tokens), in prompt order."""
        wanted = [p for p in prompts if p]
        got = iter(
            await self.client.prompt_logprobs([PromptLogprobsRequest(text=p, top=top) for p in wanted])
        )
        return [next(got) if p else None for p in prompts]


async def _constant(value: T) -> T:
    return value


def _completion_choice(
    index: int,
    prompt: str,
    sample: Sample | None,
    score: PromptLogprobsResult | None,
    body: CompletionRequest,
) -> CompletionChoice:
    text = (prompt if body.echo else "") + (sample.text if sample is not None else "")
    logprobs = None
    if body.logprobs is not None:
        logprobs = CompletionLogprobs(tokens=[], token_logprobs=[], top_logprobs=[], text_offset=[])
        if score is not None:
            for k, token in enumerate(score.tokens):
                logprobs.tokens.append(token.token)
                logprobs.token_logprobs.append(token.logprob)
                logprobs.top_logprobs.append(None if k == 0 else token.top)
                logprobs.text_offset.append(token.offset)
        if sample is not None:
            _append_generated(logprobs, sample, len(prompt) if body.echo else 0)
    return CompletionChoice(index=index, text=text, logprobs=logprobs, finish_reason=_finish(sample))


def _append_generated(logprobs: CompletionLogprobs, sample: Sample, offset: int) -> None:
    """The generated tokens; their top_logprobs hold the chosen token only (backends report no others)."""
    if len(sample.tokens) != len(sample.token_logprobs):
        raise APIError(
            400, "this backend does not report its generated tokens; drop logprobs", param="logprobs"
        )
    for token, value in zip(sample.tokens, sample.token_logprobs, strict=True):
        logprobs.tokens.append(token)
        logprobs.token_logprobs.append(value)
        logprobs.top_logprobs.append({token: value})
        logprobs.text_offset.append(offset)
        offset += len(token)


def _text_prompts(prompt: str | list[str] | list[int] | list[list[int]]) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if all(isinstance(p, str) for p in prompt):
        return [str(p) for p in prompt]
    raise APIError(
        400,
        "prompt: token-id prompts are not supported (the backend's tokenizer is its own); send text",
        param="prompt",
    )


def _sse(payload: BaseModel | str) -> str:
    data = payload if isinstance(payload, str) else payload.model_dump_json(exclude_none=False)
    return f"data: {data}\n\n"


def create_app(lm: LanguageModel, settings: ServeSettings) -> FastAPI:
    """The ASGI app serving `lm` under `settings.model_name`."""
    server = _Server(lm, settings)

    async def check_key(request: Request) -> None:
        if settings.api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, key = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(key.strip(), settings.api_key):
            raise APIError(
                401, "missing or wrong API key (send 'Authorization: Bearer KEY')", code="invalid_api_key"
            )

    app = FastAPI(title="reasonkit", docs_url=None, redoc_url=None, dependencies=[Depends(check_key)])

    @app.exception_handler(APIError)
    async def api_error(_: Request, error: APIError) -> JSONResponse:
        return _error_response(error.status, error.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = error.errors()[0] if error.errors() else {}
        where = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(where) or None
        message = (
            f"{param}: {first.get('msg', 'invalid request')}"
            if param
            else first.get("msg", "invalid request")
        )
        if first.get("type") in ("json_invalid", "model_attributes_type"):
            message = "the body is not a JSON object"
            param = None
        return _error_response(400, ErrorDetail(message=message, type="invalid_request_error", param=param))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error_response(
            error.status_code, ErrorDetail(message=str(error.detail), type="invalid_request_error")
        )

    @app.get("/v1/models")
    async def models() -> ModelList:
        return ModelList(data=[ModelCard(id=settings.model_name, created=server.created)])

    @app.post("/v1/completions", response_model=None)
    async def completions(body: CompletionRequest, request: Request) -> Completion | StreamingResponse:
        server.check_model(body.model)
        server.check_limits(body.n, body.max_tokens)
        prompts = _text_prompts(body.prompt)
        if len(prompts) > settings.max_prompts:
            raise APIError(
                400,
                f"{len(prompts)} prompts is over this server's limit of {settings.max_prompts}",
                param="prompt",
            )
        if body.echo and body.logprobs is not None and not isinstance(lm, ScoresPromptTokens):
            raise APIError(400, "echo with logprobs: this backend cannot score prompt tokens", param="echo")
        made = Completion(id=_new_id("cmpl"), created=int(time.time()), model=settings.model_name, choices=[])
        requests = server.completion_requests(body, prompts)
        if body.stream:
            return await _stream_completion(request, server, body, prompts, requests, made)
        made.choices = await _unless_disconnected(request, server.complete(body, prompts, requests))
        return made

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatCompletionRequest, request: Request) -> ChatCompletion | StreamingResponse:
        server.check_model(body.model)
        max_tokens = body.max_completion_tokens or body.max_tokens or settings.max_tokens
        server.check_limits(body.n, max_tokens)
        generation = server.generation(
            render_chat(body.messages), body, max_tokens, body.stops() + CHAT_STOPS
        )
        made = ChatCompletion(
            id=_new_id("chatcmpl"), created=int(time.time()), model=settings.model_name, choices=[]
        )
        if body.stream:
            return await _stream_chat(request, server, body, generation, made)
        (result,) = await _unless_disconnected(request, server.call(server.client.generate([generation])))
        made.choices = [
            ChatChoice(index=k, message=AssistantMessage(content=s.text.lstrip()), finish_reason=_finish(s))
            for k, s in enumerate(result.samples)
        ]
        return made

    return app


async def _start_stream(
    request: Request, streams: ChoiceStreams, work: Awaitable[T]
) -> tuple[asyncio.Future[T], AsyncIterator[tuple[int, str]]]:
    """Start `work` and wait for its first token (or its end): an error before then is still a plain 4xx/5xx
    answer. A client gone meanwhile cancels the work."""
    task = asyncio.ensure_future(work)
    deltas = streams.deltas(task)
    first = asyncio.ensure_future(anext(deltas, None))
    try:
        await _unless_disconnected(request, asyncio.wait({first, task}, return_when=asyncio.FIRST_COMPLETED))
        if task.done() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    except BaseException:
        first.cancel()
        task.cancel()
        streams.close()
        raise
    return task, _prepend(first, deltas)


async def _prepend(
    first: asyncio.Future[tuple[int, str] | None], rest: AsyncIterator[tuple[int, str]]
) -> AsyncIterator[tuple[int, str]]:
    item = await first
    if item is not None:
        yield item
        async for item in rest:
            yield item


async def _stream_completion(
    request: Request,
    server: _Server,
    body: CompletionRequest,
    prompts: list[str],
    requests: list[GenerationRequest],
    made: Completion,
) -> StreamingResponse:
    """/v1/completions with stream=true: per choice, text deltas as tokens come, then its finish reason."""
    prefixes = [prompt if body.echo else "" for prompt in prompts for _ in range(body.n)]
    streams = ChoiceStreams(body.stops())
    if body.logprobs is None:  # logprobs are sent with each choice whole
        for p, generation in enumerate(requests):
            streams.listen(generation, p * body.n)
    task, deltas = await _start_stream(request, streams, server.complete(body, prompts, requests))

    def chunk(index: int, text: str, finish: FinishReason | None = None, **extra: Any) -> str:
        choice = CompletionChoice(index=index, text=text, finish_reason=finish, **extra)
        return _sse(made.model_copy(update={"choices": [choice]}))

    async def events() -> AsyncIterator[str]:
        try:
            started: set[int] = set()
            async for index, text in deltas:
                yield chunk(index, (prefixes[index] if index not in started else "") + text)
                started.add(index)
            for choice in await task:
                rest = streams.delta(choice.index, choice.text[len(prefixes[choice.index]) :], final=True)
                text = (prefixes[choice.index] if choice.index not in started else "") + rest
                yield chunk(choice.index, text, choice.finish_reason, logprobs=choice.logprobs)
            yield _sse("[DONE]")
        finally:
            task.cancel()
            streams.close()

    return StreamingResponse(events(), media_type="text/event-stream")


async def _stream_chat(
    request: Request,
    server: _Server,
    body: ChatCompletionRequest,
    generation: GenerationRequest,
    made: ChatCompletion,
) -> StreamingResponse:
    """/v1/chat/completions with stream=true: per choice, the role, content deltas, then the finish reason."""
    streams = ChoiceStreams(generation.stop, shown=str.lstrip)
    streams.listen(generation, 0)
    task, deltas = await _start_stream(request, streams, server.call(server.client.generate([generation])))
    head = {"id": made.id, "created": made.created, "model": made.model}

    def chunk(index: int, delta: ChatDelta, finish: FinishReason | None = None) -> str:
        choice = ChatChunkChoice(index=index, delta=delta, finish_reason=finish)
        return _sse(ChatCompletionChunk(**head, choices=[choice]))

    async def events() -> AsyncIterator[str]:
        try:
            for k in range(body.n):
                yield chunk(k, ChatDelta(role="assistant"))
            async for index, text in deltas:
                yield chunk(index, ChatDelta(content=text))
            (result,) = await task
            for k, sample in enumerate(result.samples):
                if rest := streams.delta(k, sample.text, final=True):
                    yield chunk(k, ChatDelta(content=rest))
                yield chunk(k, ChatDelta(), _finish(sample))
            yield _sse("[DONE]")
        finally:
            task.cancel()
            streams.close()

    return StreamingResponse(events(), media_type="text/event-stream")
