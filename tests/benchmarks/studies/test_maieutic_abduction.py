"""The abduction count over run folders: depth-1 explanations, those naming the entity, those with its true kind."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from reasonkit.benchmarks.report import load_runs
from reasonkit.benchmarks.runner import RunRecord, run_benchmark
from reasonkit.benchmarks.studies.maieutic_abduction import counts_table, main, tree_counts
from reasonkit.fake import FakeLM, Rule
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies.maieutic import Maieutic
from reasonkit.types import Question


def _node(
    node_id: str, text: str, integral: bool, belief: tuple[float, float] = (0.9, 0.1)
) -> mt.MaieuticNode:
    return mt.MaieuticNode(id=node_id, text=text, negation="~", belief=belief, integral=integral)


def test_tree_counts_reads_depth_one_explanations_only() -> None:
    tree = mt.new_tree(_node("Q", "Dazo is soft.", False))
    for node_id, parent, text, integral in [
        ("QT0", "Q", "Dazo is a keto. Ketos are soft.", True),
        ("QT1", "Q", "Dazos are soft.", True),  # not the entity as a word
        ("QF0", "Q", "Dazo is a zite. Zites are not soft.", False),
        ("QF1", "Q", "Desuka is a keto. Ketos are soft.", True),
        ("QT0T0", "QT0", "Dazo is a keto.", True),  # depth 2: not counted
    ]:
        mt.add_node(tree, _node(node_id, text, integral), parent=parent)
    mt.add_node(
        tree, _node("QF2", "Dazo is a fufe. Fufes are soft.", True, (0.1, 0.9)), parent="Q"
    )  # held false
    counts = tree_counts(tree, "Dazo", "keto")
    assert (counts.explanations, counts.naming_entity, counts.true_kind) == (5, 3, 1)
    assert (counts.integral, counts.integral_naming_entity, counts.integral_true_kind) == (4, 2, 1)
    assert (counts.believed_true_kind, counts.believed_other_kind) == (1, 0)
    mt.add_node(tree, _node("QF3", "Dazo is a zite.", True), parent="Q")  # believed, another kind
    assert tree_counts(tree, "Dazo", "keto").believed_other_kind == 1
    chains = tree_counts(tree, "Dazo", "keto", gold="Dazo is a keto. Ketos are soft.")
    assert (chains.gold_chain, chains.gold_chain_believed, counts.gold_chain) == (1, 1, 0)
    assert counts.believed_off_property == 0  # no property given: nothing counted
    # believed and integral: QT0, QT1, QF1 end on "soft", QF3 on "zite"; QF0 is not integral, QF2 held false
    assert tree_counts(tree, "Dazo", "keto", prop="soft").believed_off_property == 1
    mt.add_node(tree, _node("QT2", "Dazo is a keto. Ketos are not striped.", True), parent="Q")
    assert tree_counts(tree, "Dazo", "keto", prop="soft").believed_off_property == 2
    assert tree_counts(tree, "Dazo", "keto", prop="striped").believed_off_property == 4
    assert tree_counts(tree, "Dazo", "keto", prop="soft").unlinked == 0
    # the link check dropped the gold chain QT0 and QT2, believed but about "striped"
    for node_id in ("QT0", "QT2"):
        tree.nodes[node_id]["linked"] = False
    dropped = tree_counts(tree, "Dazo", "keto", gold="Dazo is a keto. Ketos are soft.", prop="soft")
    assert (dropped.unlinked, dropped.gold_chain_unlinked, dropped.believed_off_property_unlinked) == (
        2,
        1,
        1,
    )
    assert (
        dropped.believed_off_property == 2
    )  # still counted as believed: the dropped count says what MAX-SAT saw


def test_counts_table_over_a_maieutic_run(tmp_path: Path) -> None:
    questions = [
        Question(
            id=f"c{i}",
            text=f"{name} is soft.",
            gold=True,
            metadata={
                "entity": name,
                "kind": "keto",
                "explanation": f"{name} is a keto. Ketos are soft.",
                "property": "soft",
            },
        )
        for i, name in enumerate(["Dazo", "Fereku"])
    ]
    lm = FakeLM(
        [Rule(re.escape("because") + "$", (" Dazo is a keto. Ketos are soft.",), regex=True)],
        default=(" N/A",),
        scores=lambda context, continuation: -1.0,
    )
    strategy = Maieutic(depth=1, n_first=1, negation="rule", relations=None)
    record = RunRecord.of("consistency", "test", questions, strategy, lm, "fake")
    run_benchmark(questions, strategy, lm, tmp_path / "run", record)
    table = counts_table(load_runs([tmp_path])).splitlines()
    # each question gets the same two explanations (true and false prompts): about Dazo, never about Fereku
    assert (
        table[2] == "| consistency | maieutic | 2 | 4 | 2 | 2 | 0 | 0 | 0 | 0 | 0 | 2 | 0 | 0 | 0 | 0 | 0 |"
    )
    result = CliRunner().invoke(main, [str(tmp_path)])
    assert result.exit_code == 0 and result.output.splitlines()[2] == table[2]
