"""The training loop: AdamW with warmup + cosine, gradient accumulation and clipping, DDP, exact resume.

`train()` drives a `Trainer` (model, optimizer and the step function); the throughput benchmark times the
same `Trainer.step`. Every batch is a pure function of (step, micro step, rank), and the step function uses
no randomness, so a run resumed from a checkpoint retraces the uninterrupted run's losses bit for bit on
CPU. Only rank 0 writes files or reports progress.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from reasonkit import torchrun
from reasonkit.atomic import atomic_write_bytes
from reasonkit.lm.checkpoint import load_checkpoint, read_state, save_checkpoint
from reasonkit.lm.config import ModelConfig
from reasonkit.lm.data import Batch, TrainData
from reasonkit.lm.model import GPT
from reasonkit.lm.pretrained import ModelFolderError, load_pretrained, save_pretrained
from reasonkit.lm.recipe import Recipe, TrainSection
from reasonkit.lm.schedule import learning_rate
from reasonkit.torchrun import DistContext

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint"
MODEL_DIR = "model"
METRICS_FILE = "metrics.jsonl"
LOSS_PLOT = "loss.png"


class TrainError(Exception):
    """A run that cannot start as asked (e.g. the output folder already holds another run)."""


class TrainResult(BaseModel):
    out_dir: Path
    model_dir: Path
    checkpoint_dir: Path
    steps: int  # optimizer steps completed in total (across resumes)
    tokens_seen: int
    train_loss: float | None  # mean loss of the last step
    val_loss: float | None  # at the last evaluation
    initial_val_loss: float | None  # before the first step, when this run started from scratch
    resumed_from: int | None  # the checkpoint step this run continued from
    seconds: float  # wall time of this call
    tokens_per_second: float  # training tokens per second in this call, all ranks together
    world_size: int
    weights_sha256: str  # of this rank's final weights: replicas of a DDP run must agree


class BatchSource(Protocol):
    """What the trainer needs from the data: a batch that depends only on its arguments."""

    def batch(self, step: int, micro_step: int, rank: int, batch_size: int, block_size: int) -> Batch: ...


@dataclass(frozen=True)
class Precision:
    autocast_dtype: torch.dtype | None  # None: plain fp32
    compile: bool


def cpu_has_native_bf16() -> bool:
    """AVX-512 bf16 or AMX: without either, bf16 matmuls on the CPU are emulated.

    The probes are private torch functions (present since 2.1); a torch without them is given the benefit of
    the doubt rather than a warning that may be wrong."""
    probes = [
        getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    if any(probe is None for probe in probes):
        return True
    return any(bool(probe()) for probe in probes)


def resolve_precision(train: TrainSection, device: torch.device) -> Precision:
    """'auto' means bf16 autocast and torch.compile on CUDA, plain fp32 eager on CPU.

    An explicit bf16 is honoured everywhere, with a warning on a CPU that would emulate it: on an AVX2-only
    CPU a training step in bf16 took ~8x as long as in fp32 (BENCHMARKS.md)."""
    on_cuda = device.type == "cuda"
    dtype = train.dtype if train.dtype != "auto" else ("bf16" if on_cuda else "fp32")
    compile_ = train.compile if train.compile != "auto" else on_cuda
    if dtype == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        logger.warning(
            "[train] dtype = 'bf16' on a CPU without AVX-512 bf16 or AMX (torch sees %s): bf16 is emulated here "
            "and training runs many times slower than fp32; pass --dtype fp32 (a different recipe fingerprint)",
            torch.backends.cpu.get_cpu_capability(),
        )
    return Precision(torch.bfloat16 if dtype == "bf16" else None, bool(compile_))


def make_optimizer(model: nn.Module, train: TrainSection, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms).

    The fused kernel runs on CPU too since torch 2.4, and there it is 4-5x faster than foreach
    (measured on torch 2.13: 2.4 vs 10.4 ms a step for 1.3M parameters, 11 vs 60 ms for 6.9M).
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": train.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = device.type in ("cuda", "cpu")
    return torch.optim.AdamW(groups, lr=train.lr, betas=(0.9, 0.95), eps=1e-8, fused=fused, foreach=not fused)


@dataclass
class StepOutput:
    loss: Tensor  # mean over micro steps (and ranks), detached
    grad_norm: Tensor
    tokens: int  # all ranks together


class LossOf(nn.Module):
    """The model and its cross-entropy as one module, so torch.compile fuses the loss into the graph."""

    def __init__(self, model: GPT, autocast_dtype: torch.dtype | None) -> None:
        super().__init__()
        self.model = model
        self.autocast_dtype = autocast_dtype

    def forward(self, x: Tensor, y: Tensor, positions: Tensor | None = None) -> Tensor:
        device = x.device.type
        with torch.autocast(device, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            logits = self.model(x, positions=positions)
        # mean over the trained targets (-1: a prompt token of a loss_after source); a window of prompt only
        # adds 0, not a NaN
        total = F.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), ignore_index=-1, reduction="sum"
        )
        return total / (y >= 0).sum().clamp_min(1)


class Trainer:
    """A model, its optimizer and one optimizer step; no files, no progress (that is `train()`'s job)."""

    def __init__(
        self, config: ModelConfig, train: TrainSection, data: BatchSource, context: DistContext
    ) -> None:
        self.config = config
        self.settings = train
        self.data = data
        self.context = context
        if context.device is None:
            raise ValueError(
                "a Trainer needs a process context placed on a device (torchrun.join(device=...))"
            )
        self.device = context.device
        self.precision = resolve_precision(train, self.device)
        if self.device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 for what autocast leaves in fp32
        self.model = GPT(config).to(self.device)
        self.optimizer = make_optimizer(self.model, train, self.device)
        net: nn.Module = LossOf(self.model, self.precision.autocast_dtype)
        if self.precision.compile:
            net = torch.compile(net)
        self.eval_net = net
        self.net: nn.Module = net
        if context.is_distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(net, device_ids=device_ids)

    def lr_at(self, step: int) -> float:
        t = self.settings
        return learning_rate(
            step, peak=t.lr, total_steps=t.steps, warmup_steps=t.warmup_steps, min_lr_ratio=t.min_lr_ratio
        )

    def step(self, step: int) -> StepOutput:
        """Optimizer step `step` (0-based): accumulate grad_accum micro batches, clip, update."""
        t, device = self.settings, self.device
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.net.train()
        total = torch.zeros((), device=device)
        tokens = 0
        for micro in range(t.grad_accum):
            x, y, positions = self.data.batch(
                step, micro, self.context.rank, t.batch_size, self.config.block_size
            )
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if positions is not None:
                positions = positions.to(device, non_blocking=True)
            last = micro == t.grad_accum - 1
            sync = nullcontext() if last or not self.context.is_distributed else self.net.no_sync()
            with sync:
                loss = self.net(x, y, positions) / t.grad_accum
                loss.backward()
            total += loss.detach()
            tokens += x.numel()
        if t.grad_clip > 0:
            grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        else:
            grad_norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in self.model.parameters() if p.grad is not None])
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepOutput(
            self.context.mean(total),
            grad_norm.detach(),
            tokens * self.context.world_size,
        )

    @torch.no_grad()
    def evaluate(self, batches: Sequence[Batch]) -> float:
        self.eval_net.eval()
        device = self.device
        losses = [
            self.eval_net(x.to(device), y.to(device), None if p is None else p.to(device))
            for x, y, p in batches
        ]
        return float(torch.stack(losses).mean())

    def weights_sha256(self) -> str:
        digest = hashlib.sha256()
        for name, tensor in self.model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class MetricsLog:
    """metrics.jsonl: one JSON line per step. A resume truncates it to the checkpoint's step."""

    def __init__(self, path: Path, keep_until: int | None) -> None:
        self.path = path
        kept: list[str] = []
        if keep_until is not None and path.is_file():
            kept = [
                line for line in path.read_text().splitlines() if _step_of(line, keep_until) <= keep_until
            ]
        atomic_write_bytes(path, "".join(f"{line}\n" for line in kept).encode())
        self._handle = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def sync(self) -> None:
        """Make every line up to now durable (before a checkpoint that a resume will trust)."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()


def _step_of(line: str, checkpoint_step: int) -> int:
    """The step a metrics line records; a line torn by a crash counts as after the checkpoint."""
    try:
        return int(json.loads(line)["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return checkpoint_step + 1


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(metrics_path: Path, out_path: Path, title: str) -> None:
    """Training and validation loss against step, as a PNG (matplotlib's Agg backend, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    records = read_metrics(metrics_path)
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if train:
        ax.plot(*zip(*train, strict=True), label="train", linewidth=1)
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation", markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = out_path.with_name(f".{out_path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, out_path)


class ProgressReporter:
    """A rich progress bar on a terminal; periodic log lines otherwise (CI logs, pipes, notebooks)."""

    def __init__(self, total: int, start: int, enabled: bool | None) -> None:
        console = Console(stderr=True)
        self.bar = console.is_terminal if enabled is None else enabled
        self.total = total
        self.every = max(1, total // 20)
        self._progress: Progress | None = None
        if self.bar:
            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[speed]} tok/s"),
                TimeRemainingColumn(),
                console=console,
            )
            self._task = self._progress.add_task("train", total=total, completed=start, loss="-", speed="-")

    def __enter__(self) -> ProgressReporter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, step: int, loss: float, tokens_per_second: float, val_loss: float | None) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task, completed=step, loss=f"{loss:.3f}", speed=f"{tokens_per_second:,.0f}"
            )
        elif step % self.every == 0 or step == self.total or val_loss is not None:
            val = f" val_loss {val_loss:.4f}" if val_loss is not None else ""
            logger.info("step %d/%d loss %.4f%s %.0f tok/s", step, self.total, loss, val, tokens_per_second)


def default_cache_dir() -> Path:
    """Tokenized data is shared by every run of the user: $XDG_CACHE_HOME/reasonkit/data."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reasonkit" / "data"


def train(
    recipe: Recipe,
    out_dir: str | Path,
    *,
    resume: bool = False,
    cache_dir: str | Path | None = None,
    max_steps: int | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train `recipe`'s model into `out_dir` (checkpoint/, model/, metrics.jsonl, loss.png).

    resume: continue from out_dir/checkpoint (same recipe required) on the uninterrupted trajectory.
    max_steps: stop once this many steps are done (the schedule still spans recipe.train.steps), e.g. to
        train in slices; the run can be resumed later.
    progress: force the progress bar on or off; None shows it only on a terminal.
    Under `torchrun`, every rank calls this; rank r trains on the batches `data.batch(step, micro, r, ...)`.
    """
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    checkpoint_dir = out_dir / CHECKPOINT_DIR
    total_steps = recipe.train.steps
    stop = total_steps if max_steps is None else min(max_steps, total_steps)
    if resume:
        read_state(checkpoint_dir, recipe.fingerprint)  # fail before any work if there is nothing to resume
    elif checkpoint_dir.exists():
        raise TrainError(
            f"{out_dir} already holds a run ({checkpoint_dir}); resume it or choose another folder"
        )

    started = time.perf_counter()
    with torchrun.process_group(recipe.train.device) as context:
        if context.is_main:
            data = TrainData.prepare(recipe, cache_dir)
        context.barrier()  # rank 0 fills the token cache once; the others then read it
        if not context.is_main:
            data = TrainData.prepare(recipe, cache_dir)
        seed_everything(recipe.seed)
        config = recipe.architecture(data.tokenizer.vocab_size)
        trainer = Trainer(config, recipe.train, data, context)
        if recipe.init_dir is not None and not resume:
            try:  # checks the weights against their checksum and config, and that they are finite
                pretrained, _, _ = load_pretrained(recipe.init_dir)
            except ModelFolderError as error:
                raise TrainError(f"init_from: {error}") from None
            trainer.model.load_state_dict(pretrained.state_dict())
            logger.info(
                "fine-tuning from %s (weights sha256 %s)", recipe.init_dir, recipe.init_weights_sha256
            )
        logger.info(
            "training %s: %s parameters, %d steps, %s on %s x%d",
            recipe.name,
            f"{trainer.model.num_params():,}",
            total_steps,
            trainer.precision,
            trainer.device,
            context.world_size,
        )

        step, tokens_seen, resumed_from, extra = 0, 0, None, {}
        if resume:
            state = load_checkpoint(
                checkpoint_dir, trainer.model, trainer.optimizer, recipe_fingerprint=recipe.fingerprint
            )
            step = resumed_from = state.step
            tokens_seen, extra = state.tokens_seen, state.extra
        val_batches = data.val_batches(recipe.train.eval_batches, recipe.train.batch_size, config.block_size)

        metrics = (
            MetricsLog(out_dir / METRICS_FILE, keep_until=step if resume else None)
            if context.is_main
            else None
        )
        initial_val = None
        if not resume and context.is_main:
            initial_val = trainer.evaluate(val_batches)
            metrics.write({"step": 0, "tokens": 0, "val_loss": initial_val})
        last_loss: float | None = extra.get("train_loss")
        last_val: float | None = extra.get("val_loss", initial_val)
        session_tokens = 0
        loop_started = time.perf_counter()

        def write_checkpoint() -> None:
            metrics.sync()
            save_checkpoint(
                checkpoint_dir,
                trainer.model,
                trainer.optimizer,
                step=step,
                tokens_seen=tokens_seen,
                recipe_fingerprint=recipe.fingerprint,
                model_config=config.model_dump(),
                extra={"train_loss": last_loss, "val_loss": last_val},
            )

        with ProgressReporter(total_steps, step, progress if context.is_main else False) as reporter:
            while step < stop:
                tick = time.perf_counter()
                out = trainer.step(step)
                step += 1
                tokens_seen += out.tokens
                session_tokens += out.tokens
                last_loss = float(out.loss)
                if not math.isfinite(last_loss):
                    raise TrainError(
                        f"loss became {last_loss} at step {step}; lower [train] lr or check the data"
                    )
                if not context.is_main:
                    continue
                speed = out.tokens / (time.perf_counter() - tick)
                record = {
                    "step": step,
                    "tokens": tokens_seen,
                    "loss": last_loss,
                    "lr": trainer.lr_at(step - 1),
                    "grad_norm": float(out.grad_norm),
                    "tokens_per_second": speed,
                }
                val = None
                if step % recipe.train.eval_interval == 0 or step == stop:
                    val = last_val = record["val_loss"] = trainer.evaluate(val_batches)
                metrics.write(record)
                # the bar shows the session's average speed: steadier than one step's
                reporter.update(step, last_loss, session_tokens / (time.perf_counter() - loop_started), val)
                if step % recipe.train.checkpoint_interval == 0 or step == stop:
                    write_checkpoint()

        elapsed = time.perf_counter() - loop_started
        if context.is_main:
            metrics.close()
            if resumed_from == step:  # nothing left to train; make sure the outputs exist anyway
                last_val = trainer.evaluate(val_batches)
            save_pretrained(
                trainer.model,
                data.tokenizer,
                out_dir / MODEL_DIR,
                metadata={
                    "recipe": recipe.name,
                    "recipe_fingerprint": recipe.fingerprint,
                    "steps": step,
                    "tokens_seen": tokens_seen,
                    "train_loss": last_loss,
                    "val_loss": last_val,
                },
            )
            plot_losses(out_dir / METRICS_FILE, out_dir / LOSS_PLOT, f"{recipe.name}: {step} steps")
        context.barrier()
        return TrainResult(
            out_dir=out_dir,
            model_dir=out_dir / MODEL_DIR,
            checkpoint_dir=checkpoint_dir,
            steps=step,
            tokens_seen=tokens_seen,
            train_loss=last_loss,
            val_loss=last_val,
            initial_val_loss=initial_val,
            resumed_from=resumed_from,
            seconds=time.perf_counter() - started,
            tokens_per_second=session_tokens / elapsed if elapsed > 0 else 0.0,
            world_size=context.world_size,
            weights_sha256=trainer.weights_sha256(),
        )
