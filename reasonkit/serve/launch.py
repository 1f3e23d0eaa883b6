"""Start `reasonkit serve` in a child process on a free loopback port (benchmarks and scripts use it)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class ServerProcess:
    url: str  # e.g. http://127.0.0.1:PORT (the OpenAI base URL is url + "/v1")
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(args: Sequence[str], *, timeout_s: float = 300.0) -> Iterator[ServerProcess]:
    """`reasonkit serve ARGS --port P` until /v1/models answers; stopped (and waited for) on exit."""
    port = free_port()
    command = [sys.executable, "-m", "reasonkit", "serve", *args, "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"`{' '.join(command)}` exited with status {process.returncode}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=5).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"`{' '.join(command)}` did not answer within {timeout_s:.0f} s")
            time.sleep(0.2)
        yield ServerProcess(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
