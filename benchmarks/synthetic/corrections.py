"""Questions whose answers change by a stated correction: the memory suite (MemPrompt, Madaan et al. 2022).

Made-up countries have attributes ("The flag of Zorbia is blue."), learned from documents and train
questions. A correction ("The flag of Zorbia is now green.") is given once as feedback on one phrasing of a
question; the test asks another phrasing whose gold answer is the corrected value. Without memory the model
answers what it learned; with the correction retrieved into the prompt it can answer right. Training teaches
note-following on the train countries only; test countries' corrections are never in training.
"""

from __future__ import annotations

import random

from reasonkit.benchmarks.synthetic.base import SuiteSplits, check_disjoint
from reasonkit.benchmarks.synthetic.names import nonce_words
from reasonkit.types import Question

ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # attribute: (values, question phrasings, fact template)
    "flag": (
        ("red", "blue", "green", "yellow", "black", "white", "orange", "purple"),
        (
            "What color is the flag of {c}?",
            "Which color does the flag of {c} have?",
            "The flag of {c} is what color?",
        ),
        "The flag of {c} is {v}.",
    ),
    "animal": (
        ("lion", "eagle", "bear", "wolf", "horse", "owl", "fox", "tiger"),
        (
            "What is the national animal of {c}?",
            "Which animal is the national animal of {c}?",
            "The national animal of {c} is which animal?",
        ),
        "The national animal of {c} is the {v}.",
    ),
    "sport": (
        ("football", "tennis", "chess", "rowing", "cricket", "skiing", "boxing", "archery"),
        (
            "What is the favourite sport in {c}?",
            "Which sport do people in {c} like most?",
            "The favourite sport in {c} is which sport?",
        ),
        "The favourite sport in {c} is {v}.",
    ),
}
N_OPTIONS = 5


def correction_sentence(attribute: str, country: str, value: str) -> str:
    return ATTRIBUTES[attribute][2].format(c=country, v=value).replace(" is ", " is now ", 1)


def _country_questions(
    rng: random.Random, country: str, split: str, first_index: int
) -> tuple[list[str], list[Question]]:
    """One question per attribute of `country` (gold: the corrected value) and the facts they correct."""
    documents: list[str] = []
    questions: list[Question] = []
    for attribute, (values, phrasings, fact) in ATTRIBUTES.items():
        old, new = rng.sample(values, 2)
        documents.append(fact.format(c=country, v=old))
        options = [old, new, *rng.sample([v for v in values if v not in (old, new)], N_OPTIONS - 2)]
        rng.shuffle(options)
        asked, feedback_on = rng.sample(phrasings, 2)
        metadata = {
            "benchmark": CorrectionsSuite.name,
            "country": country,
            "attribute": attribute,
            "original": old,
            "correction": correction_sentence(attribute, country, new),
            "feedback_on": feedback_on.format(c=country),
        }
        questions.append(
            Question(
                id=f"{CorrectionsSuite.name}-{split}-{first_index + len(questions)}",
                text=asked.format(c=country),
                options=tuple(options),
                gold=options.index(new),
                split=split,
                metadata=metadata,
            )
        )
    return documents, questions


def _countries(rng: random.Random, count: int) -> list[str]:
    return [w.capitalize() + "ia" for w in nonce_words(rng, count)]


class CorrectionsSuite:
    name = "corrections"
    self_contained = False

    def __init__(self, n_countries: int = 200) -> None:
        self.n_countries = n_countries

    def generate(self, seed: int = 0, n_train: int | None = None, n_test: int | None = None) -> SuiteSplits:
        rng = random.Random(f"{self.name}-{seed}")
        countries = _countries(rng, self.n_countries)
        test_countries = set(countries[: len(countries) // 4])
        documents: list[str] = []
        splits: dict[str, list[Question]] = {"train": [], "test": []}
        for country in countries:
            split = "test" if country in test_countries else "train"
            facts, questions = _country_questions(rng, country, split, len(splits[split]))
            documents.extend(facts)
            splits[split].extend(questions)
        for split, limit in (("train", n_train), ("test", n_test)):
            if limit is not None:
                splits[split] = splits[split][:limit]
        check_disjoint(self.name, splits["train"], splits["test"])
        return SuiteSplits(
            name=self.name,
            seed=seed,
            documents=tuple(documents),
            splits={k: tuple(v) for k, v in splits.items()},
        )


def note_drill_rows(n_countries: int = 5000, seed: int = 0) -> list[dict[str, object]]:
    """Train rows about fresh made-up countries, none of the suite's, each carrying the fact it corrects
    (metadata "fact"), for a recipe source (`generator = "reasonkit.benchmarks.synthetic.corrections:
    note_drill_rows"`). The suite has 450 train questions, few enough to memorise; thousands of fresh
    countries make following the note the only way to fit them."""
    suite_countries = {
        q.metadata["country"] for split in CorrectionsSuite().generate(seed).splits.values() for q in split
    }
    rng = random.Random(f"{CorrectionsSuite.name}-drills-{seed}")
    countries = [c for c in _countries(rng, n_countries + len(suite_countries)) if c not in suite_countries]
    rows: list[dict[str, object]] = []
    for country in countries[:n_countries]:
        facts, questions = _country_questions(rng, country, "train", len(rows))
        for fact, question in zip(facts, questions, strict=True):
            drill = question.model_copy(update={"metadata": {**question.metadata, "fact": fact}})
            rows.append(drill.model_dump(mode="json"))
    return rows
