"""Strategies by name: a decorator registry, third-party entry points, and spec strings.

Built-in strategies (the modules of `reasonkit.strategies`) and the entry points of the group
"reasonkit.strategies" are imported on the first look-up, once. A spec names a strategy and its options:
`cot`, `self_consistency(n=20, temperature=0.7)`, `self_consistency(inner=cot(shots=5), n=20)`; values are
Python literals or nested specs, parsed with `ast` (never evaluated). A dict spec is the same thing as JSON:
`{"name": "self_consistency", "inner": {"name": "cot"}, "n": 20}` (what `Strategy.config()` returns).
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.metadata
import inspect
import logging
import pkgutil
import reprlib
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from reasonkit.plugins import Origin, Registry, docstring_summary
from reasonkit.strategy import Strategy

__all__ = [
    "ENTRY_POINT_GROUP",
    "StrategyInfo",
    "StrategySpecError",
    "available_strategies",
    "build_strategy",
    "get_strategy_class",
    "register_strategy",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "reasonkit.strategies"
BUILTIN_PACKAGE = "reasonkit.strategies"

S = TypeVar("S", bound=type[Strategy])


class StrategySpecError(ValueError):
    """A spec names an unknown strategy or gives it a bad option; the message says which."""


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    cls: type[Strategy]
    origin: Origin
    aliases: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        return docstring_summary(self.cls)


def _origin_of(cls: type) -> Origin:
    return "built-in" if cls.__module__.startswith(BUILTIN_PACKAGE + ".") else "user"


def register_strategy(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[S], S]:
    """Class decorator: make `cls` available as `name` (and `aliases`) in specs, the CLI and benchmarks."""

    def decorate(cls: S) -> S:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise TypeError(f"@register_strategy({name!r}) decorates Strategy subclasses, not {cls!r}")
        for key in (name, *aliases):
            owner = _state.find(key)
            if owner is not None and owner.cls.__qualname__ != cls.__qualname__:
                raise ValueError(
                    f"strategy name {key!r} is taken by {owner.cls.__module__}.{owner.cls.__qualname__};"
                    f" cannot register {cls.__module__}.{cls.__qualname__}"
                )
        cls.name = name
        _state.add(name, StrategyInfo(name, cls, _origin_of(cls), tuple(aliases)), aliases)
        return cls

    return decorate


def _load_builtins() -> None:
    package = importlib.import_module(BUILTIN_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            try:
                importlib.import_module(f"{BUILTIN_PACKAGE}.{module.name}")
            except ImportError as error:
                raise ImportError(
                    f"built-in strategy module {BUILTIN_PACKAGE}.{module.name}: {error}"
                ) from error


def _adopt(name: str, loaded: Any) -> None:
    """An entry point naming a Strategy class its module did not register: register it under that name."""
    if isinstance(loaded, type) and issubclass(loaded, Strategy) and loaded.name not in _state.entries:
        register_strategy(name)(loaded)


def _new_state(**state: Any) -> Registry[StrategyInfo]:
    """An empty strategy registry (tests start from one, e.g. with builtins_loaded=True)."""
    return Registry("strategy", ENTRY_POINT_GROUP, _load_builtins, _adopt, StrategySpecError, **state)


_state = _new_state()


def available_strategies() -> dict[str, StrategyInfo]:
    """Every registered strategy (built-in, plugin, user), by name."""
    return dict(sorted(_state.all().items()))


def get_strategy_class(name: str) -> type[Strategy]:
    """The class registered as `name` (or an alias); unknown names get "did you mean" suggestions."""
    return _state.get(name).cls


def build_strategy(spec: str | dict[str, Any] | Strategy) -> Strategy:
    """A strategy from a spec string, a dict spec, or a strategy (returned as is)."""
    try:
        return _build(spec)
    except RecursionError:
        raise StrategySpecError(f"strategy spec {_shown(spec)} is nested too deeply") from None


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel = 200, 200, 4


def _shown(spec: object) -> str:
    """A spec for a message: its repr, cut short where it is huge or deeply nested (a generated spec)."""
    return _SHORT.repr(spec)


def _build(spec: str | dict[str, Any] | Strategy) -> Strategy:
    if isinstance(spec, Strategy):
        return spec
    if isinstance(spec, dict):
        options = dict(spec)
        name = options.pop("name", None)
        if not isinstance(name, str):
            raise StrategySpecError(f"a dict spec needs a 'name' string, got {_shown(spec)}")
        return _construct(name, options)
    if not isinstance(spec, str):
        raise StrategySpecError(f"a strategy spec is a string or a dict, got {type(spec).__name__}")
    try:
        with warnings.catch_warnings():  # a SyntaxWarning ("invalid decimal literal") is not for the user
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(spec.strip(), mode="eval")
    except SyntaxError as error:
        raise StrategySpecError(
            f"strategy spec {_shown(spec)} is not valid: {error.msg}"
            + (f" at column {error.offset}" if error.offset else "")
        ) from error
    except (ValueError, UnicodeEncodeError) as error:  # a NUL character, a lone surrogate
        reason = "a lone surrogate" if isinstance(error, UnicodeEncodeError) else str(error)
        raise StrategySpecError(f"strategy spec {_shown(spec)} is not valid: {reason}") from None
    return _from_node(tree.body, spec)


def _from_node(node: ast.expr, spec: str) -> Strategy:
    if isinstance(node, ast.Name):
        return _construct(node.id, {})
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if node.args:
            raise StrategySpecError(
                f"strategy {name!r} in {_shown(spec)}: options must be named, e.g. {name}(n=20)"
            )
        if any(k.arg is None for k in node.keywords):
            raise StrategySpecError(f"strategy {name!r} in {_shown(spec)}: '**' is not allowed in a spec")
        return _construct(name, {k.arg: _value(k.value, name, k.arg, spec) for k in node.keywords if k.arg})
    raise StrategySpecError(f"strategy spec {_shown(spec)}: expected a name or name(option=value, ...)")


def _value(node: ast.expr, strategy: str, option: str, spec: str) -> Any:
    """A literal, a nested spec (bare names and calls are strategies), or a list/tuple/dict of these."""
    if isinstance(node, ast.Name) and node.id in ("true", "false"):  # TOML/JSON spelling of True/False
        return node.id == "true"
    if isinstance(node, ast.Name):
        _check_bare_word(node.id, strategy, option)
    if isinstance(node, ast.Name | ast.Call):
        return _from_node(node, spec)
    if isinstance(node, ast.List | ast.Tuple):
        items = [_value(item, strategy, option, spec) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and all(k is not None for k in node.keys):
        return {
            _key(k, strategy, option, spec): _value(v, strategy, option, spec)
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        }
    try:
        return ast.literal_eval(node)
    except ValueError as error:
        text = ast.get_source_segment(spec, node) or ast.dump(node)
        raise StrategySpecError(
            f"strategy {strategy!r}, option {option!r}: {text!r} is not a literal or a strategy spec"
        ) from error


def _key(node: ast.expr, strategy: str, option: str, spec: str) -> Any:
    """A dict key in a spec: a literal that can be a key (a string, a number), nothing else."""
    try:
        key = ast.literal_eval(node)
        hash(key)
    except (ValueError, TypeError) as error:
        text = ast.get_source_segment(spec, node) or ast.dump(node)
        raise StrategySpecError(
            f"strategy {strategy!r}, option {option!r}: the dict key {text} is not a string or a number"
        ) from error
    return key


def _check_bare_word(word: str, strategy: str, option: str) -> None:
    """A bare word reads as a strategy name; where the option takes no strategy (`cot(shots=two)`), say what
    the option expected rather than "unknown strategy 'two'"."""
    hint = _type_hints(get_strategy_class(strategy)).get(option, Any)
    if hint is Any or _wants_strategy(hint):
        return
    _validate(strategy, option, hint, word)
    raise StrategySpecError(
        f"strategy {strategy!r}, option {option!r}: a string needs quotes, {option}={word!r}"
    )


def _construct(name: str, options: dict[str, Any]) -> Strategy:
    cls = get_strategy_class(name)
    parameters = _parameters(cls)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    hints = _type_hints(cls)
    values: dict[str, Any] = {}
    for option, value in options.items():
        parameter = parameters.get(option)
        if parameter is None and not takes_any:
            close = difflib.get_close_matches(option, list(parameters), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(parameters) or "none"
            raise StrategySpecError(f"strategy {name!r} has no option {option!r}{hint} (options: {known})")
        hint_type = hints.get(option, Any)
        if _wants_strategy(hint_type):
            value = _nested(value)
        values[option] = _validate(name, option, hint_type, value)
    missing = [
        p.name
        for p in parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name not in values
    ]
    if missing:
        raise StrategySpecError(f"strategy {name!r} needs option {', '.join(map(repr, missing))}")
    try:
        return cls(**values)
    except ValidationError as error:  # constraints a pydantic strategy declares on its fields (n >= 1, ...)
        problems = "; ".join(_field_problem(e, values) for e in error.errors())
        joint = ", " if problems.startswith("option ") else ": "
        raise StrategySpecError(f"strategy {name!r}{joint}{problems}") from error
    except (TypeError, ValueError) as error:
        raise StrategySpecError(f"strategy {name!r}: {error}") from error


def _field_problem(error: ErrorDetails, values: dict[str, Any]) -> str:
    message = error["msg"].removeprefix("Value error, ")  # how pydantic wraps a validator's own ValueError
    option = str(error["loc"][0]) if error["loc"] else ""
    if option in values:
        return f"option {option!r} = {values[option]!r}: {message}"
    return message


def _parameters(cls: type[Strategy]) -> dict[str, inspect.Parameter]:
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}
    return {n: p for n, p in signature.parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL}


def _type_hints(cls: type[Strategy]) -> dict[str, Any]:
    """Constructor annotations, resolved where possible (unresolvable ones are not validated)."""
    target = cls if hasattr(cls, "__dataclass_fields__") or hasattr(cls, "model_fields") else cls.__init__
    try:
        return typing.get_type_hints(target, include_extras=True)  # keep Annotated bounds (SampleCount)
    except Exception:  # forward references a module cannot resolve: validate nothing rather than guess
        return {}


def _wants_strategy(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, Strategy):
        return True
    return any(_wants_strategy(arg) for arg in typing.get_args(annotation))


def _nested(value: Any) -> Any:
    """Turn spec strings and dict specs into strategies where the option takes strategies."""
    if isinstance(value, str) or (isinstance(value, dict) and "name" in value):
        return build_strategy(value)
    if isinstance(value, list | tuple):
        return type(value)(_nested(v) for v in value)
    return value


def _validate(name: str, option: str, annotation: Any, value: Any) -> Any:
    if annotation is Any:
        return value
    try:
        adapter = TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # annotations pydantic cannot build a schema for: the constructor checks them
        return value
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        problem = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
        raise StrategySpecError(f"strategy {name!r}, option {option!r} = {value!r}: {problem}") from error
