"""Model specs to backends, through the backend registry (`reasonkit.backends.registry`).

Backends are imported only when asked for, so naming a model never pays for transformers unless it is
an "hf:" model.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from reasonkit.protocol import LanguageModel

__all__ = [
    "ModelInfo",
    "available_models",
    "default_model_dir",
    "load_model",
]


class ModelInfo(BaseModel):
    spec: str
    description: str
    available: bool


def default_model_dir() -> Path:
    """Where the bundled default model lives inside the installed package."""
    return Path(str(files("reasonkit.lm"))) / "default_model"


def load_model(spec: str | None = None, *, cache: str | Path | None = None, **kwargs: Any) -> LanguageModel:
    """The backend a model spec names (`reasonkit.backends.registry`): None or "default" (the bundled model), a
    model folder, "hf:NAME_OR_PATH", "openai:URL?model=NAME", or a plugin's. `kwargs` go to the backend (e.g.
    device). With `cache`, results are kept in that sqlite file (`reasonkit.cache.CachedLM`).
    """
    from reasonkit.backends.registry import build_backend

    lm = build_backend(spec, **kwargs)
    if cache is None:
        return lm
    from reasonkit.cache import CachedLM

    return CachedLM(lm, cache)


def available_models() -> list[ModelInfo]:
    """The model specs this install can load (one per registered backend), for `reasonkit list`."""
    from reasonkit.backends.registry import available_backends

    return [
        ModelInfo(spec=info.usage, description=info.summary, available=info.available())
        for info in available_backends().values()
    ]
