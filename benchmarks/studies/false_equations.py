"""How many chain-of-thought rationales state a false equation ("20 + 2 = 21"), among all and among misses.

Question: Are a model's multistep misses wrong arithmetic inside the rationale or wrong plans? Figures:
BENCHMARKS.md, "Recipe variants (not shipped)"; docs/studies/position_coupling.md.

On multistep, where the rationale is a chain of "a op b = c" steps, this separates wrong arithmetic facts
from wrong plans. Reads the `rationale` step of a run's traces (`cot`, or anything that records one).

    python -m reasonkit.benchmarks.studies.false_equations runs/table/multistep/cot --limit 300
"""

from __future__ import annotations

import operator
import re
from pathlib import Path

import click

from reasonkit.benchmarks.runner import RESULTS_FILE, read_results

EQUATION = re.compile(r"(-?\d+) ([-+*]) (-?\d+) = (-?\d+)")
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def false_equations(text: str) -> list[str]:
    """The equations (+, -, *) in `text` whose right-hand side is not the value of the left."""
    return [
        match.group(0)
        for match in EQUATION.finditer(text)
        if OPERATORS[match.group(2)](int(match.group(1)), int(match.group(3))) != int(match.group(4))
    ]


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N questions of the run.")
def main(run_dir: Path, limit: int | None) -> None:
    lines = read_results(run_dir / RESULTS_FILE)[:limit]
    if not lines or "rationale" not in lines[0].prediction.trace.steps:
        raise click.ClickException(f"{run_dir}: no rationale in the traces (run a chain-of-thought strategy)")
    false = [bool(false_equations(str(line.prediction.trace.steps["rationale"]))) for line in lines]
    misses = [f for f, line in zip(false, lines, strict=True) if not line.correct]
    click.echo(
        f"{run_dir}: {sum(false)} of {len(lines)} rationales state a false equation; "
        f"{sum(misses)} of the {len(misses)} misses do"
    )


if __name__ == "__main__":
    main()
