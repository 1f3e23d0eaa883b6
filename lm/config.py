"""Model configuration and the named sizes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SizeName = Literal["tiny", "mini", "small", "base"]


class ModelConfig(BaseModel):
    """Hyper-parameters of the decoder-only transformer; serialised beside the weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(8192, ge=260)
    block_size: int = Field(512, ge=8, description="context window in tokens")
    n_layer: int = Field(6, ge=1)
    n_head: int = Field(8, ge=1)
    n_embd: int = Field(256, ge=8)
    mlp_multiple_of: int = Field(32, ge=1)
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02
    position_scheme: str | None = Field(
        None,
        description="'package.module:function' giving position ids from a text's structure "
        "(reasonkit.lm.positions); None: positions 0, 1, 2, ...",
    )

    @model_validator(mode="after")
    def _check_heads(self) -> ModelConfig:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim={self.head_dim} must be even for rotary positions")
        return self

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def mlp_hidden(self) -> int:
        """SwiGLU hidden width: 8/3 of the model width, rounded up (LLaMA's rule)."""
        raw = int(8 * self.n_embd / 3)
        return self.mlp_multiple_of * -(-raw // self.mlp_multiple_of)


NAMED_SIZES: dict[str, dict[str, int]] = {
    # trains in seconds on a CPU core; for tests
    "tiny": {"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 256},
    # between the two for the scale study: 1.85M parameters at vocabulary 8192 (small: 6.9M)
    "mini": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 512},
    # the embedded default: 1-2 hours on 2 CPU cores
    "small": {"n_layer": 6, "n_head": 8, "n_embd": 256, "block_size": 512},
    # for a GPU
    "base": {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024},
}


def config_for_size(size: str, vocab_size: int, **overrides: int | float | str) -> ModelConfig:
    if size not in NAMED_SIZES:
        raise ValueError(f"unknown model size {size!r}; choose one of {sorted(NAMED_SIZES)}")
    return ModelConfig(vocab_size=vocab_size, **{**NAMED_SIZES[size], **overrides})
