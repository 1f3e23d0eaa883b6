"""Belief functions for maieutic prompting: how strongly the model holds a statement E and its negation ~E.

Maieutic keeps an explanation only when its beliefs in E and ~E differ enough (logical integrity) and weighs
MAX-SAT's belief clauses by them, so the whole method rests on a belief the model can actually read. Which
one is pluggable (`Maieutic(belief=...)`, by registered name):

- "prompt": the paper's P(True | E), a judgement: "Q: E\\nA: This statement is" scored with " true" /
  " false" after few-shot examples, calibrated against a content-free statement (Zhao et al. 2021).
- "likelihood": no judgement prompt; each sentence of E is read the way documents state facts, by how likely
  the model completes its last slot with E's filler rather than with the alternatives: after an article ("X
  is a K.") the other fillers the model itself would put there (sampled), which exclude one another; after
  a verb ("Ks are p.") the same predicate negated ("Ks are not p."), since predicates co-occur but exclude
  their own negation. A sentence's belief is the filler's share of the candidates' probability; E's is the
  product over its sentences, and b(~E) = 1 - b(E). "likelihood_calibrated" divides each candidate's
  probability by its probability in the same frame with a content-free subject ("N/A is a"), as the prompt
  is calibrated (Zhao et al. 2021); on the world that lowered every AUC, so "likelihood" does not.
- "likelihood_mean", "likelihood_min": E's belief is the geometric mean, or the minimum, of its sentences'
  shares instead of their product. The product shrinks with the number of facts: a three-fact chain whose
  facts the model holds at 0.7 each is believed at 0.34, false (docs/studies/maieutic_consistency.md); the
  mean and the minimum judge a chain as strongly as its facts, the minimum by its weakest one.
- "prompt_root": the prompt's belief for the question's statement, the likelihood belief for explanations;
  "prompt_root_mean" and "prompt_root_min" with the explanations' shares combined as above.
- any function registered with `register_scoring_function` (P(true) per statement, e.g. a verifier).
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from reasonkit.protocol import GenerationRequest, LoglikelihoodRequest
from reasonkit.strategies import maieutic_tree as mt
from reasonkit.strategy import AsyncLM

CONTENT_FREE = "N/A"
"""The statement whose belief measures a context's lean (contextual calibration, Zhao et al. 2021)."""

Combine = Literal["product", "mean", "min"]
"""How an explanation's belief combines its sentences' beliefs: product, geometric mean, minimum."""
COMBINE_SUFFIX: dict[Combine, str] = {"product": "", "mean": "_mean", "min": "_min"}
"""A belief's registered name is its base name plus this ("likelihood_mean", "prompt_root_min")."""

Pair = tuple[str, str]
"""(E, ~E)."""
BeliefPair = tuple[float, float]
"""(P(True | E), P(True | ~E))."""


class Shot(Protocol):
    """A few-shot example as the belief prompt shows it (`MaieuticExemplar` is one)."""

    @property
    def statement(self) -> str: ...

    @property
    def label(self) -> bool: ...


def belief_context(statement: str, shots: Sequence[Shot]) -> str:
    lines = [f"Q: {ex.statement}\nA: This statement is {'true' if ex.label else 'false'}.\n" for ex in shots]
    return "".join(lines) + f"Q: {statement}\nA: This statement is"


@runtime_checkable
class BeliefFunction(Protocol):
    """Beliefs for (E, ~E) pairs. `calibration` runs once per question before any belief and returns what
    `beliefs` gets as `offset` (e.g. the log-odds to remove); None, when calibration is off, means none.
    `root`: the pair is the question's own statement and its negation, not an explanation."""

    name: str

    async def calibration(self, lm: AsyncLM, shots: Sequence[Shot], notes: list[str]) -> float: ...

    async def beliefs(
        self,
        pairs: Sequence[Pair],
        lm: AsyncLM,
        shots: Sequence[Shot],
        offset: float | None,
        root: bool = False,
    ) -> list[BeliefPair]: ...


_REGISTRY: dict[str, Callable[[], BeliefFunction]] = {}


def register_belief(name: str, factory: Callable[[], BeliefFunction]) -> None:
    """Make `factory()` available as `Maieutic(belief=name)`."""
    if name in _REGISTRY:
        raise ValueError(f"belief function {name!r} is already registered")
    _REGISTRY[name] = factory


def registered_beliefs() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def belief_function_for(spec: str | BeliefFunction) -> BeliefFunction:
    if not isinstance(spec, str):
        return spec
    if spec not in _REGISTRY:
        raise ValueError(
            f"Maieutic: option 'belief': no belief function {spec!r}; registered: {', '.join(registered_beliefs())}"
        )
    return _REGISTRY[spec]()


class PromptBelief:
    """The paper's P(True | E) from the belief prompt, calibrated against `CONTENT_FREE`."""

    name = "prompt"

    async def calibration(self, lm: AsyncLM, shots: Sequence[Shot], notes: list[str]) -> float:
        """log P(" true") - log P(" false") for a content-free statement: the context's own lean."""
        context = belief_context(CONTENT_FREE, shots)
        lp_true, lp_false = await lm.loglikelihood(
            [LoglikelihoodRequest(context=context, continuation=answer) for answer in (" true", " false")]
        )
        offset = lp_true.logprob - lp_false.logprob
        notes.append(f"calibration: P(true | {CONTENT_FREE!r}) = {mt.two_way_probability(offset, 0.0):.3f}")
        return offset

    async def beliefs(
        self,
        pairs: Sequence[Pair],
        lm: AsyncLM,
        shots: Sequence[Shot],
        offset: float | None,
        root: bool = False,
    ) -> list[BeliefPair]:
        """Each of E and ~E normalised over " true" / " false" after removing `offset` from the log-odds."""
        requests = [
            LoglikelihoodRequest(context=belief_context(statement, shots), continuation=answer)
            for pair in pairs
            for statement in pair
            for answer in (" true", " false")
        ]
        results = await lm.loglikelihood(requests) if requests else []
        probs = [
            mt.two_way_probability(results[i].logprob - (offset or 0.0), results[i + 1].logprob)
            for i in range(0, len(results), 2)
        ]
        return [(probs[i], probs[i + 1]) for i in range(0, len(probs), 2)]


class Slot(NamedTuple):
    """A sentence's last slot: "Zapodu is a nebanu." is (prefix "Zapodu is a", filler "nebanu", negated
    False, article True); "Nebanus are not red." is ("Nebanus are", "red", True, False)."""

    prefix: str
    filler: str
    negated: bool
    article: bool

    @property
    def content_free_prefix(self) -> str:
        """The prefix with its subject (all but the last word before the slot, and any article) replaced by
        `CONTENT_FREE`: "Zapodu is a" -> "N/A is a"."""
        words = self.prefix.split()
        keep = 2 if self.article and len(words) > 2 else 1 if len(words) > 1 else 0
        return " ".join([CONTENT_FREE, *words[len(words) - keep :]])


_SLOT = re.compile(
    r"(?P<head>.+?)\s+(?:(?P<not>not)\s+)?(?:(?P<article>an?|the)\s+)?(?P<filler>[\w'-]+)\s*\.",
    re.IGNORECASE,
)
_ONE_WORD = re.compile(r"[\w'-]+")


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=\.)\s+", text.strip()) if s]


def find_slot(sentence: str) -> Slot | None:
    """The sentence's last word as a slot, or None when the sentence is not "<head> [not] [a] <word>."."""
    match = _SLOT.fullmatch(sentence.strip())
    if match is None:
        return None
    article = match["article"]
    prefix = f"{match['head']} {article}" if article else match["head"]
    return Slot(prefix, match["filler"], match["not"] is not None, article is not None)


class LikelihoodBelief:
    """E's belief from the likelihood of its slots' fillers against their alternatives (module docstring).

    n_alternatives: samples drawn after an article's prefix to find the other fillers; they are kept when they
    are one word, as the filler is. calibrate: against the content-free subject (registered as
    "likelihood_calibrated"); off for "likelihood", chosen on the world's non-test facts, where calibration
    lowered the AUC (docs/studies/maieutic_beliefs.md). combine: how E's sentences' shares make E's belief
    (`combined`)."""

    def __init__(
        self,
        n_alternatives: int = 16,
        temperature: float = 1.0,
        max_tokens: int = 8,
        calibrate: bool = False,
        combine: Combine = "product",
    ) -> None:
        self.n_alternatives, self.temperature, self.max_tokens = n_alternatives, temperature, max_tokens
        self.calibrate, self.combine = calibrate, combine
        self.name = ("likelihood_calibrated" if calibrate else "likelihood") + COMBINE_SUFFIX[combine]

    async def calibration(self, lm: AsyncLM, shots: Sequence[Shot], notes: list[str]) -> float:
        notes.append(
            f"calibration: each filler against the same frame with the subject {CONTENT_FREE!r}"
            if self.calibrate
            else "calibration: none (likelihood belief)"
        )
        return 0.0

    async def beliefs(
        self,
        pairs: Sequence[Pair],
        lm: AsyncLM,
        shots: Sequence[Shot],
        offset: float | None,
        root: bool = False,
    ) -> list[BeliefPair]:
        """Calibrated (`calibrate`, and `offset` not None: maieutic's calibration is on): each candidate's
        log-probability less its log-probability after the slot's `content_free_prefix` (the frame's own lean:
        a form the documents never use for any subject, like "X is not p.", is not taken as evidence against
        it)."""
        calibrated = self.calibrate and offset is not None
        slots = [[s for s in map(find_slot, sentences(e)) if s is not None] for e, _ in pairs]
        unique = list(dict.fromkeys(s for row in slots for s in row))
        candidates = await self._candidates(unique, lm)
        contexts = [(slot.prefix, slot.content_free_prefix if calibrated else None) for slot in unique]
        keys = list(
            dict.fromkeys(
                (context, f" {c}.")
                for slot, pair in zip(unique, contexts, strict=True)
                for context in pair
                if context is not None
                for c in candidates[slot]
            )
        )
        requests = [LoglikelihoodRequest(context=k, continuation=c) for k, c in keys]
        results = await lm.loglikelihood(requests) if requests else []
        logprob = {key: r.logprob for key, r in zip(keys, results, strict=True)}
        share: dict[Slot, float] = {}
        for slot, (prefix, free) in zip(unique, contexts, strict=True):
            scores = [
                logprob[prefix, f" {c}."] - (logprob[free, f" {c}."] if free is not None else 0.0)
                for c in candidates[slot]
            ]
            top = max(scores)
            weights = [math.exp(x - top) for x in scores]
            p = weights[0] / sum(weights)  # candidates[slot][0] is the filler as stated
            share[slot] = 1.0 - p if slot.negated and slot.article else p
        out = []
        for row in slots:
            b = combined([share[s] for s in row], self.combine)
            out.append((b, 1.0 - b))
        return out

    async def _candidates(self, slots: Sequence[Slot], lm: AsyncLM) -> dict[Slot, list[str]]:
        """Per slot, the stated filler first, then its alternatives: the polar form for a predicate, the
        model's own one-word fillers for an article's slot."""
        out: dict[Slot, list[str]] = {}
        for slot in slots:
            if not slot.article:
                positive, negative = slot.filler, f"not {slot.filler}"
                out[slot] = [negative, positive] if slot.negated else [positive, negative]
        prefixes = list(dict.fromkeys(s.prefix for s in slots if s.article))
        results = (
            await lm.generate(
                [
                    GenerationRequest(
                        prompt=prefix,
                        n=self.n_alternatives,
                        max_tokens=self.max_tokens,
                        temperature=self.temperature,
                        stop=(".", "\n"),
                        seed=zlib.crc32(prefix.encode()),
                    )
                    for prefix in prefixes
                ]
            )
            if prefixes
            else []
        )
        fillers = {
            prefix: [t for s in result.samples if _ONE_WORD.fullmatch(t := s.text.strip())]
            for prefix, result in zip(prefixes, results, strict=True)
        }
        for slot in slots:
            if slot.article:
                rivals = [f for f in fillers[slot.prefix] if f.lower() != slot.filler.lower()]
                out[slot] = list(dict.fromkeys([slot.filler, *rivals]))
        return out


def combined(shares: Sequence[float], combine: Combine) -> float:
    """An explanation's belief from its sentences' shares (0.5, no evidence either way, when it has none):
    their product (every fact at once, were they independent), geometric mean or minimum."""
    if not shares:
        return 0.5
    if combine == "min":
        return min(shares)
    product = math.prod(shares)
    return product ** (1.0 / len(shares)) if combine == "mean" else product


class FunctionBelief:
    """A registered scoring function: P(true) per statement, applied to E and to ~E; no calibration."""

    def __init__(self, name: str, score: Callable[[Sequence[str]], Sequence[float]]) -> None:
        self.name, self.score = name, score

    async def calibration(self, lm: AsyncLM, shots: Sequence[Shot], notes: list[str]) -> float:
        return 0.0

    async def beliefs(
        self,
        pairs: Sequence[Pair],
        lm: AsyncLM,
        shots: Sequence[Shot],
        offset: float | None,
        root: bool = False,
    ) -> list[BeliefPair]:
        texts = [statement for pair in pairs for statement in pair]
        probs = list(self.score(texts)) if texts else []
        if len(probs) != len(texts) or not all(0.0 <= p <= 1.0 for p in probs):
            raise ValueError(
                f"belief function {self.name!r}: must return one probability in [0, 1] per statement"
            )
        return [(probs[i], probs[i + 1]) for i in range(0, len(probs), 2)]


def register_scoring_function(name: str, score: Callable[[Sequence[str]], Sequence[float]]) -> None:
    """Register `score` (statements -> P(true) each) as belief function `name`."""
    register_belief(name, lambda: FunctionBelief(name, score))


class PromptRootBelief:
    """The prompt's belief for the question's own statement (what the model was trained to judge), the
    likelihood belief for the explanations (the facts it holds in the documents' form), their sentences'
    shares combined by `combine`."""

    def __init__(self, combine: Combine = "product") -> None:
        self.root, self.nodes = PromptBelief(), LikelihoodBelief(combine=combine)
        self.name = "prompt_root" + COMBINE_SUFFIX[combine]

    async def calibration(self, lm: AsyncLM, shots: Sequence[Shot], notes: list[str]) -> float:
        """The prompt's offset; the likelihood belief only reads whether there is one (calibration on)."""
        await self.nodes.calibration(lm, shots, notes)
        return await self.root.calibration(lm, shots, notes)

    async def beliefs(
        self,
        pairs: Sequence[Pair],
        lm: AsyncLM,
        shots: Sequence[Shot],
        offset: float | None,
        root: bool = False,
    ) -> list[BeliefPair]:
        return await (self.root if root else self.nodes).beliefs(pairs, lm, shots, offset)


register_belief(PromptBelief.name, PromptBelief)
register_belief("likelihood_calibrated", lambda: LikelihoodBelief(calibrate=True))
for _combine in COMBINE_SUFFIX:
    register_belief(LikelihoodBelief(combine=_combine).name, partial(LikelihoodBelief, combine=_combine))
    register_belief(PromptRootBelief(combine=_combine).name, partial(PromptRootBelief, combine=_combine))
