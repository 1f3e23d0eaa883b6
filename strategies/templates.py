"""Prompt templates for direct scoring, read from data (strategies/templates/direct.toml), not written in code.

A template says how a question is asked and where the option is scored; `direct(templates=(...))` scores every
option under each named template (Jiang et al. 2020, "How can we know what language models know?": an ensemble
over prompts beats the one prompt). The "default" template is the format the bundled model was trained on.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from reasonkit.strategies import prompts
from reasonkit.types import Answer, QuestionKind

QUESTION_SLOT = "{question}"
OPTIONS_SLOT = "{options}"
TEMPLATE_FILE = "direct.toml"


class Template(BaseModel):
    """One way to ask a question; the defaults are strategies/prompts.py's format."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "default"
    question: str = f"Question: {QUESTION_SLOT}"
    statement: str = f"Question: True or false: {QUESTION_SLOT}"
    options: str = f"Options: {OPTIONS_SLOT}"
    answer: str = prompts.UNCONDITIONAL_CONTEXT
    labels: tuple[str, str] = prompts.BINARY_LABELS

    @field_validator("question", "statement")
    @classmethod
    def _one_question_slot(cls, value: str) -> str:
        if value.count(QUESTION_SLOT) != 1:
            raise ValueError(f"needs {QUESTION_SLOT} exactly once, got {value!r}")
        return value

    @field_validator("options")
    @classmethod
    def _options_slot(cls, value: str) -> str:
        if value and value.count(OPTIONS_SLOT) != 1:
            raise ValueError(f'needs {OPTIONS_SLOT} exactly once (or "" for no options line), got {value!r}')
        return value

    def _line(self, kind: QuestionKind) -> str:
        return self.statement if kind == "binary" else self.question

    def block(self, text: str, options: Sequence[str] | None, kind: QuestionKind, options_line: bool) -> str:
        """The question (and its options line); memory notes stay first, as in prompts.question_block."""
        notes, text = prompts.split_notes(text)
        lines = self._line(kind).replace(QUESTION_SLOT, prompts.clean(text)).split("\n")
        if kind != "binary" and options is not None and options_line and self.options:
            lines.append(self.options.replace(OPTIONS_SLOT, prompts.lettered(options)))
        # an empty content-free input would leave "Question: " with a dangling space
        return notes + "\n".join(line.rstrip() for line in lines)

    def prompt(self, text: str, options: Sequence[str] | None, kind: QuestionKind, options_line: bool) -> str:
        """What the options are scored after: the question block and the answer line."""
        return f"{self.block(text, options, kind, options_line)}\n{self.answer}"

    def verbalised(self, options: Sequence[str] | None) -> list[str]:
        """Each choice as written after the answer line: the option text, or the template's True/False words."""
        return [prompts.clean(o) for o in options] if options is not None else list(self.labels)

    def channel_pairs(
        self, text: str, options: Sequence[str] | None, kind: QuestionKind
    ) -> list[tuple[str, str]]:
        """Noisy channel (Min et al. 2022): the answer line with each choice first, then the question, which is
        the scored continuation (the same text for every choice). The options are not listed."""
        notes, text = prompts.split_notes(text)
        before, _, after = self._line(kind).partition(QUESTION_SLOT)
        continuation = f" {prompts.clean(text)}{after}".rstrip() or " "
        return [
            (f"{notes}{self.answer} {choice}\n{before.rstrip()}", continuation)
            for choice in self.verbalised(options)
        ]

    def example(
        self, text: str, options: Sequence[str] | None, answer: Answer, options_line: bool, channel: bool
    ) -> str:
        """A solved example (few-shot) in the same form as the question it precedes."""
        if isinstance(answer, str):
            raise ValueError("direct scoring's exemplars need an option index or True/False, not free text")
        kind: QuestionKind = "binary" if options is None else "multiple_choice"
        index = (0 if answer else 1) if isinstance(answer, bool) else answer
        if channel:
            context, continuation = self.channel_pairs(text, options, kind)[index]
            return context + continuation
        return f"{self.prompt(text, options, kind, options_line)} {self.verbalised(options)[index]}"


@cache
def load_templates() -> dict[str, Template]:
    """The shipped templates by name; a field a template leaves out takes the "default" template's value."""
    resource = resources.files("reasonkit.strategies").joinpath("templates", TEMPLATE_FILE)
    try:
        table = tomllib.loads(resource.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{resource}: not TOML: {error}") from error
    templates = {}
    for name, fields in table.items():
        try:
            templates[name] = Template.model_validate({**fields, "name": name})
        except ValidationError as error:
            raise ValueError(f"{resource}, template [{name}]: {error}") from error
    return templates
