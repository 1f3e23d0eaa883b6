"""Belief functions for maieutic: the paper's prompt, the likelihood of a slot's filler against its alternatives,
registered scoring functions; and maieutic's tree statistics with each."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import pytest

from reasonkit.client import BatchingClient
from reasonkit.fake import FakeLM
from reasonkit.registry import build_strategy
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategies.beliefs import (
    LikelihoodBelief,
    Slot,
    combined,
    find_slot,
    register_scoring_function,
    registered_beliefs,
)
from reasonkit.strategies.maieutic import Maieutic, rule_negation
from reasonkit.types import Question

KIND = {"nebanu": 0.95, "rufo": 0.04, "taga": 0.01}
"""P(filler | "Zapodu is a") the fake model gives."""


def likelihood_scores(context: str, continuation: str) -> float:
    """Kinds after "Zapodu is a" as in KIND; "Nebanus are" striped 0.9, not striped 0.1; relations neutral."""
    if context.endswith("True, False, or Neither?\nAnswer:"):
        return -0.1 if continuation == " Neither" else -3.0
    if context.startswith("N/A "):  # the content-free frames lean nowhere
        return math.log(0.5)
    if context == "Zapodu is a":
        return math.log(KIND.get(continuation.strip(" ."), 1e-6))
    if context == "Nebanus are":
        return math.log({" striped.": 0.9, " not striped.": 0.1}[continuation])
    if context == "Rufos are":
        return math.log({" striped.": 0.9, " not striped.": 0.1}[continuation])
    if context == "Zapodu is":
        return math.log({" striped.": 0.4, " not striped.": 0.6}[continuation])
    raise AssertionError(f"unexpected request {context!r} {continuation!r}")


def likelihood_lm() -> FakeLM:
    return FakeLM(
        {
            "^Zapodu is a$": [" rufo", " taga", " big dog", " nebanu", " taga"],
            "This statement is true, because$": [" Zapodu is a nebanu. Nebanus are striped."],
            "This statement is false, because$": [" Zapodu is a rufo. Rufos are not striped."],
        },
        scores=likelihood_scores,
        regex=True,
    )


def beliefs_of(
    belief: LikelihoodBelief, pairs: Sequence[tuple[str, str]], lm: FakeLM, offset: float | None = None
) -> list[tuple[float, float]]:
    return asyncio.run(belief.beliefs(pairs, BatchingClient(lm), (), offset))


def test_find_slot_reads_the_last_word_with_its_article_and_negation() -> None:
    assert find_slot("Zapodu is a nebanu.") == Slot("Zapodu is a", "nebanu", False, True)
    assert find_slot("Zapodu is not an egg.") == Slot("Zapodu is an", "egg", True, True)
    assert find_slot("Nebanus are not striped.") == Slot("Nebanus are", "striped", True, False)
    assert find_slot("Penguins can fly.") == Slot("Penguins can", "fly", False, False)
    assert find_slot("No period here") is None and find_slot("Hello.") is None


def test_likelihood_belief_compares_fillers_with_their_alternatives() -> None:
    lm = likelihood_lm()
    pairs = [
        ("Zapodu is a nebanu. Nebanus are striped.", "ignored"),
        ("Zapodu is not a nebanu.", "ignored"),
        ("Nebanus are not striped.", "ignored"),
        ("Zapodu is a rufo.", "ignored"),
        ("No slot here", "ignored"),
    ]
    beliefs = beliefs_of(LikelihoodBelief(n_alternatives=5), pairs, lm)
    expected = [0.95 * 0.9, 0.05, 0.1, 0.04, 0.5]
    assert [b for b, _ in beliefs] == pytest.approx(expected)
    assert [b_not for _, b_not in beliefs] == pytest.approx([1.0 - b for b in expected])
    generated = [r for r in lm.requests if hasattr(r, "prompt")]
    assert [(r.prompt, r.n) for r in generated] == [("Zapodu is a", 5)]  # one sampling per prefix
    scored = {(r.context, r.continuation) for r in lm.requests if not hasattr(r, "prompt")}
    assert ("Zapodu is a", " big dog.") not in scored  # two words: not the same slot as one word
    assert not any(context.startswith("N/A") for context, _ in scored)  # uncalibrated


def test_likelihood_calibration_removes_the_frames_lean() -> None:
    """ "N/A is" leans to " not striped." (0.8 vs 0.2): "Zapodu is" at 0.6 vs 0.4 leans less than the frame."""

    def scores(context: str, continuation: str) -> float:
        if context == "N/A is":
            return math.log({" striped.": 0.2, " not striped.": 0.8}[continuation])
        return likelihood_scores(context, continuation)

    pairs = [("Zapodu is striped.", "ignored"), ("Zapodu is a nebanu.", "ignored")]
    lm = FakeLM(default=" nebanu", scores=scores)
    [(striped, _), (nebanu, _)] = beliefs_of(LikelihoodBelief(calibrate=True), pairs, lm, offset=0.0)
    [(raw, _), _] = beliefs_of(LikelihoodBelief(), pairs, lm, offset=0.0)
    assert raw == pytest.approx(0.4)  # "likelihood" does not calibrate
    assert striped == pytest.approx((0.4 / 0.2) / (0.4 / 0.2 + 0.6 / 0.8))
    assert nebanu == 1.0  # the fake model generates no other kind: the filler is alone
    assert find_slot("Zapodu is a nebanu.").content_free_prefix == "N/A is a"  # type: ignore[union-attr]
    assert find_slot("The big dog can fly.").content_free_prefix == "N/A can"  # type: ignore[union-attr]


def test_unknown_and_registered_belief_functions() -> None:
    assert {"prompt", "likelihood", "likelihood_calibrated", "prompt_root"} <= set(registered_beliefs())
    assert {"likelihood_mean", "likelihood_min", "prompt_root_mean", "prompt_root_min"} <= set(
        registered_beliefs()
    )
    with pytest.raises(ValueError, match="option 'belief'.*'nope'"):
        Maieutic(belief="nope")
    register_scoring_function("test-length", lambda texts: [min(1.0, len(t) / 100) for t in texts])
    with pytest.raises(ValueError, match="already registered"):
        register_scoring_function("test-length", lambda texts: [0.5 for _ in texts])
    strategy = build_strategy("maieutic(belief='test-length', depth=1, negation='rule', relations=None)")
    assert strategy.config()["belief"] == "test-length"
    lm = FakeLM(default=" something happened.", scores={})
    prediction = strategy.run(Question(id="q", text="A short one.", gold=True), lm)
    root = mt.tree_from_json(prediction.trace.steps["unpruned_tree"]).nodes["Q"]
    negation = rule_negation("A short one.")
    assert root["belief"] == pytest.approx((len("A short one.") / 100, len(negation) / 100))
    assert prediction.trace.steps["belief"] == "test-length"


def test_maieutic_with_the_likelihood_belief_and_its_tree_statistics() -> None:
    question = Question(id="z", text="Zapodu is striped.", gold=True)
    prediction = Maieutic(belief="likelihood", depth=1, n_first=1, negation="rule").run(
        question, likelihood_lm()
    )
    steps = prediction.trace.steps
    tree = mt.tree_from_json(steps["unpruned_tree"])
    assert tree.nodes["Q"]["belief"] == pytest.approx((0.4, 0.6)) and not tree.nodes["Q"]["integral"]
    assert tree.nodes["QT0"]["belief"] == pytest.approx((0.95 * 0.9, 1 - 0.95 * 0.9))
    assert tree.nodes["QF0"]["belief"] == pytest.approx((0.04 * 0.1, 1 - 0.04 * 0.1))
    assert any("calibration: none" in note for note in prediction.trace.notes)
    stats = mt.TreeStats.model_validate(steps["tree_stats"])
    assert stats == mt.TreeStats(
        nodes_generated=2, nodes_integral=2, nodes_kept=3, root_answer=False, maxsat_answer=True
    )
    assert stats.non_empty and stats.changed and prediction.answer is True


def test_tree_statistics_of_an_empty_tree() -> None:
    lm = likelihood_lm()
    question = Question(id="z", text="Zapodu is striped.", gold=True)
    prediction = Maieutic(
        belief="likelihood", depth=1, n_first=1, negation="rule", integrity_threshold=0.999
    ).run(question, lm)
    stats = mt.TreeStats.model_validate(prediction.trace.steps["tree_stats"])
    assert stats.nodes_generated == 2 and stats.nodes_integral == 0 and stats.nodes_kept == 0
    assert not stats.non_empty and not stats.changed and stats.maxsat_answer is None
    assert prediction.answer is stats.root_answer is False


@pytest.mark.slow
def test_likelihood_belief_on_the_real_tiny_model(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    question = Question(id="fly", text="Penguins can fly.", gold=False)
    strategy = Maieutic(belief="likelihood", depth=1, n_first=1, shots=1, max_tokens=8)
    [prediction] = strategy.run_many([question], tiny_engine)
    tree = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    for node_id in tree:
        b_e, b_not_e = tree.nodes[node_id]["belief"]
        assert 0.0 <= b_e <= 1.0 and b_not_e == pytest.approx(1.0 - b_e)
    stats = mt.TreeStats.model_validate(prediction.trace.steps["tree_stats"])
    assert stats.nodes_generated == tree.number_of_nodes() - 1
    assert prediction.answer in (True, False)


def test_prompt_root_judges_the_question_by_the_prompt_and_explanations_by_likelihood() -> None:
    def scores(context: str, continuation: str) -> float:
        if context.endswith("Q: Zapodu is striped.\nA: This statement is"):
            return math.log(0.3 if continuation == " true" else 0.7)
        if context.endswith("Q: Zapodu is not striped.\nA: This statement is"):
            return math.log(0.6 if continuation == " true" else 0.4)
        if context.endswith("Q: N/A\nA: This statement is"):
            return math.log(0.5)
        if context.endswith("\nA: This statement is"):
            raise AssertionError(f"an explanation was judged by the prompt: {context[-80:]!r}")
        return likelihood_scores(context, continuation)

    lm = likelihood_lm()
    lm.scores = scores
    question = Question(id="z", text="Zapodu is striped.", gold=True)
    prediction = Maieutic(belief="prompt_root", depth=1, n_first=1, negation="rule").run(question, lm)
    tree = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    assert tree.nodes["Q"]["belief"] == pytest.approx((0.3, 0.6))  # the prompt's, calibrated against N/A
    assert tree.nodes["QT0"]["belief"] == pytest.approx((0.95 * 0.9, 1 - 0.95 * 0.9))  # the likelihood's
    stats = mt.TreeStats.model_validate(prediction.trace.steps["tree_stats"])
    assert stats.root_answer is False and stats.maxsat_answer is True and stats.changed


def test_combined_shares_by_product_geometric_mean_and_minimum() -> None:
    shares = [0.8, 0.9, 0.8]
    assert combined(shares, "product") == pytest.approx(0.576)
    assert combined(shares, "mean") == pytest.approx(0.576 ** (1 / 3))
    assert combined(shares, "min") == pytest.approx(0.8)
    assert (
        combined([0.3], "mean") == combined([0.3], "min") == combined([0.3], "product") == pytest.approx(0.3)
    )
    assert combined([], "mean") == combined([], "min") == 0.5  # no sentence with a slot: no evidence
    assert combined([0.0, 0.9], "mean") == 0.0


CHAIN = "Zapodu is a nebanu. Nebanus are zorbas. Zorbas are striped."
"""A three-fact chain whose facts the fake model holds at 0.8, 0.9 and 0.8."""


def chain_scores(context: str, continuation: str) -> float:
    """The chain's slots against their alternatives; the belief prompt on the root; relations neutral."""
    table = {
        "Zapodu is a": {" nebanu.": 0.8, " rufo.": 0.2},
        "Nebanus are": {" zorbas.": 0.9, " not zorbas.": 0.1},
        "Zorbas are": {" striped.": 0.8, " not striped.": 0.2},
    }
    if context in table:
        return math.log(table[context][continuation])
    if context.endswith("True, False, or Neither?\nAnswer:"):
        return -0.1 if continuation == " Neither" else -3.0
    if context.endswith("Q: Zapodu is striped.\nA: This statement is"):
        return math.log(0.45 if continuation == " true" else 0.55)
    if context.endswith("\nA: This statement is"):  # the rule negation and N/A: no lean
        return math.log(0.5)
    raise AssertionError(f"unexpected request {context!r} {continuation!r}")


def chain_lm() -> FakeLM:
    return FakeLM(
        {
            "^Zapodu is a$": [" rufo", " nebanu"],
            "This statement is true, because$": [f" {CHAIN}"],
            "This statement is false, because$": [" Zapodu is a rufo."],
        },
        scores=chain_scores,
        regex=True,
    )


@pytest.mark.parametrize(
    ("belief", "expected", "integral"),
    [
        ("likelihood", 0.8 * 0.9 * 0.8, False),  # the product: a chain of well-held facts is not integral
        ("likelihood_mean", (0.8 * 0.9 * 0.8) ** (1 / 3), True),
        ("likelihood_min", 0.8, True),
    ],
)
def test_mean_and_min_believe_a_chain_as_strongly_as_its_facts(
    belief: str, expected: float, integral: bool
) -> None:
    [(b, b_not)] = beliefs_of(
        build_strategy(f"maieutic(belief={belief!r})").belief_function, [(CHAIN, "-")], chain_lm()
    )
    assert (b, b_not) == pytest.approx((expected, 1.0 - expected))
    assert mt.is_integral((b, b_not)) is integral


@pytest.mark.parametrize(
    ("belief", "kept"), [("prompt_root", 2), ("prompt_root_mean", 3), ("prompt_root_min", 3)]
)
def test_prompt_root_mean_and_min_keep_the_chain_that_the_product_prunes(belief: str, kept: int) -> None:
    """ "True, because" the gold chain, "false, because Zapodu is a rufo." (believed false at 0.2 by every
    belief: it says nothing about the root). The product (0.576) prunes the chain, MAX-SAT ties and the answer
    is the root's prompt belief (0.45: false); the mean and the minimum keep the chain, which implies true."""
    question = Question(id="z", text="Zapodu is striped.", gold=True)
    prediction = Maieutic(belief=belief, depth=1, n_first=1, negation="rule").run(question, chain_lm())
    assert prediction.trace.steps["belief"] == belief
    tree = mt.tree_from_json(prediction.trace.steps["unpruned_tree"])
    assert tree.nodes["Q"]["belief"] == pytest.approx((0.45, 0.5))  # the prompt's, for every prompt_root
    stats = mt.TreeStats.model_validate(prediction.trace.steps["tree_stats"])
    assert stats.nodes_kept == kept and stats.root_answer is False
    assert prediction.answer is (kept == 3)  # the chain kept: MAX-SAT's true; else its tie, the root's false


@pytest.mark.slow
def test_mean_and_min_on_the_real_tiny_model_combine_its_per_sentence_beliefs(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    """The chain's belief under each combination is that combination of the sentences' own beliefs (the
    alternatives an article's slot is compared with are sampled with a seed per prefix, so they are the same)."""
    facts = ["Penguins are a bird.", "Birds can fly.", "Fish are not birds."]
    client = BatchingClient(tiny_engine)
    single = [
        b for b, _ in asyncio.run(LikelihoodBelief().beliefs([(f, "-") for f in facts], client, (), None))
    ]
    assert all(0.0 < b < 1.0 for b in single)
    chain = (" ".join(facts), "-")
    for combine in ("product", "mean", "min"):
        [(b, b_not)] = asyncio.run(LikelihoodBelief(combine=combine).beliefs([chain], client, (), None))
        assert b == pytest.approx(combined(single, combine)) and b_not == pytest.approx(1.0 - b)
