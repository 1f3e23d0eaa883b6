"""The checks a session lent a GPU runs in one go (a few minutes): does each GPU path give what the CPU gives,
and how much faster is it, measured side by side in this run.

Question: Does the GPU answer as the CPU does, and how much faster does it score, generate and train?
Figures: BENCHMARKS.md, "GPU: not measured yet" (none measured yet).

    python -m reasonkit.benchmarks.studies.cuda_check                 # the bundled model, device cuda
    python -m reasonkit.benchmarks.studies.cuda_check --device cpu    # the CPU against itself: tests the script

1. Scoring: `direct` on the first CommonsenseQA dev questions, on the CPU and on the device (bf16 autocast
   there): same answers, scores close, questions per second on each.
2. Generation: greedy `cot` on fewer questions: how many rationales are identical (bf16 may break near-ties
   differently, so this is reported, and fails only when most differ), questions per second on each.
3. Training: the trainer's step at the `small` size on each device with the recipe's 'auto' precision (bf16
   autocast and torch.compile on CUDA, fp32 eager on the CPU); tokens per second after warm-up.
4. Resume: a short run on the device, interrupted and resumed, must retrace the uninterrupted one (exactly
   on the CPU; to 1e-3 on CUDA, whose kernels need not be bit-reproducible).

DDP over NCCL needs two GPUs (NCCL refuses two ranks on one device); on one GPU it is not checked here.
Exits 1 when a check fails.
"""

from __future__ import annotations

import gzip
import importlib.resources
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import click
import torch

from reasonkit.benchmarks.registry import load_questions
from reasonkit.benchmarks.studies.train_throughput import RandomTokens
from reasonkit.lm.config import config_for_size
from reasonkit.lm.recipe import TrainSection, load_recipe
from reasonkit.lm.train import Trainer, read_metrics, train
from reasonkit.models import load_model
from reasonkit.protocol import GenerationResult, LanguageModel
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.direct import Direct
from reasonkit.strategy import Strategy
from reasonkit.torchrun import DistContext, resolve_device
from reasonkit.types import Prediction, Question

VOCAB = 8192  # the default model's

RESUME_RECIPE = """
name = "cuda-check"
data_dir = "."
seed = 5

[tokenizer]
vocab_size = 300
sample_chars = 50000

[model]
size = "tiny"
block_size = 64
n_layer = 2
n_head = 2
n_embd = 64

[train]
steps = 16
batch_size = 8
grad_accum = 2
lr = 1e-2
warmup_steps = 2
eval_interval = 8
eval_batches = 2
checkpoint_interval = 8
device = "{device}"

[[sources]]
name = "text"
path = "corpus.txt"
format = "text"
weight = 1.0
"""


class Check(NamedTuple):
    name: str
    passed: bool
    detail: str


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_run(
    strategy: Strategy, questions: Sequence[Question], lm: LanguageModel
) -> tuple[list[Prediction], float]:
    """Predictions and questions per second (one warm-up question first, not timed)."""
    strategy.run_many(questions[:1], lm)
    start = time.perf_counter()
    predictions = strategy.run_many(questions, lm)
    return predictions, len(questions) / (time.perf_counter() - start)


def largest_score_gap(first: Sequence[Prediction], second: Sequence[Prediction]) -> float:
    return max(
        abs(a.scores[choice] - b.scores.get(choice, float("nan")))
        for a, b in zip(first, second, strict=True)
        for choice in a.scores
    )


def rationale(prediction: Prediction) -> str:
    """The text of the first generation call: the greedy rationale."""
    for call in prediction.trace.calls:
        if call.kind == "generate":
            return GenerationResult.model_validate(call.output).samples[0].text
    return ""


def check_strategies(model: str, device: str, n_scored: int, n_generated: int) -> list[Check]:
    # left truncation: a prompt longer than a small model's window is cut alike on both devices
    cpu_lm = load_model(model, device="cpu", truncation="left")
    device_lm = load_model(model, device=device, truncation="left")
    questions = load_questions("csqa")
    checks = []

    scored = questions[:n_scored]
    on_cpu, cpu_rate = timed_run(Direct(), scored, cpu_lm)
    on_device, device_rate = timed_run(Direct(), scored, device_lm)
    same = sum(a.answer == b.answer for a, b in zip(on_cpu, on_device, strict=True))
    gap = largest_score_gap(on_cpu, on_device)
    checks.append(
        Check(
            f"direct, {n_scored} CommonsenseQA questions",
            same >= 0.97 * n_scored and gap < 0.05,
            f"same answer {same}/{n_scored}, largest score gap {gap:.4f}; "
            f"{cpu_rate:.1f} q/s cpu, {device_rate:.1f} q/s {device} ({device_rate / cpu_rate:.1f}x)",
        )
    )

    generated = questions[:n_generated]
    on_cpu, cpu_rate = timed_run(ChainOfThought(), generated, cpu_lm)
    on_device, device_rate = timed_run(ChainOfThought(), generated, device_lm)
    identical = sum(rationale(a) == rationale(b) for a, b in zip(on_cpu, on_device, strict=True))
    checks.append(
        Check(
            f"greedy cot, {n_generated} questions",
            identical >= n_generated / 2,
            f"identical rationales {identical}/{n_generated}; "
            f"{cpu_rate:.2f} q/s cpu, {device_rate:.2f} q/s {device} ({device_rate / cpu_rate:.1f}x)",
        )
    )
    return checks


def tokens_per_second(device: torch.device, size: str, batch_size: int, warmup: int, steps: int) -> float:
    config = config_for_size(size, vocab_size=VOCAB)
    settings = TrainSection(steps=10**9, batch_size=batch_size, warmup_steps=0, device=device.type)
    trainer = Trainer(config, settings, RandomTokens(VOCAB), DistContext(0, 1, 0, device))
    for step in range(warmup):  # compilation and autotuning happen here
        trainer.step(step)
    synchronize(device)
    start, tokens = time.perf_counter(), 0
    for step in range(warmup, warmup + steps):
        tokens += trainer.step(step).tokens
    synchronize(device)
    return tokens / (time.perf_counter() - start)


def check_training_speed(device: torch.device, size: str, batch_size: int, steps: int) -> Check:
    cpu = tokens_per_second(torch.device("cpu"), size, batch_size, warmup=2, steps=steps)
    on_device = tokens_per_second(device, size, batch_size, warmup=5, steps=steps)
    block = config_for_size(size, vocab_size=VOCAB).block_size
    return Check(
        f"training step, `{size}` size, batch {batch_size} x {block}",
        on_device > 0 and cpu > 0,
        f"{cpu:,.0f} tokens/s cpu ({torch.get_num_threads()} threads, fp32), "
        f"{on_device:,.0f} tokens/s {device} ('auto' precision) ({on_device / cpu:.1f}x)",
    )


def check_resume(device: torch.device) -> Check:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        corpus = importlib.resources.files("reasonkit.lm") / "corpora" / "tinyshakespeare.txt.gz"
        (root / "corpus.txt").write_text(gzip.decompress(corpus.read_bytes()).decode()[:80_000])
        (root / "recipe.toml").write_text(RESUME_RECIPE.format(device=device.type))
        recipe, cache = load_recipe(root / "recipe.toml"), root / "cache"
        whole = train(recipe, root / "whole", cache_dir=cache, progress=False)
        train(recipe, root / "resumed", cache_dir=cache, max_steps=8, progress=False)
        resumed = train(recipe, root / "resumed", cache_dir=cache, resume=True, progress=False)

        def losses(run: Path) -> list[float]:
            return [r["loss"] for r in read_metrics(run / "metrics.jsonl") if "loss" in r]

        first, second = losses(root / "whole"), losses(root / "resumed")
        tolerance = 0.0 if device.type == "cpu" else 1e-3
        gap = max(abs(a - b) for a, b in zip(first, second, strict=True))
        learned = whole.val_loss is not None and whole.initial_val_loss is not None
        learned = learned and whole.val_loss < whole.initial_val_loss - 0.5
        return Check(
            f"train {whole.steps} steps, resume from step 8 ({device})",
            resumed.resumed_from == 8 and len(first) == len(second) and gap <= tolerance and learned,
            f"val loss {whole.initial_val_loss:.3f} -> {whole.val_loss:.3f}; largest loss gap, resumed vs "
            f"uninterrupted: {gap:.2e} (allowed {tolerance:g})",
        )


def report(checks: Sequence[Check], echo: Callable[[str], None]) -> bool:
    for check in checks:
        echo(f"{'ok' if check.passed else 'FAILED':<7}{check.name}: {check.detail}")
    return all(check.passed for check in checks)


@click.command()
@click.option("--model", default="default", show_default=True, help="Model folder, or default.")
@click.option("--device", "device_name", default="cuda", show_default=True)
@click.option("--scored", default=200, show_default=True, help="Questions for the direct check.")
@click.option("--generated", default=50, show_default=True, help="Questions for the cot check.")
@click.option("--size", default="small", show_default=True, help="Model size for the training speed.")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--steps", default=10, show_default=True, help="Timed training steps per device.")
def main(
    model: str, device_name: str, scored: int, generated: int, size: str, batch_size: int, steps: int
) -> None:
    try:
        device = resolve_device(device_name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--device") from error
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        click.echo(f"torch {torch.__version__}, {name}, CUDA {torch.version.cuda}")
    checks = check_strategies(model, str(device), scored, generated)
    checks.append(check_training_speed(device, size, batch_size, steps))
    checks.append(check_resume(device))
    if not report(checks, click.echo):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
