"""What the runner costs on top of the model: `direct` on CommonsenseQA dev through `run_benchmark` (batching
client, tracing, one fsync'ed JSON line per question) against the same loglikelihood requests sent straight
to `Engine.loglikelihood` in the same batches.

Figures: BENCHMARKS.md, "Strategies and batching: speed"; docs/studies/runner_overhead.md.

    python -m reasonkit.benchmarks.studies.runner_overhead                 # random `small` model, 500 questions
    python -m reasonkit.benchmarks.studies.runner_overhead --model DIR --questions 200 --reps 5

Without --model the weights are random (speed does not depend on them) and the tokenizer is trained on the
bundled Tiny Shakespeare. A first runner pass records the batches the engine receives and warms both sides
up; then the two sides run interleaved, repetition by repetition, and the medians are compared, so machine
load hits both alike. Wall-clock and process CPU seconds are both reported: on a shared machine the CPU
time is the steadier of the two (it misses the runner's fsync waits, which the wall clock shows). One torch
thread by default: on a loaded machine two threads waiting on each other made timings swing threefold.
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import click
import torch

from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.runner import RunRecord, data_hash, run_benchmark
from reasonkit.lm.config import config_for_size
from reasonkit.lm.engine import Engine
from reasonkit.lm.model import GPT
from reasonkit.lm.tokenizer import Tokenizer
from reasonkit.protocol import LoglikelihoodRequest, LoglikelihoodResult
from reasonkit.registry import build_strategy
from reasonkit.types import Question


class RecordingEngine:
    """The engine, remembering every batch it is sent (the runner's batches, to replay bare)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.batches: list[list[LoglikelihoodRequest]] = []

    @property
    def fingerprint(self) -> str:
        return self.engine.fingerprint

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.batches.append(list(requests))
        return self.engine.loglikelihood(requests)

    def generate(self, requests: Sequence[object]) -> list[object]:
        raise NotImplementedError("direct scoring never generates")


def random_engine(size: str, vocab_size: int, device: str) -> Engine:
    corpus = gzip.decompress(
        resources.files("reasonkit.lm").joinpath("corpora/tinyshakespeare.txt.gz").read_bytes()
    ).decode("utf-8")
    tokenizer = Tokenizer.train([corpus], vocab_size=vocab_size)
    torch.manual_seed(0)
    return Engine(GPT(config_for_size(size, vocab_size=vocab_size)), tokenizer, device=device)


class Timing(NamedTuple):
    wall_s: float
    cpu_s: float


@contextmanager
def timed(into: list[Timing]) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into.append(Timing(time.perf_counter() - wall, time.process_time() - cpu))


def runner_pass(
    questions: list[Question], lm: RecordingEngine, folder: Path, concurrency: int, max_batch: int
) -> None:
    """One full run into a fresh run folder."""
    strategy = build_strategy("direct")
    record = RunRecord(
        benchmark="csqa",
        split="dev",
        strategy="direct",
        strategy_config=strategy.config(),
        model="bench",
        model_fingerprint=lm.fingerprint,
        seed=0,
        limit=len(questions),
        n_questions=len(questions),
        data_hash=data_hash(questions),
    )
    lm.batches.clear()
    run_benchmark(questions, strategy, lm, folder, record, concurrency=concurrency, max_batch=max_batch)


def bare_pass(engine: Engine, batches: list[list[LoglikelihoodRequest]]) -> None:
    for batch in batches:
        engine.loglikelihood(batch)


def median(timings: list[Timing]) -> Timing:
    return Timing(statistics.median(t.wall_s for t in timings), statistics.median(t.cpu_s for t in timings))


@click.command()
@click.option(
    "--model",
    "model_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="A model folder (default: a random `--size` model).",
)
@click.option("--size", default="small", show_default=True, help="Named model size of the random model.")
@click.option("--vocab-size", default=4096, show_default=True, help="Vocabulary of the random model.")
@click.option(
    "--questions", "n_questions", default=500, show_default=True, help="CommonsenseQA dev questions."
)
@click.option("--reps", default=3, show_default=True, help="Timed repetitions per side (median reported).")
@click.option("--concurrency", default=64, show_default=True, help="Questions in flight (runner).")
@click.option("--max-batch", default=64, show_default=True, help="Requests per engine call (runner).")
@click.option("--threads", default=1, show_default=True, help="torch.set_num_threads")
@click.option("--device", default="cpu", show_default=True)
def main(
    model_dir: Path | None,
    size: str,
    vocab_size: int,
    n_questions: int,
    reps: int,
    concurrency: int,
    max_batch: int,
    threads: int,
    device: str,
) -> None:
    torch.set_num_threads(threads)
    engine = (
        Engine.from_pretrained(model_dir, device=device)
        if model_dir
        else random_engine(size, vocab_size, device)
    )
    questions = load_questions("csqa")[:n_questions]
    recording = RecordingEngine(engine)
    with tempfile.TemporaryDirectory(prefix="runner_overhead_") as tmp:
        runner_pass(questions, recording, Path(tmp) / "warm-up", concurrency, max_batch)
        batches = [list(batch) for batch in recording.batches]
        bare_pass(engine, batches)
        runner_times: list[Timing] = []
        bare_times: list[Timing] = []
        for rep in range(reps):
            with timed(runner_times):
                runner_pass(questions, recording, Path(tmp) / f"run{rep}", concurrency, max_batch)
            if recording.batches != batches:
                raise RuntimeError(
                    "the runner sent different batches on a repeat; the comparison would be unfair"
                )
            with timed(bare_times):
                bare_pass(engine, batches)
    runner, bare = median(runner_times), median(bare_times)
    n = len(questions)
    model = f"{model_dir}" if model_dir else f"random {size} ({engine.model.num_params() / 1e6:.1f}M params)"
    click.echo(
        f"model {model} on {device}, {threads} thread(s); {n} CommonsenseQA dev questions, direct: "
        f"{sum(map(len, batches))} loglikelihood requests in {len(batches)} batches; median of {reps}"
    )
    click.echo(f"{'':<28} {'wall s':>8} {'q/s':>8} {'cpu s':>8} {'q/cpu-s':>8}")
    for name, timing in (("runner (run_benchmark)", runner), ("bare Engine.loglikelihood", bare)):
        click.echo(
            f"{name:<28} {timing.wall_s:8.2f} {n / timing.wall_s:8.1f} {timing.cpu_s:8.2f} "
            f"{n / timing.cpu_s:8.1f}"
        )
    for clock in ("wall_s", "cpu_s"):
        overhead = 100 * (getattr(runner, clock) / getattr(bare, clock) - 1)
        verdict = "ok" if overhead < 10 else "MISSED"
        click.echo(f"runner overhead, {clock[:-2]:<4} {overhead:+20.1f} %  (goal < 10 %: {verdict})")
    click.echo(
        "each repetition, runner / bare wall s: "
        + ", ".join(f"{r.wall_s:.2f}/{b.wall_s:.2f}" for r, b in zip(runner_times, bare_times, strict=True))
    )


if __name__ == "__main__":
    main()
