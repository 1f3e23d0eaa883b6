"""Self-consistency: one n-sample request, majority and weighted votes, abstaining paths, votes at k."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from reasonkit.fake import FakeLM
from reasonkit.protocol import GenerationRequest, GenerationResult
from reasonkit.strategies.chain_of_thought import ChainOfThought
from reasonkit.strategies.direct import Direct
from reasonkit.strategies.self_consistency import SelfConsistency, k_steps, tally
from reasonkit.types import Question

QUESTION = Question(
    id="q",
    text="Where would you find a revolving door?",
    options=("bank", "library", "forest"),
    gold=0,
    metadata={"benchmark": "commonsenseqa"},
)
SAYS_A = " Banks have them. So the answer is (A) bank."
SAYS_B = " Libraries have them. So the answer is (B) library."
UNSURE = " Doors are everywhere."


class PerTextLogprobs(FakeLM):
    """FakeLM whose samples get a chosen log-prob per token, by text (FakeLM's own are a hash)."""

    def __init__(self, texts: Sequence[str], logprob_per_token: dict[str, float]) -> None:
        super().__init__(default=texts)
        self.logprob_per_token = logprob_per_token

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        results = super().generate(requests)
        return [
            GenerationResult(
                samples=tuple(
                    s.model_copy(
                        update={"token_logprobs": (self.logprob_per_token[s.text],) * len(s.token_logprobs)}
                    )
                    for s in r.samples
                )
            )
            for r in results
        ]


def test_majority_and_weighted_votes_differ_when_the_minority_is_more_probable() -> None:
    # three confident-looking but improbable paths say A, two probable paths say B
    lm_texts = [SAYS_A, SAYS_B, SAYS_A, SAYS_B, SAYS_A]
    per_token = {SAYS_A: -3.0, SAYS_B: -0.1}
    majority = SelfConsistency(ChainOfThought(shots=1), n=5, vote="majority").run(
        QUESTION, PerTextLogprobs(lm_texts, per_token)
    )
    weighted = SelfConsistency(ChainOfThought(shots=1), n=5, vote="weighted").run(
        QUESTION, PerTextLogprobs(lm_texts, per_token)
    )
    assert majority.answer == 0 and weighted.answer == 1
    assert majority.scores == pytest.approx({"bank": 0.6, "library": 0.4})
    assert majority.confidence == pytest.approx(0.6)
    assert sum(weighted.scores.values()) == pytest.approx(1.0) and weighted.scores["library"] > 0.9
    paths = weighted.trace.steps["paths"]
    assert [p["answer"] for p in paths] == [0, 1, 0, 1, 0]
    assert paths[1]["weight"] == pytest.approx(2.718281828**-0.1)  # exp(mean token log-prob)
    assert weighted.trace.steps["tally"]["counts"] == {"bank": 3, "library": 2}


def test_paths_are_one_request_with_n_samples_at_the_temperature() -> None:
    lm = FakeLM(default=[SAYS_A, SAYS_B, SAYS_A])
    cot = ChainOfThought(shots=5)
    prediction = SelfConsistency(cot, n=20, temperature=0.7, seed=3).run(QUESTION, lm)
    [request] = lm.requests
    assert lm.generate_batches == [1]
    assert isinstance(request, GenerationRequest)
    assert (request.n, request.temperature, request.seed) == (20, 0.7, 3)
    assert request.prompt == cot.build_prompt(QUESTION)
    assert len(prediction.trace.steps["paths"]) == 20 and len(prediction.trace.calls) == 1


def test_abstaining_paths_are_counted_and_do_not_vote() -> None:
    lm = FakeLM(default=[UNSURE, SAYS_B, UNSURE, UNSURE])
    prediction = SelfConsistency(ChainOfThought(shots=1), n=4).run(QUESTION, lm)
    assert prediction.answer == 1 and prediction.confidence == 1.0  # the one readable path decides
    assert prediction.trace.steps["tally"]["abstained"] == 3
    assert any("3 of 4 paths" in note for note in prediction.trace.notes)


def test_all_paths_abstaining_is_an_abstention_with_the_texts_kept() -> None:
    prediction = SelfConsistency(ChainOfThought(shots=1), n=3).run(QUESTION, FakeLM(default=UNSURE))
    assert prediction.abstained
    assert [p["text"] for p in prediction.trace.steps["paths"]] == [UNSURE] * 3
    assert any(note.startswith("abstained") for note in prediction.trace.notes)


def test_votes_of_the_first_k_paths_give_accuracy_against_n_from_one_run() -> None:
    texts = [SAYS_B, UNSURE, SAYS_A, SAYS_A, SAYS_A, SAYS_B, SAYS_B, SAYS_B, SAYS_B, SAYS_A, SAYS_A, SAYS_A]
    prediction = SelfConsistency(ChainOfThought(shots=1), n=12).run(QUESTION, FakeLM(default=texts))
    votes = prediction.trace.steps["votes_at_k"]
    assert [v["k"] for v in votes] == [1, 5, 10, 12]
    assert [v["majority"] for v in votes] == [1, 0, 1, 0]  # B; 3A-1B; 5B-4A; 6A-5B
    assert votes[1]["abstained"] == 1
    assert votes[-1]["majority"] == prediction.answer


def test_tie_breaks_by_weight_then_first_seen() -> None:
    assert tally(QUESTION, [1, 0], [0.2, 0.9], "majority").winner == "bank"
    assert tally(QUESTION, [1, 0], [0.5, 0.5], "majority").winner == "library"
    assert tally(QUESTION, [None, None], [1.0, 1.0], "weighted").winner is None


def test_k_steps() -> None:
    assert k_steps(1) == [1]
    assert k_steps(20) == [1, 5, 10, 20]
    assert k_steps(100) == [1, 5, 10, 20, 40, 80, 100]


def test_same_seed_same_answers_and_the_composition_reads_as_a_spec() -> None:
    strategy = SelfConsistency(ChainOfThought(shots=5), n=20)
    questions = [QUESTION, QUESTION.model_copy(update={"id": "q2", "text": "Where is a library book kept?"})]
    lm = FakeLM(default=[SAYS_A, SAYS_B, UNSURE, SAYS_B])
    first, second = strategy.run_many(questions, lm), strategy.run_many(questions, lm)
    assert [p.trace.steps["paths"] for p in first] == [p.trace.steps["paths"] for p in second]
    assert [p.answer for p in first] == [p.answer for p in second]
    assert repr(strategy).startswith("self_consistency(inner=cot(shots=5")


def test_inner_must_sample_paths() -> None:
    with pytest.raises(ValueError, match="sample_paths"):
        SelfConsistency(Direct())


@pytest.mark.slow
def test_real_tiny_model(tiny_engine) -> None:
    binary = Question(id="r2", text="The sun rises in the east.", gold=True, metadata={"benchmark": "creak"})
    strategy = SelfConsistency(ChainOfThought(shots=0, max_tokens=8), n=6, temperature=0.8, seed=1)
    first = strategy.run_many([QUESTION, binary], tiny_engine)
    for question, prediction in zip([QUESTION, binary], first, strict=True):
        [call] = prediction.trace.calls
        assert call.kind == "generate" and len(call.output["samples"]) == 6
        paths = prediction.trace.steps["paths"]
        assert len(paths) == 6 and all(p["n_tokens"] >= 1 and p["logprob"] <= 0 for p in paths)
        if prediction.abstained:
            assert all(p["answer"] is None for p in paths)
        else:
            assert prediction.answer in (range(3) if question.options else (True, False))
    again = strategy.run_many([QUESTION, binary], tiny_engine)
    assert [p.trace.steps["paths"] for p in again] == [p.trace.steps["paths"] for p in first]
