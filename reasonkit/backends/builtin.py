"""The backends every install registers: the native engine, Hugging Face, and OpenAI-compatible servers.

Each factory imports its backend only when called, so listing backends never pays for torch-heavy modules.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

from reasonkit.backends.registry import Capabilities, register_backend
from reasonkit.protocol import LanguageModel


@register_backend("native", usage="default | PATH | native:PATH", capabilities=Capabilities())
def native(target: str | None, **options: Any) -> LanguageModel:
    """This project's GPT engine: the bundled default model, or a model folder written by `reasonkit train`."""
    from reasonkit.lm.engine import Engine
    from reasonkit.models import default_model_dir

    if target is None or target == "default":
        folder = default_model_dir()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"no default model is bundled in this install ({folder} does not exist); "
                "pass a model folder (e.g. one written by `reasonkit train`) or hf:NAME"
            )
        return Engine.from_pretrained(folder, **options)
    path = Path(target).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"model {target!r}: no such folder (use 'default', a model folder, hf:NAME for Hugging Face, "
            "or openai:URL?model=NAME for a served model; `reasonkit list` shows every backend)"
        )
    if not path.is_dir():
        raise NotADirectoryError(
            f"model {target!r}: a model is a folder (config.json, model.safetensors, tokenizer.json)"
        )
    return Engine.from_pretrained(path, **options)


@register_backend(
    "hf",
    usage="hf:NAME_OR_PATH",
    capabilities=Capabilities(),
    available=lambda: importlib.util.find_spec("transformers") is not None,
)
def hf(target: str | None, **options: Any) -> LanguageModel:
    """A Hugging Face causal LM, from a folder or the local hub cache (install reasonkit[hf])."""
    if not target:
        raise ValueError("model spec hf:: give a name or path after 'hf:'")
    from reasonkit.backends.hf import HFLanguageModel

    return HFLanguageModel(target, **options)


@register_backend(
    "openai",
    usage="openai:URL?model=NAME",
    capabilities=Capabilities(constrained_generation=False),
    available=lambda: importlib.util.find_spec("httpx") is not None,
)
def openai(
    target: str | None,
    *,
    model: str | None = None,
    pin: str | None = None,
    max_concurrency: int = 8,
    timeout_s: float = 120.0,
    max_retries: int = 4,
    backoff_s: float = 0.5,
    api_key_env: str = "REASONKIT_OPENAI_API_KEY",
    truncation: Literal["error"] = "error",
) -> LanguageModel:
    """A model behind an OpenAI-compatible server (/v1/completions: vLLM, llama.cpp, SGLang, reasonkit serve);
    scoring needs a server that echoes prompt log-probabilities (key from $REASONKIT_OPENAI_API_KEY or
    $OPENAI_API_KEY)."""
    if not target:
        raise ValueError(
            "model spec openai:: give the server's URL, e.g. openai:http://127.0.0.1:8000/v1?model=NAME"
        )
    if importlib.util.find_spec("httpx") is None:
        raise ValueError("the openai backend needs httpx: pip install 'reasonkit[openai]'")
    from reasonkit.backends.openai import OpenAICompletionsLM

    return OpenAICompletionsLM(
        target,
        model=model,
        pin=pin,
        max_concurrency=max_concurrency,
        timeout_s=timeout_s,
        max_retries=max_retries,
        backoff_s=backoff_s,
        api_key_env=api_key_env,
    )
