"""Arithmetic accuracy by operation and operand length, from the results of `reasonkit bench -b arithmetic`.

Question: Which problems does the scratchpad get right, by operation and by operand length, in and past the
training lengths? Figures: BENCHMARKS.md, "Synthetic suites", "Recipe variants (not shipped)";
docs/studies/default_model_table.md, docs/studies/position_coupling.md.

The report gives one row per strategy; length generalisation needs the rows split by the first operand's
digits (the test split has 2-5, test_long 6-7), and addition apart from multiplication by a digit.

    python -m reasonkit.benchmarks.studies.arithmetic_breakdown runs/table/arithmetic/scratchpad \
        runs/table/test_long/arithmetic/scratchpad
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import click

from reasonkit.benchmarks.metrics import bootstrap_accuracy
from reasonkit.benchmarks.runner import RESULTS_FILE, ResultLine, read_results


def breakdown(lines: list[ResultLine]) -> dict[tuple[str, int], list[bool]]:
    """Correctness of every question, grouped by (op, digits of the first operand)."""
    groups: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for line in lines:
        metadata = line.question.metadata
        if metadata.get("task") != "arithmetic":
            raise click.ClickException(f"question {line.question_id!r} is not an arithmetic question")
        groups[(str(metadata["op"]), len(str(metadata["operands"][0])))].append(line.correct)
    return dict(sorted(groups.items()))


@click.command()
@click.argument(
    "run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
def main(run_dirs: tuple[Path, ...]) -> None:
    """Print a markdown table per RUN_DIR (a strategy's folder holding results.jsonl)."""
    for run_dir in run_dirs:
        groups = breakdown(read_results(run_dir / RESULTS_FILE))
        click.echo(f"\n{run_dir}\n\n| op | digits | n | accuracy % [95% CI] |\n|---|---:|---:|---|")
        for (op, digits), correct in groups.items():
            click.echo(f"| {op} | {digits} | {len(correct)} | {bootstrap_accuracy(correct)} |")
        for op in sorted({op for op, _ in groups}):
            correct = [c for (o, _), cs in groups.items() if o == op for c in cs]
            click.echo(f"| {op} | all | {len(correct)} | {bootstrap_accuracy(correct)} |")


if __name__ == "__main__":
    main()
