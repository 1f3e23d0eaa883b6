"""A decoder-only transformer in one file: RMSNorm, rotary positions, SwiGLU, tied embeddings, no biases.

The layout matches Hugging Face's Llama (rotate-half RoPE, gate/up/down MLP) so export is a renaming of
tensors. Logits come back for every position (scoring continuations needs them) or at the positions asked for; a
`KVCache` makes sampling incremental, and its optional shared prefix lets many rows (the n samples of
self-consistency, the questions of a few-shot benchmark) attend to one copy of the tokens they all start with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reasonkit.lm.config import ModelConfig


class KVCache:
    """Pre-allocated keys and values of every layer; the first `length` positions are filled.

    All rows share one length: prompts of different lengths are left-padded and masked by the caller.
    `prefix`, when set, is a one-row cache of tokens that sit before every row (always visible to them):
    its keys are stored and read once instead of once per row, which is what makes n samples cheap, since
    decoding on a CPU is bound by reading the cache.
    """

    def __init__(self, keys: Tensor, values: Tensor, length: int = 0, prefix: KVCache | None = None) -> None:
        if prefix is not None and prefix.batch_size != 1:
            raise ValueError(f"a shared prefix cache holds one row, not {prefix.batch_size}")
        self.keys = keys  # (n_layer, batch, n_head, max_len, head_dim)
        self.values = values
        self.length = length
        self.prefix = prefix

    @property
    def prefix_length(self) -> int:
        return self.prefix.length if self.prefix is not None else 0

    @classmethod
    def empty(
        cls,
        config: ModelConfig,
        batch_size: int,
        max_len: int,
        device: torch.device | str,
        dtype: torch.dtype,
        prefix: KVCache | None = None,
    ) -> KVCache:
        shape = (config.n_layer, batch_size, config.n_head, max_len, config.head_dim)
        zeros = torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)
        return cls(*zeros, prefix=prefix)

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def max_len(self) -> int:
        return self.keys.shape[3]

    def repeat_rows(self, repeats: int | Tensor) -> KVCache:
        """Each row repeated `repeats` times (n samples of one prompt share its prefill)."""
        return KVCache(
            self.keys.repeat_interleave(repeats, dim=1),
            self.values.repeat_interleave(repeats, dim=1),
            self.length,
            self.prefix,
        )

    def select_rows(self, rows: Tensor) -> KVCache:
        """Keep only `rows` (drop finished sequences from a batch)."""
        return KVCache(self.keys[:, rows], self.values[:, rows], self.length, self.prefix)


def rotate_half(x: Tensor) -> Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class Rotary(nn.Module):
    """Rotary position embedding, computed from explicit positions so padded rows stay correct."""

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        freqs = positions[..., None].float() * self.inv_freq  # (B, T, D/2)
        angles = torch.cat((freqs, freqs), dim=-1)[:, None]  # (B, 1, T, D)
        return angles.cos(), angles.sin()


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.k_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.v_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.o_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        attn_mask: Tensor | None,
        cache: KVCache | None,
        layer: int,
    ) -> Tensor:
        B, T, C = x.shape
        q, k, v = (
            proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        cos, sin = rope
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        past = 0
        if cache is not None:
            past = cache.length
            cache.keys[layer, :, :, past : past + T] = k
            cache.values[layer, :, :, past : past + T] = v
            k = cache.keys[layer, :, :, : past + T]
            v = cache.values[layer, :, :, : past + T]
            if cache.prefix is not None:
                if attn_mask is None and T > 1:
                    attn_mask = causal_mask(T, past, x.device)
                prefix = cache.prefix
                prefix_k = prefix.keys[layer, 0, :, : prefix.length]
                prefix_v = prefix.values[layer, 0, :, : prefix.length]
                y = attend_after_prefix(q, k, v, prefix_k, prefix_v, attn_mask)
                return self.o_proj(y.transpose(1, 2).reshape(B, T, C))
        if attn_mask is not None:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        elif past == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
        elif T == 1:
            y = F.scaled_dot_product_attention(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(T, past, x.device))
        return self.o_proj(y.transpose(1, 2).reshape(B, T, C))


def attend_after_prefix(
    q: Tensor, k: Tensor, v: Tensor, prefix_k: Tensor, prefix_v: Tensor, attn_mask: Tensor | None
) -> Tensor:
    """Attention over a shared prefix (n_head, P, head_dim) followed by each row's own keys (B, n_head, L, hd).

    The prefix is multiplied with the queries of all rows at once (one (n_head, B*T, P) product), so its keys
    and values are read once per step rather than once per row. Scores of both parts are normalised by one
    softmax, which is exactly attention over their concatenation. attn_mask: (B, 1, T, L) over the row's own
    keys (the prefix is visible to every query), or None for no masking.
    """
    B, H, T, D = q.shape
    P = prefix_k.shape[1]
    scale = 1.0 / math.sqrt(D)
    rows_as_queries = q.transpose(0, 1).reshape(H, B * T, D)
    prefix_scores = (rows_as_queries @ prefix_k.transpose(1, 2)).view(H, B, T, P).transpose(0, 1)
    own_scores = q @ k.transpose(-1, -2)
    if attn_mask is not None:
        own_scores = own_scores.masked_fill(~attn_mask, float("-inf"))
    weights = (torch.cat([prefix_scores, own_scores], dim=-1).float() * scale).softmax(dim=-1).to(q.dtype)
    prefix_weights = weights[..., :P].transpose(0, 1).reshape(H, B * T, P)
    from_prefix = (prefix_weights @ prefix_v).view(H, B, T, D).transpose(0, 1)
    return from_prefix + weights[..., P:] @ v


def causal_mask(new: int, past: int, device: torch.device | str) -> Tensor:
    """Boolean (new, past + new) mask: query i sees keys up to past + i."""
    rows = torch.arange(new, device=device)[:, None] + past
    cols = torch.arange(past + new, device=device)[None, :]
    return cols <= rows


class SwiGLU(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.n_embd, config.mlp_hidden, bias=False)
        self.up_proj = nn.Linear(config.n_embd, config.mlp_hidden, bias=False)
        self.down_proj = nn.Linear(config.mlp_hidden, config.n_embd, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(config.n_embd, eps=config.norm_eps)
        self.attn = CausalSelfAttention(config)
        self.mlp_norm = nn.RMSNorm(config.n_embd, eps=config.norm_eps)
        self.mlp = SwiGLU(config)

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        attn_mask: Tensor | None,
        cache: KVCache | None,
        layer: int,
    ) -> Tensor:
        x = x + self.attn(self.attn_norm(x), rope, attn_mask, cache, layer)
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = nn.RMSNorm(config.n_embd, eps=config.norm_eps)
        self.rotary = Rotary(config.head_dim, config.rope_theta)
        self.apply(self._init_weights)
        # residual projections scaled by depth (GPT-2)
        for name, param in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(param, mean=0.0, std=config.init_std / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        idx: Tensor,
        positions: Tensor | None = None,
        cache: KVCache | None = None,
        attn_mask: Tensor | None = None,
        logits_at: int | Tensor | None = None,
    ) -> Tensor:
        """Logits (B, T, vocab) for every position, or (B, 1, vocab) at `logits_at`: one position for every row
        (-1: the last) or a (B,) tensor of one position per row. Sampling and scoring a context need no more,
        and the vocabulary projection is about a quarter of a long context pass.

        positions: (B, T) absolute positions; default continues from the cache and its prefix (or starts at 0).
        attn_mask: boolean (B, 1, T, past + T) over the cache's own rows, True where a query may attend;
        default causal. A shared prefix is visible to every query. The cache, when given, is written at
        [length, length + T) and advanced.
        """
        B, T = idx.shape
        past = cache.length if cache is not None else 0
        start = past + (cache.prefix_length if cache is not None else 0)
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence of {start + T} tokens exceeds the context window of {self.config.block_size}"
            )
        if cache is not None and past + T > cache.max_len:
            raise ValueError(f"KV cache holds {cache.max_len} positions, {past + T} needed")
        if positions is None:
            positions = torch.arange(start, start + T, device=idx.device).expand(B, T)
        rope = self.rotary(positions)
        x = self.embed(idx)
        for layer, block in enumerate(self.blocks):
            x = block(x, rope, attn_mask, cache, layer)
        if cache is not None:
            cache.length = past + T
        if isinstance(logits_at, int):
            x = x[:, logits_at, None]
        elif logits_at is not None:
            x = x[torch.arange(B, device=x.device), logits_at, None]
        return F.linear(self.norm(x), self.embed.weight)

    def loss(self, idx: Tensor, targets: Tensor, ignore_index: int = -100) -> Tensor:
        logits = self(idx)
        return F.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=ignore_index
        )
