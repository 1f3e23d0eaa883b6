"""Tree of thoughts: proposals, the model's values, bfs / beam / dfs, the budget, the node-link tree."""

from __future__ import annotations

import random

import networkx as nx
import pytest

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
from reasonkit.registry import build_strategy
from reasonkit.strategies.tree_of_thoughts import TreeOfThoughts, propose_prompt
from reasonkit.types import Question

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
