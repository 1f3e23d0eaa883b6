"""The maieutic tree: beliefs, logical integrity, pruning, and the networkx <-> JSON round trip.

Node ids follow the authors' scheme (jaehunjung1/Maieutic-Prompting): the root is "Q"; a child of node X is
X + "T" + i when generated under "This statement is true, because" and X + "F" + i under "... false, because".
So an explanation's polarity is readable from its id and the authors' pre-generated trees load unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict

ROOT = "Q"
INTEGRITY_THRESHOLD = 0.45
"""|P(True|E) - P(True|~E)| above this makes E logically integral (authors' generation.py)."""

Polarity = Literal["T", "F"]


class MaieuticNode(BaseModel):
    """One proposition E with its negation and the belief pair (P(True | E), P(True | ~E))."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    negation: str
    negation_method: Literal["lm", "rule", "given"] = "given"
    belief: tuple[float | None, float | None]
    integral: bool
    value: bool | None = None
    """The truth value MAX-SAT assigned, once solved."""
    link: float | None = None
    """How strongly the link scorer reads E as a reason for its parent in E's direction (None: not checked)."""
    linked: bool = True
    """False when the link scorer found E no reason for its parent: neither expanded nor kept by pruning."""

    @property
    def polarity(self) -> Polarity | None:
        """T: E explains why its parent is true; F: why it is false; None for the root."""
        return polarity_of(self.id)

    @property
    def believed_true(self) -> bool:
        """Whether E rather than ~E is the form the model believes (authors' prepare_node_list)."""
        b_e, b_not_e = self.belief
        return b_e is None or b_not_e is None or b_e > b_not_e


def polarity_of(node_id: str) -> Polarity | None:
    stem = node_id.rstrip("0123456789")
    if stem == node_id or len(stem) < 2 or stem[-1] not in "TF":
        if node_id == ROOT:
            return None
        raise ValueError(f"node id {node_id!r} does not follow the scheme Q, QT0, QF1, QT0F2, ...")
    return "T" if stem[-1] == "T" else "F"


def depth_of(node_id: str) -> int:
    return sum(ch in "TF" for ch in node_id[1:])


def two_way_probability(logprob_true: float, logprob_false: float) -> float:
    """P(True) from the log-likelihoods of " true" and " false", normalised over the two answers."""
    top = max(logprob_true, logprob_false)
    p_true, p_false = math.exp(logprob_true - top), math.exp(logprob_false - top)
    return p_true / (p_true + p_false)


def is_integral(belief: tuple[float | None, float | None], threshold: float = INTEGRITY_THRESHOLD) -> bool:
    """Logical integrity: the model answers E and ~E differently enough. Undefined beliefs are not integral."""
    b_e, b_not_e = belief
    if b_e is None or b_not_e is None:
        return False
    return abs(b_e - b_not_e) > threshold


def belief_weight(belief: tuple[float | None, float | None]) -> float | None:
    """(b0 - b1) / (b0 + b1): positive favours E, negative ~E (authors' compute_belief); None when undefined."""
    b_e, b_not_e = belief
    if b_e is None or b_not_e is None or b_e + b_not_e <= 0.0:
        return None
    return (b_e - b_not_e) / (b_e + b_not_e)


def new_tree(root: MaieuticNode) -> nx.DiGraph:
    if root.id != ROOT:
        raise ValueError(f"the root node must have id {ROOT!r}, got {root.id!r}")
    tree = nx.DiGraph()
    add_node(tree, root)
    return tree


def add_node(tree: nx.DiGraph, node: MaieuticNode, parent: str | None = None) -> None:
    if node.id in tree:
        raise ValueError(f"node {node.id!r} is already in the tree")
    if parent is not None and parent not in tree:
        raise ValueError(f"parent {parent!r} of node {node.id!r} is not in the tree")
    tree.add_node(node.id, **node.model_dump(exclude={"id"}))
    if parent is not None:
        tree.add_edge(parent, node.id)


def node(tree: nx.DiGraph, node_id: str) -> MaieuticNode:
    return MaieuticNode(id=node_id, **tree.nodes[node_id])


def parent_of(tree: nx.DiGraph, node_id: str) -> str | None:
    preds = list(tree.predecessors(node_id))
    return preds[0] if preds else None


def expandable_leaves(tree: nx.DiGraph) -> list[str]:
    """Leaves that are not logically integral: the ones the authors expand at the next depth (an unlinked
    explanation is no reason for its parent, so nothing below it is either)."""
    return [
        n
        for n in tree.nodes
        if tree.out_degree(n) == 0 and not tree.nodes[n]["integral"] and tree.nodes[n].get("linked", True)
    ]


def prune(tree: nx.DiGraph) -> nx.DiGraph:
    """Keep only nodes on a path from the root to an integral, linked leaf; may return an empty tree."""
    keep: set[str] = set()
    for leaf in (
        n
        for n in tree.nodes
        if tree.out_degree(n) == 0 and tree.nodes[n]["integral"] and tree.nodes[n].get("linked", True)
    ):
        keep.update(nx.ancestors(tree, leaf))
        keep.add(leaf)
    return tree.subgraph(keep).copy()


def tree_to_json(tree: nx.DiGraph) -> dict[str, Any]:
    """networkx node-link JSON with edges under the key "edges"."""
    return nx.node_link_data(tree, edges="edges")


def tree_from_json(data: dict[str, Any]) -> nx.DiGraph:
    tree = nx.node_link_graph(data, directed=True, edges="edges")
    for node_id, attrs in tree.nodes(data=True):
        attrs["belief"] = tuple(attrs["belief"])
        MaieuticNode(id=node_id, **attrs)  # validates every field, naming the node on error
    return tree


class TreeStats(BaseModel):
    """What one question's tree did (maieutic's trace step "tree_stats"; `reasonkit report` sums them)."""

    model_config = ConfigDict(extra="forbid")

    nodes_generated: int
    """Explanations generated below the root."""
    nodes_integral: int
    """Of those, the logically integral ones."""
    nodes_kept: int
    """Nodes left after pruning, the root included (0: the tree is empty)."""
    nodes_unlinked: int = 0
    """Explanations the link scorer found no reason for their parent (maieutic's `link` option)."""
    root_answer: bool
    """The answer the root's own belief gives (the fallback's rule)."""
    maxsat_answer: bool | None
    """MAX-SAT's answer; None when it gave none (empty tree, tie, timeout)."""

    @property
    def non_empty(self) -> bool:
        return self.nodes_kept > 0

    @property
    def explanations_kept(self) -> int:
        """Nodes kept below the root: a tree of its integral root alone is non-empty but explains nothing."""
        return max(self.nodes_kept - 1, 0)

    @property
    def changed(self) -> bool:
        """MAX-SAT answered, and not as the root's belief does."""
        return self.maxsat_answer is not None and self.maxsat_answer != self.root_answer


def tree_stats(
    tree: nx.DiGraph, pruned: nx.DiGraph, root_answer: bool, maxsat_answer: bool | None
) -> TreeStats:
    below = [n for n in tree.nodes if n != ROOT]
    return TreeStats(
        nodes_generated=len(below),
        nodes_integral=sum(bool(tree.nodes[n]["integral"]) for n in below),
        nodes_kept=pruned.number_of_nodes(),
        nodes_unlinked=sum(not tree.nodes[n].get("linked", True) for n in below),
        root_answer=root_answer,
        maxsat_answer=maxsat_answer,
    )
