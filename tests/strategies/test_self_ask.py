"""Self-ask: follow-ups asked and answered before the final answer; clear outcomes when that breaks down."""

from __future__ import annotations

import pytest

from reasonkit.benchmarks.synthetic.twohop import TwoHopSuite
from reasonkit.driver import QuestionError
from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest
from reasonkit.registry import StrategySpecError, build_strategy
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.self_ask import INTERMEDIATE, SelfAsk, direct_text, self_ask_prompt, self_ask_text
from reasonkit.strategies.self_consistency import SelfConsistency
from reasonkit.types import Question

QUESTION = Question(id="q", text="What is the home town of the mentor of Tomiku?", gold="Lorizu")
FIRST = " Yes.\nFollow up: Who is the mentor of Tomiku?"
SECOND = "Follow up: What is the home town of Bafe?"
FINAL = "So the final answer is: Lorizu."
SCRIPT = {
    r"needed here:$": FIRST,
    r"mentor of Tomiku\?\nIntermediate answer:$": " Bafe.",
    r"Intermediate answer: Bafe\.\n$": SECOND,
    r"home town of Bafe\?\nIntermediate answer:$": " Lorizu.",
    r"Intermediate answer: Lorizu\.\n$": FINAL,
}


def test_asks_and_answers_follow_ups_then_reads_the_final_answer() -> None:
    lm = FakeLM(SCRIPT, regex=True)
    prediction = SelfAsk().run(QUESTION, lm)
    assert prediction.answer == "Lorizu" and prediction.is_correct(QUESTION)
    assert prediction.trace.steps["follow_ups"] == [
        {"question": "Who is the mentor of Tomiku?", "answer": "Bafe"},
        {"question": "What is the home town of Bafe?", "answer": "Lorizu"},
    ]
    prompts = [r.prompt for r in lm.requests if isinstance(r, GenerationRequest)]
    assert prompts[0] == self_ask_prompt(QUESTION.text) and len(prompts) == 5
    assert prompts[-1].endswith(
        f"{INTERMEDIATE} Bafe.\nFollow up: What is the home town of Bafe?\n{INTERMEDIATE} Lorizu.\n"
    )


def test_an_inner_strategy_can_answer_the_follow_ups() -> None:
    lm = FakeLM(
        {
            **SCRIPT,
            r"Question: Who is the mentor of Tomiku\?\nAnswer:$": " So the answer is Bafe.",
            r"Question: What is the home town of Bafe\?\nAnswer:$": " So the answer is Lorizu.",
        },
        regex=True,
    )
    prediction = SelfAsk(answerer=ChainOfThought(shots=0, fallback="abstain")).run(QUESTION, lm)
    assert prediction.answer == "Lorizu"
    assert [child.strategy for child in prediction.trace.children] == ["cot", "cot"]
    assert [f["answer"] for f in prediction.trace.steps["follow_ups"]] == ["Bafe", "Lorizu"]


def test_a_model_that_keeps_asking_stops_at_the_budget() -> None:
    lm = FakeLM({r"needed here:$": FIRST, r"Intermediate answer:$": " Bafe.", r"\n$": SECOND}, regex=True)
    prediction = SelfAsk(max_follow_ups=2).run(QUESTION, lm)
    assert prediction.abstained and len(prediction.trace.steps["follow_ups"]) == 2
    assert prediction.trace.notes == ["abstained: more than max_follow_ups=2 follow-ups"]
    assert lm.n_calls == 5  # first piece, then (answer, next piece) twice


def test_a_follow_up_the_model_will_not_answer_abstains() -> None:
    lm = FakeLM({r"needed here:$": FIRST, r"Intermediate answer:$": " "}, regex=True)
    prediction = SelfAsk().run(QUESTION, lm)
    assert prediction.abstained and lm.n_calls == 2
    assert "follow-up 1 ('Who is the mentor of Tomiku?') got no answer" in prediction.trace.notes[0]


def test_text_that_is_neither_a_follow_up_nor_an_answer_abstains() -> None:
    lm = FakeLM({r"needed here:$": " Maybe the weather is nice."}, regex=True)
    prediction = SelfAsk().run(QUESTION, lm)
    assert prediction.abstained and lm.n_calls == 1
    assert "neither a follow-up nor a final answer" in prediction.trace.notes[0]


def test_no_follow_ups_needed() -> None:
    lm = FakeLM({r"needed here:$": " No.\nSo the final answer is: Lorizu."}, regex=True)
    prediction = SelfAsk().run(QUESTION, lm)
    assert prediction.answer == "Lorizu" and prediction.trace.steps["follow_ups"] == []


def test_self_consistency_wraps_self_ask() -> None:
    lm = FakeLM(
        {**SCRIPT, r"needed here:$": [FIRST, " No.\nSo the final answer is: Rose.", FIRST]}, regex=True
    )
    prediction = SelfConsistency(inner=SelfAsk(), n=3).run(QUESTION, lm)
    assert prediction.answer == "Lorizu"
    assert [p["answer"] for p in prediction.trace.steps["paths"]] == ["Lorizu", "Rose", "Lorizu"]


def test_spec_and_bad_answerer() -> None:
    strategy = build_strategy("self_ask(answerer=cot(shots=0), max_follow_ups=3)")
    assert isinstance(strategy, SelfAsk) and isinstance(strategy.answerer, ChainOfThought)
    assert build_strategy(strategy.config()).config() == strategy.config()
    plain = build_strategy("self_ask")
    assert isinstance(plain, SelfAsk) and plain.answerer is None
    assert build_strategy(plain.config()) == plain
    with pytest.raises(StrategySpecError, match="unknown strategy 'google'"):
        build_strategy("self_ask(answerer=google)")


def test_suite_hops_and_training_text() -> None:
    suite = TwoHopSuite().generate(0)
    test, hop1, hop2 = suite.splits["test"], suite.splits["hop1"], suite.splits["hop2"]
    assert len(test) == len(hop1) == len(hop2) > 0
    train_texts = {q.text for q in suite.splits["train"]}
    for composed, first, second in zip(test, hop1, hop2, strict=True):
        assert composed.text not in train_texts  # the composition is never trained
        assert first.text in train_texts and second.text in train_texts  # each hop is
        assert first.gold == composed.metadata["intermediate"][0] and second.gold == composed.gold
    trained_two_hop = next(q for q in suite.splits["train"] if q.metadata["hops"] == 2)
    text = self_ask_text(trained_two_hop.model_dump(mode="json"))
    assert text is not None and text.count("Follow up:") == 2 and text.endswith(f"{trained_two_hop.gold}.")
    assert self_ask_text(test[0].model_dump(mode="json")) is None
    assert direct_text(test[0].model_dump(mode="json")) is None


def test_end_to_end_on_the_tiny_model(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    """No accuracy claim: a bounded, well-formed outcome from a model that never saw the format."""
    questions = list(TwoHopSuite().generate(0, n_test=2).splits["test"])
    strategy = SelfAsk(max_follow_ups=2, max_tokens=24, answer_tokens=6)
    for question, prediction in zip(questions, strategy.run_many(questions, tiny_engine), strict=True):
        assert prediction.question_id == question.id
        assert 1 <= len(prediction.trace.calls) <= 5
        assert prediction.abstained == ("stopped" in prediction.trace.steps)


def test_strategyqa_questions_get_worked_train_decompositions_as_follow_ups() -> None:
    from reasonkit.strategies.exemplars import select_decompositions
    from reasonkit.strategies.self_ask import exemplar_text

    question = Question(id="s", text="Can a cat fly?", gold=False, metadata={"benchmark": "strategyqa"})
    chosen = select_decompositions(question, 2)
    shots = "\n\n".join(exemplar_text(e) for e in chosen)
    assert shots.count("Follow up:") == sum(len(e.subquestions) - 1 for e in chosen)
    script = {
        r"needed here:$": " Yes.\nFollow up: Do cats have wings?",
        r"wings\?\nIntermediate answer:$": " Cats have no wings.",
        r"no wings\.\n$": "So the final answer is: no.",
    }
    lm = FakeLM(script, regex=True)
    assert SelfAsk().run(question, lm).answer is False
    prompts = [r.prompt for r in lm.requests if isinstance(r, GenerationRequest)]
    assert prompts[0] == f"{shots}\n\n{self_ask_prompt(question.text)}"
    plain = FakeLM(script, regex=True)
    SelfAsk(shots=0).run(question, plain)
    assert plain.requests[0].prompt == self_ask_prompt(question.text)


STRATEGYQA = Question(
    id="sqa",
    text="Could Johnny Carson's children fill out a water polo team?",
    gold=False,
    metadata={
        "benchmark": "strategyqa",
        "decomposition": [
            "How many children does Carson have?",
            "How many play in #1's team?",
            "Is #1 >= #2?",
        ],
        "facts": ["Carson had 3 children", "Water polo teams have 7 players"],
    },
)


def test_the_oracle_asks_the_given_follow_ups_and_the_model_answers() -> None:
    """The decomposition but its last step (the yes / no judgement the final answer states) are the follow-ups;
    a "#k" in one is the k-th intermediate answer, so every follow-up stands alone."""
    script = {
        r"Carson have\?\nIntermediate answer:$": " 3 children.",
        r"play in 3 children's team\?\nIntermediate answer:$": " 7",
        r"So the final answer is:$": " no.",
    }
    lm = FakeLM(script, regex=True)
    prediction = SelfAsk(follow_ups_from="metadata", shots=0).run(STRATEGYQA, lm)
    assert prediction.answer is False
    assert prediction.trace.steps["follow_ups"] == [
        {"question": "How many children does Carson have?", "answer": "3 children"},
        {"question": "How many play in 3 children's team?", "answer": "7"},
    ]
    prompts = [r.prompt for r in lm.requests if isinstance(r, GenerationRequest)]
    assert len(prompts) == 3 and prompts[-1] == (
        f"{self_ask_prompt(STRATEGYQA.text)} Yes.\nFollow up: How many children does Carson have?\n"
        f"{INTERMEDIATE} 3 children.\nFollow up: How many play in 3 children's team?\n{INTERMEDIATE} 7.\n"
        "So the final answer is:"
    )
    assert not any("Carson had 3 children" in p for p in prompts)


def test_the_oracle_prefers_a_suite_s_own_follow_ups() -> None:
    given = QUESTION.model_copy(
        update={
            "metadata": {"follow_ups": ["Who is the mentor of Tomiku?", "What is the home town of Bafe?"]}
        }
    )
    lm = FakeLM({**SCRIPT, r"So the final answer is:$": " Lorizu."}, regex=True)
    prediction = SelfAsk(follow_ups_from="metadata").run(given, lm)
    assert prediction.answer == "Lorizu" and len(prediction.trace.steps["follow_ups"]) == 2


@pytest.mark.parametrize(
    ("metadata", "answers", "stopped"),
    [
        ({}, {}, "the question has no decomposition in its metadata"),
        (
            STRATEGYQA.metadata,
            {r"Intermediate answer:$": " "},
            "follow-up 1 ('How many children does Carson have?') got no answer",
        ),
    ],
)
def test_the_oracle_abstains_clearly(
    metadata: dict[str, object], answers: dict[str, str], stopped: str
) -> None:
    question = STRATEGYQA.model_copy(update={"metadata": metadata})
    lm = FakeLM(answers, regex=True, default="")
    prediction = SelfAsk(follow_ups_from="metadata", shots=0).run(question, lm)
    assert prediction.abstained and prediction.trace.notes == [f"abstained: {stopped}"]


def test_a_one_step_decomposition_needs_no_follow_up() -> None:
    question = STRATEGYQA.model_copy(
        update={"metadata": {"decomposition": ["Can a team of 3 play water polo?"]}}
    )
    lm = FakeLM({r"So the final answer is:$": " no."}, regex=True)
    prediction = SelfAsk(follow_ups_from="metadata", shots=0).run(question, lm)
    assert prediction.answer is False and lm.requests[0].prompt == (  # type: ignore[union-attr]
        f"{self_ask_prompt(question.text)} No.\nSo the final answer is:"
    )


def test_self_consistency_cannot_sample_given_follow_ups() -> None:
    with pytest.raises(QuestionError, match="follow_ups_from='metadata'.*nothing to sample"):
        SelfConsistency(inner=SelfAsk(follow_ups_from="metadata"), n=3).run(
            STRATEGYQA, FakeLM(SCRIPT, regex=True)
        )


def test_the_oracle_spec_round_trips_and_old_configs_stay_the_same() -> None:
    strategy = build_strategy("self_ask(follow_ups_from='metadata', answerer=cot(shots=0))")
    assert isinstance(strategy, SelfAsk) and build_strategy(strategy.config()) == strategy
    assert "follow_ups_from" not in SelfAsk().config()  # run folders made before the option keep resuming
    with pytest.raises(StrategySpecError, match="follow_ups_from"):
        build_strategy("self_ask(follow_ups_from='gold')")
