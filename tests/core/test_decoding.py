"""Constrained generation: the mask keeps every sample inside its option list or regular expression, on the
real tiny model, without touching the unconstrained rows of the same batch."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reasonkit.decoding import ConstraintIndex, constraint_pattern
from reasonkit.protocol import Constraint, GenerationRequest

PROMPTS = ("Question: What is 12 plus 7?\nAnswer:", "The capital of France is", "Once upon a time")
NUMBER = r" -?[0-9]{1,3}(\.[0-9])?"


def test_constraint_needs_one_kind_and_an_unconstrained_request_serialises_as_before() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Constraint()
    with pytest.raises(ValueError, match="exactly one"):
        Constraint(choices=("a",), regex="a")
    with pytest.raises(ValueError, match="non-empty"):
        Constraint(choices=("a", ""))
    plain = GenerationRequest(prompt="x")
    assert "constraint" not in plain.model_dump_json()  # cache keys of existing requests are unchanged
    constrained = GenerationRequest(prompt="x", constraint=Constraint(regex="a+"))
    assert GenerationRequest.model_validate_json(constrained.model_dump_json()) == constrained


def test_an_option_that_is_a_prefix_of_another_stays_reachable() -> None:
    pattern = constraint_pattern(Constraint(choices=("A", "AB")))
    index = ConstraintIndex(pattern, {b"A": [0], b"B": [1]}, eos_id=2, eos_ids=frozenset({2, 3}))
    after_a = index.advance(index.initial, 0)
    allowed = index.mask(after_a, 5, index_device()).nonzero().flatten().tolist()
    assert allowed == [1, 2, 3]  # "B" continues to "AB"; "A" alone may end (both end-of-text ids)


def index_device() -> Any:
    import torch

    return torch.device("cpu")


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_every_sample_matches_the_regex(tiny_engine: Any, temperature: float) -> None:
    requests = [
        GenerationRequest(
            prompt=p, n=3, max_tokens=12, temperature=temperature, seed=s, constraint=Constraint(regex=NUMBER)
        )
        for s, p in enumerate(PROMPTS)
    ]
    for result in tiny_engine.generate(requests):
        for sample in result.samples:
            assert re.fullmatch(NUMBER, sample.text), sample.text
            assert sample.finish_reason == "eos"


def test_every_sample_is_one_of_the_choices_and_free_rows_are_untouched(tiny_engine: Any) -> None:
    choices = (" (A) red.", " (B) a very long answer that the model would never write.", " True.")
    constrained = [
        GenerationRequest(
            prompt=p, n=2, max_tokens=64, temperature=1.0, seed=s, constraint=Constraint(choices=choices)
        )
        for s, p in enumerate(PROMPTS)
    ]
    free = [GenerationRequest(prompt=p, max_tokens=8, temperature=0.7, seed=3) for p in PROMPTS]
    mixed = tiny_engine.generate([x for pair in zip(constrained, free, strict=True) for x in pair])
    for result in mixed[::2]:
        assert all(sample.text in choices for sample in result.samples)
    alone = tiny_engine.generate(free)
    assert [r.samples[0].text for r in mixed[1::2]] == [r.samples[0].text for r in alone]
    for batched, single in zip(mixed[1::2], alone, strict=True):  # batch composition only moves rounding
        assert batched.samples[0].token_logprobs == pytest.approx(single.samples[0].token_logprobs, abs=1e-4)


def test_greedy_constrained_text_is_the_models_best_choice_when_it_writes_one(tiny_engine: Any) -> None:
    [free] = tiny_engine.generate([GenerationRequest(prompt=PROMPTS[1], max_tokens=3)])
    text = free.samples[0].text
    request = GenerationRequest(
        prompt=PROMPTS[1], max_tokens=8, constraint=Constraint(choices=(text, " xyzzy"))
    )
    [constrained] = tiny_engine.generate([request])
    assert constrained.samples[0].text == text
    # the model's own log-probabilities, not renormalised over the allowed tokens
    assert constrained.samples[0].token_logprobs[:3] == pytest.approx(
        free.samples[0].token_logprobs, abs=1e-4
    )
