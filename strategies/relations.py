"""Pluggable relation scorers: does statement A entail, contradict, or say nothing about statement B?

The default asks the strategy's own LM (GPT-3 paper's NLI prompt, scored by log-likelihood), so maieutic
needs no second model. `HFNLIScorer` uses a local sequence-classification NLI model (e.g. roberta-large-mnli,
what the paper used) when a user has one on disk; it never downloads.

Link scorers judge one relation more: does an explanation bear on the parent it was written for, in the
direction it was written for ("P is true, because E")? MAX-SAT reads an explanation as E -> P whatever E says,
so a true fact about something else would otherwise vote as strongly as a reason (docs/studies/
maieutic_consistency.md). Any relation scorer serves ("lm", "hf:PATH": E entails P, or ~P); `ContinuationLink`
reads the link as documents would state it (E, then the claim); `AbductiveLink` in the format the strategy
prompts with, the one format in which a model trained on maieutic's rows has seen an explanation and its claim
together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from reasonkit.protocol import LanguageModel, LoglikelihoodRequest, LoglikelihoodResult
from reasonkit.strategies.beliefs import CONTENT_FREE
from reasonkit.strategy import AsyncLM

Label = Literal["entail", "neutral", "contradict"]
LABELS: tuple[Label, ...] = ("entail", "neutral", "contradict")


class RelationScores(BaseModel):
    """Probabilities of the three NLI labels for (premise, hypothesis)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entail: float
    neutral: float
    contradict: float

    @property
    def label(self) -> Label:
        probs = (self.entail, self.neutral, self.contradict)
        return LABELS[max(range(3), key=probs.__getitem__)]


@runtime_checkable
class RelationScorer(Protocol):
    """Scores (premise, hypothesis) pairs; `lm` is the strategy's LM, which a scorer may ignore."""

    name: str

    async def score(self, pairs: Sequence[tuple[str, str]], lm: AsyncLM) -> list[RelationScores]: ...


def _softmax3(values: Sequence[float]) -> RelationScores:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return RelationScores(**{label: e / total for label, e in zip(LABELS, exps, strict=True)})


class LMRelationScorer:
    """The LM judges each pair: "{premise}\\nQuestion: {hypothesis} True, False, or Neither?\\nAnswer:"
    followed by " True" (entail), " Neither" (neutral), " False" (contradict), compared by log-likelihood."""

    name = "lm"
    ANSWERS: dict[Label, str] = {"entail": " True", "neutral": " Neither", "contradict": " False"}

    @staticmethod
    def prompt(premise: str, hypothesis: str) -> str:
        return f"{premise}\nQuestion: {hypothesis} True, False, or Neither?\nAnswer:"

    def requests(self, pairs: Sequence[tuple[str, str]]) -> list[LoglikelihoodRequest]:
        return [
            LoglikelihoodRequest(context=self.prompt(premise, hypothesis), continuation=self.ANSWERS[label])
            for premise, hypothesis in pairs
            for label in LABELS
        ]

    @staticmethod
    def scores(results: Sequence[LoglikelihoodResult]) -> list[RelationScores]:
        return [_softmax3([r.logprob for r in results[i : i + 3]]) for i in range(0, len(results), 3)]

    async def score(self, pairs: Sequence[tuple[str, str]], lm: AsyncLM) -> list[RelationScores]:
        requests = self.requests(pairs)
        return self.scores(await lm.loglikelihood(requests) if requests else [])


class JudgeRelationScorer(LMRelationScorer):
    """The same prompt scored by another local model ("lm:PATH"), not the strategy's: a judge trained for the
    format, as the paper's NLI model is separate from its generator. A small generator that must also hold a
    world's facts learns the format unevenly (docs/studies/maieutic_consistency.md, six looks). Loaded on
    first use (`judge_model`)."""

    def __init__(self, model_path: str) -> None:
        self.model_path, self.name = model_path, f"lm:{model_path}"

    async def score(self, pairs: Sequence[tuple[str, str]], lm: AsyncLM) -> list[RelationScores]:
        requests = self.requests(pairs)
        return self.scores(judge_model(self.model_path).loglikelihood(requests)) if requests else []


@cache
def judge_model(path: str) -> LanguageModel:
    """One loaded judge per path and process: maieutic's link and relations may name the same one."""
    from reasonkit.models import load_model

    return load_model(path)


class HFNLIScorer:
    """A local Hugging Face NLI classifier (offline only; `transformers` imported on first use).

    Label order is read from the model's config (id2label names containing "entail" / "neutral" / "contra").
    """

    name = "hf-nli"

    def __init__(self, model_path: str, device: str = "cpu", batch_size: int = 32) -> None:
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._index: dict[Label, int] = {}

    def _load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        self._model = AutoModelForSequenceClassification.from_pretrained(
            self.model_path, local_files_only=True
        )
        self._model.to(self.device).eval()
        self._index = label_index(self._model.config.id2label, where=self.model_path)

    async def score(self, pairs: Sequence[tuple[str, str]], lm: AsyncLM) -> list[RelationScores]:
        import torch

        if self._model is None:
            self._load()
        scores: list[RelationScores] = []
        for start in range(0, len(pairs), self.batch_size):
            premises, hypotheses = zip(*pairs[start : start + self.batch_size], strict=True)
            batch = self._tokenizer(
                list(premises), list(hypotheses), return_tensors="pt", padding=True, truncation=True
            )
            with torch.no_grad():
                probs = self._model(**batch.to(self.device)).logits.softmax(dim=-1).cpu()
            for row in probs.tolist():
                scores.append(RelationScores(**{label: row[i] for label, i in self._index.items()}))
        return scores


def label_index(id2label: dict[int, str], where: str) -> dict[Label, int]:
    """Map our three labels onto a classifier's output indices by their names."""
    found: dict[Label, int] = {}
    for index, name in id2label.items():
        lowered = name.lower()
        for label, key in (("entail", "entail"), ("neutral", "neutral"), ("contradict", "contra")):
            if key in lowered:
                found[label] = int(index)
    missing = [label for label in LABELS if label not in found]
    if missing:
        raise ValueError(
            f"{where}: config id2label {id2label} has no label for {missing}; expected NLI labels"
        )
    return found


class Link(NamedTuple):
    """An explanation and the parent it explains: "{parent} is {polarity}, because {explanation}".
    parent_free: the parent with its claim made content-free ("Nano is N/A."), its subject kept."""

    explanation: str
    parent: str
    parent_negation: str
    polarity: bool
    parent_free: str


ExplainPrompt = Callable[[str, bool], str]
"""(statement, polarity) -> the strategy's prompt asking why the statement has that truth value."""


@runtime_checkable
class LinkScorer(Protocol):
    """Scores links: entail, the explanation supports its parent in the direction it was written for;
    contradict, the other direction; neutral, neither (it is about something else)."""

    name: str

    async def score(
        self, links: Sequence[Link], lm: AsyncLM, explain_prompt: ExplainPrompt
    ) -> list[RelationScores]: ...


class RelationLink:
    """A relation scorer's judgement of (E, P), read in the direction E was written for: an explanation of why
    P is false is a reason when E contradicts P. P itself, not the model's negation of it: a small model's
    negation of "Nano is shiny." need not be "Nano is not shiny.", and the scorer would judge that text too."""

    def __init__(self, scorer: RelationScorer) -> None:
        self.scorer, self.name = scorer, scorer.name

    async def score(
        self, links: Sequence[Link], lm: AsyncLM, explain_prompt: ExplainPrompt
    ) -> list[RelationScores]:
        scores = await self.scorer.score([(k.explanation, k.parent) for k in links], lm) if links else []
        return [
            s if k.polarity else RelationScores(entail=s.contradict, neutral=s.neutral, contradict=s.entail)
            for k, s in zip(links, scores, strict=True)
        ]


class AbductiveLink:
    """The likelihood of E as the model's explanation of three claims: the parent with E's polarity (entail),
    with the other polarity (contradict), and the parent with its claim made content-free (neutral), normalised
    over the three. E supports its parent when that reading is the likeliest: the model would give E for this
    claim and this truth value rather than for the opposite one, or for any claim about the same subject."""

    name = "abductive"

    async def score(
        self, links: Sequence[Link], lm: AsyncLM, explain_prompt: ExplainPrompt
    ) -> list[RelationScores]:
        requests = [
            LoglikelihoodRequest(
                context=explain_prompt(statement, polarity), continuation=f" {k.explanation}"
            )
            for k in links
            for statement, polarity in (
                (k.parent, k.polarity),
                (k.parent_free, k.polarity),
                (k.parent, not k.polarity),
            )
        ]
        results = await lm.loglikelihood(requests) if requests else []
        return [_softmax3([r.logprob for r in results[i : i + 3]]) for i in range(0, len(results), 3)]


class ContinuationLink:
    """Does the model continue E with the claim E was written for (P, or ~P for an explanation of why P is
    false) rather than with the opposite one, more than it does after a content-free text? Two-way: entail is
    sigmoid of that difference of log-odds, contradict its complement, neutral 0."""

    name = "continuation"

    async def score(
        self, links: Sequence[Link], lm: AsyncLM, explain_prompt: ExplainPrompt
    ) -> list[RelationScores]:
        claims = [
            (k.parent, k.parent_negation) if k.polarity else (k.parent_negation, k.parent) for k in links
        ]
        requests = [
            LoglikelihoodRequest(context=context, continuation=f" {claim}")
            for k, pair in zip(links, claims, strict=True)
            for context in (k.explanation, CONTENT_FREE)
            for claim in pair
        ]
        results = await lm.loglikelihood(requests) if requests else []
        scores = []
        for i in range(0, len(results), 4):
            after_e, own, after_free, free = (r.logprob for r in results[i : i + 4])
            shift = (after_e - own) - (after_free - free)
            entail = 1.0 / (1.0 + math.exp(-shift)) if shift > -700 else 0.0
            scores.append(RelationScores(entail=entail, neutral=0.0, contradict=1.0 - entail))
        return scores


def nli_text(row: dict[str, Any]) -> str | None:
    """Training-data formatter (recipes name it "reasonkit.strategies.relations:nli_text"): a {"premise",
    "text" (the hypothesis), "label"} row as `LMRelationScorer` prompts and answers, so that `relations='lm'`
    and `link='lm'` read a format the model was taught (`benchmarks.synthetic.consistency.nli_drill_rows`)."""
    label = row.get("label")
    if label not in LMRelationScorer.ANSWERS:
        return None
    return LMRelationScorer.prompt(str(row["premise"]), str(row["text"])) + LMRelationScorer.ANSWERS[label]
