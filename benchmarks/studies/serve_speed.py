"""`reasonkit serve` speed and load, loopback only: served vs in-process on the same work, concurrency 64 vs 1,
2,000 requests at concurrency 64 (errors, server memory before and after), and a client killed mid-request.

Question: How fast and how steady is `reasonkit serve` under load? Figures: BENCHMARKS.md, "Serving and
backends"; docs/studies/serving.md.

    python -m reasonkit.benchmarks.studies.serve_speed                          # the bundled model
    python -m reasonkit.benchmarks.studies.serve_speed --model DIR --requests 256 --load-requests 2000

The work: greedy completions of CommonsenseQA dev prompts (`direct`'s prompt, --max-tokens new tokens).
In-process sends them through the same `BatchingClient` the server uses, `--concurrency` at a time; served
sends them as HTTP requests to a `reasonkit serve` child process, `--concurrency` at a time, and once more
one at a time (first --sequential requests only, so it stays short). The load phase sends --load-requests
requests (max_tokens 1) at concurrency 64 and reads the server's resident memory (VmRSS) after a warm-up
of 200 requests and after each quarter of the load. Figures depend on the machine and its load: rerun before quoting them.
On a shared machine wall-clock rates follow the others' load, so in-process runs both before and after the
served phase (the load average is printed with each), and each phase's CPU seconds are counted too: this
process's for in-process; the server's plus this client's for served (a ratio of CPU per request moves far
less with the load than a ratio of rates).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx

MODEL_NAME = "reasonkit"


def prompts_for(n: int) -> list[str]:
    from reasonkit.benchmarks.registry import load_questions
    from reasonkit.strategies import prompts

    questions = load_questions("csqa")[:n]
    return [prompts.direct_prompt(q.text, q.options) for q in questions]


def in_process(model: str, texts: list[str], max_tokens: int, concurrency: int) -> tuple[float, float]:
    """Wall and CPU seconds for the completions through `BatchingClient`, `concurrency` coroutines at a time."""
    from reasonkit.client import BatchingClient
    from reasonkit.models import load_model
    from reasonkit.protocol import GenerationRequest

    client = BatchingClient(load_model(model), max_batch=64)

    async def run() -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(text: str) -> None:
            async with gate:
                await client.generate(
                    [GenerationRequest(prompt=text, max_tokens=max_tokens, temperature=0.0)]
                )

        await asyncio.gather(*(one(t) for t in texts))

    asyncio.run(run())  # warm-up (first batches allocate)
    began, cpu = time.perf_counter(), time.process_time()
    asyncio.run(run())
    return time.perf_counter() - began, time.process_time() - cpu


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


async def served(url: str, texts: list[str], max_tokens: int, concurrency: int) -> tuple[float, int]:
    """Seconds for the completions over HTTP, and how many failed."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    async with httpx.AsyncClient(
        base_url=url, timeout=600, limits=httpx.Limits(max_connections=concurrency)
    ) as client:

        async def one(text: str) -> None:
            nonlocal failures
            async with gate:
                body = {"model": MODEL_NAME, "prompt": text, "max_tokens": max_tokens, "temperature": 0}
                response = await client.post("/v1/completions", json=body)
                failures += response.status_code != 200

        began = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        return time.perf_counter() - began, failures


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


KILLED_CLIENT = """
import httpx, sys
httpx.post(sys.argv[1] + "/v1/completions", timeout=600,
           json={"model": "reasonkit", "prompt": "Once upon a time", "max_tokens": 256, "temperature": 0})
"""


def kill_a_client(url: str) -> dict[str, Any]:
    """A client process killed (SIGKILL) while its request runs; then the server must still answer."""
    child = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, url])
    time.sleep(1.0)
    child.send_signal(signal.SIGKILL)
    child.wait()
    after = httpx.post(
        f"{url}/v1/completions", json={"model": MODEL_NAME, "prompt": "Hello", "max_tokens": 4}, timeout=600
    )
    return {"killed_client_exit": child.returncode, "next_request_status": after.status_code}


@click.command()
@click.option("--model", default="default", show_default=True, help="Model spec.")
@click.option("--requests", "n_requests", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--sequential", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--load-requests", type=click.IntRange(min=0), default=2000, show_default=True)
def main(
    model: str, n_requests: int, sequential: int, max_tokens: int, concurrency: int, load_requests: int
) -> None:
    """Print the throughputs and ratios side by side, then the load and kill results, as JSON."""
    from reasonkit.serve.launch import running_server

    texts = prompts_for(max(n_requests, sequential))
    work, first = texts[:n_requests], texts[:sequential]
    loads = {"in_process_before": load_average()}
    before_s, before_cpu = in_process(model, work, max_tokens, concurrency)
    report: dict[str, Any] = {
        "model": model,
        "requests": n_requests,
        "max_tokens": max_tokens,
        "cpu_count": os.cpu_count(),
    }
    with running_server(["--model", model, "--model-name", MODEL_NAME, "--max-n", "1"]) as server:
        asyncio.run(served(server.url, first, max_tokens, concurrency))  # warm-up
        loads["served"] = load_average()
        cpu = cpu_seconds(server.process.pid), time.process_time()
        wide_s, wide_failed = asyncio.run(served(server.url, work, max_tokens, concurrency))
        wide_cpu = cpu_seconds(server.process.pid) - cpu[0] + time.process_time() - cpu[1]
        one_s, one_failed = asyncio.run(served(server.url, first, max_tokens, 1))
        rates = {
            "in_process_req_per_s": n_requests / before_s,
            f"served_c{concurrency}_req_per_s": n_requests / wide_s,
            "served_c1_req_per_s": sequential / one_s,
        }
        report["throughput"] = rates
        report["served_over_in_process"] = (
            rates[f"served_c{concurrency}_req_per_s"] / rates["in_process_req_per_s"]
        )
        report[f"served_c{concurrency}_over_c1"] = (
            rates[f"served_c{concurrency}_req_per_s"] / rates["served_c1_req_per_s"]
        )
        report["failures"] = wide_failed + one_failed
        if load_requests:
            load_texts = (texts * (load_requests // len(texts) + 1))[:load_requests]
            asyncio.run(served(server.url, load_texts[:200], 1, 64))
            before = rss_mib(server.process.pid)
            load_s, load_failed, rss = 0.0, 0, []
            quarter = -(-load_requests // 4)
            # memory read after each quarter: growth or a plateau
            for start in range(0, load_requests, quarter):
                seconds, failed = asyncio.run(served(server.url, load_texts[start : start + quarter], 1, 64))
                load_s, load_failed = load_s + seconds, load_failed + failed
                rss.append(round(rss_mib(server.process.pid), 1))
            report["load"] = {
                "requests": load_requests,
                "concurrency": 64,
                "failed": load_failed,
                "seconds": round(load_s, 1),
                "server_rss_mib_after_warmup": round(before, 1),
                "server_rss_mib_after_each_quarter": rss,
            }
        report["killed_client"] = kill_a_client(server.url)
    loads["in_process_after"] = load_average()
    after_s, after_cpu = in_process(model, work, max_tokens, concurrency)
    in_process_s, in_process_cpu = (before_s + after_s) / 2, (before_cpu + after_cpu) / 2
    report["in_process_req_per_s_before_and_after"] = [n_requests / before_s, n_requests / after_s]
    report["served_over_in_process_both_runs"] = n_requests / wide_s / (n_requests / in_process_s)
    report["cpu_ms_per_request"] = {
        "in_process_before_and_after": [1000 * before_cpu / n_requests, 1000 * after_cpu / n_requests],
        f"served_c{concurrency}_server_plus_client": 1000 * wide_cpu / n_requests,
        "served_over_in_process": wide_cpu / in_process_cpu,
    }
    report["load_average_1min"] = loads
    click.echo(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
