"""A trained model on disk: config.json + model.safetensors + tokenizer.json in one folder.

config.json records the sha256 of the other two files; loading verifies them, refuses weights that are not
finite, and refuses a position scheme outside reasonkit's built-ins unless the user trusts it
(`reasonkit.lm.trust`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from reasonkit.atomic import atomic_path, atomic_write_bytes, sha256_file
from reasonkit.lm.config import (
    CHECKSUMMED,
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    ModelFolderError,
    SavedConfig,
    read_saved_config,
    verify_checksums,
)
from reasonkit.lm.model import GPT
from reasonkit.lm.positions import load_scheme
from reasonkit.lm.tokenizer import Tokenizer

__all__ = [
    "CONFIG_FILE",
    "TOKENIZER_FILE",
    "WEIGHTS_FILE",
    "ModelFolderError",
    "load_pretrained",
    "save_pretrained",
]


def save_pretrained(
    model: GPT,
    tokenizer: Tokenizer,
    directory: str | Path,
    dtype: torch.dtype = torch.float32,
    metadata: dict[str, Any] | None = None,
) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu", dtype).contiguous() for name, t in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS_FILE) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})
    tokenizer.save(directory / TOKENIZER_FILE)
    write_config(directory, SavedConfig(model=model.config, metadata=metadata or {}))
    return directory


def write_config(directory: Path, config: SavedConfig) -> None:
    """Write config.json with the sha256 of the folder's weights and tokenizer as they are now."""
    sha256 = {name: sha256_file(directory / name) for name in CHECKSUMMED}
    content = config.model_copy(update={"sha256": sha256}).model_dump(mode="json")
    atomic_write_bytes(directory / CONFIG_FILE, json.dumps(content, indent=2).encode())


def load_pretrained(
    directory: str | Path, device: str | torch.device = "cpu"
) -> tuple[GPT, Tokenizer, dict[str, Any]]:
    """Load weights (always as fp32), tokenizer and metadata; never unpickles anything."""
    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory}: not a reasonkit model folder, {name} is missing")
    saved = read_saved_config(directory / CONFIG_FILE)
    config = saved.model
    if config.position_scheme is not None:
        try:
            load_scheme(config.position_scheme)
        except ValueError as error:  # refused as untrusted, or not importable
            raise ModelFolderError(f"{directory / CONFIG_FILE}: {error}") from None
    verify_checksums(directory, saved)
    try:
        tensors = load_file(directory / WEIGHTS_FILE)
    except (SafetensorError, OSError) as error:
        raise ModelFolderError(f"{directory / WEIGHTS_FILE}: unreadable weights ({error})") from error
    for name, tensor in tensors.items():
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise ModelFolderError(
                f"{directory / WEIGHTS_FILE}: tensor {name!r} holds {bad} NaN or infinite values of {tensor.numel()}"
            )
    model = GPT(config)
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    if missing or unexpected:
        raise ModelFolderError(
            f"{directory / WEIGHTS_FILE}: weights do not match config (missing {missing}, unexpected {unexpected})"
        )
    tokenizer = Tokenizer.load(directory / TOKENIZER_FILE)
    return model.to(device).eval(), tokenizer, saved.metadata
