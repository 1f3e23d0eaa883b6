"""Backends by name: a decorator registry, third-party entry points, and model specs.

A backend is a factory that turns a spec's target and options into a `LanguageModel`. Built-in backends
(`reasonkit.backends.builtin`) and the entry points of the group "reasonkit.backends" are loaded on the first
look-up, once, as strategies are. A spec is either `NAME:TARGET?option=value&...` (URL-like, e.g.
`openai:http://127.0.0.1:8000/v1?model=NAME`, `hf:gpt2`) or the strategy spec language,
`NAME(target='...', option=value, ...)`; `default` and a model folder's path name the native backend. Options
are validated against the factory's signature (query-string values are coerced: "8" becomes 8 for an int).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import logging
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, validate_call

from reasonkit.plugins import Origin, Registry, docstring_summary
from reasonkit.protocol import LanguageModel

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "reasonkit.backends"
BUILTIN_MODULE = "reasonkit.backends.builtin"

F = TypeVar("F", bound=Callable[..., LanguageModel])
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class BackendSpecError(ValueError):
    """A model spec names an unknown backend or gives it a bad option; the message says which."""


class Capabilities(BaseModel):
    """What a backend can do, shown by `reasonkit list`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scoring: bool = True
    generation: bool = True
    n_samples: bool = True
    seeds: bool = True
    constrained_generation: bool = True  # GenerationRequest.constraint honoured (reasonkit.protocol)


@dataclass(frozen=True)
class BackendInfo:
    name: str
    factory: Callable[..., LanguageModel]
    origin: Origin
    usage: str
    capabilities: Capabilities
    available: Callable[[], bool] = lambda: True

    @property
    def summary(self) -> str:
        return docstring_summary(self.factory)


def register_backend(
    name: str,
    *,
    usage: str | None = None,
    capabilities: Capabilities | None = None,
    available: Callable[[], bool] | None = None,
) -> Callable[[F], F]:
    """Decorator for a factory `(target: str | None, **options) -> LanguageModel`: make it `name` in specs.

    `usage` is the spec form `reasonkit list` shows; `available` says whether this install can run it.
    """
    if not _NAME.match(name):
        raise ValueError(f"backend name {name!r}: letters, digits, '_' and '-' only")

    def decorate(factory: F) -> F:
        owner = _state.find(name)
        if owner is not None and owner.factory.__qualname__ != factory.__qualname__:
            raise ValueError(
                f"backend name {name!r} is taken by {owner.factory.__module__}.{owner.factory.__qualname__}"
            )
        origin: Origin = "built-in" if factory.__module__.startswith("reasonkit.backends.") else "user"
        _state.add(
            name,
            BackendInfo(
                name,
                factory,
                origin,
                usage or f"{name}:TARGET",
                capabilities or Capabilities(),
                available or (lambda: True),
            ),
        )
        return factory

    return decorate


def _adopt(name: str, loaded: Any) -> None:
    """An entry point naming a factory its module did not register: register it under that name."""
    if name not in _state.entries and callable(loaded):
        register_backend(name)(loaded)


def _load_builtins() -> None:
    importlib.import_module(BUILTIN_MODULE)


def _new_state(**state: Any) -> Registry[BackendInfo]:
    """An empty backend registry (tests start from one)."""
    return Registry("backend", ENTRY_POINT_GROUP, _load_builtins, _adopt, BackendSpecError, **state)


_state = _new_state()


def available_backends() -> dict[str, BackendInfo]:
    """Every registered backend (built-in, plugin, user), by name."""
    return dict(sorted(_state.all().items()))


def get_backend(name: str) -> BackendInfo:
    """The backend registered as `name`; unknown names get "did you mean" suggestions."""
    return _state.get(name)


@dataclass(frozen=True)
class BackendSpec:
    """A parsed model spec: which backend, its target (a URL, a name, a folder) and its options."""

    backend: str
    target: str | None
    options: dict[str, Any]


def parse_backend_spec(spec: str | None) -> BackendSpec:
    """`default`, a folder, `NAME:TARGET?k=v&...` or `NAME(target=..., k=v)` as a `BackendSpec`."""
    if spec is None or spec.strip() in ("", "default"):
        return BackendSpec("native", None, {})
    spec = spec.strip()
    call = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\(", spec)
    if call and spec.endswith(")") and call.group(1) in available_backends():
        return _parse_call(spec)
    head, colon, rest = spec.partition(":")
    if colon and _NAME.match(head) and len(head) > 1 and head in available_backends():
        target, options = _split_query(head, rest)
        return BackendSpec(head, target, options)
    return BackendSpec("native", spec, {})  # a folder (a Windows drive letter is no backend name)


def _split_query(backend: str, rest: str) -> tuple[str, dict[str, Any]]:
    target, _, query = rest.partition("?")
    options: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key in options:
            raise BackendSpecError(f"backend {backend!r}: option {key!r} is given twice")
        options[key] = value
    return target, options


def _parse_call(spec: str) -> BackendSpec:
    """The strategy spec language: NAME(option=literal, ...), values parsed with `ast`, never evaluated."""
    try:
        node = ast.parse(spec, mode="eval").body
    except SyntaxError as error:
        raise BackendSpecError(
            f"model spec {spec!r} is not valid: {error.msg} at column {error.offset}"
        ) from error
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.args:
        raise BackendSpecError(f"model spec {spec!r}: expected NAME(option=value, ...) with named options")
    options: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise BackendSpecError(f"model spec {spec!r}: '**' is not allowed in a spec")
        try:
            options[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError as error:
            text = ast.get_source_segment(spec, keyword.value)
            raise BackendSpecError(
                f"model spec {spec!r}, option {keyword.arg!r}: {text!r} is not a literal"
            ) from error
    target = options.pop("target", None)
    if target is not None and not isinstance(target, str):
        raise BackendSpecError(f"model spec {spec!r}: target must be a string, got {target!r}")
    return BackendSpec(node.func.id, target, options)


def build_backend(spec: str | None, **overrides: Any) -> LanguageModel:
    """The backend a model spec names, built with its options; `overrides` (e.g. device from the CLI) are
    added to the spec's own options, which win where both give one."""
    parsed = parse_backend_spec(spec)
    info = get_backend(parsed.backend)
    options = {**overrides, **parsed.options}
    factory = validate_call(info.factory, config=ConfigDict(arbitrary_types_allowed=True))
    try:
        return factory(parsed.target, **options)
    except ValidationError as error:
        problems = "; ".join(
            f"option {'.'.join(map(str, e['loc'][-1:]))!r}: {e['msg']}"
            if e["type"] != "unexpected_keyword_argument"
            else f"no option {e['loc'][-1]!r} (options: {', '.join(_options(info.factory))})"
            for e in error.errors()
        )
        raise BackendSpecError(f"model spec {spec!r} (backend {parsed.backend!r}): {problems}") from error


def _options(factory: Callable[..., Any]) -> list[str]:
    return [
        n
        for n, p in inspect.signature(factory).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
