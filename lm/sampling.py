"""Choosing the next token for a batch of rows, each with its own temperature, top-k, top-p and random stream.

Randomness comes in as one pre-drawn uniform number per row and step (inverse-CDF sampling), so a row's
draws depend only on its own seed: the same seed gives the same text alone or in any batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class SamplingParams:
    """Per-row settings as tensors of shape (rows,); temperature 0 means greedy."""

    temperature: Tensor  # float
    top_k: Tensor  # long, vocab size when unset
    top_p: Tensor  # float, 1.0 when unset

    def select(self, rows: Tensor) -> SamplingParams:
        return SamplingParams(self.temperature[rows], self.top_k[rows], self.top_p[rows])


def row_uniforms(seed: int, sample_index: int, steps: int) -> Tensor:
    """The random stream of one sample: `steps` uniforms from a generator seeded by (seed, sample index)."""
    generator = torch.Generator().manual_seed(hash_seed(seed, sample_index))
    return torch.rand(steps, generator=generator, dtype=torch.float64)


def hash_seed(seed: int, sample_index: int) -> int:
    """Mix (seed, sample index) into one 63-bit seed (splitmix64), so nearby pairs give unrelated streams."""
    mask = (1 << 64) - 1
    z = (seed * 0x9E3779B97F4A7C15 + sample_index * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return (z ^ (z >> 31)) >> 1


def choose_tokens(logits: Tensor, params: SamplingParams, uniforms: Tensor) -> Tensor:
    """Next token per row (rows,) from logits (rows, vocab) and one uniform in [0, 1) per row."""
    logits = logits.float()
    greedy = logits.argmax(dim=-1)
    sampled_rows = params.temperature > 0
    if not bool(sampled_rows.any()):
        return greedy
    scaled = logits / params.temperature.clamp_min(1e-6)[:, None]
    vocab = logits.shape[-1]
    if bool((params.top_k < vocab).any() | (params.top_p < 1.0).any()):
        sorted_logits, order = scaled.sort(dim=-1, descending=True, stable=True)
        probs = sorted_logits.softmax(dim=-1)
        ranks = torch.arange(vocab, device=logits.device)
        keep = ranks[None, :] < params.top_k[:, None]
        # nucleus: keep a token while the mass before it is below top_p (the first token always stays)
        mass_before = probs.cumsum(dim=-1) - probs
        keep &= mass_before < params.top_p[:, None]
        probs = probs * keep
        picked = inverse_cdf(probs, uniforms)
        sampled = order.gather(-1, picked[:, None]).squeeze(-1)
    else:
        sampled = inverse_cdf(scaled.softmax(dim=-1), uniforms)
    return torch.where(sampled_rows, sampled, greedy)


def inverse_cdf(probs: Tensor, uniforms: Tensor) -> Tensor:
    """Index i with cdf[i-1] <= u * total < cdf[i]; zero-probability entries are never chosen."""
    cdf = probs.double().cumsum(dim=-1)
    target = uniforms.to(cdf.device, cdf.dtype)[:, None] * cdf[:, -1:]
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_max(probs.shape[-1] - 1)
