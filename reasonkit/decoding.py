"""The decode loop every local backend shares: token choice, stop handling, finish reasons, constraints.

A backend (the project's `Engine`, the Hugging Face backend) encodes its prompts, prefills its own KV cache
and hands this module the logits at each prompt's last token together with a `StepModel`: the function that
runs the chosen tokens through the model and returns the logits of the next position. Everything after
that - seeded sampling (`reasonkit.sampling`), stop strings, end-of-text, the length limit, dropping
finished rows from the cache, and the token masks of constrained requests - is written once, here, so that
seeds, finish reasons and constraints mean the same on every backend.

Constraints (`reasonkit.protocol.Constraint`: an option list or a regular expression) are compiled by
outlines-core into an index over the backend's vocabulary: for each state of the pattern's automaton, the
tokens that keep the text a prefix of a match (end-of-text once the text matches). outlines-core is a
maintained Rust library with wheels, and it does the expensive part - walking every vocabulary entry
through the automaton - once per pattern; the per-token cost here is one cached mask lookup per row.

Streaming: whoever wants a request's samples as they grow (the server's streamed responses) registers a
`TokenListener` for that request in `token_listeners`; the loop calls it after every token of every sample
of that request, from whatever thread runs the backend. Listeners are keyed by the request itself, so no
backend passes anything extra, and identical requests sent once feed every listener.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from reasonkit.protocol import Constraint, GenerationRequest, Sample, find_stop
from reasonkit.sampling import SamplingParams, choose_tokens, row_uniforms

Decode = Callable[[Sequence[int]], str]
TokenListener = Callable[[int, str], None]
"""Called as (sample index, the sample's text so far: cut at a stop string, end-of-text dropped)."""


class TokenListeners:
    """The listeners of the requests being streamed, by request (thread-safe: backends may run in a thread)."""

    def __init__(self) -> None:
        self._by_request: dict[GenerationRequest, tuple[TokenListener, ...]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def listening(self, request: GenerationRequest, listener: TokenListener) -> Iterator[None]:
        """Call `listener` for each token generated for `request` until the block ends."""
        with self._lock:
            self._by_request[request] = (*self._by_request.get(request, ()), listener)
        try:
            yield
        finally:
            with self._lock:
                rest = tuple(other for other in self._by_request.pop(request, ()) if other is not listener)
                if rest:
                    self._by_request[request] = rest

    def of(self, request: GenerationRequest) -> tuple[TokenListener, ...]:
        if not self._by_request:  # the common case: nothing is streamed, no request is hashed
            return ()
        with self._lock:
            return self._by_request.get(request, ())


token_listeners = TokenListeners()


class StepModel(Protocol):
    """One backend's model under the loop: its KV cache holds the active rows, in batch order."""

    def __call__(self, chosen: Tensor, step: int, rows: Sequence[DecodeRow]) -> Tensor:
        """Logits (rows, vocab) of the position after `chosen` (rows,), the `step`-th new token of each row."""
        ...

    def select(self, keep: Tensor) -> None:
        """Keep only these batch rows (a long tensor of positions) from now on."""
        ...


@dataclass
class DecodeRow:
    """One sample being generated."""

    request_index: int
    sample_index: int
    request: GenerationRequest
    limit: int  # new tokens allowed: max_tokens, or fewer where the window ends first
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish: str | None = None
    cut: int | None = None  # where the text ends, at the first stop string
    state: int | None = None  # the constraint's automaton state, for a constrained request
    listeners: tuple[TokenListener, ...] = ()  # streams that want this sample's text after each token

    @property
    def finished(self) -> bool:
        return self.finish is not None

    def record(self, token: int, logprob: float, eos_ids: frozenset[int], decode: Decode) -> bool:
        """Append one token; True while the sample goes on."""
        self.tokens.append(token)
        self.logprobs.append(logprob)
        if token in eos_ids:
            self.finish = "eos"
        elif self.request.stop and (cut := find_stop(decode(self.tokens), self.request.stop)) is not None:
            self.finish, self.cut = "stop", cut
        elif len(self.tokens) >= self.limit:
            self.finish = "length"
        return self.finish is None

    def text(self, decode: Decode) -> str:
        """The sample's text so far: end-of-text dropped, cut at the first stop string."""
        return decode(self.tokens[:-1] if self.finish == "eos" else self.tokens)[: self.cut]

    def sample(self, decode: Decode) -> Sample:
        pieces = tuple(decode([token]) for token in self.tokens)
        return Sample(
            text=self.text(decode),
            token_logprobs=tuple(self.logprobs),
            tokens=pieces,
            finish_reason=self.finish or "length",
        )


def sampling_inputs(
    rows: Sequence[DecodeRow], total_steps: int, device: torch.device
) -> tuple[SamplingParams, Tensor]:
    """Per-row settings and random streams; a stream depends on its request's seed and sample index only."""
    uniforms = torch.zeros(len(rows), total_steps, dtype=torch.float64)
    for r, row in enumerate(rows):
        uniforms[r, : row.limit] = row_uniforms(row.request.seed, row.sample_index, row.request.max_tokens)[
            : row.limit
        ]
    params = SamplingParams(
        temperature=torch.tensor([r.request.temperature for r in rows], device=device),
        top_k=torch.tensor([r.request.top_k or 1 << 62 for r in rows], device=device),
        top_p=torch.tensor([r.request.top_p or 1.0 for r in rows], device=device),
    )
    return params, uniforms.to(device)


def chosen_logprobs(logits: Tensor, chosen: Tensor) -> list[float]:
    """log softmax(logits)[chosen] per row, without materialising the whole log-softmax."""
    logits = logits.float()
    return (logits.gather(-1, chosen[:, None]).squeeze(-1) - logits.logsumexp(dim=-1)).tolist()


def decode_loop(
    first: Tensor,
    rows: list[DecodeRow],
    step_model: StepModel,
    *,
    eos_ids: frozenset[int],
    decode: Decode,
    constraints: ConstraintSet | None = None,
) -> None:
    """Generate every row to its end from `first`, the logits (rows, vocab) at the rows' prompts' last token.

    token_logprobs are the model's own (temperature 1, before top-k / top-p and before a constraint's mask).
    Finished rows leave the cache once a quarter of the batch is done (compacting copies the cache).
    """
    device = first.device
    for row in rows:
        row.listeners = token_listeners.of(row.request)
    total_steps = max(row.limit for row in rows)
    params, uniforms = sampling_inputs(rows, total_steps, device)
    active = rows  # rows still in the batch, in batch order
    last = first
    for step in range(total_steps):
        allowed = last if constraints is None else constraints.mask(last, active)
        chosen = choose_tokens(allowed, params, uniforms[:, step])
        logprobs = chosen_logprobs(last, chosen)
        alive = []
        for position, (row, token, logprob) in enumerate(zip(active, chosen.tolist(), logprobs, strict=True)):
            if row.finished:
                continue
            if constraints is not None and row.state is not None:
                row.state = constraints.advance(row, token)
            if row.record(token, logprob, eos_ids, decode):
                alive.append(position)
            if row.listeners:
                text = row.text(decode)
                for listener in row.listeners:
                    listener(row.sample_index, text)
        if not alive:
            return
        if len(alive) <= 3 * len(active) // 4:
            keep = torch.tensor(alive, device=device)
            step_model.select(keep)
            active = [active[p] for p in alive]
            chosen, params, uniforms = chosen[keep], params.select(keep), uniforms[keep]
        last = step_model(chosen, step, active)


def shared_prefix_len(rows: Sequence[Sequence[int]], samples: int) -> int:
    """Tokens every prompt starts with, worth sharing when more than one sample row will attend to them;
    each prompt keeps at least one token of its own."""
    shared = min(len(r) for r in rows) - 1
    for row in rows[1:]:
        shared = common_prefix(rows[0], row, shared)
    return worth_sharing(shared, samples)


def common_prefix(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    """How many leading tokens a and b share, counting at most `limit`."""
    limit = min(limit, len(a), len(b))
    return next((i for i in range(limit) if a[i] != b[i]), limit)


def worth_sharing(shared: int, samples: int, minimum: int = 16) -> int:
    """A common prefix is prefilled once when at least two rows attend to it and it is not too short."""
    return shared if samples >= 2 and shared >= minimum else 0


# ---------------------------------------------------------------------------------------------- constraints


class ConstraintError(ValueError):
    """A constraint that cannot be compiled (bad regular expression, or no vocabulary entry can start it)."""


def constraint_pattern(constraint: Constraint) -> str:
    """The regular expression of a constraint; options become an alternation, longest first (outlines-core
    matches leftmost-first, so a shorter option that is a prefix of a longer one would end the match)."""
    if constraint.regex is not None:
        return constraint.regex
    options = sorted(dict.fromkeys(constraint.choices or ()), key=len, reverse=True)
    return "(" + "|".join(re.escape(option) for option in options) + ")"


@functools.cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, character -> byte (the `tokenizers` ByteLevel pre-tokenizer's map)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def byte_level_vocabulary(vocab: Mapping[str, int], skip: Iterable[int]) -> dict[bytes, list[int]]:
    """Token bytes -> ids of a byte-level BPE vocabulary (token strings in GPT-2's byte alphabet)."""
    table, skipped = _byte_decoder(), set(skip)
    out: dict[bytes, list[int]] = {}
    for token, token_id in vocab.items():
        if token_id in skipped or not token or any(c not in table for c in token):
            continue
        out.setdefault(bytes(table[c] for c in token), []).append(token_id)
    return out


class ConstraintIndex:
    """One pattern compiled over one vocabulary: automaton states and, per state, a mask of allowed tokens."""

    def __init__(
        self, pattern: str, vocabulary: dict[bytes, list[int]], eos_id: int, eos_ids: frozenset[int]
    ) -> None:
        from outlines_core import Index, Vocabulary

        try:
            self._index = Index(pattern, Vocabulary(eos_id, vocabulary))
        except (ValueError, RuntimeError) as error:
            raise ConstraintError(
                f"constraint {pattern!r}: cannot compile it over the vocabulary: {error}"
            ) from error
        self.initial: int = self._index.get_initial_state()
        self._eos_id, self._eos_ids = eos_id, eos_ids
        self._masks: dict[tuple[int, int, str], Tensor] = {}

    def mask(self, state: int, width: int, device: torch.device) -> Tensor:
        """(width,) True where a token is allowed in `state` (every end-of-text id where `eos_id` is)."""
        key = (state, width, str(device))
        if key not in self._masks:
            allowed = self._index.get_allowed_tokens(state) or []
            if self._eos_id in allowed:
                allowed = [*allowed, *self._eos_ids]
            mask = torch.zeros(width, dtype=torch.bool)
            mask[torch.tensor([t for t in allowed if t < width], dtype=torch.long)] = True
            self._masks[key] = mask.to(device)
        return self._masks[key]

    def advance(self, state: int, token: int) -> int:
        if token in self._eos_ids:
            return state
        next_state = self._index.get_next_state(state, token)
        return state if next_state is None else next_state


class ConstraintSet:
    """The compiled constraints of one batch: rows with `state` set are masked each step."""

    def __init__(self, indexes: dict[int, ConstraintIndex]) -> None:
        self._indexes = indexes  # request index -> its compiled constraint

    def mask(self, logits: Tensor, rows: Sequence[DecodeRow]) -> Tensor:
        """The logits with disallowed tokens at -inf on constrained rows (others untouched)."""
        constrained = [(p, row) for p, row in enumerate(rows) if row.state is not None and not row.finished]
        if not constrained:
            return logits
        allowed = torch.ones(logits.shape, dtype=torch.bool, device=logits.device)
        for position, row in constrained:
            assert row.state is not None
            allowed[position] = self._indexes[row.request_index].mask(
                row.state, logits.shape[-1], logits.device
            )
        return logits.float().masked_fill(~allowed, float("-inf"))

    def advance(self, row: DecodeRow, token: int) -> int:
        assert row.state is not None
        return self._indexes[row.request_index].advance(row.state, token)


class ConstraintCompiler:
    """Compiles and caches constraints for one backend's vocabulary; patterns repeat across questions."""

    def __init__(self, vocabulary: Callable[[], dict[bytes, list[int]]], eos_ids: frozenset[int]) -> None:
        self._vocabulary = functools.cache(vocabulary)
        self._eos_ids = eos_ids
        self._compiled: dict[str, ConstraintIndex] = {}

    def index(self, constraint: Constraint) -> ConstraintIndex:
        pattern = constraint_pattern(constraint)
        if pattern not in self._compiled:
            self._compiled[pattern] = ConstraintIndex(
                pattern, self._vocabulary(), min(self._eos_ids), self._eos_ids
            )
        return self._compiled[pattern]

    def prepare(self, rows: Sequence[DecodeRow]) -> ConstraintSet | None:
        """Start each constrained row at its pattern's initial state; None when no row is constrained."""
        indexes: dict[int, ConstraintIndex] = {}
        for row in rows:
            if row.request.constraint is not None:
                index = indexes.get(row.request_index) or self.index(row.request.constraint)
                indexes[row.request_index] = index
                row.state = index.initial
        return ConstraintSet(indexes) if indexes else None


def model_vocabulary(tokenizer: Any) -> dict[bytes, list[int]]:
    """Token bytes -> ids of a `transformers` tokenizer (byte-level BPE, or SentencePiece's ▁ and <0xNN>)."""
    special = set(getattr(tokenizer, "all_special_ids", ()))
    vocab: dict[str, int] = tokenizer.get_vocab()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and type(backend.decoder).__name__ == "ByteLevel":
        return byte_level_vocabulary(vocab, special)
    out: dict[bytes, list[int]] = {}
    for token, token_id in vocab.items():
        if token_id in special:
            continue
        byte = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", token)
        data = bytes([int(byte.group(1), 16)]) if byte else token.replace("▁", " ").encode()
        out.setdefault(data, []).append(token_id)
    return out
