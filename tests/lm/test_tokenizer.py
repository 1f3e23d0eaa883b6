from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit.lm.tokenizer import EOT, PAD, Tokenizer

CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 20,
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 10,
    "Question: Where would you find a fox?\nAnswer: forest\n\n" * 10,
    "数字 1234567890 café naïve — “quotes” 🙂",
]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.train(CORPUS, vocab_size=400)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "  leading spaces",
        "trailing  ",
        "emoji 👩‍👩‍👧 🙂",
        "中文字符 日本語",
        "e\u0301 a\u0308\u0323",
        "line\r\nbreak\r\n",
        "\t\x00\x7f",
        "<|endoftext|> inside text",
        "the fox",
    ],
)
def test_round_trip_explicit(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_any_unicode(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_encode_adds_no_special_tokens(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode("the fox <|endoftext|> <|pad|>")
    assert tokenizer.eot_id not in ids
    assert tokenizer.pad_id not in ids
    assert tokenizer.encode("") == []


def test_special_tokens_and_vocab(tokenizer: Tokenizer) -> None:
    assert tokenizer.eot_id != tokenizer.pad_id
    assert tokenizer.decode([tokenizer.eot_id]) == EOT
    assert tokenizer.decode([tokenizer.pad_id]) == PAD
    assert 258 < tokenizer.vocab_size <= 400
    assert len(tokenizer.encode("the quick brown fox")) < len("the quick brown fox")  # merges were learnt


def test_encode_batch_matches_encode(tokenizer: Tokenizer) -> None:
    texts = ["the fox", "", "🙂 café", "To be, or not to be"]
    assert tokenizer.encode_batch(texts) == [tokenizer.encode(t) for t in texts]


def test_save_load_equal(tokenizer: Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "tokenizer.json"
    tokenizer.save(path)
    loaded = Tokenizer.load(path)
    assert loaded.fingerprint == tokenizer.fingerprint
    assert (loaded.vocab_size, loaded.eot_id, loaded.pad_id) == (
        tokenizer.vocab_size,
        tokenizer.eot_id,
        tokenizer.pad_id,
    )
    text = "Whether 'tis nobler 🙂 <|endoftext|>"
    assert loaded.encode(text) == tokenizer.encode(text)
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.json"]  # no temp file left behind


def test_training_is_deterministic(tokenizer: Tokenizer) -> None:
    assert Tokenizer.train(CORPUS, vocab_size=400).fingerprint == tokenizer.fingerprint
    assert Tokenizer.train(CORPUS, vocab_size=300).fingerprint != tokenizer.fingerprint


def test_vocab_too_small() -> None:
    with pytest.raises(ValueError, match="vocab_size=100"):
        Tokenizer.train(CORPUS, vocab_size=100)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Tokenizer.load(missing)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        Tokenizer.load(bad)
