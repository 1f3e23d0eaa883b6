"""The link check: is an explanation a reason for its parent, in the direction it was written for?"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest

from reasonkit.client import BatchingClient
from reasonkit.fake import FakeLM
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies.beliefs import FunctionBelief
from reasonkit.strategies.maieutic import Maieutic, abductive_prompt, content_free_claim, rule_negation
from reasonkit.strategies.relations import (
    AbductiveLink,
    ContinuationLink,
    Link,
    RelationLink,
    RelationScores,
)
from reasonkit.strategy import AsyncLM
from reasonkit.types import Question

STATEMENT = "Zapodu is striped."
REASON = "Zapodu is a nebanu. Nebanus are not striped."
ELSEWHERE = "Zapodu is a nebanu. Nebanus are loud."
"""A true fact about Zapodu, but about another property: no reason for or against the statement."""

ABDUCTIVE = {
    # (claim, polarity, explanation) -> log-likelihood of the explanation after the abductive prompt
    (STATEMENT, False, REASON): -1.0,
    (STATEMENT, True, REASON): -5.0,
    ("Zapodu is N/A.", False, REASON): -4.0,
    (STATEMENT, True, ELSEWHERE): -3.0,
    (STATEMENT, False, ELSEWHERE): -3.5,
    ("Zapodu is N/A.", True, ELSEWHERE): -2.0,
}


def abductive_scores(context: str, continuation: str) -> float:
    for (claim, polarity, explanation), logprob in ABDUCTIVE.items():
        if context == abductive_prompt(claim, polarity, ()) and continuation == f" {explanation}":
            return logprob
    raise AssertionError(f"unexpected request {context!r} {continuation!r}")


def link(explanation: str, polarity: bool) -> Link:
    return Link(explanation, STATEMENT, "Zapodu is not striped.", polarity, content_free_claim(STATEMENT))


def scored(scorer: AbductiveLink | ContinuationLink | RelationLink, links: Sequence[Link], lm: FakeLM):  # type: ignore[no-untyped-def]
    prompt = lambda statement, polarity: abductive_prompt(statement, polarity, ())  # noqa: E731
    return asyncio.run(scorer.score(links, BatchingClient(lm), prompt))


def softmax(values: Sequence[float]) -> list[float]:
    total = sum(math.exp(v) for v in values)
    return [math.exp(v) / total for v in values]


def test_content_free_claim_keeps_the_subject_and_verb() -> None:
    assert content_free_claim("Zapodu is striped.") == "Zapodu is N/A."
    assert content_free_claim("Penguins can not fly.") == "Penguins can N/A."
    assert content_free_claim("Hello there.") == "N/A"


def test_abductive_link_weighs_the_explanations_direction_against_the_other_and_a_content_free_claim() -> (
    None
):
    reason, elsewhere = scored(
        AbductiveLink(), [link(REASON, False), link(ELSEWHERE, True)], FakeLM({}, scores=abductive_scores)
    )
    entail, neutral, contradict = softmax([-1.0, -4.0, -5.0])
    assert (reason.entail, reason.neutral, reason.contradict) == pytest.approx((entail, neutral, contradict))
    assert reason.label == "entail"
    # the fact about another property is likelier as a reason for a claim about Zapodu with no content
    assert elsewhere.label == "neutral"
    assert elsewhere.entail == pytest.approx(softmax([-3.0, -2.0, -3.5])[0])


def test_continuation_link_reads_the_claim_after_the_explanation_against_a_content_free_text() -> None:
    def scores(context: str, continuation: str) -> float:
        table = {
            (REASON, " Zapodu is not striped."): -1.0,
            (REASON, " Zapodu is striped."): -3.0,
            ("N/A", " Zapodu is not striped."): -2.5,
            ("N/A", " Zapodu is striped."): -1.5,
        }
        return table[context, continuation]

    [as_written, reversed_] = scored(
        ContinuationLink(), [link(REASON, False), link(REASON, True)], FakeLM({}, scores=scores)
    )
    shift = (-1.0 - -3.0) - (-2.5 - -1.5)  # 3 nats towards "not striped" after the explanation
    assert as_written.entail == pytest.approx(1 / (1 + math.exp(-shift))) and as_written.label == "entail"
    assert reversed_.entail == pytest.approx(1 - as_written.entail) and reversed_.label == "contradict"


def test_a_relation_scorer_as_link_judges_the_explanation_against_the_claim_it_was_written_for() -> None:
    seen: list[tuple[str, str]] = []

    class Recording:
        name = "recording"

        async def score(self, pairs: Sequence[tuple[str, str]], lm: AsyncLM) -> list[RelationScores]:
            seen.extend(pairs)
            return [RelationScores(entail=0.7, neutral=0.2, contradict=0.1) for _ in pairs]

    against, written_for = scored(
        RelationLink(Recording()), [link(REASON, False), link(ELSEWHERE, True)], FakeLM({})
    )
    assert seen == [(REASON, STATEMENT), (ELSEWHERE, STATEMENT)]
    # an explanation of why the statement is false is a reason when it contradicts the statement
    assert (against.entail, against.contradict, against.label) == (0.1, 0.7, "contradict")
    assert (written_for.entail, written_for.label) == (0.7, "entail")


BELIEFS = {STATEMENT: 0.4, REASON: 0.9, ELSEWHERE: 0.95}


def tree_lm() -> FakeLM:
    def scores(context: str, continuation: str) -> float:
        explanation = continuation.strip()
        if explanation not in (REASON, ELSEWHERE):
            raise AssertionError(f"unexpected request {context!r} {continuation!r}")
        # each explanation is likeliest as the reason it is: REASON for "false", ELSEWHERE for no claim
        if explanation == REASON:
            return -1.0 if context.endswith(f"Q: {STATEMENT}\nA: This statement is false, because") else -5.0
        return -1.0 if "Q: Zapodu is N/A.\n" in context else -4.0

    return FakeLM(
        {
            "This statement is true, because$": [f" {ELSEWHERE}"],
            "This statement is false, because$": [f" {REASON}"],
        },
        scores=scores,
        regex=True,
    )


def table_belief() -> FunctionBelief:
    """P(true) from BELIEFS, and 1 - that for a statement's negation by the strategy's rule."""
    table = {**BELIEFS, **{rule_negation(text): 1.0 - b for text, b in BELIEFS.items()}}
    return FunctionBelief("table", lambda texts: [table[text] for text in texts])


def maieutic(link: str | None) -> Maieutic:
    return Maieutic(
        belief=table_belief(), link=link, depth=1, n_first=1, shots=0, negation="rule", relations=None
    )


def test_an_explanation_about_something_else_is_dropped_and_no_longer_decides_the_answer() -> None:
    """Without the link, the believed fact about another property (written as a reason for "true") outweighs
    the believed reason for "false"; with it, that fact is dropped and MAX-SAT follows the reason."""
    question = Question(id="z", text=STATEMENT, gold=False)
    plain = maieutic(None).run(question, tree_lm())
    checked = maieutic("abductive").run(question, tree_lm())
    assert plain.answer is True and checked.answer is False

    unpruned = mt.tree_from_json(checked.trace.steps["unpruned_tree"])
    pruned = mt.tree_from_json(checked.trace.steps["tree"])
    assert unpruned.nodes["QT0"]["text"] == ELSEWHERE and unpruned.nodes["QT0"]["linked"] is False
    assert unpruned.nodes["QF0"]["linked"] is True and unpruned.nodes["QF0"]["link"] > 0.9
    assert set(pruned.nodes) == {"Q", "QF0"}
    stats = mt.TreeStats.model_validate(checked.trace.steps["tree_stats"])
    assert stats.nodes_unlinked == 1 and stats.nodes_integral == 2
    assert mt.TreeStats.model_validate(plain.trace.steps["tree_stats"]).nodes_unlinked == 0
    assert checked.trace.steps["tree_stats"]["nodes_kept"] == 2


def test_an_unlinked_leaf_is_not_expanded() -> None:
    tree = mt.new_tree(mt.MaieuticNode(id="Q", text="q", negation="~q", belief=(0.5, 0.5), integral=False))
    for node_id, linked in (("QT0", False), ("QF0", True)):
        node = mt.MaieuticNode(
            id=node_id, text=node_id, negation="~", belief=(0.5, 0.5), integral=False, linked=linked
        )
        mt.add_node(tree, node, parent="Q")
    assert mt.expandable_leaves(tree) == ["QF0"]


def test_an_unknown_link_is_named() -> None:
    with pytest.raises(
        ValueError,
        match="option 'link' must be 'abductive', 'continuation', 'lm', 'lm:PATH', 'hf:PATH' or None",
    ):
        Maieutic(link="nli")
    assert Maieutic(link="lm").config()["link"] == "lm"
    assert Maieutic(link=AbductiveLink()).config()["link"] == "abductive"


def test_the_abductive_link_on_the_real_tiny_model(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    question = Question(id="fly", text="Penguins can fly.", gold=False)
    [prediction] = Maieutic(link="abductive", depth=1, n_first=1, shots=1, max_tokens=8).run_many(
        [question], tiny_engine
    )
    tree = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    children = [n for n in tree.nodes if n != "Q"]
    assert children
    for node_id in children:
        attrs = tree.nodes[node_id]
        assert 0.0 <= attrs["link"] <= 1.0
    stats = mt.TreeStats.model_validate(prediction.trace.steps["tree_stats"])
    assert stats.nodes_unlinked == sum(not tree.nodes[n]["linked"] for n in children)
    assert not set(mt.tree_from_json(prediction.trace.steps["tree"]).nodes) & {
        n for n in children if not tree.nodes[n]["linked"]
    }
