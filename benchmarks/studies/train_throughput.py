"""Training throughput of our `Trainer.step` against a minimal nanoGPT-style loop, side by side.

Question: Is our trainer's step as fast as a minimal nanoGPT-style loop? Figures: BENCHMARKS.md, "Language
model: training and engine speed"; docs/studies/train_throughput.md.

    python -m reasonkit.benchmarks.studies.train_throughput --threads 1 --clock cpu [--compile]

Three contestants see the same batches: our trainer's step (the code `train()` runs), our GPT in a plain
nanoGPT loop (forward, backward, clip, default AdamW), and a plain GPT-2 (LayerNorm, learned positions, GELU
MLP, fused qkv, SDPA, tied embeddings) of the same width and depth in that loop. They are timed in
alternating repetitions and the medians compared, so machine noise hits all alike. The first ratio is the
headline; the other two split it into trainer overhead and architecture cost.

Measured on 2 shared cores, torch 2.13 CPU, 4L/128d, batch 16x256, one thread, CPU clock: eager fp32
trainer / reference 0.90-0.94 (trainer / plain loop 0.98-1.00: the gap is RoPE and RMSNorm, which have no fused CPU
kernels); with --compile 1.00.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reasonkit.lm.config import ModelConfig
from reasonkit.lm.data import Batch
from reasonkit.lm.model import GPT
from reasonkit.lm.recipe import TrainSection
from reasonkit.lm.train import Trainer
from reasonkit.torchrun import DistContext


class RandomTokens:
    """Synthetic batches, a pure function of their arguments like the real data."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def batch(self, step: int, micro_step: int, rank: int, batch_size: int, block_size: int) -> Batch:
        generator = torch.Generator().manual_seed(step * 1_000 + micro_step * 10 + rank)
        tokens = torch.randint(0, self.vocab_size, (batch_size, block_size + 1), generator=generator)
        return Batch(tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous())


class ReferenceBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(n_embd)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class ReferenceGPT(nn.Module):
    """nanoGPT's model, condensed."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(ReferenceBlock(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: Tensor, targets: Tensor) -> Tensor:
        """The mean cross-entropy loss (the reference needs nothing else)."""
        positions = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def plain_loop(
    model: nn.Module, loss: Callable[[Tensor, Tensor], Tensor], data: RandomTokens, batch: int, block: int
) -> Callable[[int], int]:
    """nanoGPT's training step: forward, backward, clip, default AdamW (no fused kernel on CPU)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)

    def step(index: int) -> int:
        x, y, _ = data.batch(index, 0, 0, batch, block)
        loss(x, y).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return x.numel()

    return step


def timed(step: Callable[[int], int], start: int, count: int, clock: Callable[[], float]) -> float:
    """Tokens per second over `count` steps."""
    tokens = 0
    began = clock()
    for index in range(start, start + count):
        tokens += step(index)
    return tokens / (clock() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--embd", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--reps", type=int, default=7, help="alternating timed repetitions per side")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per repetition")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per side first")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="ours: autocast dtype")
    parser.add_argument("--compile", action="store_true", help="torch.compile all three (warm-up not timed)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: this process's CPU time; with --threads 1 it is immune to other processes sharing the cores",
    )
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    data = RandomTokens(args.vocab)
    config = ModelConfig(
        vocab_size=args.vocab, block_size=args.block, n_layer=args.layers, n_head=args.heads, n_embd=args.embd
    )
    settings = TrainSection(
        steps=10**9,
        batch_size=args.batch,
        warmup_steps=0,
        device="cpu",
        dtype=args.dtype,
        compile=args.compile,
    )
    trainer = Trainer(config, settings, data, DistContext(0, 1, 0, torch.device("cpu")))
    our_model = GPT(config)
    reference = ReferenceGPT(args.vocab, args.block, args.layers, args.heads, args.embd)
    our_loss: Callable[[Tensor, Tensor], Tensor] = our_model.loss
    reference_loss: Callable[[Tensor, Tensor], Tensor] = reference
    if args.compile:
        our_loss, reference_loss = torch.compile(our_model.loss), torch.compile(reference)
    contestants: dict[str, Callable[[int], int]] = {
        "trainer": lambda index: trainer.step(index).tokens,
        "our model, plain loop": plain_loop(our_model, our_loss, data, args.batch, args.block),
        "reference": plain_loop(reference, reference_loss, data, args.batch, args.block),
    }
    for step in contestants.values():
        timed(step, 0, args.warmup, clock)
    speeds: dict[str, list[float]] = {name: [] for name in contestants}
    for rep in range(args.reps):
        start = args.warmup + rep * args.steps
        for name, step in contestants.items():
            speeds[name].append(timed(step, start, args.steps, clock))

    median = {name: statistics.median(values) for name, values in speeds.items()}
    ratios = sorted(a / b for a, b in zip(speeds["trainer"], speeds["reference"], strict=True))
    lines = [
        f"model {args.layers}L/{args.embd}d/{args.heads}h vocab {args.vocab}, batch {args.batch}x{args.block}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, trainer {args.dtype}, {args.clock} clock"
        + (", compiled" if args.compile else ""),
        f"params: ours {our_model.num_params() / 1e6:.2f}M, reference "
        f"{sum(p.numel() for p in reference.parameters()) / 1e6:.2f}M",
        *(f"tokens/s {name:>22}: {value:9,.0f}" for name, value in median.items()),
        f"trainer / reference: {median['trainer'] / median['reference']:.3f} "
        f"(per-repetition {ratios[0]:.3f}..{ratios[-1]:.3f}; medians of {args.reps} x {args.steps} steps)",
        f"trainer / our model in the plain loop: {median['trainer'] / median['our model, plain loop']:.3f}; "
        f"our model / reference in the same loop: {median['our model, plain loop'] / median['reference']:.3f}",
    ]
    print("\n".join(lines))  # noqa: T201 - a script's report
    return 0 if math.isfinite(median["trainer"]) else 1


if __name__ == "__main__":
    sys.exit(main())
