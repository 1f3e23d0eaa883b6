"""Maieutic end to end on a scripted FakeLM (beliefs, integrity, expansion, pruning, MAX-SAT, fallbacks) and
on the real tiny model trained in the test session."""

from __future__ import annotations

import math
import re

import networkx as nx
import pytest

from reasonkit.benchmarks.build_exemplars import MAIEUTIC_SUITES, exemplars_dir, maieutic_suite
from reasonkit.benchmarks.synthetic import suites
from reasonkit.fake import FakeLM, Rule
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies.maieutic import (
    CONTENT_FREE,
    Maieutic,
    exemplar_set_for,
    filter_explanations,
    load_exemplars,
    mean_logprob,
    pruning_note,
    rule_negation,
    statement_subject,
)
from reasonkit.types import Question

QUESTION = Question(id="penguins", text="Penguins can fly.", gold=False)

BELIEFS = {  # P(True | statement) the fake model gives
    "Penguins can fly.": 0.6,
    "Penguins can not fly.": 0.4,  # the root is not integral and leans True
    "Penguins are birds.": 0.9,
    "Penguins are not birds.": 0.05,
    "Penguins have tiny wings.": 0.9,
    "It is not true that Penguins have tiny wings.": 0.1,
    "Penguins swim instead of flying.": 0.85,
    "It is not true that Penguins swim instead of flying.": 0.1,
}


def _rule(statement: str, polarity: str, texts: list[str]) -> Rule:
    return Rule(
        re.escape(f"Q: {statement}\nA: This statement is {polarity}, because") + "$", tuple(texts), regex=True
    )


PENGUIN_RULES = [
    _rule("Penguins can fly.", "true", [" penguins are birds."]),
    _rule("Penguins can fly.", "false", [" penguins have tiny wings.", " penguins swim instead of flying."]),
]


def scorer(beliefs: dict[str, float], contradictions: frozenset[tuple[str, str]] = frozenset()):  # type: ignore[no-untyped-def]
    """Beliefs from the table; relations neutral unless the (premise, hypothesis) pair is listed."""

    def score(context: str, continuation: str) -> float:
        if context.endswith("True, False, or Neither?\nAnswer:"):
            premise, rest = context.split("\nQuestion: ")
            hypothesis = rest.removesuffix(" True, False, or Neither?\nAnswer:")
            label = " False" if (premise.split("\n")[-1], hypothesis) in contradictions else " Neither"
            return -0.1 if continuation == label else -3.0
        statement = context.removesuffix("\nA: This statement is").rsplit("Q: ", 1)[1]
        p_true = beliefs.get(statement, 0.5) if statement == CONTENT_FREE else beliefs[statement]
        return math.log(p_true if continuation == " true" else 1.0 - p_true)

    return score


def _tree(prediction) -> nx.DiGraph:  # type: ignore[no-untyped-def]
    return mt.tree_from_json(prediction.trace.steps["tree"])


def test_helpers() -> None:
    assert mt.two_way_probability(math.log(0.3), math.log(0.1)) == pytest.approx(0.75)
    assert mt.is_integral((0.9, 0.4)) and not mt.is_integral((0.9, 0.45)) and not mt.is_integral((None, 0.1))
    assert mt.belief_weight((0.9, 0.1)) == pytest.approx(0.8)
    assert mt.belief_weight((0.1, 0.9)) == pytest.approx(-0.8)
    assert filter_explanations([" a fact.\nQ: more", "a fact.", "no period", ""]) == ["A fact."]
    assert filter_explanations(["no period", "x"]) == ["No period"]
    assert rule_negation("Penguins can fly.") == "Penguins can not fly."
    assert rule_negation("Penguins cannot fly.") == "Penguins can fly."
    assert rule_negation("Soup isn't solid.") == "Soup is solid."
    assert rule_negation("Birds have wings.") == "It is not true that Birds have wings."


def test_prune_keeps_paths_to_integral_leaves() -> None:
    def n(node_id: str, integral: bool) -> mt.MaieuticNode:
        return mt.MaieuticNode(
            id=node_id, text=node_id, negation="~" + node_id, belief=(0.5, 0.5), integral=integral
        )

    tree = mt.new_tree(n("Q", False))
    for node_id, parent, integral in [
        ("QT0", "Q", False),
        ("QT0F0", "QT0", True),
        ("QT0T0", "QT0", False),
        ("QF0", "Q", False),
        ("QF0T0", "QF0", False),
    ]:
        mt.add_node(tree, n(node_id, integral), parent=parent)
    assert set(mt.prune(tree).nodes) == {"Q", "QT0", "QT0F0"}
    assert mt.prune(mt.new_tree(n("Q", False))).number_of_nodes() == 0
    assert set(mt.prune(mt.new_tree(n("Q", True))).nodes) == {"Q"}
    assert mt.polarity_of("QT0F12") == "F" and mt.depth_of("QT0F12") == 2 and mt.polarity_of("Q") is None
    with pytest.raises(ValueError, match="QX1"):
        mt.polarity_of("QX1")


def test_consistent_answer_overrules_the_root_belief() -> None:
    lm = FakeLM(PENGUIN_RULES, scores=scorer(BELIEFS))
    prediction = Maieutic(depth=1, negation="rule").run(QUESTION, lm)
    assert BELIEFS["Penguins can fly."] > BELIEFS["Penguins can not fly."]  # the root alone says True
    assert prediction.answer is False and prediction.is_correct(QUESTION)
    assert prediction.scores["False"] > prediction.scores["True"]
    tree = _tree(prediction)
    texts = {tree.nodes[n]["text"]: n for n in tree.nodes}
    assert set(texts) == {
        "Penguins can fly.",
        "Penguins are birds.",
        "Penguins have tiny wings.",
        "Penguins swim instead of flying.",
    }
    assert texts["Penguins are birds."] == "QT0" and {
        texts["Penguins have tiny wings."],
        texts["Penguins swim instead of flying."],
    } == {"QF0", "QF1"}
    assert tree.nodes["QT0"]["belief"] == pytest.approx((0.9, 0.05))
    assert tree.nodes["QT0"]["integral"] and not tree.nodes["Q"]["integral"]
    steps = prediction.trace.steps
    assert steps["assignment"]["Q"] is False and steps["solver"]["status"] == "solved"
    assert {n: tree.nodes[n]["value"] for n in tree} == steps["assignment"]
    assert {c["kind"] for c in steps["clauses"]} == {"belief", "abductive"}  # relations were all neutral
    assert steps["negation_method"] == "rule"
    assert prediction.trace.calls and prediction.trace.strategy == "maieutic"
    generations = [r for r in lm.requests if hasattr(r, "prompt")]
    assert {(r.n, r.temperature) for r in generations} == {(3, 1.0)}
    assert "This statement is true, because The Liberty Bell" in generations[0].prompt  # CREAK train shots


def test_relations_between_explanations_change_the_answer() -> None:
    both = frozenset(
        {
            ("Penguins have tiny wings.", "Penguins swim instead of flying."),
            ("Penguins swim instead of flying.", "Penguins have tiny wings."),
        }
    )
    lm = FakeLM(PENGUIN_RULES, scores=scorer(BELIEFS, contradictions=both))
    prediction = Maieutic(depth=1, negation="rule").run(QUESTION, lm)
    relation_clauses = [c for c in prediction.trace.steps["clauses"] if c["kind"] == "relation"]
    assert len(relation_clauses) == 2
    assert prediction.answer is True
    off = Maieutic(depth=1, negation="rule", relations=None).run(
        QUESTION, FakeLM(PENGUIN_RULES, scores=scorer(BELIEFS, contradictions=both))
    )
    assert off.answer is False and "relations: off" in off.trace.notes


def test_expansion_to_depth_two_and_pruning() -> None:
    beliefs = {
        **BELIEFS,
        "Penguins are birds.": 0.6,
        "Penguins are not birds.": 0.5,  # QT0 not integral
        "Birds lay eggs.": 0.95,
        "It is not true that Birds lay eggs.": 0.05,
        "Penguins are fish.": 0.5,
        "Penguins are not fish.": 0.5,
    }
    rules = PENGUIN_RULES + [
        _rule("Penguins are birds.", "true", [" birds lay eggs."]),
        _rule("Penguins are birds.", "false", [" penguins are fish."]),
    ]
    lm = FakeLM(rules, scores=scorer(beliefs))
    prediction = Maieutic(depth=2, negation="rule", relations=None).run(QUESTION, lm)
    deeper = [r for r in lm.requests if hasattr(r, "prompt") and "Penguins are birds.\nA: This" in r.prompt]
    assert {(r.n, r.temperature) for r in deeper} == {(1, 0.5)}
    full = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    pruned = _tree(prediction)
    assert set(full.nodes) - set(pruned.nodes) == {"QT0F0"}  # the non-integral leaf "Penguins are fish."
    assert pruned.nodes["QT0T0"]["text"] == "Birds lay eggs." and list(pruned.predecessors("QT0T0")) == [
        "QT0"
    ]
    assert any(c["source"] == "QT0T0 explains QT0 is True" for c in prediction.trace.steps["clauses"])


def test_integral_root_needs_no_explanations() -> None:
    beliefs = {"Penguins can fly.": 0.1, "Penguins can not fly.": 0.95}
    lm = FakeLM([], scores=scorer(beliefs))
    prediction = Maieutic(negation="rule").run(QUESTION, lm)
    assert prediction.answer is False
    assert not lm.generate_batches
    assert set(_tree(prediction).nodes) == {"Q"}
    assert prediction.trace.steps["solver"]["status"] == "solved"


def test_empty_tree_falls_back_to_root_belief() -> None:
    flat = {s: 0.5 for s in BELIEFS} | {"Penguins can fly.": 0.6, "Penguins can not fly.": 0.4}
    prediction = Maieutic(depth=1, negation="rule").run(QUESTION, FakeLM(PENGUIN_RULES, scores=scorer(flat)))
    assert prediction.answer is True  # the root's lean, since nothing integral survived
    assert _tree(prediction).number_of_nodes() == 0
    assert any(
        "fallback to the root belief (statement): empty tree" in note for note in prediction.trace.notes
    )


@pytest.mark.parametrize(("fallback", "answer"), [("statement", True), ("pair", False)])
def test_fallback_reads_the_statement_alone_or_against_its_negation(fallback: str, answer: bool) -> None:
    # a model that believes the statement, and its negation even more: "not" barely registers
    flat = {s: 0.5 for s in BELIEFS} | {"Penguins can fly.": 0.7, "Penguins can not fly.": 0.8}
    strategy = Maieutic(depth=1, negation="rule", fallback=fallback)  # type: ignore[arg-type]
    prediction = strategy.run(QUESTION, FakeLM(PENGUIN_RULES, scores=scorer(flat)))
    assert prediction.answer is answer
    assert _tree(prediction).number_of_nodes() == 0


def test_unknown_fallback_is_named() -> None:
    with pytest.raises(ValueError, match=r"fallback\n.*Input should be 'statement' or 'pair'"):
        Maieutic(fallback="majority")  # type: ignore[arg-type]


def test_solver_timeout_falls_back() -> None:
    strategy = Maieutic(depth=1, negation="rule", solver_time_limit_s=0.0)
    prediction = strategy.run(QUESTION, FakeLM(PENGUIN_RULES, scores=scorer(BELIEFS)))
    assert prediction.answer is True
    assert prediction.trace.steps["solver"]["status"] == "timeout"
    assert any("'timeout'" in note for note in prediction.trace.notes)


def test_lm_negation_with_rule_fallback() -> None:
    negations = [
        Rule(
            re.escape("Q: Penguins can fly.\nA: The statement is false.") + "$",
            (" Penguins can not fly.",),
            regex=True,
        ),
        Rule(
            re.escape("Q: Penguins are birds.\nA: The statement is false.") + "$",
            (" penguins are not birds.",),
            regex=True,
        ),
        Rule("A: The statement is false.$", ("",), regex=True),
    ]  # nothing usable: the rule negates
    lm = FakeLM(PENGUIN_RULES + negations, scores=scorer(BELIEFS))
    prediction = Maieutic(depth=1).run(QUESTION, lm)
    tree = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    methods = {
        tree.nodes[n]["text"]: (tree.nodes[n]["negation"], tree.nodes[n]["negation_method"]) for n in tree
    }
    assert methods["Penguins can fly."] == ("Penguins can not fly.", "lm")
    assert methods["Penguins are birds."] == ("Penguins are not birds.", "lm")
    assert methods["Penguins have tiny wings."] == ("It is not true that Penguins have tiny wings.", "rule")
    assert prediction.answer is False


def test_not_for_multiple_choice_and_bad_options() -> None:
    question = Question(id="mc", text="Which flies?", options=("penguin", "sparrow"), gold=1)
    assert not Maieutic().applies_to(question)
    assert Maieutic().run(question, FakeLM()).answer is None
    with pytest.raises(ValueError, match=r"negation\n.*Input should be 'lm' or 'rule'"):
        Maieutic(negation="llm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'relations'"):
        Maieutic(relations="nli")


def test_registered_and_config_round_trips() -> None:
    from reasonkit.registry import build_strategy
    from reasonkit.strategies.relations import HFNLIScorer

    strategy = build_strategy("maieutic(depth=1, relations='hf:/models/roberta-large-mnli', negation='rule')")
    assert isinstance(strategy, Maieutic) and isinstance(strategy.relation_scorer, HFNLIScorer)
    assert strategy.relation_scorer.model_path == "/models/roberta-large-mnli"  # nothing loaded yet
    again = build_strategy(strategy.config())
    assert again.config() == strategy.config() and again.config()["depth"] == 1


def test_a_question_of_another_world_uses_that_worlds_exemplars() -> None:
    """A model trained on world seed 1 is shown seed 1's train statements, not seed 0's, whose names it never saw."""
    metadata = {"benchmark": "consistency", "world_seed": 1}
    seeded = Question(id="c-world1", text="Zapodu is striped.", gold=False, metadata=metadata)
    assert exemplar_set_for(seeded) == "consistency_world1"
    own = {ex.statement for ex in load_exemplars("consistency_world1")}
    assert own.isdisjoint(ex.statement for ex in load_exemplars("consistency"))
    unseen = seeded.model_copy(update={"metadata": {**metadata, "world_seed": 5}})
    with pytest.raises(ValueError, match="no exemplar set 'consistency_world5'.*give option 'exemplars'"):
        exemplar_set_for(unseen)
    assert exemplar_set_for(unseen, "consistency") == "consistency"


def test_a_question_uses_its_benchmarks_exemplars_when_shipped() -> None:
    world = Question(id="w", text="Zapodu is striped.", gold=False, metadata={"benchmark": "world"})
    assert exemplar_set_for(world) == "world" and exemplar_set_for(QUESTION) == "creak"
    assert exemplar_set_for(world, "creak") == "creak"
    lm = FakeLM(default=" nothing.")
    prediction = Maieutic(depth=1, negation="rule", relations=None, shots=2).run(world, lm)
    assert "exemplars: world" in prediction.trace.notes
    [first] = [call.request["prompt"] for call in prediction.trace.calls if call.kind == "generate"][:1]
    assert (
        first.startswith(
            "".join(
                f"Q: {ex.statement}\nA: This statement is {'true' if ex.label else 'false'}, because {ex.explanation}\n"
                for ex in load_exemplars("world")[:2]
            )
        )
        and "Liberty Bell" not in first
    )
    with pytest.raises(ValueError, match="exemplar set 'nope'"):
        Maieutic(exemplars="nope")


def test_beliefs_are_calibrated_against_a_content_free_statement() -> None:
    """A context that leans to " true" (P = 0.9 for "N/A") no longer makes every statement believed."""
    beliefs = {CONTENT_FREE: 0.9, "Penguins can fly.": 0.9, "Penguins can not fly.": 0.6}

    def root_belief(calibrate: bool) -> list[float]:
        strategy = Maieutic(depth=1, negation="rule", relations=None, calibrate=calibrate)
        prediction = strategy.run(QUESTION, FakeLM(default="", scores=scorer(beliefs)))
        return mt.tree_from_json(prediction.trace.steps["unpruned_tree"]).nodes[mt.ROOT]["belief"]

    odds = 0.6 / 0.4 / (0.9 / 0.1)
    assert root_belief(False) == pytest.approx([0.9, 0.6])
    assert root_belief(True) == pytest.approx([0.5, odds / (1 + odds)])


def test_world_exemplars_are_train_statements_never_asked_in_test() -> None:
    from reasonkit.benchmarks.synthetic import suites

    splits = suites()["world"].generate(0).splits
    train = {q.text: q for q in splits["train"]}
    test_entities = {q.metadata["entity"] for q in splits["test"]}
    exemplars = load_exemplars("world")
    assert sorted(ex.label for ex in exemplars) == [False] * 4 + [True] * 4
    for ex in exemplars:
        assert train[ex.statement].gold is ex.label
        assert ex.explanation == train[ex.statement].metadata["explanation"]
        assert ex.statement.split()[0] not in test_entities


def test_node_cap_is_noted() -> None:
    prediction = Maieutic(depth=1, negation="rule", max_nodes=2).run(
        QUESTION, FakeLM(PENGUIN_RULES, scores=scorer(BELIEFS))
    )
    assert mt.tree_from_json(prediction.trace.steps["unpruned_tree"]).number_of_nodes() == 2
    assert any("node cap 2" in note for note in prediction.trace.notes)


def test_subject_prefix_makes_every_explanation_about_the_statements_subject() -> None:
    rules = [
        Rule(re.escape("This statement is true, because Penguins") + "$", (" are birds.",), regex=True),
        Rule(
            re.escape("This statement is false, because Penguins") + "$", (" have tiny wings.",), regex=True
        ),
    ]
    prediction = Maieutic(depth=1, negation="rule", abduction_prefix="subject").run(
        QUESTION, FakeLM(rules, scores=scorer(BELIEFS))
    )
    tree = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    assert {tree.nodes[n]["text"] for n in tree if n != mt.ROOT} == {
        "Penguins are birds.",
        "Penguins have tiny wings.",
    }
    assert statement_subject("Dazo is soft.") == "Dazo" and statement_subject("Birds have wings.") == ""


def test_abduction_candidates_keep_the_likeliest_distinct_explanations() -> None:
    texts = (
        " penguins are birds.",
        " penguins have tiny wings.",
        " penguins swim instead of flying.",
        " no period",
    )
    lm = FakeLM(default=texts, scores=scorer(BELIEFS))
    prediction = Maieutic(depth=1, n_first=1, negation="rule", abduction_candidates=4).run(QUESTION, lm)
    [request, *_] = [r for r in lm.requests if hasattr(r, "prompt") and r.prompt.endswith("true, because")]
    assert request.n == 4
    [result] = FakeLM(default=texts).generate([request])
    ranked = sorted((s for s in result.samples if s.text.endswith(".")), key=mean_logprob, reverse=True)
    assert ranked[0].text != result.samples[0].text  # the scripted order is not the likelihood order
    tree = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    assert tree.nodes["QT0"]["text"] == filter_explanations([ranked[0].text])[0] and "QT1" not in tree


@pytest.mark.slow
def test_real_tiny_model(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    questions = [
        Question(id="fly", text="Penguins can fly.", gold=False),
        Question(id="wet", text="Water is wet.", gold=True),
    ]
    strategy = Maieutic(depth=1, n_first=1, shots=1, max_tokens=8)
    for question, prediction in zip(questions, strategy.run_many(questions, tiny_engine), strict=True):
        assert prediction.question_id == question.id and prediction.answer in (True, False)
        steps = prediction.trace.steps
        full = mt.tree_from_json(steps["unpruned_tree"])
        assert full.nodes["Q"]["text"] == question.text and full.number_of_nodes() >= 1
        assert all(0.0 <= b <= 1.0 for n in full for b in full.nodes[n]["belief"])
        assert set(mt.tree_from_json(steps["tree"]).nodes) <= set(full.nodes)
        kinds = {call.kind for call in prediction.trace.calls}
        assert kinds == {"loglikelihood", "generate"}  # negations are generated even for an integral root
        if steps["solver"] is None or steps["solver"]["status"] != "solved":
            assert any("fallback to the root belief" in note for note in prediction.trace.notes)


@pytest.mark.slow
def test_real_tiny_model_with_likeliest_subject_explanations(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    question = Question(id="fly", text="Penguins can fly.", gold=False)
    strategy = Maieutic(
        depth=1, n_first=1, shots=1, max_tokens=8, abduction_candidates=3, abduction_prefix="subject"
    )
    prediction = strategy.run(question, tiny_engine)
    tree = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    below = [n for n in tree if n != mt.ROOT]
    assert (
        {n[:2] for n in below} <= {"QT", "QF"} and len(below) <= 2 and not any(n.endswith("1") for n in below)
    )
    assert all(tree.nodes[n]["text"].startswith("Penguins") for n in below)
    abductions = [c.request for c in prediction.trace.calls if "because" in c.request.get("prompt", "")]
    assert abductions and all(r["prompt"].endswith("because Penguins") and r["n"] == 3 for r in abductions)


def test_the_pruning_note_says_what_was_kept_and_why() -> None:
    tree = nx.DiGraph()
    tree.add_node("Q", integral=False)
    tree.add_node("QT0", integral=False)
    tree.add_node("QF0", integral=False)
    tree.add_edges_from([("Q", "QT0"), ("Q", "QF0")])
    assert pruning_note(tree, mt.prune(tree)) == (
        "tree: 3 nodes generated, 0 kept by pruning (a node is kept only on a path from the root to a logically "
        "integral leaf; 0 of 2 leaves were integral)"
    )


@pytest.mark.parametrize("suite", MAIEUTIC_SUITES)
def test_a_synthetic_suites_maieutic_exemplars_are_its_train_statements_as_built(suite: str) -> None:
    """The shipped set is what the builder makes from the suite's train split, and the suite's questions
    use it (a small model explains in the shape of its shots)."""
    shipped = (exemplars_dir() / f"maieutic_{suite}_train.jsonl").read_text(encoding="utf-8")
    assert shipped == maieutic_suite(suite)
    question = suites()[suite].generate(0).splits["test"][0]
    assert exemplar_set_for(question) == suite
    train_ids = {q.id for q in suites()[suite].generate(0).splits["train"]}
    assert {ex.id for ex in load_exemplars(suite)} <= train_ids
