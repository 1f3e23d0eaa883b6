"""A trained model on disk: config.json + model.safetensors + tokenizer.json in one folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from reasonkit.atomic import atomic_path, atomic_write_bytes
from reasonkit.lm.config import ModelConfig
from reasonkit.lm.model import GPT
from reasonkit.lm.tokenizer import Tokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"


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
    config = {"model": model.config.model_dump(), "metadata": metadata or {}}
    atomic_write_bytes(directory / CONFIG_FILE, json.dumps(config, indent=2).encode())
    return directory


def load_pretrained(directory: str | Path, device: str | torch.device = "cpu") -> tuple[GPT, Tokenizer, dict[str, Any]]:
    """Load weights (always as fp32), tokenizer and metadata; never unpickles anything."""
    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory}: not a reasonkit model folder, {name} is missing")
    try:
        raw = json.loads((directory / CONFIG_FILE).read_text())
        config = ModelConfig.model_validate(raw["model"])
    except (json.JSONDecodeError, KeyError, ValueError) as error:
        raise ValueError(f"{directory / CONFIG_FILE}: invalid model config: {error}") from error
    try:
        tensors = load_file(directory / WEIGHTS_FILE)
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{directory / WEIGHTS_FILE}: unreadable weights ({error})") from error
    model = GPT(config)
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    if missing or unexpected:
        raise ValueError(f"{directory / WEIGHTS_FILE}: weights do not match config (missing {missing}, unexpected {unexpected})")
    tokenizer = Tokenizer.load(directory / TOKENIZER_FILE)
    return model.to(device).eval(), tokenizer, raw.get("metadata", {})
