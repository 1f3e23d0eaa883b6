"""Clause construction and the RC2 solve on hand-built trees whose consistent answer differs from the root's."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies import maxsat
from reasonkit.strategies.maxsat import Lit, Relation, SoftClause
from reasonkit.strategies.relations import RelationScores


def _node(node_id: str, b_e: float | None, b_not_e: float | None, text: str | None = None) -> mt.MaieuticNode:
    belief = (b_e, b_not_e)
    return mt.MaieuticNode(
        id=node_id,
        text=text or f"E{node_id}.",
        negation=f"not E{node_id}.",
        belief=belief,
        integral=mt.is_integral(belief),
    )


def penguin_tree() -> nx.DiGraph:
    """Root leans True (0.6 vs 0.4, not integral); two confident explanations say False, one weaker says True."""
    tree = mt.new_tree(_node("Q", 0.6, 0.4))
    mt.add_node(tree, _node("QT0", 0.9, 0.05), parent="Q")  # weight 0.894, implies Q
    mt.add_node(tree, _node("QF0", 0.9, 0.1), parent="Q")  # weight 0.8, implies ~Q
    mt.add_node(tree, _node("QF1", 0.85, 0.1), parent="Q")  # weight 0.789, implies ~Q
    return tree


def test_belief_clauses_on_integral_nodes_only_with_authors_weight() -> None:
    tree = penguin_tree()
    mt.add_node(tree, _node("QT1", 0.1, 0.8), parent="Q")  # believed false: clause on ~QT1
    clauses = {c.literals[0].node: c for c in maxsat.belief_clauses(tree)}
    assert set(clauses) == {"QT0", "QF0", "QF1", "QT1"}  # the root is not integral
    assert clauses["QT0"].weight == pytest.approx((0.9 - 0.05) / 0.95)
    assert clauses["QT0"].literals == (Lit(node="QT0", positive=True),)
    assert clauses["QT1"].literals == (Lit(node="QT1", positive=False),)
    assert clauses["QT1"].weight == pytest.approx(0.7 / 0.9)


def test_abductive_clauses_follow_polarity() -> None:
    tree = penguin_tree()
    mt.add_node(tree, _node("QF0T0", 0.7, 0.6), parent="QF0")
    clauses = {c.literals[0].node: c.literals for c in maxsat.abductive_clauses(tree)}
    assert clauses["QT0"] == (Lit(node="QT0", positive=False), Lit(node="Q", positive=True))
    assert clauses["QF0"] == (Lit(node="QF0", positive=False), Lit(node="Q", positive=False))
    assert clauses["QF0T0"] == (Lit(node="QF0T0", positive=False), Lit(node="QF0", positive=True))
    assert "Q" not in clauses


def test_relation_clauses_use_believed_forms_and_skip_neutral() -> None:
    tree = penguin_tree()
    mt.add_node(tree, _node("QT1", 0.1, 0.8), parent="Q")  # the model believes ~QT1
    entail = RelationScores(entail=0.8, neutral=0.1, contradict=0.1)
    contradict = RelationScores(entail=0.1, neutral=0.2, contradict=0.7)
    neutral = RelationScores(entail=0.2, neutral=0.6, contradict=0.2)
    relations = [
        Relation(premise="QT0", hypothesis="QF0", scores=contradict),
        Relation(premise="QT1", hypothesis="QT0", scores=entail),
        Relation(premise="QF0", hypothesis="QF1", scores=neutral),
    ]
    clauses = [c.literals for c in maxsat.relation_clauses(tree, relations)]
    assert clauses == [
        (Lit(node="QT0", positive=False), Lit(node="QF0", positive=False)),  # QT0 -> ~QF0
        (Lit(node="QT1", positive=True), Lit(node="QT0", positive=True)),  # ~QT1 -> QT0
    ]


def test_solver_overrules_the_root_belief() -> None:
    tree = penguin_tree()
    clauses = maxsat.belief_clauses(tree) + maxsat.abductive_clauses(tree)
    result = maxsat.solve(clauses)
    assert result.status == "solved"
    assert result.answer is False  # the root alone leans True
    # Q false: give up QT0's belief (0.894); Q true: give up QF0 and QF1's beliefs (0.8 + 0.789)
    assert result.cost_false == pytest.approx(0.894, abs=2e-3)
    assert result.cost_true == pytest.approx(0.8 + 0.789, abs=2e-3)
    assert result.assignment == {"Q": False, "QT0": False, "QF0": True, "QF1": True}


def test_contradiction_changes_the_answer() -> None:
    """Two weak F explanations outvote a strong T one, until the relation scorer finds they contradict."""
    tree = mt.new_tree(_node("Q", 0.5, 0.5))
    mt.add_node(tree, _node("QT0", 0.95, 0.01), parent="Q")
    mt.add_node(tree, _node("QF0", 0.7, 0.2), parent="Q")
    mt.add_node(tree, _node("QF1", 0.7, 0.2), parent="Q")
    base = maxsat.belief_clauses(tree) + maxsat.abductive_clauses(tree)
    assert maxsat.solve(base).answer is False
    contradict = RelationScores(entail=0.0, neutral=0.1, contradict=0.9)
    relations = [Relation(premise="QF0", hypothesis="QF1", scores=contradict)]
    result = maxsat.solve(base + maxsat.relation_clauses(tree, relations))
    assert result.answer is True
    assert result.assignment == {"Q": True, "QT0": True, "QF0": False, "QF1": False}


def test_no_soft_clauses_and_untouched_root() -> None:
    assert maxsat.solve([]).status == "no_soft_clauses"
    unrelated = [SoftClause(kind="belief", literals=(Lit(node="QT0", positive=True),), weight=0.5)]
    result = maxsat.solve(unrelated)
    assert result.status == "tie" and result.answer is None


def test_tiny_weights_vanish_after_scaling() -> None:
    clause = SoftClause(kind="belief", literals=(Lit(node="Q", positive=True),), weight=1e-5)
    assert maxsat.solve([clause]).status == "no_soft_clauses"


def test_size_guard() -> None:
    clauses = maxsat.belief_clauses(penguin_tree()) + maxsat.abductive_clauses(penguin_tree())
    assert maxsat.solve(clauses, max_vars=3).status == "too_large"
    assert maxsat.solve(clauses, max_clauses=5).status == "too_large"


def test_time_limit_gives_timeout_status() -> None:
    clauses = maxsat.belief_clauses(penguin_tree()) + maxsat.abductive_clauses(penguin_tree())
    assert maxsat.solve(clauses, time_limit_s=0.0).status == "timeout"


def _brute_force(clauses: list[SoftClause], root: str, value: bool) -> float:
    names = sorted({lit.node for c in clauses for lit in c.literals} - {root})
    best = math.inf
    for bits in itertools.product((False, True), repeat=len(names)):
        world = dict(zip(names, bits, strict=True)) | {root: value}
        cost = sum(
            round(c.weight * maxsat.WEIGHT_SCALE)
            for c in clauses
            if not any(world[lit.node] == lit.positive for lit in c.literals)
        )
        best = min(best, cost / maxsat.WEIGHT_SCALE)
    return best


@st.composite
def random_tree_clauses(draw: st.DrawFn) -> list[SoftClause]:
    tree = mt.new_tree(_node("Q", draw(st.floats(0.01, 0.99)), draw(st.floats(0.01, 0.99))))
    for _ in range(draw(st.integers(1, 6))):
        parent = draw(st.sampled_from(sorted(tree.nodes)))
        polarity = draw(st.sampled_from("TF"))
        index = sum(1 for child in tree.successors(parent) if child[len(parent)] == polarity)
        beliefs = draw(st.floats(0.01, 0.99)), draw(st.floats(0.01, 0.99))
        mt.add_node(tree, _node(f"{parent}{polarity}{index}", *beliefs), parent=parent)
    explanations = sorted(set(tree.nodes) - {"Q"})
    relations = [
        Relation(premise=a, hypothesis=b, scores=draw(st.sampled_from(LABELLED)))
        for a, b in draw(
            st.lists(st.tuples(st.sampled_from(explanations), st.sampled_from(explanations)), max_size=4)
        )
        if a != b
    ]
    return (
        maxsat.belief_clauses(tree)
        + maxsat.abductive_clauses(tree)
        + maxsat.relation_clauses(tree, relations)
    )


LABELLED = [
    RelationScores(entail=0.8, neutral=0.1, contradict=0.1),
    RelationScores(entail=0.1, neutral=0.1, contradict=0.8),
]


@settings(max_examples=40, deadline=None)
@given(random_tree_clauses())
def test_costs_match_brute_force(clauses: list[SoftClause]) -> None:
    result = maxsat.solve(clauses)
    expected_true, expected_false = _brute_force(clauses, "Q", True), _brute_force(clauses, "Q", False)
    assert result.cost_true == pytest.approx(expected_true)
    assert result.cost_false == pytest.approx(expected_false)
    assert result.answer == (None if expected_true == expected_false else expected_true < expected_false)
    world = result.assignment
    violated = sum(
        round(c.weight * maxsat.WEIGHT_SCALE)
        for c in clauses
        if not any(world[lit.node] == lit.positive for lit in c.literals)
    )
    assert violated / maxsat.WEIGHT_SCALE == pytest.approx(min(expected_true, expected_false))
