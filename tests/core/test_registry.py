from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field
from pydantic.dataclasses import dataclass

from reasonkit import registry
from reasonkit.registry import (
    StrategySpecError,
    available_strategies,
    build_strategy,
    get_strategy_class,
    register_strategy,
)
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test vanish after it; built-in modules are not imported here."""
    state = registry._new_state(builtins_loaded=True)
    monkeypatch.setattr(registry, "_state", state)
    use_entry_points(monkeypatch, [])

    @register_strategy("sampler", aliases=("smp",))
    class Sampler(Strategy):
        """Samples n answers at a temperature."""

        def __init__(
            self, n: int = 3, temperature: float = 0.0, vote: Literal["majority", "weighted"] = "majority"
        ):
            if temperature < 0:
                raise ValueError(f"temperature must be >= 0, got {temperature}")
            self.n, self.temperature, self.vote = n, temperature, vote

        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            raise NotImplementedError

    @register_strategy("wrap")
    class Wrap(Strategy):
        """Wraps an inner strategy."""

        def __init__(self, inner: Strategy, members: list[Strategy] | None = None, k: int = 1):
            self.inner, self.members, self.k = inner, members or [], k

        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            raise NotImplementedError


def use_entry_points(
    monkeypatch: pytest.MonkeyPatch, points: list[importlib.metadata.EntryPoint]
) -> list[str]:
    """Pretend `points` are the installed strategy plugins (other groups stay real); returns the look-ups."""
    real, asked = importlib.metadata.entry_points, []

    def entry_points(**selection: str) -> object:
        if selection.get("group") != registry.ENTRY_POINT_GROUP:
            return real(**selection)
        asked.append(selection["group"])
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return asked


def test_names_and_aliases_resolve_to_the_registered_class() -> None:
    assert get_strategy_class("sampler").name == "sampler"
    assert get_strategy_class("smp") is get_strategy_class("sampler")
    assert set(available_strategies()) == {"sampler", "wrap"}
    assert available_strategies()["sampler"].summary == "Samples n answers at a temperature."


def test_specs_with_literals_and_nested_strategies() -> None:
    plain = build_strategy("sampler")
    assert plain.config() == {"name": "sampler", "n": 3, "temperature": 0.0, "vote": "majority"}
    tuned = build_strategy("sampler(n=20, temperature=0.7, vote='weighted')")
    assert (tuned.n, tuned.temperature, tuned.vote) == (20, 0.7, "weighted")
    nested = build_strategy("wrap(inner=sampler(n=5), members=[sampler, smp(n=2)], k=-1)")
    assert nested.inner.n == 5 and [m.n for m in nested.members] == [3, 2] and nested.k == -1


def test_config_and_repr_round_trip_through_build_strategy() -> None:
    strategy = build_strategy("wrap(inner=sampler(n=5), members=[sampler(temperature=1.5)])")
    assert build_strategy(strategy.config()).config() == strategy.config()
    assert build_strategy(repr(strategy)).config() == strategy.config()
    assert repr(build_strategy("sampler(n=2)")) == "sampler(n=2, temperature=0.0, vote='majority')"


def test_dict_specs_take_nested_dicts_and_spec_strings() -> None:
    strategy = build_strategy(
        {"name": "wrap", "inner": "sampler(n=4)", "members": [{"name": "sampler", "n": 9}]}
    )
    assert strategy.inner.n == 4 and strategy.members[0].n == 9


def test_unknown_names_get_suggestions() -> None:
    with pytest.raises(StrategySpecError, match=r"unknown strategy 'sampelr'; did you mean 'sampler'"):
        build_strategy("sampelr(n=3)")
    with pytest.raises(StrategySpecError, match=r"unknown strategy 'wrap_inner'.*known: sampler, smp, wrap"):
        build_strategy("wrap(inner=wrap_inner)")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("sampler(m=3)", r"strategy 'sampler' has no option 'm'.*options: n, temperature, vote"),
        ("sampler(temprature=1.0)", r"no option 'temprature'; did you mean 'temperature'"),
        ("sampler(n='many')", r"strategy 'sampler', option 'n' = 'many': .*integer"),
        ("sampler(vote='mean')", r"option 'vote' = 'mean': .*'majority' or 'weighted'"),
        ("sampler(temperature=-1.0)", r"strategy 'sampler': temperature must be >= 0"),
        ("sampler(3)", r"options must be named, e.g. sampler\(n=20\)"),
        ("wrap", r"strategy 'wrap' needs option 'inner'"),
        ("wrap(inner=sampler, k=os.system)", r"option 'k': 'os.system' is not a literal"),
        ("wrap(inner=__import__('os'))", r"options must be named|unknown strategy '__import__'"),
        ("sampler(n=", r"strategy spec 'sampler\(n=' is not valid"),
        ("1 + 2", r"expected a name or name\(option=value, ...\)"),
    ],
)
def test_bad_specs_name_the_strategy_and_the_option(spec: str, message: str) -> None:
    with pytest.raises(StrategySpecError, match=message):
        build_strategy(spec)


def test_a_field_constraint_of_a_pydantic_strategy_names_the_option() -> None:
    """Built-in strategies are pydantic dataclasses whose fields carry constraints (n >= 1); a spec that breaks
    one gets the option named, not pydantic's multi-line dump."""

    @register_strategy("voter")
    @dataclass(frozen=True)
    class Voter(Strategy):
        n: int = Field(20, ge=1)
        k: int = 1

        def __post_init__(self) -> None:
            if self.k > self.n:
                raise ValueError(f"voter: k = {self.k} is more than n = {self.n}")

        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            raise NotImplementedError

    with pytest.raises(StrategySpecError) as caught:
        build_strategy("voter(n=-1)")
    assert (
        str(caught.value) == "strategy 'voter', option 'n' = -1: Input should be greater than or equal to 1"
    )
    with pytest.raises(
        StrategySpecError
    ) as caught:  # a check across fields: pydantic's "Value error, " dropped
        build_strategy("voter(n=2, k=3)")
    assert str(caught.value) == "strategy 'voter': voter: k = 3 is more than n = 2"


def test_a_name_cannot_be_taken_twice() -> None:
    class Other(Strategy):
        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            raise NotImplementedError

    with pytest.raises(ValueError, match="strategy name 'sampler' is taken by"):
        register_strategy("sampler")(Other)
    with pytest.raises(TypeError, match="decorates Strategy subclasses"):
        register_strategy("not_a_strategy")(dict)  # type: ignore[arg-type]


PLUGIN = '''
from reasonkit.strategy import Strategy


class Plugged(Strategy):
    """A third-party strategy, registered only by its entry point."""

    def __init__(self, depth: int = 1):
        self.depth = depth

    async def solve(self, question, lm):
        raise NotImplementedError
'''


def test_entry_points_load_lazily_once_and_broken_ones_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plugged_pkg.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "plugged_pkg", raising=False)
    group = registry.ENTRY_POINT_GROUP
    points = [
        importlib.metadata.EntryPoint(name="plugged", value="plugged_pkg:Plugged", group=group),
        importlib.metadata.EntryPoint(name="broken", value="no_such_module_xyz:Thing", group=group),
    ]
    asked = use_entry_points(monkeypatch, points)
    assert "plugged_pkg" not in sys.modules
    strategy = build_strategy("plugged(depth=2)")
    assert strategy.depth == 2 and strategy.name == "plugged"
    assert available_strategies()["plugged"].origin == "plugin"
    with pytest.raises(
        StrategySpecError, match="strategy 'broken': entry point 'no_such_module_xyz:Thing' failed"
    ):
        get_strategy_class("broken")
    assert asked == [group]


def test_a_plugin_that_exits_at_import_is_reported_and_the_others_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "plugged_pkg.py").write_text(PLUGIN)
    (tmp_path / "exiting_pkg.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("plugged_pkg", "exiting_pkg"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    group = registry.ENTRY_POINT_GROUP
    use_entry_points(
        monkeypatch,
        [
            importlib.metadata.EntryPoint(name="quitter", value="exiting_pkg:Thing", group=group),
            importlib.metadata.EntryPoint(name="plugged", value="plugged_pkg:Plugged", group=group),
        ],
    )
    with caplog.at_level("WARNING", logger="reasonkit.registry"):
        assert build_strategy("plugged(depth=2)").name == "plugged"
    assert "'quitter'" in caplog.text and "SystemExit" in caplog.text
    with pytest.raises(StrategySpecError, match="strategy 'quitter': entry point 'exiting_pkg:Thing' failed"):
        get_strategy_class("quitter")


def test_built_in_modules_are_imported_on_first_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fake_builtins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_private.py").write_text("raise RuntimeError('private modules are not strategies')")
    (package / "mine.py").write_text(
        "from reasonkit.registry import register_strategy\n"
        "from reasonkit.strategy import Strategy\n\n\n"
        "@register_strategy('mine')\n"
        "class Mine(Strategy):\n"
        "    async def solve(self, question, lm):\n"
        "        raise NotImplementedError\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "BUILTIN_PACKAGE", "fake_builtins")
    monkeypatch.setattr(registry, "_state", registry._new_state())
    assert available_strategies()["mine"].origin == "built-in"


def test_a_bare_word_where_a_value_is_due_names_the_option_not_an_unknown_strategy() -> None:
    @register_strategy("shots_and_vote")
    class ShotsAndVote(Strategy):
        def __init__(self, shots: int = 4, vote: Literal["majority", "weighted"] = "majority") -> None:
            self.shots, self.vote = shots, vote

        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            return Prediction(question_id=question.id, answer=None)

    with pytest.raises(StrategySpecError) as caught:
        build_strategy("shots_and_vote(shots=two)")
    message = str(caught.value)
    assert (
        "option 'shots' = 'two'" in message
        and "valid integer" in message
        and "unknown strategy" not in message
    )
    with pytest.raises(StrategySpecError, match=r"option 'vote': a string needs quotes, vote='weighted'"):
        build_strategy("shots_and_vote(vote=weighted)")
