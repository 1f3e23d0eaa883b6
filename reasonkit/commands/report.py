"""`reasonkit report RUN...`: markdown table, PNG plots and an HTML trace browser for run folders."""

from __future__ import annotations

from pathlib import Path

import click

from reasonkit.benchmarks.report import write_report
from reasonkit.benchmarks.runner import RunError


@click.command()
@click.argument(
    "runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False)
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("report"),
    show_default=True,
    help="Folder for report.md, accuracy.png, samples.png and report.html.",
)
def report(runs: tuple[Path, ...], out: Path) -> None:
    """Report on RUNS (run folders, or folders holding them): accuracy with 95% intervals, paired
    comparisons, chance and majority baselines, plots and a page to browse every trace."""
    try:
        written = write_report(list(runs), out)
    except (FileNotFoundError, RunError) as error:
        raise click.ClickException(str(error)) from error
    for path in written:
        click.echo(str(path))
