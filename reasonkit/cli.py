"""The `reasonkit` command. Sub-commands load lazily so `reasonkit --help` does not import torch."""

from __future__ import annotations

import importlib
import logging

import click

from reasonkit.threads import set_threads

COMMANDS: dict[str, str] = {
    "ask": "reasonkit.commands.ask:ask",
    "bench": "reasonkit.commands.bench:bench",
    "list": "reasonkit.commands.list:list_strategies_and_models",
    "report": "reasonkit.commands.report:report",
    "train": "reasonkit.commands.train:train",
    "export": "reasonkit.commands.export:export",
    "memory": "reasonkit.commands.memory:memory",
    "serve": "reasonkit.commands.serve:serve",
    "verifier": "reasonkit.commands.verifier:verifier",
    "star": "reasonkit.commands.star:star",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup)
@click.version_option(package_name="reasonkit", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="torch CPU threads (default: one per core; idle ones sleep rather than spin).",
)
def main(verbose: int, threads: int | None) -> None:
    """Reasoning strategies on language models you train yourself."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if threads is not None:
        set_threads(threads)
