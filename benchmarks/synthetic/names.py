"""Made-up words for synthetic worlds: nothing the model could know from its other training text."""

from __future__ import annotations

import random

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"


def nonce_words(rng: random.Random, count: int, syllables: tuple[int, ...] = (2, 3)) -> list[str]:
    """`count` distinct pronounceable words such as "tomiku"; none ends in "s" (plurals stay regular)."""
    words: dict[str, None] = {}
    while len(words) < count:
        word = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.choice(syllables)))
        words[word] = None
    return list(words)
