"""Model configuration and the named sizes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reasonkit.atomic import read_utf8, sha256_file

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
        description="a built-in scheme's name ('coupled') or 'package.module:function' giving position ids "
        "from a text's structure (reasonkit.lm.positions, reasonkit.lm.trust); None: positions 0, 1, 2, ...",
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


CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
CHECKSUMMED = (WEIGHTS_FILE, TOKENIZER_FILE)

log = logging.getLogger(__name__)


class ModelFolderError(ValueError):
    """A model folder that cannot be loaded: a malformed config.json, a file that fails its checksum,
    weights that do not fit the config or are not finite, code it names that the user did not trust."""


class SavedConfig(BaseModel):
    """config.json of a model folder, as `save_pretrained` writes it."""

    model: ModelConfig
    metadata: dict[str, Any] = {}
    sha256: dict[str, str] | None = Field(
        None,
        description="hex sha256 of the folder's other files by name; absent in folders saved before checksums "
        "were recorded",
    )


def read_saved_config(path: Path) -> SavedConfig:
    """Parse a model folder's config.json; every way it can be malformed is one line naming the file."""
    try:
        text = read_utf8(path)
    except ValueError as error:
        raise ModelFolderError(str(error)) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ModelFolderError(f"{path}: invalid JSON: {error}") from None
    except RecursionError:
        raise ModelFolderError(f"{path}: invalid JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise ModelFolderError(
            f'{path}: not a JSON object (a {type(raw).__name__}); expected {{"model": ...}}'
        )
    try:
        return SavedConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "config"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ModelFolderError(
            f"{path}: invalid model config: {where}: {first['msg'].removeprefix('Value error, ')}{more}"
        ) from None


def verify_checksums(directory: Path, config: SavedConfig) -> None:
    """Every file config.json has a sha256 for must still have it; a folder without any gets a warning."""
    if config.sha256 is None:
        log.warning(
            "%s: config.json records no sha256 of the weights (saved before checksums); not verified",
            directory,
        )
        return
    for name in CHECKSUMMED:
        expected = config.sha256.get(name)
        if expected is None:
            raise ModelFolderError(f"{directory / CONFIG_FILE}: no sha256 recorded for {name}")
        actual = sha256_file(directory / name)
        if actual != expected:
            raise ModelFolderError(
                f"{directory / name}: sha256 mismatch (file is truncated or modified): expected {expected}, "
                f"found {actual}"
            )
