"""`Engine.prompt_logprobs`: every token of a text scored, as a server's echo=True needs it."""

from __future__ import annotations

from typing import Any

import pytest

from reasonkit.protocol import ContextWindowError, LoglikelihoodRequest, PromptLogprobsRequest


def test_texts_of_different_lengths_score_as_they_do_alone(tiny_engine: Any) -> None:
    texts = ["To be, or not to be, that is the question", "Hello", "The king is dead. Long live the king!"]
    together = tiny_engine.prompt_logprobs([PromptLogprobsRequest(text=t, top=3) for t in texts])
    for text, scored in zip(texts, together, strict=True):
        (alone,) = tiny_engine.prompt_logprobs([PromptLogprobsRequest(text=text, top=3)])
        assert [t.token for t in scored.tokens] == [t.token for t in alone.tokens]
        assert "".join(t.token for t in scored.tokens) == text
        assert scored.tokens[0].logprob is None and scored.tokens[0].top == {}
        for a, b in zip(scored.tokens[1:], alone.tokens[1:], strict=True):
            assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
            assert len(a.top) == 3 and max(a.top.values()) >= a.logprob - 1e-5


def test_a_continuation_sums_to_its_loglikelihood(tiny_engine: Any) -> None:
    context, continuation = "First Citizen:\nBefore we proceed", " any further, hear me speak."
    (scored,) = tiny_engine.prompt_logprobs([PromptLogprobsRequest(text=context + continuation)])
    n_context = len(tiny_engine.tokenizer.encode(context))
    (expected,) = tiny_engine.loglikelihood(
        [LoglikelihoodRequest(context=context, continuation=continuation)]
    )
    total = sum(t.logprob for t in scored.tokens[n_context:] if t.logprob is not None)
    assert total == pytest.approx(expected.logprob, abs=1e-4)
    assert len(scored.tokens) - n_context == expected.n_tokens


def test_a_text_over_the_window_is_refused(tiny_engine: Any) -> None:
    with pytest.raises(ContextWindowError, match="prompt_logprobs request 1"):
        tiny_engine.prompt_logprobs(
            [
                PromptLogprobsRequest(text="ok"),
                PromptLogprobsRequest(text="word " * (tiny_engine.config.block_size + 5)),
            ]
        )
