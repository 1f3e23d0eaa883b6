"""Least-to-most: reduce, then solve in order with each answer fed forward; clear outcomes when it cannot."""

from __future__ import annotations

import pytest

from reasonkit.benchmarks.synthetic.longchains import LongChainsSuite
from reasonkit.driver import QuestionError
from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest
from reasonkit.registry import build_strategy
from reasonkit.strategies.least_to_most import LeastToMost, chain_text, reduce_prompt, solve_prompt
from reasonkit.strategies.self_consistency import SelfConsistency
from reasonkit.types import Question

QUESTION = Question(
    id="chain",
    text="Start with 7. Add 3. Multiply by 2. Subtract 5. What is the result?",
    options=("15", "20", "13", "10", "16"),
    gold=0,
)
SUBS = " Start with 7. Add 3. | Multiply by 2. | Subtract 5."
SOLVES = {
    r"Q: Start with 7\. Add 3\.\nA:$": " 10",
    r"Q: Multiply by 2\.\nA:$": " 20",
    r"Q: Subtract 5\.\nA:$": " 15",
}


def prompts_of(lm: FakeLM) -> list[str]:
    return [r.prompt for r in lm.requests if isinstance(r, GenerationRequest)]


def chain_lm(decomposition: str = SUBS, solves: dict[str, str] | None = None) -> FakeLM:
    return FakeLM({"Subquestions:$": decomposition, **(SOLVES if solves is None else solves)}, regex=True)


def test_solves_the_subquestions_in_order_feeding_each_answer_forward() -> None:
    lm = chain_lm()
    prediction = LeastToMost().run(QUESTION, lm)
    assert prediction.answer == 0 and prediction.is_correct(QUESTION)
    assert prompts_of(lm) == [
        reduce_prompt(QUESTION.text),
        solve_prompt([], "Start with 7. Add 3."),
        solve_prompt([("Start with 7. Add 3.", "10")], "Multiply by 2."),
        solve_prompt([("Multiply by 2.", "20")], "Subtract 5."),  # feed="last": only the previous pair
    ]
    steps = prediction.trace.steps
    assert steps["subquestions"] == ["Start with 7. Add 3.", "Multiply by 2.", "Subtract 5."]
    assert steps["subanswers"] == ["10", "20", "15"]
    assert len(prediction.trace.calls) == 4


def test_the_oracle_ablation_solves_the_given_decomposition_without_reducing() -> None:
    given = QUESTION.model_copy(
        update={"metadata": {"subquestions": ["Start with 7. Add 3.", "Multiply by 2.", "Subtract 5."]}}
    )
    lm = chain_lm(decomposition=" nonsense")
    prediction = LeastToMost(subquestions_from="metadata").run(given, lm)
    assert prediction.answer == 0 and len(prediction.trace.calls) == 3
    assert not any(p.endswith("Subquestions:") for p in prompts_of(lm))
    other = chain_lm()
    unsplit = LeastToMost(subquestions_from="metadata").run(QUESTION, other)
    assert unsplit.abstained and other.n_calls == 0  # no decomposition given: nothing to solve, no call


def test_feed_all_puts_every_earlier_pair_before_the_next() -> None:
    lm = chain_lm()
    LeastToMost(feed="all").run(QUESTION, lm)
    assert prompts_of(lm)[-1] == solve_prompt(
        [("Start with 7. Add 3.", "10"), ("Multiply by 2.", "20")], "Subtract 5."
    )


@pytest.mark.parametrize("decomposition", ["", " | | ", "   "])
def test_a_decomposition_without_subquestions_abstains_after_one_call(decomposition: str) -> None:
    lm = chain_lm(decomposition)
    prediction = LeastToMost().run(QUESTION, lm)
    assert prediction.abstained and lm.n_calls == 1
    assert prediction.trace.notes == ["abstained: the decomposition has no subquestions"]


def test_more_subquestions_than_the_budget_abstains_without_solving() -> None:
    lm = chain_lm(" a | b | c | d | e")
    prediction = LeastToMost(max_subquestions=4).run(QUESTION, lm)
    assert prediction.abstained and lm.n_calls == 1
    assert "5 subquestions, more than max_subquestions=4" in prediction.trace.notes[0]


def test_a_subquestion_the_model_will_not_answer_stops_the_chain() -> None:
    lm = chain_lm(solves={r"Q: Start with 7\. Add 3\.\nA:$": " 10", r"Q: Multiply by 2\.\nA:$": "  "})
    prediction = LeastToMost().run(QUESTION, lm)
    assert prediction.abstained and lm.n_calls == 3  # reduce, two solves; never the third
    assert "subquestion 2 ('Multiply by 2.') got no answer" in prediction.trace.notes[0]
    assert prediction.trace.steps["subquestions"][1] == "Multiply by 2."


def test_a_last_answer_that_is_no_option_abstains() -> None:
    lm = chain_lm(solves={**SOLVES, r"Q: Subtract 5\.\nA:$": " 99"})
    prediction = LeastToMost().run(QUESTION, lm)
    assert prediction.abstained and "'99' is not one of the question's answers" in prediction.trace.notes[0]


def test_self_consistency_votes_over_sampled_decompositions() -> None:
    wrong = " Start with 7. Add 3. | Add 1."  # ends at 11, not an option
    lm = FakeLM({"Subquestions:$": [SUBS, wrong, SUBS], **SOLVES, r"Q: Add 1\.\nA:$": " 11"}, regex=True)
    prediction = SelfConsistency(inner=LeastToMost(), n=3).run(QUESTION, lm)
    assert prediction.answer == 0
    assert [p["answer"] for p in prediction.trace.steps["paths"]] == [0, None, 0]


def test_spec_round_trip_through_the_registry() -> None:
    strategy = build_strategy("least_to_most(feed='all', max_subquestions=6)")
    assert isinstance(strategy, LeastToMost) and strategy.feed == "all"
    assert build_strategy(strategy.config()) == strategy
    assert isinstance(build_strategy("l2m"), LeastToMost)
    with pytest.raises(ValueError, match="feed"):
        build_strategy("least_to_most(feed='some')")


def test_chain_text_renders_train_questions_only() -> None:
    suite = LongChainsSuite().generate(0, n_train=5, n_test=5)
    question = suite.splits["train"][0]
    text = chain_text(question.model_dump(mode="json"))
    assert text is not None and text.startswith(reduce_prompt(question.text))
    assert text.count("\nA: ") == len(question.metadata["subquestions"]) * 2 - 1  # each window + its previous
    assert chain_text(suite.splits["test"][0].model_dump(mode="json")) is None


def test_end_to_end_on_the_tiny_model(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    """No accuracy claim: the tiny model only has to give a well-formed, bounded outcome."""
    questions = list(LongChainsSuite().generate(0, n_train=1, n_test=2).splits["test"])
    strategy = LeastToMost(max_subquestions=3, reduce_tokens=24, answer_tokens=4)
    for question, prediction in zip(questions, strategy.run_many(questions, tiny_engine), strict=True):
        assert prediction.question_id == question.id
        assert 1 <= len(prediction.trace.calls) <= 4
        assert prediction.abstained == ("stopped" in prediction.trace.steps)


def test_strategyqa_questions_get_worked_train_decompositions_before_every_prompt() -> None:
    from reasonkit.strategies.exemplars import select_decompositions
    from reasonkit.strategies.least_to_most import exemplar_text

    question = Question(id="s", text="Can a cat fly?", gold=False, metadata={"benchmark": "strategyqa"})
    shots = "\n\n".join(exemplar_text(e) for e in select_decompositions(question, 2))
    assert "\nSubquestions: " in shots and shots.endswith(("A: yes", "A: no"))
    lm = FakeLM({"Subquestions:$": " Do cats have wings? | Can #1 fly?", r"A:$": " no"}, regex=True)
    assert LeastToMost().run(question, lm).answer is False
    assert all(p.startswith(shots + "\n\n") for p in prompts_of(lm)) and len(prompts_of(lm)) == 3
    plain = chain_lm()
    LeastToMost(shots=0).run(question, plain)
    assert prompts_of(plain)[0] == reduce_prompt(question.text)
    given = chain_lm()
    LeastToMost(exemplars=("mine",)).run(question, given)
    assert prompts_of(given)[0] == f"mine\n\n{reduce_prompt(question.text)}"


STRATEGYQA = Question(
    id="sqa",
    text="Could Johnny Carson's children fill out a water polo team?",
    gold=False,
    metadata={
        "benchmark": "strategyqa",
        "decomposition": ["How many children does Carson have?", "How many play water polo?", "Is #1 >= #2?"],
        "facts": ["Carson had 3 children", "Water polo teams have 7 players"],
    },
)


def test_the_oracle_reads_strategyqa_s_own_decomposition() -> None:
    """StrategyQA names it "decomposition" (the synthetic suites "subquestions"); its facts are never shown."""
    lm = FakeLM(
        {r"Carson have\?\nA:$": " 3", r"water polo\?\nA:$": " 7", r"Is #1 >= #2\?\nA:$": " no"}, regex=True
    )
    prediction = LeastToMost(subquestions_from="metadata", feed="all", shots=0).run(STRATEGYQA, lm)
    assert (
        prediction.answer is False
        and prediction.trace.steps["subquestions"] == STRATEGYQA.metadata["decomposition"]
    )
    assert prompts_of(lm)[-1] == solve_prompt(
        [("How many children does Carson have?", "3"), ("How many play water polo?", "7")], "Is #1 >= #2?"
    )
    assert not any("Carson had 3 children" in p for p in prompts_of(lm))


def test_self_consistency_cannot_sample_a_given_decomposition() -> None:
    with pytest.raises(QuestionError, match="subquestions_from='metadata'.*nothing to sample"):
        SelfConsistency(inner=LeastToMost(subquestions_from="metadata"), n=3).run(STRATEGYQA, chain_lm())
