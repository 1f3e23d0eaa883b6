"""`FakeLM`: a scripted, deterministic language model for unit tests (DSPy's DummyLM, with scoring too).

Generation follows rules: the first rule whose pattern is found in the prompt gives the text; a list of texts
cycles across samples and seeds (sample i of a request with seed s gets texts[(s + i) % len(texts)]).
Log-likelihoods come from a function, a table, or a hash of (context, continuation). A "token" is a
whitespace-separated word. A constrained request gets its scripted text when that text obeys the constraint;
otherwise the best-scoring of its choices, and for a regular expression a LookupError. Every request and every batch size is recorded so tests can check batching.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reasonkit.protocol import (
    Constraint,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Sample,
)

__all__ = [
    "FakeLM",
    "Rule",
    "ScoreFn",
    "fake_tokens",
]

ScoreFn = Callable[[str, str], float]
"""(context, continuation) -> summed log-probability of the continuation."""

Texts = str | Sequence[str]


@dataclass(frozen=True)
class Rule:
    """A prompt pattern (substring, or regex when `regex`) and the texts it generates."""

    pattern: str
    texts: tuple[str, ...]
    regex: bool = False

    def matches(self, prompt: str) -> bool:
        return re.search(self.pattern, prompt) is not None if self.regex else self.pattern in prompt


def _obeys(constraint: Constraint, text: str) -> bool:
    if constraint.choices is not None:
        return text in constraint.choices
    return re.fullmatch(constraint.regex or "", text) is not None


def _as_texts(texts: Texts) -> tuple[str, ...]:
    result = (texts,) if isinstance(texts, str) else tuple(texts)
    if not result:
        raise ValueError("FakeLM: a generation rule needs at least one text")
    return result


def _unit_hash(*parts: str) -> float:
    """A stable number in [0, 1) from strings (Python's hash() is salted per process)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def fake_tokens(text: str) -> list[str]:
    return text.split()


class FakeLM:
    """Scripted `LanguageModel`.

    generations: {pattern: text or texts}, or a sequence of `Rule`s (kept in order; first match wins).
    default: texts for prompts no rule matches; None raises LookupError naming the prompt.
    scores: a function (context, continuation) -> logprob, or a table {continuation: logprob} /
      {(context, continuation): logprob} (exact keys; pairs win over continuations); entries not in the table
      and the default use a hash: -(0.5 + 2.5 * u) per token, u uniform in [0, 1) from the pair.
    regex: treat the keys of a `generations` mapping as regular expressions.
    """

    def __init__(
        self,
        generations: Mapping[str, Texts] | Sequence[Rule] = (),
        *,
        default: Texts | None = None,
        scores: ScoreFn | Mapping[str | tuple[str, str], float] | None = None,
        regex: bool = False,
        name: str = "fake",
    ) -> None:
        if isinstance(generations, Mapping):
            self.rules = [Rule(pattern, _as_texts(texts), regex) for pattern, texts in generations.items()]
        else:
            self.rules = list(generations)
        self.default = None if default is None else _as_texts(default)
        self.scores = scores
        self.name = name
        self.requests: list[LoglikelihoodRequest | GenerationRequest] = []
        self.loglikelihood_batches: list[int] = []
        self.generate_batches: list[int] = []

    @property
    def fingerprint(self) -> str:
        """Stable across processes: built from the rules, the default and the score table or function name."""
        if callable(self.scores):
            scores = f"fn:{getattr(self.scores, '__module__', '')}.{getattr(self.scores, '__qualname__', '')}"
        else:
            scores = repr(sorted((repr(k), v) for k, v in (self.scores or {}).items()))
        spec = repr((self.name, [(r.pattern, r.texts, r.regex) for r in self.rules], self.default, scores))
        return f"{self.name}-{hashlib.sha256(spec.encode()).hexdigest()[:16]}"

    @property
    def n_calls(self) -> int:
        """Backend calls made (each one a batch)."""
        return len(self.loglikelihood_batches) + len(self.generate_batches)

    @property
    def prompts(self) -> list[str]:
        """The prompt (generation) or context (scoring) of every request, in order."""
        return [r.prompt if isinstance(r, GenerationRequest) else r.context for r in self.requests]

    def logprob(self, context: str, continuation: str) -> float:
        if callable(self.scores):
            return float(self.scores(context, continuation))
        table = self.scores or {}
        for key in ((context, continuation), continuation):
            if key in table:
                return float(table[key])
        return -sum(
            0.5 + 2.5 * _unit_hash(context, continuation, str(i))
            for i in range(len(fake_tokens(continuation)))
        )

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.requests.extend(requests)
        self.loglikelihood_batches.append(len(requests))
        results = []
        for request in requests:
            n_tokens = len(fake_tokens(request.continuation))
            logprob = self.logprob(request.context, request.continuation)
            is_greedy = n_tokens > 0 and logprob / n_tokens >= -1.0
            results.append(LoglikelihoodResult(logprob=logprob, n_tokens=n_tokens, is_greedy=is_greedy))
        return results

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.requests.extend(requests)
        self.generate_batches.append(len(requests))
        return [
            GenerationResult(samples=tuple(self._sample(request, i) for i in range(request.n)))
            for request in requests
        ]

    def _constrained_text(self, request: GenerationRequest, index: int) -> str:
        constraint = request.constraint
        assert constraint is not None
        try:
            texts = self._texts_for(request.prompt)
        except LookupError:
            texts = ()
        obeying = [t for t in texts if _obeys(constraint, t)]
        if obeying:
            return obeying[(request.seed + index) % len(obeying)]
        if constraint.choices is not None:
            return max(constraint.choices, key=lambda choice: self.logprob(request.prompt, choice))
        raise LookupError(
            f"FakeLM: no scripted text for the prompt ending {request.prompt[-200:]!r} matches the constraint "
            f"{constraint.regex!r}"
        )

    def _texts_for(self, prompt: str) -> tuple[str, ...]:
        for rule in self.rules:
            if rule.matches(prompt):
                return rule.texts
        if self.default is None:
            raise LookupError(f"FakeLM: no generation rule matches the prompt ending {prompt[-200:]!r}")
        return self.default

    def _sample(self, request: GenerationRequest, index: int) -> Sample:
        if request.constraint is None:
            texts = self._texts_for(request.prompt)
            text = texts[(request.seed + index) % len(texts)]
        else:
            text = self._constrained_text(request, index)
        finish = "eos"
        cut = min((text.find(s) for s in request.stop if s and s in text), default=-1)
        if cut >= 0:
            text, finish = text[:cut], "stop"
        words = re.findall(r"\s*\S+", text)
        if len(words) > request.max_tokens:
            text, finish = "".join(words[: request.max_tokens]), "length"
            words = words[: request.max_tokens]
        logprobs = tuple(-(0.1 + _unit_hash(request.prompt, text, str(i))) for i in range(len(words)))
        return Sample(text=text, token_logprobs=logprobs, finish_reason=finish)
