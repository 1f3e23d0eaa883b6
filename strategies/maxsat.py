"""Maieutic inference as weighted MAX-SAT: clauses from the tree and relations, solved with python-sat RC2.

Clauses (all soft):
- belief: a unit clause on each integral node, E if P(True|E) > P(True|~E) else ~E, weighted
  |b0 - b1| / (b0 + b1) (authors' compute_belief);
- abductive: an explanation from "true, because" implies its parent (~E or P), one from "false, because"
  implies the parent's negation (~E or ~P) (the paper's tree relations);
- relation: entail(A, B) gives (~A or B), contradict(A, B) gives (~A or ~B), over the forms the model believes
  (authors' compute_consistency / convert_graph_to_sat, weight 1).
The root's value is decided by solving twice, with the root forced true and forced false: the lower cost
wins, and the two costs are the answer's scores. A tie (e.g. no clause mentions the root) is reported as such.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict
from pysat.examples.rc2 import RC2
from pysat.formula import WCNF

from reasonkit.strategies.maieutic_tree import ROOT, belief_weight, node, parent_of
from reasonkit.strategies.relations import RelationScores

log = logging.getLogger(__name__)

WEIGHT_SCALE = 1000
"""RC2 needs integer weights: real weights are multiplied by this and rounded."""


class Lit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str
    positive: bool


class SoftClause(BaseModel):
    """A disjunction of literals over node ids, with a real weight and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["belief", "abductive", "relation"]
    literals: tuple[Lit, ...]
    weight: float
    source: str = ""


class Relation(BaseModel):
    """A scored relation from node `premise` to node `hypothesis` (on their believed forms)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    premise: str
    hypothesis: str
    scores: RelationScores


class SolveResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["solved", "tie", "no_soft_clauses", "too_large", "timeout"]
    answer: bool | None = None
    cost_true: float | None = None
    cost_false: float | None = None
    assignment: dict[str, bool] = {}
    n_vars: int = 0
    n_clauses: int = 0


def belief_clauses(tree: nx.DiGraph) -> list[SoftClause]:
    clauses = []
    for node_id in tree.nodes:
        item = node(tree, node_id)
        weight = belief_weight(item.belief)
        if not item.integral or weight is None or weight == 0.0:
            continue
        clauses.append(
            SoftClause(
                kind="belief",
                literals=(Lit(node=node_id, positive=weight > 0),),
                weight=abs(weight),
                source=f"b={item.belief[0]:.3g} vs b~={item.belief[1]:.3g}",
            )
        )
    return clauses


def abductive_clauses(tree: nx.DiGraph, weight: float = 1.0) -> list[SoftClause]:
    clauses = []
    for node_id in tree.nodes:
        parent = parent_of(tree, node_id)
        if parent is None:
            continue
        polarity = node(tree, node_id).polarity
        clauses.append(
            SoftClause(
                kind="abductive",
                weight=weight,
                source=f"{node_id} explains {parent} is {polarity == 'T'}",
                literals=(Lit(node=node_id, positive=False), Lit(node=parent, positive=polarity == "T")),
            )
        )
    return clauses


def relation_clauses(
    tree: nx.DiGraph, relations: Iterable[Relation], weight: float = 1.0
) -> list[SoftClause]:
    """Entail/contradict between believed forms; neutral pairs add nothing (authors: argmax != neutral)."""
    clauses = []
    for rel in relations:
        label = rel.scores.label
        if label == "neutral":
            continue
        a_form = node(tree, rel.premise).believed_true
        b_form = node(tree, rel.hypothesis).believed_true
        b_literal = Lit(node=rel.hypothesis, positive=b_form if label == "entail" else not b_form)
        clauses.append(
            SoftClause(
                kind="relation",
                weight=weight,
                source=f"{rel.premise} {label}s {rel.hypothesis}",
                literals=(Lit(node=rel.premise, positive=not a_form), b_literal),
            )
        )
    return clauses


def _solve_forced(wcnf: WCNF, root_literal: int, time_limit_s: float) -> tuple[int, list[int]] | None:
    """Minimum cost and model with the root literal hard; None when interrupted by the time limit."""
    forced = wcnf.copy()
    forced.append([root_literal])
    with RC2(forced) as rc2:
        timer = threading.Timer(time_limit_s, rc2.interrupt)
        timer.start()
        try:
            model = rc2.compute(expect_interrupt=True)
        finally:
            timer.cancel()
        if model is None:
            return None
        return rc2.cost, model


def solve(
    clauses: list[SoftClause],
    root: str = ROOT,
    time_limit_s: float = 5.0,
    max_vars: int = 500,
    max_clauses: int = 5000,
) -> SolveResult:
    """Weighted MAX-SAT over the clauses; the guards (size, `time_limit_s` over both solves) return a status
    the caller falls back on."""
    kept = [(c, round(c.weight * WEIGHT_SCALE)) for c in clauses]
    kept = [(c, scaled) for c, scaled in kept if scaled > 0]
    names = sorted({lit.node for clause, _ in kept for lit in clause.literals} | {root})
    var = {name: i + 1 for i, name in enumerate(names)}
    wcnf = WCNF()
    for clause, scaled in kept:
        wcnf.append(
            [var[lit.node] if lit.positive else -var[lit.node] for lit in clause.literals], weight=scaled
        )
    size = {"n_vars": len(names), "n_clauses": len(wcnf.soft)}
    if not wcnf.soft:
        return SolveResult(status="no_soft_clauses", **size)
    if len(names) > max_vars or len(wcnf.soft) > max_clauses:
        log.warning("MAX-SAT instance too large (%d vars, %d clauses)", len(names), len(wcnf.soft))
        return SolveResult(status="too_large", **size)
    deadline = time.monotonic() + time_limit_s
    solved: dict[bool, tuple[int, list[int]]] = {}
    for value in (True, False):
        left = deadline - time.monotonic()
        outcome = _solve_forced(wcnf, var[root] if value else -var[root], left) if left > 0 else None
        if outcome is None:
            log.warning(
                "RC2 stopped at the %.1f s limit (%d vars, %d clauses)",
                time_limit_s,
                len(names),
                len(wcnf.soft),
            )
            return SolveResult(status="timeout", **size)
        solved[value] = outcome
    (cost_t, model_t), (cost_f, model_f) = solved[True], solved[False]
    chosen = set(model_t if cost_t <= cost_f else model_f)
    return SolveResult(
        status="tie" if cost_t == cost_f else "solved",
        answer=None if cost_t == cost_f else cost_t < cost_f,
        cost_true=cost_t / WEIGHT_SCALE,
        cost_false=cost_f / WEIGHT_SCALE,
        assignment={name: var[name] in chosen for name in names},
        **size,
    )
