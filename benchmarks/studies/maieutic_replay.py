"""Replay the authors' pre-generated maieutic trees (GPT-3 explanations and beliefs, Jung et al. 2022) through
our clause construction and MAX-SAT solver, to check the inference half of maieutic prompting on real trees.

Question: Do our clauses and MAX-SAT solver reproduce maieutic prompting's inference on the authors' own
trees? Figures: BENCHMARKS.md, "Maieutic"; docs/studies/maieutic_replay.md.

The trees (shared/data/maieutic_prompting/<dataset>_dev.trees.jsonl, converted from the authors' pickles)
carry explanations, negations, belief pairs and integrity flags, but no NLI relations: the paper computed
those at inference time with roberta-large-mnli. The replay therefore uses belief and abductive (tree)
clauses only, unless a relation scorer is given. Empty trees (every branch pruned) are answered True, as the
authors' main_inference.py does; other trees without a usable MAX-SAT solution fall back to the root belief.

    python -m reasonkit.benchmarks.studies.maieutic_replay [--data-dir DIR] [--limit N]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import click
import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reasonkit.jsonl import iter_jsonl
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies.maieutic import answer_from
from reasonkit.strategies.maxsat import abductive_clauses, belief_clauses, solve

DATASETS = {"creak": 85.2, "csqa2": 69.5, "com2sense": 72.5}
"""Dataset file prefix -> the paper's maieutic accuracy (Table 1, GPT-3 + roberta-large-mnli relations)."""

FOLDER = "maieutic_prompting"


class TreeNodeRecord(BaseModel):
    """One node as the converted pickles store it."""

    model_config = ConfigDict(extra="forbid")

    parent: str | None
    children: list[str]
    E: str
    E_tilde: str
    blf: tuple[float | None, float | None]
    int: bool
    expanded: bool = True


class TreeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idx: int
    Q: str
    A: bool
    root: str | None
    nodes: dict[str, TreeNodeRecord] = Field(default_factory=dict)


class ReplayItem(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    idx: int
    statement: str
    gold: bool
    tree: nx.DiGraph


class ReplayResult(BaseModel):
    dataset: str
    n: int
    accuracy: float
    root_belief_accuracy: float
    fallbacks: int
    empty_trees: int
    paper: float


def default_data_dir() -> Path:
    env = os.environ.get("REASONKIT_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def tree_file(data_dir: Path, dataset: str) -> Path:
    return data_dir / FOLDER / f"{dataset}_dev.trees.jsonl"


def to_tree(record: TreeRecord) -> nx.DiGraph:
    """Our DiGraph from a record, parents before children; empty when the authors pruned everything."""
    tree = nx.DiGraph()
    if record.root is None:
        return tree
    order = [record.root]
    for node_id in order:
        order.extend(record.nodes[node_id].children)
    for node_id in order:
        item = record.nodes[node_id]
        node = mt.MaieuticNode(
            id=node_id, text=item.E, negation=item.E_tilde, belief=item.blf, integral=item.int
        )
        if item.parent is None:
            tree = mt.new_tree(node)
        else:
            mt.add_node(tree, node, parent=item.parent)
    return tree


def load_trees(path: Path, limit: int | None = None) -> Iterator[ReplayItem]:
    for line_no, row in iter_jsonl(path):  # bad bytes or JSON: JsonlError with file:line
        if limit is not None and line_no > limit:
            return
        try:
            record = TreeRecord.model_validate(row)
            tree = to_tree(record)
        except (ValidationError, ValueError, KeyError) as err:
            raise ValueError(f"{path}, line {line_no}: {err}") from err
        yield ReplayItem(idx=record.idx, statement=record.Q, gold=record.A, tree=tree)


def replay_answer(tree: nx.DiGraph, abductive_weight: float = 1.0) -> tuple[bool, bool]:
    """(answer, whether it fell back) for one tree, by our clauses and solver."""
    if tree.number_of_nodes() == 0:
        return True, True
    clauses = belief_clauses(tree) + abductive_clauses(tree, weight=abductive_weight)
    notes: list[str] = []
    prediction = answer_from("replay", solve(clauses), mt.node(tree, mt.ROOT), notes, fallback="pair")
    return bool(prediction.answer), bool(notes)


def root_belief_answer(tree: nx.DiGraph) -> bool:
    if tree.number_of_nodes() == 0:
        return True
    b_true, b_false = tree.nodes[mt.ROOT]["belief"]
    return b_true is not None and b_false is not None and b_true >= b_false


def replay(
    data_dir: Path, dataset: str, limit: int | None = None, abductive_weight: float = 1.0
) -> ReplayResult:
    correct = root_correct = fallbacks = empty = n = 0
    for item in load_trees(tree_file(data_dir, dataset), limit):
        answer, fell_back = replay_answer(item.tree, abductive_weight)
        n += 1
        correct += answer == item.gold
        root_correct += root_belief_answer(item.tree) == item.gold
        fallbacks += fell_back
        empty += item.tree.number_of_nodes() == 0
    if n == 0:
        raise ValueError(f"{tree_file(data_dir, dataset)}: no trees")
    return ReplayResult(
        dataset=dataset,
        n=n,
        accuracy=100 * correct / n,
        root_belief_accuracy=100 * root_correct / n,
        fallbacks=fallbacks,
        empty_trees=empty,
        paper=DATASETS[dataset],
    )


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="folder holding maieutic_prompting/ (default: $REASONKIT_DATA_DIR or <repo>/../shared/data)",
)
@click.option("--limit", type=int, default=None, help="replay only the first N trees of each file")
@click.option(
    "--abductive-weight",
    type=float,
    default=1.0,
    show_default=True,
    help="weight of the tree's implication clauses (belief clauses weigh at most 1)",
)
def main(data_dir: Path | None, limit: int | None, abductive_weight: float) -> None:
    """Accuracy of our MAX-SAT inference on the authors' trees, next to the paper's."""
    data_dir = data_dir or default_data_dir()
    for dataset in DATASETS:
        if not tree_file(data_dir, dataset).exists():
            raise click.ClickException(
                f"{tree_file(data_dir, dataset)} not found; pass --data-dir or set REASONKIT_DATA_DIR"
            )
    click.echo("dataset     n     ours   root-belief  paper  (fallbacks, empty trees)")
    for dataset in DATASETS:
        r = replay(data_dir, dataset, limit, abductive_weight)
        click.echo(
            f"{r.dataset:<10} {r.n:>5}  {r.accuracy:5.1f}  {r.root_belief_accuracy:9.1f}  {r.paper:7.1f}"
            f"  ({r.fallbacks}, {r.empty_trees})"
        )
    click.echo(
        "ours: belief + tree-implication clauses (the files hold no NLI relations); paper: + roberta-large-mnli"
    )


if __name__ == "__main__":
    main()
