"""Are maieutic's explanations about the statement's entity, and do they give its true kind? The abduction count
of docs/studies/maieutic_consistency.md, over finished `reasonkit bench` run folders.

For every question whose metadata names its "entity" and "kind" (the consistency suite and the world do), each
depth-1 explanation of the unpruned tree is counted: all of them, those that name the entity (as a whole word),
and those that state its true kind ("Dazo is a keto."). Also how many of each the belief keeps as integral,
and of the integral ones about the entity, how many the belief holds true (b(E) > b(~E)) with the true kind
and with another kind (or none): the facts MAX-SAT is then consistent with. Last, the explanations that are
the question's gold explanation word for word (its metadata "explanation"), and how many of those are
integral and believed; and the integral, believed explanations whose last sentence is about another property
than the statement's (its metadata "property"): true facts, perhaps, but not a reason for the statement, which
MAX-SAT's abductive clause takes them for all the same. With maieutic's `link` option, the explanations the link
check dropped (no reason for the statement, so no clause): all of them, the gold chains among them, and the
believed ones ending on another property among them.
A tree explained with another entity's facts, or with a wrong kind, gives MAX-SAT consistent but wrong facts.

    python -m reasonkit.benchmarks.studies.maieutic_abduction RUN_FOLDER [RUN_FOLDER ...]
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import networkx as nx
from pydantic import BaseModel

from reasonkit.benchmarks.report import Run, benchmark_label, load_runs
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies.beliefs import find_slot, sentences


class AbductionCounts(BaseModel):
    """Depth-1 explanations, summed over questions; `integral` counts those the belief found integral."""

    questions: int = 0
    explanations: int = 0
    naming_entity: int = 0
    true_kind: int = 0
    integral: int = 0
    integral_naming_entity: int = 0
    integral_true_kind: int = 0
    believed_true_kind: int = 0
    believed_other_kind: int = 0
    gold_chain: int = 0
    gold_chain_believed: int = 0
    believed_off_property: int = 0
    unlinked: int = 0
    gold_chain_unlinked: int = 0
    believed_off_property_unlinked: int = 0

    def __add__(self, other: AbductionCounts) -> AbductionCounts:
        return AbductionCounts(
            **{name: getattr(self, name) + getattr(other, name) for name in AbductionCounts.model_fields}
        )


def ends_on(explanation: str, prop: str) -> bool:
    """Whether the explanation's last sentence ends on `prop` ("... Ketos are not soft." ends on "soft")."""
    last = sentences(explanation)[-1:]
    slot = find_slot(last[0]) if last else None
    return slot is not None and slot.filler.lower() == prop.lower()


def tree_counts(tree: nx.DiGraph, entity: str, kind: str, gold: str = "", prop: str = "") -> AbductionCounts:
    """One question's depth-1 explanations: about `entity`, stating that it is a `kind`, equal to the
    question's `gold` explanation (its whole chain of facts), and (with `prop`, the statement's property)
    believed though they end on another property."""
    names = re.compile(rf"\b{re.escape(entity)}\b")
    kind_fact = re.compile(rf"\b{re.escape(entity)} is an? {re.escape(kind)}\.")
    nodes = [mt.node(tree, n) for n in tree.nodes if n != mt.ROOT and mt.depth_of(n) == 1]
    naming = [n for n in nodes if names.search(n.text)]
    kinds = [n for n in naming if kind_fact.search(n.text)]
    believed = [n for n in naming if n.integral and n.believed_true]
    chains = [n for n in nodes if gold and n.text == gold]
    off_property = [n for n in nodes if prop and n.integral and n.believed_true and not ends_on(n.text, prop)]
    return AbductionCounts(
        questions=1,
        explanations=len(nodes),
        naming_entity=len(naming),
        true_kind=len(kinds),
        integral=sum(n.integral for n in nodes),
        integral_naming_entity=sum(n.integral for n in naming),
        integral_true_kind=sum(n.integral for n in kinds),
        believed_true_kind=sum(bool(kind_fact.search(n.text)) for n in believed),
        believed_other_kind=sum(not kind_fact.search(n.text) for n in believed),
        gold_chain=len(chains),
        gold_chain_believed=sum(n.integral and n.believed_true for n in chains),
        believed_off_property=len(off_property),
        unlinked=sum(not n.linked for n in nodes),
        gold_chain_unlinked=sum(not n.linked for n in chains),
        believed_off_property_unlinked=sum(not n.linked for n in off_property),
    )


def run_counts(run: Run) -> AbductionCounts | None:
    """Summed over a run's maieutic traces with an entity and a kind; None for a run without any."""
    total = AbductionCounts()
    for line in run.lines:
        steps = line.prediction.trace.steps
        entity, kind = line.question.metadata.get("entity"), line.question.metadata.get("kind")
        if "unpruned_tree" not in steps or not entity or not kind:
            continue
        tree = mt.tree_from_json(steps["unpruned_tree"])
        gold = str(line.question.metadata.get("explanation", ""))
        prop = str(line.question.metadata.get("property", ""))
        total = total + tree_counts(tree, str(entity), str(kind), gold, prop)
    return total if total.questions else None


def counts_table(runs: list[Run]) -> str:
    """A markdown table, one row per run that has counts."""
    rows = []
    for run in runs:
        c = run_counts(run)
        if c is None:
            continue
        rows.append(
            f"| {benchmark_label(run.record)} | {run.label} | {c.questions} | {c.explanations} | {c.naming_entity} "
            f"| {c.true_kind} | {c.integral} | {c.integral_naming_entity} | {c.integral_true_kind} "
            f"| {c.believed_true_kind} | {c.believed_other_kind} | {c.gold_chain} | {c.gold_chain_believed} "
            f"| {c.believed_off_property} | {c.unlinked} | {c.gold_chain_unlinked} "
            f"| {c.believed_off_property_unlinked} |"
        )
    return (
        "| benchmark | strategy | questions | depth-1 explanations | naming the entity | with its true kind "
        "| integral | integral, naming the entity | integral, with its true kind "
        "| integral and believed, with its true kind | integral and believed, about the entity but not its true kind "
        "| the gold chain | the gold chain, integral and believed | integral and believed, ending on another property "
        "| dropped by the link check | the gold chain, dropped | integral, believed, on another property, dropped |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows)
        + "\n"
        if rows
        else ""
    )


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def main(folders: tuple[Path, ...]) -> None:
    """Print the abduction counts of every maieutic run under FOLDERS."""
    table = counts_table(load_runs(list(folders)))
    if not table:
        raise click.ClickException("no maieutic run with entity and kind metadata under the given folders")
    click.echo(table, nl=False)


if __name__ == "__main__":
    main()
