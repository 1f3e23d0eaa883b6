"""Prompt formats, shared by the strategies that prompt with them and the formatters that train on them.

One format for every benchmark, so a model trained on one dataset's rows reads another's prompts:

    Question: Where would you find a revolving door?        Question: True or false: Soup is a solid.
    Options: (A) bank (B) library (C) mall                  Answer: Soup is mostly liquid. So the answer is False.
    Answer: Banks use them for security. So the answer is (A) bank.

Direct scoring ends the prompt at "Answer:" and scores " <option text>" (or " True" / " False"); chain of
thought writes a rationale after "Answer:" and closes with "So the answer is ...". The `*_text(row)`
formatters turn raw training rows into exactly these texts (None for a row that must not be trained on);
TOML recipes name them as "reasonkit.strategies.prompts:csqa_cot_text".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from reasonkit.types import BLANK, Answer, Question, QuestionKind

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BINARY_LABELS = ("True", "False")
ANSWER_PREFIX = "So the answer is"
UNCONDITIONAL_CONTEXT = "Answer:"
"""The context of the unconditional score logP(option | "Answer:") used by mutual-information scoring."""
EXEMPLAR_SEPARATOR = "\n\n"
NOTE_PREFIX = "Note: "
"""Memory puts retrieved entries before a question as "Note: ..." lines; prompts keep them on their own lines."""
COT_STOP = ("\nQuestion:", "\n\n")
"""Stop strings for a rationale: the model starting the next exemplar, or a blank line."""

Row = Mapping[str, Any]


def clean(text: str) -> str:
    """Collapse runs of whitespace (dataset rows carry double spaces and stray newlines)."""
    return re.sub(r"\s+", " ", text).strip()


def kind_of(options: Sequence[str] | None, kind: QuestionKind | None = None) -> QuestionKind:
    """The question kind: given, or multiple choice when there are options, else binary."""
    return kind if kind is not None else ("multiple_choice" if options is not None else "binary")


def split_notes(text: str) -> tuple[str, str]:
    """Leading "Note: ..." lines (from memory) and the question text after them."""
    lines = text.strip().split("\n")
    notes = []
    while len(lines) > 1 and lines[0].startswith(NOTE_PREFIX):
        notes.append(clean(lines.pop(0)) + "\n")
    return "".join(notes), "\n".join(lines)


def question_block(text: str, options: Sequence[str] | None, kind: QuestionKind | None = None) -> str:
    """The question and its lettered options; a binary statement is asked as "True or false: ...".
    Memory notes at the start of `text` stay on their own lines before "Question:"."""
    notes, text = split_notes(text)
    return notes + _question_block(text, options, kind)


def _question_block(text: str, options: Sequence[str] | None, kind: QuestionKind | None) -> str:
    kind = kind_of(options, kind)
    if kind == "binary":
        return f"Question: True or false: {clean(text)}"
    if kind == "free_form" or options is None:
        return f"Question: {clean(text)}"
    return f"Question: {clean(text)}\nOptions: {lettered(options)}"


def lettered(options: Sequence[str]) -> str:
    """The options as one line, "(A) bank (B) library (C) mall"."""
    if len(options) > len(LETTERS):
        raise ValueError(f"{len(options)} options; the prompt format letters at most {len(LETTERS)}")
    return " ".join(f"({LETTERS[i]}) {clean(option)}" for i, option in enumerate(options))


def direct_prompt(
    text: str, options: Sequence[str] | None, kind: QuestionKind | None = None, options_line: bool = True
) -> str:
    """The question block and "Answer:"; `options_line=False` leaves out the "Options: (A) ..." line, so the
    model reads only the question before scoring each option."""
    block = question_block(text, options if options_line else None, kind_of(options, kind))
    return f"{block}\nAnswer:"


def fill_blank_requests(text: str, fillers: Sequence[str]) -> tuple[list[str], str]:
    """Partial scoring of a fill-in-the-blank sentence, as lm-evaluation-harness scores WinoGrande: one context
    per filler (the sentence up to the blank with the filler in place) and the one continuation they share (the
    words after the blank). Comparing that continuation's likelihood asks which filler makes the rest follow."""
    before, _, after = text.partition(BLANK)
    return [before + filler for filler in fillers], f" {after.strip()}"


def direct_continuations(options: Sequence[str] | None) -> list[str]:
    """What direct scoring scores after "Answer:": " <option text>", or " True" / " False"."""
    return [f" {clean(o)}" for o in options] if options is not None else [f" {b}" for b in BINARY_LABELS]


def answer_label(options: Sequence[str] | None, answer: Answer) -> str:
    """How an answer is written after "So the answer is": "(B) library", "True", or the free-form text."""
    if isinstance(answer, str):
        return clean(answer)
    if isinstance(answer, bool):
        return BINARY_LABELS[0 if answer else 1]
    if options is None:
        raise ValueError(f"answer {answer!r} is an option index but the question has no options")
    return f"({LETTERS[answer]}) {clean(options[answer])}"


def answer_sentence(options: Sequence[str] | None, answer: Answer) -> str:
    return f"{ANSWER_PREFIX} {answer_label(options, answer)}."


def cot_example(text: str, options: Sequence[str] | None, rationale: str, answer: Answer) -> str:
    """One worked example: question, rationale, closing answer sentence (the kind follows the answer's type)."""
    kind: QuestionKind = "free_form" if isinstance(answer, str) else kind_of(options)
    rationale = clean(rationale)
    if rationale and rationale[-1] not in ".!?":
        rationale += "."
    return f"{question_block(text, options, kind)}\nAnswer: {rationale} {answer_sentence(options, answer)}"


def cot_prompt(
    examples: Sequence[str], text: str, options: Sequence[str] | None, kind: QuestionKind | None = None
) -> str:
    """Few-shot prompt: worked examples, then the question with "Answer:" left open for the rationale."""
    return EXEMPLAR_SEPARATOR.join([*examples, direct_prompt(text, options, kind)])


def direct_example(text: str, options: Sequence[str] | None, answer: int | bool) -> str:
    index = (0 if answer else 1) if isinstance(answer, bool) else answer
    return direct_prompt(text, options) + direct_continuations(options)[index]


# Training-data formatters: raw dataset row -> training text, or None to skip the row.


def _truth(value: Any, where: str) -> bool:
    """A binary label from a bool or the strings the datasets use (true/false, yes/no, any case)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in {"true", "yes"}:
        return True
    if word in {"false", "no"}:
        return False
    raise ValueError(f"{where}: label {value!r} is not true/false/yes/no")


def _csqa_fields(row: Row) -> tuple[str, list[str], int]:
    """(stem, options, answer index) from an official CommonsenseQA row or an ECQA row."""
    if isinstance(row.get("question"), Mapping):
        question = row["question"]
        options = [c["text"] for c in question["choices"]]
        labels = [c["label"] for c in question["choices"]]
        return question["stem"], options, labels.index(row["answerKey"])
    return row["question"], list(row["choices"]), LETTERS.index(row["answerKey"])


def csqa_cot_text(row: Row) -> str | None:
    """An ECQA row (ecqa/ecqa_flan_cot_train.jsonl) as a chain-of-thought example.

    Only rows whose question is in the CommonsenseQA TRAIN split: ECQA's own split mixes CSQA train and dev,
    and training on a dev question would leak the evaluation set."""
    if row.get("csqa_split") != "train" or not row.get("explanation"):
        return None
    stem, options, index = _csqa_fields(row)
    return cot_example(stem, options, row["explanation"], index)


def csqa_direct_text(row: Row) -> str | None:
    """A CommonsenseQA row (official or ECQA format; point the recipe at TRAIN files) in the direct format."""
    if not row.get("answerKey") or row.get("csqa_split", "train") != "train":
        return None
    stem, options, index = _csqa_fields(row)
    return direct_example(stem, options, index)


def strategyqa_cot_text(row: Row) -> str | None:
    """A StrategyQA train row (`facts` list) or a FLAN CoT row (`rationale`) as a chain-of-thought example."""
    rationale = " ".join(row["facts"]) if row.get("facts") else row.get("rationale")
    if not rationale:
        return None
    return cot_example(row["question"], None, rationale, _truth(row["answer"], "strategyqa row"))


def strategyqa_direct_text(row: Row) -> str | None:
    return direct_example(row["question"], None, _truth(row["answer"], "strategyqa row"))


def _creak_label(row: Row) -> bool | None:
    if str(row.get("ex_id", "train")).startswith(("dev", "test")) or not row.get("label"):
        return None
    return _truth(row["label"], f"creak row {row.get('ex_id')!r}")


def creak_cot_text(row: Row) -> str | None:
    """A CREAK train row (sentence, explanation, label) as a chain-of-thought example; dev/test ids skipped."""
    label = _creak_label(row)
    if label is None or not row.get("explanation"):
        return None
    return cot_example(row["sentence"], None, row["explanation"], label)


def creak_direct_text(row: Row) -> str | None:
    label = _creak_label(row)
    return None if label is None else direct_example(row["sentence"], None, label)


def csqa2_direct_text(row: Row) -> str | None:
    """A CommonsenseQA 2.0 row (question, answer yes/no); unlabelled rows skipped."""
    if not row.get("answer"):
        return None
    return direct_example(row["question"], None, _truth(row["answer"], f"csqa2 row {row.get('id')!r}"))


def com2sense_direct_text(row: Row) -> str | None:
    """A Com2Sense row (sent, label True/False); unlabelled rows skipped."""
    if not row.get("label"):
        return None
    return direct_example(row["sent"], None, _truth(row["label"], f"com2sense row {row.get('id')!r}"))


def mc_direct_text(row: Row) -> str | None:
    """An ARC / OpenBookQA row as staged (question, choices, 0-based label) in the direct format."""
    if row.get("label") is None:
        return None
    return direct_example(row["question"], list(row["choices"]), int(row["label"]))


def _train_question(row: Row) -> Question | None:
    question = Question.model_validate(row)
    return question if question.split == "train" and question.gold is not None else None


def question_cot_text(row: Row) -> str | None:
    """A serialised `Question` of a TRAIN split whose metadata holds a "rationale" (the synthetic suites), as
    a chain-of-thought example; other splits and rows without a rationale are skipped."""
    question = _train_question(row)
    if question is None or not question.metadata.get("rationale"):
        return None
    return cot_example(question.text, question.options, question.metadata["rationale"], question.gold)


def question_direct_text(row: Row) -> str | None:
    """A serialised multiple-choice or binary `Question` of a TRAIN split in the direct format."""
    question = _train_question(row)
    if question is None or question.is_free_form:
        return None
    return direct_example(question.text, question.options, question.gold)
