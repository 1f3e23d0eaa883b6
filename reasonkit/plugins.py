"""One registry mechanism for everything users add by name: strategies, backends, datasets and benchmarks.

A `Registry` maps names (and aliases) to entries. Its built-ins are loaded on the first look-up, then the
entry points of its group (third-party packages), once; an entry point that raises or exits is reported by
name when it is asked for, and the others still load. Unknown names get "did you mean" suggestions.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

log = logging.getLogger(__name__)

E = TypeVar("E")
Origin = Literal["built-in", "plugin", "user"]


def docstring_summary(obj: object) -> str:
    """First paragraph of `obj`'s docstring, on one line (what `reasonkit list` shows)."""
    doc = (inspect.getdoc(obj) or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def load_entry_points(group: str, kind: str, broken: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """(name, object) of each entry point of `group`; one that raises or exits at import is logged and put in
    `broken` by name, and the others still load."""
    for entry_point in importlib.metadata.entry_points(group=group):
        try:
            loaded = entry_point.load()
        except (Exception, SystemExit) as error:
            message = f"entry point {entry_point.value!r} failed to load: {type(error).__name__}: {error}"
            broken[entry_point.name] = message
            log.warning("%s plugin %r: %s", kind, entry_point.name, message)
            continue
        yield entry_point.name, loaded


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """The message for a name nobody registered: close matches first, then every known name."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})"


def as_plugin(entry: E) -> E:
    """`entry` with origin "plugin" (a frozen dataclass or pydantic model with an `origin` field)."""
    if isinstance(entry, BaseModel):
        return entry.model_copy(update={"origin": "plugin"})
    if dataclasses.is_dataclass(entry) and not isinstance(entry, type):
        return dataclasses.replace(entry, origin="plugin")  # type: ignore[type-var]
    return entry


@dataclasses.dataclass
class Registry(Generic[E]):
    """Names -> entries of one kind (`kind` names them in messages; `group` is the entry-point group).

    `load_builtins` imports the modules whose decorators register the built-ins; `adopt(name, object)`
    registers what an entry point names where importing it did not register it already. An entry registered
    with origin "user" while the entry points load came from a plugin and is marked so.
    """

    kind: str
    group: str | None = None
    load_builtins: Callable[[], None] = lambda: None
    adopt: Callable[[str, Any], None] = lambda name, loaded: None
    error: type[Exception] = KeyError
    entries: dict[str, E] = dataclasses.field(default_factory=dict)
    aliases: dict[str, str] = dataclasses.field(default_factory=dict)
    builtins_loaded: bool = False
    plugins_loaded: bool = False
    broken: dict[str, str] = dataclasses.field(default_factory=dict)

    def add(self, name: str, entry: E, aliases: Iterable[str] = ()) -> None:
        self.entries[name] = entry
        self.aliases.update(dict.fromkeys(aliases, name))

    def find(self, name: str) -> E | None:
        """The entry registered as `name` or an alias, None if none (nothing is loaded by this)."""
        return self.entries.get(self.aliases.get(name, name))

    def ensure_loaded(self) -> None:
        if not self.builtins_loaded:
            self.builtins_loaded = True
            self.load_builtins()
        if self.plugins_loaded or self.group is None:
            return
        self.plugins_loaded = True
        for name, loaded in load_entry_points(self.group, self.kind, self.broken):
            self.adopt(name, loaded)
            entry = self.entries.get(name)
            if entry is not None and getattr(entry, "origin", None) == "user":
                self.entries[name] = as_plugin(entry)

    def all(self) -> dict[str, E]:
        """Every entry, in the order they were registered (built-ins first)."""
        self.ensure_loaded()
        return dict(self.entries)

    def get(self, name: str) -> E:
        """The entry registered as `name` (or an alias); `error` naming close matches when there is none."""
        self.ensure_loaded()
        entry = self.find(name)
        if entry is not None:
            return entry
        if name in self.broken:
            raise self.error(f"{self.kind} {name!r}: {self.broken[name]}")
        raise self.error(unknown_name(self.kind, name, [*self.entries, *self.aliases]))
