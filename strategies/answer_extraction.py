"""Read an answer out of generated text: "So the answer is (B) library", "answer: b", "Yes.", "'True'" ...

The last "answer is" / "answer:" phrase is read first (the trained format closes with "So the answer is X");
X (its first sentence) may be an option letter ("(B)", "B", "b)"), an option's text (exact, or the one
option named in it; a letter followed by the exact text of another option reads as that option, since small
models bind values to letters worse than they compute the values), or a yes / no / true / false word for a binary statement. Without such a phrase only
the last line is read, and only if it is nothing but a letter, an option, a binary word or (free-form) a
number: option texts named inside a rationale are not taken as answers. A free-form answer is the leading
number of the phrase, else its first sentence. Anything ambiguous reads as no answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from reasonkit.strategies.prompts import LETTERS
from reasonkit.types import Answer, Question

Method = Literal["letter", "option_text", "binary_word", "free_text", "none"]

_PHRASE = re.compile(
    r"(?:(?:so\s+)?the\s+)?answer\s*(?:is|:|would be|=)\s*(?:probably\s+|likely\s+)?", re.IGNORECASE
)
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
_YES = {"yes", "true", "correct", "right"}
_NO = {"no", "false", "incorrect", "wrong"}


class Extraction(BaseModel):
    """What was read: the answer (None when nothing reads), how, and the text span it was read from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    answer: Answer | None
    method: Method
    span: str = ""


def normalize(text: str) -> str:
    """Lower case, straight quotes, punctuation and quotes turned to spaces, whitespace collapsed."""
    text = text.translate(_QUOTES).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text)).strip()


def _letter(candidate: str, options: Sequence[str], strict: bool) -> int | None:
    """An option letter leading the candidate: "(b)", "B)", "b." (marked) or a bare "B".

    A bare letter followed by more text counts only when that text is the letter's option ("B library"),
    so "A person would ..." is not read as option A; in `strict` mode the same holds for a marked letter."""
    text = candidate.translate(_QUOTES).strip().strip("\"'*")
    marked = re.match(r"^\(([a-z])\)(.*)$", text, re.I | re.S) or re.match(
        r"^([a-z])[).:,](.*)$", text, re.I | re.S
    )
    match = marked or re.match(r"^([a-z])(\s.*)?$", text, re.I | re.S)
    if not match:
        return None
    index = LETTERS.index(match.group(1).upper())
    if index >= len(options):
        return None
    rest = normalize(match.group(2) or "")
    if not rest or rest == normalize(options[index]) or rest.startswith(normalize(options[index]) + " "):
        return index
    if any(rest == normalize(option) for option in options):
        return None  # "(D) 28" where 28 is option C: the text, which the rationale computed, is read instead
    return index if marked and not strict else None


def _option_text(candidate: str, options: Sequence[str]) -> int | None:
    """The option the candidate names: exactly, or the only one named in it (an option inside a longer named
    option, "store" in "department store", does not count as a second one)."""
    said = normalize(candidate)
    keys = [normalize(o) for o in options]
    exact = [i for i, k in enumerate(keys) if k == said]
    if len(exact) == 1:
        return exact[0]
    named = [i for i, k in enumerate(keys) if k and re.search(rf"\b{re.escape(k)}\b", said)]
    named = [i for i in named if not any(j != i and keys[i] in keys[j] for j in named)]
    return named[0] if len(named) == 1 else None


def _binary_word(candidate: str) -> bool | None:
    words = normalize(candidate).split()
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


def _free_text(candidate: str, strict: bool) -> str | None:
    """A free-form answer: a leading number (thousands commas dropped), else the first sentence unquoted;
    in `strict` mode only a candidate that is wholly a number."""
    text = candidate.translate(_QUOTES).strip().strip("\"'*").strip()
    number = re.match(r"^[-+]?\d[\d,]*(?:\.\d+)?(?=[\s.,;:!?)\"']|$)", text)
    if number and (not strict or normalize(text) == normalize(number.group(0))):
        return number.group(0).replace(",", "").lstrip("+")
    if strict:
        return None
    sentence = re.split(r"(?<=[^\s.])\.(?:\s|$)", text, maxsplit=1)[0]
    sentence = sentence.strip().strip("\"'.!?").strip()
    return sentence or None


def read_candidate(question: Question, candidate: str, strict: bool = False) -> Extraction:
    """Read one candidate string; `strict` accepts only a candidate that is wholly a letter/option/word."""
    candidate = candidate.strip()
    said = normalize(candidate)
    if question.is_free_form:
        value = _free_text(candidate, strict)
        return Extraction(answer=value, method="free_text" if value is not None else "none", span=candidate)
    if question.is_binary:
        value = _binary_word(candidate)
        if value is not None and (not strict or len(said.split()) == 1):
            return Extraction(answer=value, method="binary_word", span=candidate)
        return Extraction(answer=None, method="none", span=candidate)
    options = question.choices
    index = _letter(candidate, options, strict)
    if index is not None:
        return Extraction(answer=index, method="letter", span=candidate)
    if strict:
        exact = [i for i, option in enumerate(options) if normalize(option) == said]
        index = exact[0] if len(exact) == 1 else None
    else:
        index = _option_text(candidate, options)
    if index is not None:
        return Extraction(answer=index, method="option_text", span=candidate)
    return Extraction(answer=None, method="none", span=candidate)


def extract_answer(question: Question, text: str) -> Extraction:
    """The answer stated in `text` for `question`; `answer` None when nothing reads unambiguously."""
    phrases = list(_PHRASE.finditer(text))
    if phrases:
        rest = text[phrases[-1].end() :].strip().split("\n")[0]
        if not question.is_free_form:
            rest = re.split(r"\.\s", rest, maxsplit=1)[0]
        return read_candidate(question, rest)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines:
        return read_candidate(question, lines[-1], strict=True)
    return Extraction(answer=None, method="none", span="")


def answer_phrase_start(text: str) -> int | None:
    """Where the last "answer is" phrase starts, so a caller can cut an unreadable answer off a rationale."""
    phrases = list(_PHRASE.finditer(text))
    return phrases[-1].start() if phrases else None
