"""Position schemes: position ids read from a text's structure instead of counted token by token.

A scheme is a function `text -> list[int] | None`: one position id per character of a text written in the
format it knows, or None for any other text (which keeps positions 0, 1, 2, ...). A model trained with a
scheme (`ModelConfig.position_scheme`) must see the same positions when it scores and generates, so the
data pipeline and the engine both go through `PositionScheme`. Schemes only need to handle ASCII text: a
token's characters are found by decoding it alone, which is exact for ASCII.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence

from reasonkit.lm.tokenizer import Tokenizer

CharPositions = Callable[[str], list[int] | None]


class PositionScheme:
    """A scheme by its built-in name ('coupled') or its import path ('package.module:function'), applied to
    token ids or encoded text."""

    def __init__(self, spec: str) -> None:
        from reasonkit.lm.recipe import import_formatter

        self.spec = spec
        self._char_positions: CharPositions = import_formatter(spec, "position_scheme")

    def char_positions(self, text: str) -> list[int] | None:
        if not text.isascii():
            return None
        positions = self._char_positions(text)
        if positions is not None and len(positions) != len(text):
            raise ValueError(
                f"position_scheme {self.spec!r} returned {len(positions)} positions for {len(text)} characters"
            )
        return positions

    def for_ids(self, tokenizer: Tokenizer, ids: Sequence[int], text: str | None = None) -> list[int] | None:
        """Token positions of `ids` (whose text is `text` when the caller has it); None where the scheme declines."""
        pieces = _pieces(tokenizer)
        if text is None:
            text = "".join(pieces[i] for i in ids)
        chars = self.char_positions(text)
        if chars is None:
            return None
        ends = list(itertools.accumulate(len(pieces[i]) for i in ids))
        if (ends[-1] if ends else 0) != len(text):
            raise ValueError(f"position_scheme {self.spec!r}: the tokens of {text[:40]!r}... do not spell it")
        return _token_positions(chars, ends)

    def last_position(self, text: str) -> int | None:
        """The position of the token that ends `text` (a prompt and what was generated after it); None when
        the scheme no longer applies (a generated token that is not ASCII)."""
        chars = self.char_positions(text)
        return chars[-1] if chars else None


def _token_positions(chars: list[int], ends: list[int]) -> list[int]:
    """A token sits at its last character (known once the token is); a token with no characters (the
    end-of-text token) one after the token before it, or just before the first when it leads."""
    out: list[int | None] = [
        chars[end - 1] if end > 0 and (k == 0 or end > ends[k - 1]) else None for k, end in enumerate(ends)
    ]
    first = next((p for p in out if p is not None), 1)
    previous = first - 2
    filled = []
    for position in out:
        previous = previous + 1 if position is None else position
        filled.append(previous)
    shift = min(filled, default=0)
    return [p - shift for p in filled] if shift < 0 else filled


@functools.lru_cache(maxsize=8)
def _pieces(tokenizer: Tokenizer) -> tuple[str, ...]:
    """Every token's text; the special tokens have none (they are never spelled in a document)."""
    special = {tokenizer.eot_id, tokenizer.pad_id}
    return tuple("" if i in special else tokenizer.decode([i]) for i in range(tokenizer.vocab_size))


@functools.cache
def load_scheme(spec: str | None) -> PositionScheme | None:
    return None if spec is None else PositionScheme(spec)
