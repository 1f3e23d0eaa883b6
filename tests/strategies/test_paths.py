"""The sampled-path types and the one vote tally that self-consistency and ensemble share."""

from __future__ import annotations

from reasonkit.strategies import self_consistency
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.paths import GeneratingStrategy, ReasoningPath, Tally, answer_key, tally
from reasonkit.strategies.scratchpad import Scratchpad
from reasonkit.types import Question


def test_the_self_consistency_types_live_together() -> None:
    """The protocol, the path it returns and the vote over paths come from one module; the old names still
    import."""
    assert isinstance(ChainOfThought(), GeneratingStrategy) and isinstance(Scratchpad(), GeneratingStrategy)
    assert self_consistency.tally is tally and self_consistency.Tally is Tally
    assert self_consistency.GeneratingStrategy is GeneratingStrategy
    assert self_consistency.answer_key is answer_key
    from reasonkit.strategies.chain_of_thought import ReasoningPath as old_path

    assert old_path is ReasoningPath


def test_a_tally_counts_each_answer_by_its_vote_weight() -> None:
    """An ensemble member casts its weight as its vote (not 1), and its weight x confidence as its weighted vote."""
    question = Question(id="q", text="Which?", options=("a", "b"), gold=0)
    result = tally(
        question, [0, 1, 1, None], [0.9 * 3.0, 0.4, 0.4, 1.0], "majority", counts=[3.0, 1.0, 1.0, 1.0]
    )
    assert result.counts == {"a": 3.0, "b": 2.0} and result.abstained == 1
    assert result.winner == "a" and result.shares == {"a": 0.6, "b": 0.4}
    weighted = tally(question, [0, 1, 1], [0.9, 0.4, 0.4], "weighted")  # 0.9 > 0.4 + 0.4
    assert weighted.counts == {"a": 1, "b": 2} and weighted.winner == "a"
