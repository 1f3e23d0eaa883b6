"""Tree of thoughts: proposals, the model's values, bfs / beam / dfs, the budget, the node-link tree."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import networkx as nx
import pytest

from reasonkit import registry
from reasonkit.benchmarks.synthetic.countdown import (
    CountdownSuite,
    check_solution,
    moves,
    reachable,
    solution,
    tree_text,
)
from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest, LoglikelihoodRequest
from reasonkit.registry import StrategySpecError, available_strategies, build_strategy, register_strategy
from reasonkit.strategies.tree_of_thoughts import TreeOfThoughts, judged_value, propose_prompt, vote_prompt
from reasonkit.strategy import AsyncLM, Strategy
from reasonkit.types import Prediction, Question

QUESTION = Question(id="p", text="Make 26 from 2 5 8.", gold="26", kind="free_form")
GOOD, BAD = "8 + 5 = 13. Left: 2 13.", "8 * 2 = 16. Left: 5 16."
PROPOSALS = {
    r"Steps:\nNext:$": [BAD, GOOD],
    r"Left: 2 13\.\nNext:$": ["13 * 2 = 26. Left: 26.", "13 + 2 = 15. Left: 15."],
    r"Left: 5 16\.\nNext:$": ["16 + 5 = 21. Left: 21."],
    r"Left: 26\.\nNext:$": "So the answer is 26.",
    r"Left: (15|21)\.\nNext:$": ["So the answer is 15.", "So the answer is 21."],
}


def value_of(context: str, continuation: str) -> float:
    """The scripted model is sure of states that can still make 26, sure of nothing else."""
    promising = any(s in context for s in ("Left: 2 13.\nValue", "Left: 26.", "answer is 26."))
    wanted = " sure" if promising else " impossible"
    return -0.1 if continuation == wanted else -5.0


def script(proposals: dict[str, object] | None = None) -> FakeLM:
    return FakeLM(PROPOSALS if proposals is None else proposals, regex=True, scores=value_of)  # type: ignore[arg-type]


@pytest.mark.parametrize("search", ["bfs", "beam", "dfs"])
def test_every_search_finds_the_path_the_values_point_to(search: str) -> None:
    lm = script()
    prediction = TreeOfThoughts(search=search, proposals=2, breadth=1).run(QUESTION, lm)  # type: ignore[arg-type]
    assert prediction.answer == "26" and prediction.is_correct(QUESTION)
    assert prediction.trace.steps["path"] == [GOOD, "13 * 2 = 26. Left: 26.", "So the answer is 26."]
    tree = nx.node_link_graph(prediction.trace.steps["tree"], directed=True, edges="edges")
    chosen = [n for n, data in tree.nodes(data=True) if data["chosen"]]
    assert len(chosen) == 1 and tree.nodes[chosen[0]]["answer"] == "26"
    assert nx.shortest_path_length(tree, 0, chosen[0]) == 3
    assert prediction.trace.steps["calls"] == len(prediction.trace.calls)  # the trace counts what it spent


def test_dfs_backtracks_out_of_a_dead_end() -> None:
    # the proposer's first idea looks good to the evaluator but every continuation of it fails
    def fooled(context: str, continuation: str) -> float:
        if "Left: 5 16.\nValue" in context:
            return -0.1 if continuation == " sure" else -5.0
        return value_of(context, continuation)

    lm = FakeLM(PROPOSALS, regex=True, scores=fooled)
    prediction = TreeOfThoughts(search="dfs", proposals=2, threshold=1.0).run(QUESTION, lm)
    assert prediction.answer == "26"
    expanded = [r.prompt for r in lm.requests if isinstance(r, GenerationRequest)]
    assert propose_prompt(QUESTION.text, [BAD]) in expanded  # went down the dead end first
    assert propose_prompt(QUESTION.text, [GOOD]) in expanded  # and came back


def test_an_exhausted_budget_stops_the_search_with_a_clear_outcome() -> None:
    lm = script()
    prediction = TreeOfThoughts(proposals=2, breadth=2, max_calls=8).run(QUESTION, lm)
    assert prediction.abstained
    assert lm.n_calls <= 8 and prediction.trace.steps["calls"] <= 8
    assert "stopped: max_calls=8 model calls spent" in prediction.trace.notes


def test_an_empty_frontier_abstains() -> None:
    lm = script({r"Next:$": ["", "  "]})
    prediction = TreeOfThoughts(proposals=2).run(QUESTION, lm)
    assert prediction.abstained and lm.n_calls == 1  # one proposal request, nothing to value
    assert "the frontier is empty: no state had a new proposal" in prediction.trace.notes


def test_the_depth_limit_ends_a_search_that_never_finishes() -> None:
    lm = script({r"Next:$": "8 + 5 = 13. Left: 2 13."})
    prediction = TreeOfThoughts(proposals=1, max_depth=3).run(QUESTION, lm)
    assert prediction.abstained and "max_depth=3 reached" in prediction.trace.notes


def test_the_logprob_evaluator_makes_no_scoring_calls() -> None:
    lm = script()
    strategy = TreeOfThoughts(evaluator="logprob", proposals=2, breadth=2)
    prediction = strategy.run(QUESTION, lm)
    assert not strategy.uses_loglikelihood()
    assert not any(isinstance(r, LoglikelihoodRequest) for r in lm.requests)
    assert prediction.trace.steps["tree"]["nodes"]


def test_spec_round_trip() -> None:
    strategy = build_strategy("tot(search='dfs', proposals=4, max_calls=50)")
    assert isinstance(strategy, TreeOfThoughts) and strategy.search == "dfs"
    assert build_strategy(strategy.config()) == strategy
    with pytest.raises(ValueError, match="search"):
        build_strategy("tree_of_thoughts(search='astar')")


def test_countdown_solutions_check_and_training_text() -> None:
    rng = random.Random(0)
    steps = solution((2, 5, 8), 26, rng)
    assert steps is not None and check_solution((2, 5, 8), 26, " ".join(steps))
    assert not check_solution((2, 5, 8), 26, "8 + 5 = 13. Left: 2 13. 13 * 2 = 27. Left: 27.")  # bad sum
    assert not check_solution((2, 5, 8), 26, "9 + 4 = 13. Left: 2 13. 13 * 2 = 26. Left: 26.")  # not given
    assert not check_solution((2, 5, 8), 26, "8 + 5 = 13. Left: 2 13.")  # unfinished
    assert reachable((2, 5, 8), 26) and not reachable((1, 1, 1), 50)
    assert all(len(left) == 2 for _, left in moves((2, 5, 8)))
    suite = CountdownSuite().generate(0, n_train=20, n_test=5)
    for question in suite.splits["train"]:
        numbers, target = tuple(question.metadata["numbers"]), question.metadata["target"]
        assert check_solution(numbers, target, question.metadata["rationale"])
        text = tree_text(question.model_dump(mode="json"))
        assert text is not None and f"Next: So the answer is {target}." in text
    assert tree_text(suite.splits["test"][0].model_dump(mode="json")) is None
    assert all(len(q.metadata["numbers"]) == 4 for q in suite.splits["test"])


def test_end_to_end_on_the_tiny_model(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    """No accuracy claim: the search stays within its budget and gives a well-formed outcome."""
    questions = list(CountdownSuite().generate(0, n_train=1, n_test=2).splits["test"])
    strategy = TreeOfThoughts(proposals=2, breadth=1, max_depth=2, max_calls=12, thought_tokens=12)
    for question, prediction in zip(questions, strategy.run_many(questions, tiny_engine), strict=True):
        assert prediction.question_id == question.id
        assert 1 <= len(prediction.trace.calls) <= 12
        assert prediction.trace.steps["tree"]["nodes"][0]["depth"] == 0


def promising_choice(context: str) -> int | None:
    """The number of the vote prompt's choice that can still make 26, as the scripted model sees it."""
    for line in context.splitlines():
        number, _, text = line.removeprefix("Choice ").partition(": ")
        if line.startswith("Choice ") and any(
            s in text for s in ("Left: 2 13.", "Left: 26.", "answer is 26.")
        ):
            return int(number)
    return None


def vote_of(context: str, continuation: str) -> float:
    """Votes for the promising choice; anything else scores as before."""
    if not context.endswith("Best choice:"):
        return value_of(context, continuation)
    return -0.1 if continuation == f" {promising_choice(context)}" else -5.0


@pytest.mark.parametrize("search", ["bfs", "beam", "dfs"])
def test_the_vote_read_by_likelihood_steers_every_search(search: str) -> None:
    lm = FakeLM(PROPOSALS, regex=True, scores=vote_of)
    strategy = TreeOfThoughts(search=search, evaluator="vote", proposals=2, breadth=1, threshold=0.5)
    prediction = strategy.run(QUESTION, lm)
    assert prediction.answer == "26"
    assert prediction.trace.steps["path"] == [GOOD, "13 * 2 = 26. Left: 26.", "So the answer is 26."]
    votes = [r for r in lm.requests if isinstance(r, LoglikelihoodRequest)]
    assert votes and all(r.context.endswith("\nBest choice:") for r in votes)
    assert {r.continuation for r in votes} == {" 1", " 2"}
    # no sampled votes: every generation is a proposal
    assert all(r.prompt.endswith("\nNext:") for r in lm.requests if isinstance(r, GenerationRequest))
    first = prediction.trace.steps["votes"][0]
    assert sum(first["shares"]) == pytest.approx(1.0) and max(first["shares"]) > 0.9
    assert strategy.uses_loglikelihood()


def test_a_vote_over_siblings_holds_one_vote_per_parent() -> None:
    lm = FakeLM(PROPOSALS, regex=True, scores=vote_of)
    strategy = TreeOfThoughts(evaluator="vote", vote_over="siblings", proposals=2, breadth=2, max_depth=2)
    prediction = strategy.run(QUESTION, lm)
    groups = [vote["states"] for vote in prediction.trace.steps["votes"]]
    tree = prediction.trace.steps["tree"]
    parent_of = {edge["target"]: edge["source"] for edge in tree["edges"]}
    assert groups[0] == [1, 2]  # depth 1: the root's children
    assert len(groups) == 3 and all(len({parent_of[s] for s in group}) == 1 for group in groups)
    # the depth-2 votes: one prompt per parent, each with that parent's steps shared
    contexts = {r.context for r in lm.requests if isinstance(r, LoglikelihoodRequest)}
    assert (
        vote_prompt(QUESTION.text, [[GOOD, t] for t in ("13 + 2 = 15. Left: 15.", "13 * 2 = 26. Left: 26.")])
        in contexts
    )


def test_the_vote_prompt_shows_the_common_steps_once() -> None:
    prompt = vote_prompt(QUESTION.text, [[GOOD, "13 * 2 = 26. Left: 26."], [GOOD, "13 + 2 = 15. Left: 15."]])
    assert prompt == (
        f"Question: {QUESTION.text}\nSteps: {GOOD}\nChoice 1: 13 * 2 = 26. Left: 26.\n"
        "Choice 2: 13 + 2 = 15. Left: 15.\nBest choice:"
    )
    assert vote_prompt(QUESTION.text, [[BAD], [GOOD]]).startswith(
        f"Question: {QUESTION.text}\nSteps:\nChoice 1:"
    )


def test_sampled_votes_leave_malformed_ones_out() -> None:
    votes = {
        # depth 1: "two" and "42" name no choice of 2; "Choice 2" reads as 2
        r"Choice 2: 8 \+ 5 = 13\. Left: 2 13\.\nBest choice:$": ["2", "two", "Choice 2", "42"],
        r"Choice 2: 13 \* 2 = 26\. Left: 26\.\nBest choice:$": "2",
    }
    lm = FakeLM({**votes, **PROPOSALS}, regex=True, scores=value_of)
    strategy = TreeOfThoughts(evaluator="vote", votes=4, proposals=2, breadth=1)
    prediction = strategy.run(QUESTION, lm)
    assert prediction.answer == "26" and not strategy.uses_loglikelihood()
    first, second = prediction.trace.steps["votes"][:2]
    assert first["malformed"] == 2 and first["shares"] == [0.0, 1.0]
    assert second["malformed"] == 0 and second["shares"] == [0.0, 1.0]
    assert not any(isinstance(r, LoglikelihoodRequest) for r in lm.requests)


def test_when_no_vote_is_valid_every_choice_gets_an_equal_share() -> None:
    lm = FakeLM({r"Best choice:$": ["none", "?"], **PROPOSALS}, regex=True)
    prediction = TreeOfThoughts(evaluator="vote", votes=2, proposals=2, breadth=2, max_depth=1).run(
        QUESTION, lm
    )
    first = prediction.trace.steps["votes"][0]
    assert first["malformed"] == 2 and first["shares"] == [0.5, 0.5]
    assert any(note.startswith("no valid vote among 2") for note in prediction.trace.notes)


def test_a_lone_candidate_gets_the_whole_vote_without_a_call() -> None:
    lm = FakeLM({r"Next:$": "So the answer is 26."}, regex=True)
    prediction = TreeOfThoughts(evaluator="vote", proposals=3).run(QUESTION, lm)
    assert prediction.answer == "26" and lm.n_calls == 1
    assert prediction.trace.steps["votes"] == [{"states": [1], "shares": [1.0]}]


@pytest.mark.parametrize("evaluator", ["vote", "judge"])
def test_an_empty_frontier_abstains_with_every_evaluator(evaluator: str) -> None:
    lm = FakeLM({r"Next:$": ["", "  "]}, regex=True)
    judge = build_strategy("direct(normalization='raw')") if evaluator == "judge" else None
    prediction = TreeOfThoughts(evaluator=evaluator, judge=judge, proposals=2).run(QUESTION, lm)  # type: ignore[arg-type]
    assert prediction.abstained and lm.n_calls == 1
    assert "the frontier is empty: no state had a new proposal" in prediction.trace.notes


def judge_of(context: str, continuation: str) -> float:
    """As a true / false judge the scripted model says True of states that can still make 26."""
    promising = any(f"{s} The steps so far" in context for s in ("Left: 2 13.", "Left: 26.", "answer is 26."))
    wanted = " True" if promising else " False"
    return -0.1 if continuation == wanted else -5.0


def all_calls(prediction: Prediction) -> int:
    return len(prediction.trace.calls) + sum(len(child.calls) for child in prediction.trace.children)


@pytest.mark.parametrize("search", ["bfs", "beam", "dfs"])
def test_a_scoring_strategy_judges_the_states(search: str) -> None:
    lm = FakeLM(PROPOSALS, regex=True, scores=judge_of)
    strategy = build_strategy(
        f"tot(search={search!r}, evaluator='judge', judge=direct(normalization='raw'), "
        "proposals=2, breadth=1)"
    )
    prediction = strategy.run(QUESTION, lm)
    assert prediction.answer == "26"
    assert prediction.trace.steps["path"] == [GOOD, "13 * 2 = 26. Left: 26.", "So the answer is 26."]
    judged = [r.context for r in lm.requests if isinstance(r, LoglikelihoodRequest) and "Steps:" in r.context]
    assert (
        f"Question: True or false: {QUESTION.text} Steps: {GOOD} The steps so far are correct.\nAnswer:"
        in judged
    )
    assert prediction.trace.children and all(c.strategy == "direct" for c in prediction.trace.children)
    assert prediction.trace.steps["calls"] == all_calls(prediction) >= len(lm.requests)  # some were cached


def test_a_users_own_strategy_plugs_in_as_the_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    """A checker that needs no model: a state is good when the numbers it leaves can still make the target."""
    available_strategies()  # the built-ins loaded, then a registry of their own that forgets the checker
    state = registry._state
    isolated = registry._new_state(
        entries=dict(state.entries), aliases=dict(state.aliases), builtins_loaded=True, plugins_loaded=True
    )
    monkeypatch.setattr(registry, "_state", isolated)

    @register_strategy("reach_checker")
    @dataclass(frozen=True)
    class ReachChecker(Strategy):
        async def solve(self, question: Question, lm: AsyncLM) -> Prediction:
            numbers, target = re.findall(r"\d+", question.metadata["question"])[:-1], 26
            last = question.metadata["steps"][-1]
            if "answer is" in last:
                good = last.endswith(f"{target}.")
            else:
                good = reachable(tuple(int(n) for n in last.split("Left:")[1].strip(". ").split()), target)
            assert numbers  # the state's question came along in the metadata
            return Prediction(question_id=question.id, answer=good, confidence=1.0)

    lm = script()
    prediction = build_strategy("tot(evaluator='judge', judge=reach_checker, proposals=2, breadth=1)").run(
        QUESTION, lm
    )
    assert prediction.answer == "26"
    assert not any(isinstance(r, LoglikelihoodRequest) for r in lm.requests)  # the checker scored, not the LM
    assert prediction.confidence == 1.0


def test_a_judge_that_abstains_or_has_no_confidence_gives_a_clear_value() -> None:
    assert judged_value(Prediction(question_id="q", answer=None)) == 0.5
    assert judged_value(Prediction(question_id="q", answer=True)) == 1.0
    assert judged_value(Prediction(question_id="q", answer=False, confidence=0.8)) == pytest.approx(0.2)


@pytest.mark.parametrize(("evaluator", "max_calls"), [("vote", 4), ("judge", 6), ("judge", 1)])
def test_the_budget_holds_for_every_evaluator(evaluator: str, max_calls: int) -> None:
    lm = FakeLM(
        PROPOSALS, regex=True, scores=lambda c, x: judge_of(c, x) if "The steps" in c else vote_of(c, x)
    )
    judge = build_strategy("direct(normalization='raw')") if evaluator == "judge" else None
    strategy = TreeOfThoughts(evaluator=evaluator, judge=judge, proposals=2, breadth=2, max_calls=max_calls)  # type: ignore[arg-type]
    prediction = strategy.run(QUESTION, lm)
    assert len(lm.requests) <= prediction.trace.steps["calls"] == all_calls(prediction) <= max_calls
    assert f"stopped: max_calls={max_calls} model calls spent" in prediction.trace.notes


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tot(evaluator='judge')", "evaluator='judge' needs option 'judge'"),
        ("tot(judge=direct)", "option 'judge' is given but evaluator='value'; set evaluator='judge'"),
        ("tot(votes=3)", "option 'votes' applies to evaluator='vote', not 'value'"),
        ("tot(evaluator='logprob', vote_over='siblings')", "option 'vote_over' applies to evaluator='vote'"),
        ("tot(evaluator='vote', votes=-1)", "option 'votes' = -1"),
        (
            "tot(evaluator='judge', judge=scratchpad)",
            "judge 'scratchpad' cannot answer a true / false question",
        ),
        ("tot(evaluator='oracle')", "option 'evaluator'"),
    ],
)
def test_bad_evaluator_options_are_named(spec: str, message: str) -> None:
    with pytest.raises(StrategySpecError, match=re.escape(message)):
        build_strategy(spec)


def test_evaluator_specs_round_trip_and_old_configs_stay_the_same() -> None:
    for spec in (
        "tot(evaluator='vote')",
        "tot(evaluator='vote', votes=5, search='dfs')",
        "tot(evaluator='vote', vote_over='siblings', search='beam')",
        "tot(evaluator='judge', judge=direct(normalization='raw'), judge_statement='The numbers can make it.')",
        "tot(evaluator='judge', judge=self_consistency(inner=cot(shots=0), n=3))",
    ):
        strategy = build_strategy(spec)
        assert build_strategy(strategy.config()) == strategy
        assert build_strategy(repr(strategy)) == strategy
    # the options added with the vote and the judge stay out of a config at their defaults (run folders resume)
    assert set(TreeOfThoughts().config()) == {
        "name",
        "search",
        "evaluator",
        "proposals",
        "breadth",
        "max_depth",
        "max_calls",
        "threshold",
        "temperature",
        "thought_tokens",
        "seed",
    }


@pytest.mark.parametrize("evaluator", ["vote", "judge"])
def test_the_new_evaluators_on_the_tiny_model(tiny_engine, evaluator: str) -> None:  # type: ignore[no-untyped-def]
    """No accuracy claim: a real model's votes and judgements stay within the budget, values in [0, 1]."""
    questions = list(CountdownSuite().generate(0, n_train=1, n_test=2).splits["test"])
    judge = build_strategy("direct(normalization='raw')") if evaluator == "judge" else None
    strategy = TreeOfThoughts(
        evaluator=evaluator,
        judge=judge,
        proposals=3,
        breadth=2,
        max_depth=2,
        max_calls=30,
        thought_tokens=12,  # type: ignore[arg-type]
    )
    for question, prediction in zip(questions, strategy.run_many(questions, tiny_engine), strict=True):
        assert prediction.question_id == question.id
        assert 1 <= prediction.trace.steps["calls"] == all_calls(prediction) <= 30
        values = [node["value"] for node in prediction.trace.steps["tree"]["nodes"][1:]]
        assert values and all(0.0 <= v <= 1.0 for v in values)
