"""Pluggable relation scorers: does statement A entail, contradict, or say nothing about statement B?

The default asks the strategy's own LM (GPT-3 paper's NLI prompt, scored by log-likelihood), so maieutic
needs no second model. `HFNLIScorer` uses a local sequence-classification NLI model (e.g. roberta-large-mnli,
what the paper used) when a user has one on disk; it never downloads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from reasonkit.protocol import LoglikelihoodRequest
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

    async def score(self, pairs: Sequence[tuple[str, str]], lm: AsyncLM) -> list[RelationScores]:
        requests = [
            LoglikelihoodRequest(context=self.prompt(premise, hypothesis), continuation=self.ANSWERS[label])
            for premise, hypothesis in pairs
            for label in LABELS
        ]
        results = await lm.loglikelihood(requests) if requests else []
        return [_softmax3([r.logprob for r in results[i : i + 3]]) for i in range(0, len(results), 3)]


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
