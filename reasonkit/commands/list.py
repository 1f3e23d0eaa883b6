"""`reasonkit list`: the strategies (built-in, plugins, your own), the benchmarks and the model backends this
install can use, with what each backend supports."""

from __future__ import annotations

import inspect

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table


@click.command(name="list")
def list_strategies_and_models() -> None:
    """Show the registered strategies, the benchmarks `reasonkit bench -b` runs and the model specs --model
    accepts."""
    from reasonkit.backends.registry import available_backends
    from reasonkit.benchmarks.registry import available_benchmarks
    from reasonkit.registry import available_strategies

    strategies = Table(title="strategies (--strategy NAME or NAME(option=value, ...))")
    strategies.add_column("name", style="bold")
    strategies.add_column("from")
    strategies.add_column("options")
    strategies.add_column("what it does")
    for name, info in available_strategies().items():
        aliases = f" ({', '.join(info.aliases)})" if info.aliases else ""
        options = ", ".join(_option(p) for p in inspect.signature(info.cls).parameters.values())
        strategies.add_row(escape(name + aliases), info.origin, escape(options), escape(info.summary))
    benchmarks = Table(title="benchmarks (reasonkit bench -b NAME; your own: --jsonl FILE --field KEY=FIELD)")
    for column in ("name", "kind", "split", "origin", "what it is"):
        benchmarks.add_column(column, style="bold" if column == "name" else None, no_wrap=column == "name")
    for info in available_benchmarks().values():
        benchmarks.add_row(
            escape(info.name), info.kind, escape(info.default_split), info.origin, escape(info.description)
        )
    models = Table(title="models (--model SPEC; one backend each, options as NAME:TARGET?option=value)")
    for column in (
        "spec",
        "backend",
        "from",
        "available",
        "scoring",
        "generation",
        "n samples",
        "seeds",
        "constraints",
        "what it is",
    ):
        models.add_column(column, style="bold" if column == "spec" else None, no_wrap=column == "spec")
    for backend in available_backends().values():
        can = backend.capabilities
        models.add_row(
            escape(backend.usage),
            backend.name,
            backend.origin,
            _yes(backend.available()),
            _yes(can.scoring),
            _yes(can.generation),
            _yes(can.n_samples),
            _yes(can.seeds),
            _yes(can.constrained_generation),
            escape(backend.summary),
        )
    console = Console()
    console.print(strategies)
    console.print(benchmarks)
    console.print(models)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _option(parameter: inspect.Parameter) -> str:
    if parameter.default is inspect.Parameter.empty or repr(parameter.default) == "<factory>":
        return parameter.name
    return f"{parameter.name}={parameter.default!r}"
