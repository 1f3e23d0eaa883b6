"""A real `reasonkit serve` app on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from reasonkit.protocol import LanguageModel  # noqa: E402
from reasonkit.serve.app import ServeSettings, create_app  # noqa: E402


@contextmanager
def serve_in_thread(lm: LanguageModel, **settings: object) -> Iterator[str]:
    """Start the server on 127.0.0.1 (port chosen by the OS), yield its base URL, stop it."""
    app = create_app(lm, ServeSettings(model_name="test-model", **settings))  # type: ignore[arg-type]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def serve() -> Callable[..., AbstractContextManager[str]]:
    return serve_in_thread
