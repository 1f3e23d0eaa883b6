"""One way to declare a strategy's options: every built-in strategy is a frozen pydantic dataclass, so the spec
parser, `reasonkit list` and `config()` read the same fields, with the same validation, for all of them."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from pydantic.dataclasses import is_pydantic_dataclass

from reasonkit.commands.list import _option
from reasonkit.registry import StrategySpecError, available_strategies, build_strategy
from reasonkit.strategies.memory_store import MemoryStore

BUILT_IN = sorted(name for name, info in available_strategies().items() if info.origin == "built-in")


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_strategy_is_a_frozen_pydantic_dataclass(name: str) -> None:
    cls = available_strategies()[name].cls
    assert is_pydantic_dataclass(cls), f"{name}: {cls.__qualname__} is not a pydantic dataclass"
    assert cls.__dataclass_params__.frozen, f"{name}: options can be changed after construction"  # type: ignore[attr-defined]
    assert list(inspect.signature(cls).parameters) == [f.name for f in dataclasses.fields(cls)]


# What `reasonkit list` showed for the strategies that were plain classes before: the same options, defaults
# and order (and for strategies whose options grew since: what they show now).
LISTED = {
    "arithmetic_direct": "max_tokens=None",
    "scratchpad": "max_tokens=None",
    "maieutic": "depth=2, n_first=3, n_deeper=1, temperature_first=1.0, temperature_deeper=0.5, max_tokens=64, "
    "shots=8, exemplars='auto', calibrate=True, integrity_threshold=0.45, negation='lm', fallback='statement', "
    "relations='lm', belief='prompt', max_nodes=40, max_relation_pairs=200, solver_time_limit_s=5.0, seed=0, "
    "abduction_candidates=None, abduction_prefix='none', link=None",
    "memory": "inner, store=None, k=3, threshold=0.5",
    "retrieval": "store, temperature=0.05, threshold=None",
    "self_ask": "answerer=None, max_follow_ups=4, max_tokens=64, answer_tokens=16, exemplars=(), shots=2, "
    "follow_ups_from='model'",
    "tree_of_thoughts": "search='bfs', evaluator='value', proposals=5, breadth=3, max_depth=4, max_calls=200, "
    "threshold=0.5, temperature=0.7, thought_tokens=32, seed=0, votes=0, vote_over='depth', judge=None, "
    "judge_statement='The steps so far are correct.'",
    "verifier": "inner, model=None, n=20, temperature=0.7, selection='best_of_n', verdict='after', seed=0",
}


@pytest.mark.parametrize("name", sorted(LISTED))
def test_list_shows_the_same_options_and_defaults(name: str) -> None:
    cls = available_strategies()[name].cls
    assert ", ".join(_option(p) for p in inspect.signature(cls).parameters.values()) == LISTED[name]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("maieutic(depth=0)", "option 'depth' = 0: Input should be greater than or equal to 1"),
        (
            "maieutic(fallback='majority')",
            "option 'fallback' = 'majority': Input should be 'statement' or 'pair'",
        ),
        ("maieutic(relations='nli')", "option 'relations' must be 'lm', 'lm:PATH', 'hf:PATH' or None"),
        ("memory(inner=direct, k=0)", "option 'k' = 0: Input should be greater than or equal to 1"),
        (
            "memory(inner=direct, threshold=2.0)",
            "option 'threshold' = 2.0: Input should be less than or equal to 1",
        ),
        ("scratchpad(max_tokens=0)", "option 'max_tokens' = 0: Input should be greater than or equal to 1"),
    ],
)
def test_bad_options_are_named_in_a_spec(spec: str, message: str) -> None:
    with pytest.raises(StrategySpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_strategy(spec)


def test_options_cannot_change_after_construction(tmp_path: Path) -> None:
    store = MemoryStore()
    store.add("Milk is kept in a fridge.", "Milk goes in the fridge.")
    store.save(tmp_path / "m")
    for spec in (
        "maieutic(depth=1)",
        f"memory(inner=direct, store={str(tmp_path / 'm')!r})",
        f"retrieval(store={str(tmp_path / 'm')!r})",
        "scratchpad",
    ):
        strategy = build_strategy(spec)
        with pytest.raises(dataclasses.FrozenInstanceError):
            strategy.seed = 1  # type: ignore[attr-defined]
        assert build_strategy(strategy.config()).config() == strategy.config()
