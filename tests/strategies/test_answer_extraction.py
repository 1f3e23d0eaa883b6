"""Reading answers out of generated text: a table of the ways models (and people) state them."""

from __future__ import annotations

import pytest

from reasonkit.strategies.answer_extraction import answer_phrase_start, extract_answer
from reasonkit.types import Question

MC = Question(
    id="mc",
    text="Where is a revolving door found?",
    options=("bank", "library", "department store", "store", "new york"),
)
BINARY = Question(id="bin", text="Soup is a solid.")
FREE = Question(id="free", text="Start with 2. Add 2. What is the result?", gold="4")


@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        (" Banks need security. So the answer is (B) library.", 1, "letter"),
        ("So the answer is (b)", 1, "letter"),
        ("the answer is B", 1, "letter"),
        ("The answer is C) department store", 2, "letter"),
        ("So the answer is E.", 4, "letter"),
        ("answer: 'D'", 3, "letter"),
        ("So the answer is B library.", 1, "letter"),
        ("So the answer is department store.", 2, "option_text"),
        ("So the answer is store.", 3, "option_text"),  # "store" alone, not inside "department store"
        ('So the answer is "Library".', 1, "option_text"),
        ("So the answer is \u201cnew york\u201d!", 4, "option_text"),
        ("So the answer is the bank, obviously.", 0, "option_text"),
        ("Answer: A person goes to the bank.", 0, "option_text"),  # "A person" is not option A
        ("So the answer is department store. The store is big.", 2, "option_text"),
        ("the answer is (A) bank.\nQuestion: where else?", 0, "letter"),
        ("Hmm. The answer is (A). No wait, the answer is (C).", 2, "letter"),  # the last phrase counts
        ("E", 4, "letter"),  # no phrase: a last line that is only a letter
        ("I think.\nlibrary", 1, "option_text"),  # ... or only an option
        ("So the answer is bank or library.", None, "none"),  # two options named: ambiguous
        ("So the answer is (D) library.", 1, "option_text"),  # letter and option text disagree: the text
        ("So the answer is (D) libraries.", 3, "letter"),  # a text that is no option leaves the letter
        ("So the answer is (F).", None, "none"),  # no option F
        ("Libraries have revolving doors and banks too.", None, "none"),  # options inside a rationale
        ("So the answer is purple.", None, "none"),
        ("", None, "none"),
    ],
)
def test_multiple_choice(text: str, answer: int | None, method: str) -> None:
    read = extract_answer(MC, text)
    assert (read.answer, read.method) == (answer, method)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Soup is liquid. So the answer is False.", False),
        ("So the answer is true", True),
        ("So the answer is yes.", True),
        ("the answer is: NO", False),
        ("So the answer is \u2018True\u2019.", True),
        ("Answer: correct", True),
        ("So the answer is incorrect.", False),
        ("No", False),
        ("true.", True),
        ("It is not true.", None),  # no phrase, and the last line is more than a word
        ("So the answer is maybe.", None),
        ("So the answer is (A).", None),  # a letter means nothing for a binary statement
    ],
)
def test_binary(text: str, answer: bool | None) -> None:
    read = extract_answer(BINARY, text)
    assert read.answer is answer
    assert read.method == ("binary_word" if answer is not None else "none")


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("2 + 2 = 4. So the answer is 4.", "4"),
        ("So the answer is 1,024 apples.", "1024"),
        ("So the answer is -3.5.", "-3.5"),
        ("So the answer is +7", "7"),
        ("So the answer is 'four'. Next question", "four"),
        ("42", "42"),
        ("I think 42", None),  # no phrase: only a line that is wholly a number
        ("So the answer is .", None),
    ],
)
def test_free_form(text: str, answer: str | None) -> None:
    assert extract_answer(FREE, text).answer == answer


def test_span_is_the_text_the_answer_was_read_from() -> None:
    assert extract_answer(MC, "So the answer is (B) library.").span == "(B) library."
    text = "Banks use them. So the answer is purple."
    assert text[answer_phrase_start(text) :] == "So the answer is purple."
    assert answer_phrase_start("no phrase here") is None
