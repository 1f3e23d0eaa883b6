import pytest

from reasonkit.encoding import (
    encode_pair,
    encode_prompt,
    fit_pair,
    fit_prompt,
    truncate_left,
)
from reasonkit.lm.tokenizer import Tokenizer
from reasonkit.protocol import ContextWindowError

WORDS = "the cat sat on a mat while seven dogs ran across green fields under a pale sky".split()


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    lines = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12)) + "." for i in range(200)]
    return Tokenizer.train(lines, vocab_size=300)


def test_pair_splits_the_joint_encoding(tokenizer: Tokenizer) -> None:
    context, continuation = "the cat sat on", " a mat"
    context_ids, continuation_ids = encode_pair(tokenizer.encode, context, continuation, tokenizer.eot_id)
    assert context_ids + continuation_ids == tokenizer.encode(context + continuation)
    assert tokenizer.decode(continuation_ids) == continuation


def test_trailing_whitespace_moves_to_the_continuation(tokenizer: Tokenizer) -> None:
    moved = encode_pair(tokenizer.encode, "the cat sat on ", "a mat", tokenizer.eot_id)
    plain = encode_pair(tokenizer.encode, "the cat sat on", " a mat", tokenizer.eot_id)
    assert moved == plain
    assert tokenizer.decode(moved[1]) == " a mat"


def test_empty_context_becomes_end_of_text(tokenizer: Tokenizer) -> None:
    for context in ("", "  "):
        context_ids, continuation_ids = encode_pair(tokenizer.encode, context, "the cat", tokenizer.eot_id)
        assert context_ids == [tokenizer.eot_id]
        assert tokenizer.decode(continuation_ids) == context + "the cat"


def test_merge_across_the_boundary_falls_back_to_separate_encoding() -> None:
    vocab = {"ab": 9, "a": 1, "b": 2, "c": 3}

    def encode(text: str) -> list[int]:  # greedy longest match: "a" + "b" merges into "ab"
        ids, i = [], 0
        while i < len(text):
            step = 2 if text[i : i + 2] in vocab else 1
            ids.append(vocab[text[i : i + step]])
            i += step
        return ids

    assert encode_pair(encode, "ca", "bc", eot_id=0) == ([3, 1], [2, 3])


def test_empty_prompt_starts_a_document() -> None:
    assert encode_prompt(lambda text: [len(text)], "", eot_id=7) == [7]
    assert encode_prompt(lambda text: [len(text)], "abc", eot_id=7) == [3]


def test_truncate_left_keeps_the_most_recent_ids() -> None:
    assert truncate_left([1, 2, 3, 4], 2) == [3, 4]
    assert truncate_left([1, 2], 5) == [1, 2]
    with pytest.raises(ValueError, match="limit"):
        truncate_left([1], -1)


def test_fit_pair_error_names_the_request() -> None:
    with pytest.raises(ContextWindowError, match=r"request 3: context 8 \+ continuation 3 .* window is 8"):
        fit_pair(list(range(8)), [1, 2, 3], window=8, policy="error", index=3)


def test_fit_pair_left_truncation_fills_the_window() -> None:
    context, continuation = fit_pair(list(range(8)), [1, 2, 3], window=8, policy="left", index=0)
    assert context == [2, 3, 4, 5, 6, 7]
    assert len(context) + len(continuation) - 1 == 8
    assert fit_pair([1, 2], [3], window=8, policy="error", index=0) == ([1, 2], [3])


def test_fit_pair_refuses_a_continuation_longer_than_the_window() -> None:
    with pytest.raises(ContextWindowError, match="continuation has 9 tokens"):
        fit_pair([1], list(range(9)), window=8, policy="left", index=0)


def test_fit_prompt_policies() -> None:
    prompt = list(range(20))
    with pytest.raises(
        ContextWindowError, match="request 2: the prompt has 20 tokens, the context window is 16"
    ):
        fit_prompt(prompt, window=16, max_tokens=4, policy="error", index=2)
    assert fit_prompt(prompt[:10], window=16, max_tokens=30, policy="error", index=0) == prompt[:10]
    assert fit_prompt(prompt, window=16, max_tokens=4, policy="left", index=0) == prompt[-13:]
    assert fit_prompt(prompt, window=16, max_tokens=100, policy="left", index=0) == prompt[-8:]
