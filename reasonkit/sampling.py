"""Choosing the next token for a batch of rows, each with its own temperature, top-k, top-p and random stream.

Randomness comes in as one pre-drawn uniform number per row and step (inverse-CDF sampling), so a row's
draws depend only on its own seed: the same seed gives the same text alone or in any batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

NUCLEUS_CANDIDATES = 256


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
    """Next token per row (rows,) from logits (rows, vocab) and one uniform in [0, 1) per row.

    A row's choice depends only on its own logits, settings and uniform, never on the other rows.
    """
    logits = logits.float()
    greedy = logits.argmax(dim=-1)
    sampled_rows = params.temperature > 0
    if not bool(sampled_rows.any()):
        return greedy
    probs = (logits / params.temperature.clamp_min(1e-6)[:, None]).softmax(dim=-1)
    filtered = (params.top_k < probs.shape[-1]) | (params.top_p < 1.0)
    if bool(filtered.all()):
        choice = filtered_choice(probs, params, uniforms, filtered)
    else:
        choice = inverse_cdf(probs, uniforms)
        if bool(filtered.any()):
            choice = torch.where(filtered, filtered_choice(probs, params, uniforms, filtered), choice)
    return torch.where(sampled_rows, choice, greedy)


def filtered_choice(probs: Tensor, params: SamplingParams, uniforms: Tensor, filtered: Tensor) -> Tensor:
    """Top-k / top-p sampling over the most likely tokens, in descending order of probability.

    Sorting the whole vocabulary every step is what makes naive nucleus sampling slow; the nucleus almost
    always lies within the first few hundred tokens, so those are taken with `topk` and the full sort is
    only done for rows whose kept set reaches the end of the candidates.
    """
    vocab = probs.shape[-1]
    set_k = params.top_k[filtered & (params.top_k < vocab)]
    limit = min(vocab, max(NUCLEUS_CANDIDATES, int(set_k.max()) if len(set_k) else 0))
    while True:
        top, order = probs.topk(limit, dim=-1)
        ranks = torch.arange(limit, device=probs.device)
        # keep a token while its rank is below top_k and the mass before it below top_p
        keep = (ranks[None, :] < params.top_k[:, None]) & (top.cumsum(dim=-1) - top < params.top_p[:, None])
        truncated = filtered & keep[:, -1] & (params.top_k > limit)
        if limit == vocab or not bool(truncated.any()):
            break
        limit = vocab
    picked = inverse_cdf(top * keep, uniforms)
    return order.gather(-1, picked[:, None]).squeeze(-1)


def inverse_cdf(probs: Tensor, uniforms: Tensor) -> Tensor:
    """Index i with cdf[i-1] <= u * total < cdf[i]; zero-probability entries are never chosen."""
    cdf = probs.double().cumsum(dim=-1)
    target = uniforms.to(cdf.device, cdf.dtype)[:, None] * cdf[:, -1:]
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp_max(probs.shape[-1] - 1)
