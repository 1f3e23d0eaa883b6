"""Has a model learned the relation scorer's NLI format? The probe of docs/studies/maieutic_consistency.md's
fifth to seventh attempts: the confusion of `LMRelationScorer`'s label (argmax over " True" / " Neither" /
" False") on NLI drill pairs whose premise is about a name the recipes' drills never use, and on the
consistency suite's gold chains against their statements (entail for a true statement, contradict for a false
one: what `link='lm'` must read to keep the gold chain), both on the world of `--world-seed`.

    python -m reasonkit.benchmarks.studies.maieutic_nli --model runs/c5/seed0/model [--world-seed 0] [-n 600]
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click

from reasonkit.benchmarks.synthetic.consistency import ConsistencySuite, nli_drill_rows
from reasonkit.client import BatchingClient
from reasonkit.models import load_model
from reasonkit.protocol import LanguageModel
from reasonkit.strategies.relations import LABELS, Label, LMRelationScorer

TRAINED_PAIRS = 20_000
"""The most drill pairs a shipped consistency recipe trains on; the probe's pairs come after them."""


def predicted(lm: LanguageModel, pairs: Sequence[tuple[str, str]]) -> list[Label]:
    return [s.label for s in asyncio.run(LMRelationScorer().score(pairs, BatchingClient(lm)))]


def confusion(gold: Sequence[str], got: Sequence[str]) -> str:
    """A markdown table: rows the expected label, columns the predicted one, and the share right."""
    counts = Counter(zip(gold, got, strict=True))
    rows = [
        f"| expected \\ predicted | {' | '.join(LABELS)} | right |",
        "|---|" + "---:|" * (len(LABELS) + 1),
    ]
    for label in dict.fromkeys(gold):
        row = [counts[label, other] for other in LABELS]
        rows.append(f"| {label} | {' | '.join(map(str, row))} | {counts[label, label] / sum(row):.0%} |")
    return "\n".join(rows) + "\n"


def unseen_drill_pairs(n: int, seed: int) -> list[dict[str, object]]:
    """n pairs drawn after the first `TRAINED_PAIRS` of the drills' stream whose premise is about a name the
    trained pairs never use (a longer draw has more names; its first ones are the trained draw's)."""
    trained_names = {str(r["premise"]).split()[0] for r in nli_drill_rows(n_pairs=TRAINED_PAIRS, seed=seed)}
    extra = n
    while True:
        rows = nli_drill_rows(n_pairs=TRAINED_PAIRS + extra, seed=seed)[TRAINED_PAIRS:]
        unseen = [r for r in rows if str(r["premise"]).split()[0] not in trained_names]
        if len(unseen) >= n:
            return unseen[:n]
        extra *= 2


@click.command()
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--world-seed", default=0, show_default=True, help="the consistency world to draw from")
@click.option("-n", "count", default=600, show_default=True, help="drill pairs and gold chains to score")
def main(model_dir: Path, world_seed: int, count: int) -> None:
    """Print the NLI confusion on unseen drill pairs and on the suite's test gold chains."""
    lm = load_model(str(model_dir))
    rows = unseen_drill_pairs(count, world_seed)
    got = predicted(lm, [(str(r["premise"]), str(r["text"])) for r in rows])
    click.echo(f"NLI drill pairs about names the drills never use ({len(rows)}):\n")
    click.echo(confusion([str(r["label"]) for r in rows], got))
    questions = ConsistencySuite().generate(world_seed).splits["test"][:count]
    got = predicted(lm, [(str(q.metadata["explanation"]), q.text) for q in questions])
    click.echo(f"\nthe suite's test gold chains against their statements ({len(questions)}):\n")
    click.echo(confusion(["entail" if q.gold else "contradict" for q in questions], got))


if __name__ == "__main__":
    main()
