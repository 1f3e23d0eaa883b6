"""Byte-level BPE tokenizer (the `tokenizers` library) with a document-boundary and a padding token.

Byte-level means every unicode string round-trips exactly: decode(encode(s)) == s. Text is never turned
into special tokens, even when it contains the literal string "<|endoftext|>": only the data pipeline
inserts `eot_id` between documents, so a corpus cannot forge document boundaries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer as _HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from reasonkit.atomic import atomic_write_bytes

EOT = "<|endoftext|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = (EOT, PAD)
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)


class Tokenizer:
    """Thin wrapper that fixes the project's tokenizer conventions; build it with `train` or `load`."""

    def __init__(self, backend: _HFTokenizer, source: str = "<memory>") -> None:
        missing = [token for token in SPECIAL_TOKENS if backend.token_to_id(token) is None]
        if missing:
            raise ValueError(f"{source}: tokenizer lacks the special tokens {missing}")
        backend.encode_special_tokens = True  # literal "<|endoftext|>" in text stays text
        self._backend = backend
        self._eot_id: int = backend.token_to_id(EOT)
        self._pad_id: int = backend.token_to_id(PAD)
        self._json = backend.to_str()
        # byte-level: a token's string has one character per byte, and a byte is at most one character
        self.max_token_chars: int = max(len(t) for t in backend.get_vocab() if t not in SPECIAL_TOKENS)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8192) -> Tokenizer:
        """Learn merges from `texts`; the 256 byte symbols are always in the vocabulary."""
        if vocab_size < MIN_VOCAB_SIZE:
            raise ValueError(
                f"vocab_size={vocab_size} is too small: byte-level BPE needs at least {MIN_VOCAB_SIZE} "
                f"(256 bytes + {len(SPECIAL_TOKENS)} special tokens)"
            )
        backend = _HFTokenizer(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        backend.train_from_iterator(texts, trainer)
        return cls(backend)

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: tokenizer file not found")
        try:
            backend = _HFTokenizer.from_str(path.read_text(encoding="utf-8"))
        except Exception as error:  # the Rust side raises plain Exception
            raise ValueError(f"{path}: not a valid tokenizer JSON file ({error})") from error
        return cls(backend, source=str(path))

    def save(self, path: str | Path) -> None:
        """One JSON file, written atomically (readers never see a half-written tokenizer)."""
        atomic_write_bytes(Path(path), self._json.encode("utf-8"))

    def encode(self, text: str) -> list[int]:
        return self._backend.encode(text, add_special_tokens=False).ids

    def encode_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Ids and the (start, end) character span of each token in `text` (a server's echo needs both)."""
        encoding = self._backend.encode(text, add_special_tokens=False)
        return encoding.ids, encoding.offsets

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Many texts at once; the library spreads them over threads."""
        return [
            encoding.ids
            for encoding in self._backend.encode_batch_fast(list(texts), add_special_tokens=False)
        ]

    def decode(self, ids: Sequence[int]) -> str:
        return self._backend.decode(list(ids), skip_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    @property
    def vocab(self) -> dict[str, int]:
        """Token string (GPT-2's byte alphabet) -> id, special tokens included."""
        return self._backend.get_vocab(with_added_tokens=True)

    @property
    def eot_id(self) -> int:
        return self._eot_id

    @property
    def pad_id(self) -> int:
        return self._pad_id

    @property
    def fingerprint(self) -> str:
        """Identifies the exact vocabulary and merges (for caches keyed on the tokenizer)."""
        return hashlib.sha256(self._json.encode("utf-8")).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, fingerprint={self.fingerprint!r})"
