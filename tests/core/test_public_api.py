"""`import reasonkit` is the one import a user needs: the core types, loading, the registry, the evaluation
plan and every built-in strategy class, loaded on first use so the import itself stays light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import reasonkit as rk
from reasonkit.registry import get_strategy_class

CORE = ["types", "protocol", "strategy", "registry", "models", "cache", "fake", "torchrun", "benchmarks.plan"]


def test_the_import_loads_nothing_heavy() -> None:
    code = (
        "import json, sys, reasonkit; print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('reasonkit', 'torch', 'pydantic', 'numpy'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == ["reasonkit", "reasonkit.threads"]


def test_every_public_name_resolves_and_the_strategies_are_the_registered_classes() -> None:
    assert sorted(rk.__all__) == sorted(set(rk.__all__))
    for name in rk.__all__:
        assert getattr(rk, name) is not None, name
    registered = {
        "direct": rk.Direct,
        "cot": rk.ChainOfThought,
        "self_consistency": rk.SelfConsistency,
        "maieutic": rk.Maieutic,
        "scratchpad": rk.Scratchpad,
        "memory": rk.WithMemory,
        "retrieval": rk.Retrieval,
        "ensemble": rk.Ensemble,
    }
    for spec, cls in registered.items():
        assert get_strategy_class(spec) is cls
    assert isinstance(rk.build_strategy("cot"), rk.Strategy)
    namespace: dict[str, object] = {}
    exec("from reasonkit import *", namespace)
    assert set(rk.__all__) <= set(namespace) and namespace["Question"] is rk.Question
    assert set(rk.__all__) <= set(dir(rk))
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = rk.Nothing  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", CORE)
def test_core_modules_say_what_they_export(module: str) -> None:
    loaded = importlib.import_module(f"reasonkit.{module}")
    assert loaded.__all__ and [name for name in loaded.__all__ if not hasattr(loaded, name)] == []
