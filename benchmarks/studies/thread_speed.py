"""How much the Quick start's workload slows down beside busy processes, per torch thread setting: each
setting runs quiet and beside N busy-loop processes, measured side by side in one run.

Figures: BENCHMARKS.md, "Threads"; docs/studies/thread_speed.md.

    python -m reasonkit.benchmarks.studies.thread_speed                   # 2:spin, 2 and 1 threads on a 2-core machine
    python -m reasonkit.benchmarks.studies.thread_speed --setting 1 --setting 2 --load 3 --reps 2

The workload is chain-of-thought on the first 64 CommonsenseQA dev questions and direct scoring on the first
200 (the Quick start's two strategies) on the embedded default model. A setting is a thread count
(`reasonkit.set_threads`) with reasonkit's wait policy (idle OpenMP threads sleep), or `N:spin` for OpenMP's
own default (idle threads spin about 300,000 loops first; torch's behaviour before reasonkit set a policy).
Each setting runs in a fresh interpreter, because OpenMP reads its wait policy once, when torch loads it.
The busy processes are plain Python loops that stop by themselves after `--load-seconds` and are killed
when the loaded phase ends. Settings alternate within each repetition, so drifting machine load hits them
alike; medians are reported, wall clock and process CPU seconds (spinning shows as CPU taken from others).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
from pydantic import BaseModel

from reasonkit.threads import WAIT_VARIABLES

# libgomp's spin count when OMP_WAIT_POLICY is unset; naming it explicitly keeps reasonkit's policy away
OPENMP_DEFAULT_SPIN = {"GOMP_SPINCOUNT": "300000"}


class Timing(BaseModel):
    """Seconds of one worker run per strategy (wall clock and process CPU time), and what it ran with."""

    cot_wall: float
    cot_cpu: float
    direct_wall: float
    direct_cpu: float
    threads: int
    wait: str

    @property
    def wall(self) -> float:
        return self.cot_wall + self.direct_wall

    @property
    def cpu(self) -> float:
        return self.cot_cpu + self.direct_cpu


def busy(deadline: float) -> None:
    """One core's worth of load until `deadline` (time.monotonic)."""
    while time.monotonic() < deadline:
        pass


@contextmanager
def busy_processes(n: int, seconds: float) -> Iterator[list[multiprocessing.process.BaseProcess]]:
    """`n` busy-loop processes for the duration of the block (and never longer than `seconds`)."""
    context = multiprocessing.get_context("spawn")
    deadline = time.monotonic() + seconds
    processes = [context.Process(target=busy, args=(deadline,), daemon=True) for _ in range(n)]
    for process in processes:
        process.start()
    try:
        yield processes
    finally:
        for process in processes:
            process.kill()
            process.join()


class Setting(BaseModel):
    """A thread count, and whether idle OpenMP threads spin (OpenMP's default) or sleep (reasonkit's)."""

    threads: int
    spin: bool

    @classmethod
    def parse(cls, text: str) -> Setting:
        threads, _, wait = text.partition(":")
        if not threads.isdigit() or int(threads) < 1 or wait not in ("", "spin"):
            raise click.BadParameter(f"{text!r}: expected THREADS or THREADS:spin", param_hint="--setting")
        return cls(threads=int(threads), spin=wait == "spin")

    def __str__(self) -> str:
        return f"{self.threads}:spin" if self.spin else str(self.threads)

    def env(self) -> dict[str, str]:
        """This process's environment with no wait variable of the user's, so the setting alone decides."""
        env = {name: value for name, value in os.environ.items() if name not in WAIT_VARIABLES}
        return env | OPENMP_DEFAULT_SPIN if self.spin else env


def run_worker(setting: Setting, model: str | None, cot_spec: str, cot: int, direct: int) -> Timing:
    """The workload in a fresh interpreter (OpenMP reads its wait policy when torch loads it)."""
    command = [
        sys.executable,
        "-m",
        "reasonkit.benchmarks.studies.thread_speed",
        "--worker",
        str(setting.threads),
        "--cot-strategy",
        cot_spec,
        "--cot-questions",
        str(cot),
        "--direct-questions",
        str(direct),
    ]
    if model is not None:
        command += ["--model", model]
    out = subprocess.run(command, env=setting.env(), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise click.ClickException(f"worker for setting {setting} failed:\n{out.stderr[-2000:]}")
    return Timing.model_validate_json(out.stdout.strip().splitlines()[-1])


def time_workload(threads: int, model: str | None, cot_spec: str, cot: int, direct: int) -> Timing:
    """Chain-of-thought (`cot_spec`) on the first `cot` and direct scoring on the first `direct` CommonsenseQA dev
    questions in this process, after a warm-up of two questions each."""
    import torch

    from reasonkit import set_threads
    from reasonkit.benchmarks.registry import load_questions
    from reasonkit.models import load_model
    from reasonkit.registry import build_strategy

    set_threads(threads)
    lm = load_model(model)
    questions = load_questions("csqa")
    seconds: dict[str, float] = {}
    for name, spec, n in (("cot", cot_spec, cot), ("direct", "direct", direct)):
        strategy = build_strategy(spec)
        strategy.run_many(questions[:2], lm)
        wall, cpu = time.perf_counter(), time.process_time()
        strategy.run_many(questions[:n], lm)
        seconds[f"{name}_wall"] = time.perf_counter() - wall
        seconds[f"{name}_cpu"] = time.process_time() - cpu
    wait = " ".join(f"{name}={os.environ[name]}" for name in WAIT_VARIABLES if name in os.environ)
    return Timing(**seconds, threads=torch.get_num_threads(), wait=wait)


def default_settings() -> tuple[str, ...]:
    cores = os.cpu_count() or 1
    return (f"{cores}:spin", str(cores), "1") if cores > 1 else ("1:spin", "1")


@click.command()
@click.option(
    "--setting",
    "setting_texts",
    multiple=True,
    default=default_settings(),
    show_default=True,
    help="THREADS (idle threads sleep, reasonkit's default) or THREADS:spin (OpenMP's default); repeat.",
)
@click.option("--model", default=None, help="Model folder (default: the embedded model).")
@click.option(
    "--cot-strategy",
    "cot_spec",
    default="cot",
    show_default=True,
    help="the generating strategy's spec (a model with a short context needs cot(shots=0))",
)
@click.option("--cot-questions", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--direct-questions", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--load",
    "n_busy",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="busy-loop processes beside the loaded runs",
)
@click.option(
    "--load-seconds",
    type=float,
    default=900.0,
    show_default=True,
    help="the busy processes stop by themselves after this long",
)
@click.option("--reps", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--worker", type=int, default=None, hidden=True, help="time the workload here with N threads")
def main(
    setting_texts: tuple[str, ...],
    model: str | None,
    cot_spec: str,
    cot_questions: int,
    direct_questions: int,
    n_busy: int,
    load_seconds: float,
    reps: int,
    worker: int | None,
) -> None:
    if worker is not None:
        click.echo(time_workload(worker, model, cot_spec, cot_questions, direct_questions).model_dump_json())
        return
    settings = [Setting.parse(text) for text in setting_texts]
    click.echo(
        f"{cot_spec} on {cot_questions} + direct on {direct_questions} CommonsenseQA dev questions, "
        f"{os.cpu_count()} cores, quiet and beside {n_busy} busy processes, median of {reps}"
    )
    runs: dict[tuple[str, bool], list[Timing]] = {}
    for loaded in (False, True):
        with busy_processes(n_busy if loaded else 0, load_seconds):
            for _ in range(reps):
                for setting in settings:
                    timing = run_worker(setting, model, cot_spec, cot_questions, direct_questions)
                    runs.setdefault((str(setting), loaded), []).append(timing)
                    click.echo(
                        f"  {setting!s:<9} {'loaded' if loaded else 'quiet':<6} {timing.cot_wall:7.1f} s cot "
                        f"{timing.direct_wall:7.1f} s direct  ({timing.cpu:.1f} cpu s)",
                        err=True,
                    )

    def median(setting: Setting, loaded: bool, field: str) -> float:
        return statistics.median(getattr(timing, field) for timing in runs[(str(setting), loaded)])

    first = settings[0]
    click.echo(
        f"{'setting':<9} {'torch':>5} {'wall s quiet/loaded':>20} {'slowdown':>8} "
        f"{'cpu s quiet/loaded':>19} {'cot s':>13} {'direct s':>13}  vs {first} quiet/loaded  wait"
    )
    for setting in settings:
        quiet, loaded = median(setting, False, "wall"), median(setting, True, "wall")
        cpu = f"{median(setting, False, 'cpu'):7.1f} /{median(setting, True, 'cpu'):7.1f}"
        cot = f"{median(setting, False, 'cot_wall'):5.1f} /{median(setting, True, 'cot_wall'):6.1f}"
        direct = f"{median(setting, False, 'direct_wall'):5.1f} /{median(setting, True, 'direct_wall'):6.1f}"
        versus = f"{quiet / median(first, False, 'wall'):5.2f}x /{loaded / median(first, True, 'wall'):5.2f}x"
        sample = runs[(str(setting), False)][0]
        click.echo(
            f"{setting!s:<9} {sample.threads:>5} {quiet:9.1f} /{loaded:9.1f} {loaded / quiet:7.1f}x "
            f"{cpu:>19} {cot:>13} {direct:>13}  {versus:>17}  {sample.wait or '-'}"
        )


if __name__ == "__main__":
    main()
