"""Model specs to backends: the bundled default model, a model folder, or a Hugging Face model.

Backends are imported only when asked for, so naming a model never pays for transformers unless it is
an "hf:" model.
"""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reasonkit.protocol import LanguageModel

HF_PREFIX = "hf:"


class ModelInfo(BaseModel):
    spec: str
    description: str
    available: bool


def default_model_dir() -> Path:
    """Where the bundled default model lives inside the installed package."""
    return Path(str(files("reasonkit.lm"))) / "default_model"


def load_model(spec: str | None = None, *, cache: str | Path | None = None, **kwargs: Any) -> LanguageModel:
    """A backend for `spec`: None or "default" (the bundled model), a model folder written by `reasonkit
    train` / `save_pretrained`, or "hf:NAME_OR_PATH" (needs the `hf` extra). `kwargs` go to the backend
    (e.g. device). With `cache`, results are kept in that sqlite file (`reasonkit.cache.CachedLM`).
    """
    lm = _backend(spec, **kwargs)
    if cache is None:
        return lm
    from reasonkit.cache import CachedLM

    return CachedLM(lm, cache)


def _backend(spec: str | None, **kwargs: Any) -> LanguageModel:
    if spec is None or spec == "default":
        folder = default_model_dir()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"no default model is bundled in this install ({folder} does not exist); "
                "pass a model folder (e.g. one written by `reasonkit train`) or hf:NAME"
            )
        return _engine(folder, **kwargs)
    if spec.startswith(HF_PREFIX):
        name = spec[len(HF_PREFIX) :]
        if not name:
            raise ValueError(f"model spec {spec!r}: give a name or path after {HF_PREFIX!r}")
        from reasonkit.backends.hf import HFLanguageModel

        return HFLanguageModel(name, **kwargs)
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"model {spec!r}: no such folder (use 'default', a model folder, or {HF_PREFIX}NAME for Hugging Face)"
        )
    if not path.is_dir():
        raise NotADirectoryError(
            f"model {spec!r}: a model is a folder (config.json, model.safetensors, tokenizer.json)"
        )
    return _engine(path, **kwargs)


def _engine(folder: Path, **kwargs: Any) -> LanguageModel:
    from reasonkit.lm.engine import Engine

    return Engine.from_pretrained(folder, **kwargs)


def available_models() -> list[ModelInfo]:
    """The model specs this install can load, for `reasonkit list`."""
    default = default_model_dir()
    has_hf = importlib.util.find_spec("transformers") is not None
    return [
        ModelInfo(spec="default", description=f"the bundled model ({default})", available=default.is_dir()),
        ModelInfo(spec="PATH", description="a model folder written by `reasonkit train`", available=True),
        ModelInfo(
            spec=f"{HF_PREFIX}NAME_OR_PATH",
            description="a Hugging Face causal LM, from a folder or the local hub cache"
            + ("" if has_hf else " (install reasonkit[hf])"),
            available=has_hf,
        ),
    ]
