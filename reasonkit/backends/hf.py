"""Any Hugging Face `transformers` causal LM as a `LanguageModel`, so every strategy runs on it.

Scoring follows lm-evaluation-harness (joint encoding split by `reasonkit.encoding`), but requests that
share a context run it once and score their continuations against its KV cache, longest first. Generation
is the shared loop of `reasonkit.decoding` over the model's KV cache, so seeds, temperature / top-k / top-p,
stop strings, n samples, finish reasons and constraints mean what they mean for our own engine. Models
load from local files only: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from reasonkit.decoding import ConstraintCompiler, DecodeRow, decode_loop, model_vocabulary, shared_prefix_len
from reasonkit.encoding import encode_pair, encode_prompt, fit_pair, fit_prompt
from reasonkit.protocol import (
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    Sample,
    TruncationPolicy,
)

logger = logging.getLogger(__name__)

# config entries that change with the library or the folder, not with what the model computes
_VOLATILE_CONFIG_KEYS = (
    "_name_or_path",
    "transformers_version",
    "_commit_hash",
    "_attn_implementation_autoset",
)


def require_transformers() -> ModuleType:
    """Import `transformers` or say which extra installs it."""
    try:
        import transformers
    except ImportError as error:
        raise ImportError(
            "the Hugging Face export and backend need `transformers`; install it with "
            "`pip install 'reasonkit[hf]'`"
        ) from error
    return transformers


class HFLanguageModel:
    """A `transformers` causal LM and its tokenizer, from a local folder or the local hub cache.

    batch_size bounds the rows of one forward pass (scoring pairs, or samples while generating; the n
    samples of one prompt are split across batches when n exceeds it). truncation: "error" raises on a
    request longer than the context window, "left" drops its oldest tokens (`reasonkit.encoding`).
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | str | None = None,
        batch_size: int = 16,
        truncation: TruncationPolicy = "error",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if truncation not in ("error", "left"):
            raise ValueError(f"truncation must be 'error' or 'left', got {truncation!r}")
        transformers = require_transformers()
        self.name = str(model_name_or_path)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.name, local_files_only=True)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                self.name, local_files_only=True, dtype=dtype
            )
        except OSError as error:
            raise FileNotFoundError(
                f"{self.name}: no Hugging Face model there or in the local cache (reasonkit never downloads; "
                f"fetch it first, e.g. `hf download {self.name}`): {error}"
            ) from error
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = batch_size
        self.truncation: TruncationPolicy = truncation
        self.window = _context_window(self.model.config, self.tokenizer, self.name)
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        self.cache_name = _cache_name(self.model)
        self._last_logits_only = _last_logits_only(self.model)
        prefix = (
            self.tokenizer.bos_token_id
            if self.tokenizer.bos_token_id is not None
            else self.tokenizer.eos_token_id
        )
        if prefix is None:
            raise ValueError(
                f"{self.name}: the tokenizer has neither a BOS nor an EOS token to start empty contexts"
            )
        self.prefix_id: int = prefix  # what an empty context or prompt becomes (lm-evaluation-harness)
        self.pad_id: int = next(
            i for i in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0) if i is not None
        )
        self._fingerprint: str | None = None
        self._constraints = ConstraintCompiler(lambda: model_vocabulary(self.tokenizer), self.eos_ids)

    # ------------------------------------------------------------------ identity

    @property
    def fingerprint(self) -> str:
        """Model name + hash of config, tokenizer and weights; the folder's location does not count.

        Weights are identified by a strided sample of every tensor (cheap on a multi-GB model; any
        training step changes nearly every weight).
        """
        if self._fingerprint is None:
            config = {k: v for k, v in self.model.config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
            digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
            digest.update(_tokenizer_identity(self.tokenizer).encode())
            with torch.inference_mode():
                for name, tensor in sorted(self.model.state_dict().items()):
                    flat = tensor.detach().reshape(-1)
                    sample = flat[:: max(1, flat.numel() // 1024)].float().cpu()
                    digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
                    digest.update(sample.numpy().tobytes())
            self._fingerprint = f"hf-{Path(self.name).name}-{digest.hexdigest()[:16]}"
        return self._fingerprint

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    # ------------------------------------------------------------------ scoring

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        pairs = [
            fit_pair(
                *encode_pair(self.encode, r.context, r.continuation, self.prefix_id),
                self.window,
                self.truncation,
                i,
            )
            for i, r in enumerate(requests)
        ]
        results = [LoglikelihoodResult(logprob=0.0, n_tokens=0, is_greedy=True) for _ in requests]
        by_context: dict[tuple[int, ...], list[int]] = {}
        for i, (context, continuation) in enumerate(pairs):
            if continuation:
                by_context.setdefault(tuple(context), []).append(i)
        with torch.inference_mode():
            for batch in self._score_batches(by_context, pairs):
                for i, result in self._score_batch(batch, pairs):
                    results[i] = result
        return results

    def _score_batches(
        self, by_context: dict[tuple[int, ...], list[int]], pairs: list[tuple[list[int], list[int]]]
    ) -> Iterator[list[list[int]]]:
        """Groups of requests sharing a context, longest first (an out-of-memory shows on the first batch),
        packed while their rows fit `batch_size`; a group larger than that is split."""
        groups = [
            members[start : start + self.batch_size]
            for members in by_context.values()
            for start in range(0, len(members), self.batch_size)
        ]
        groups.sort(key=lambda g: -(len(pairs[g[0]][0]) + max(len(pairs[i][1]) for i in g)))
        batch: list[list[int]] = []
        rows = 0
        for group in groups:
            if batch and rows + len(group) > self.batch_size:
                yield batch
                batch, rows = [], 0
            batch.append(group)
            rows += len(group)
        if batch:
            yield batch

    def _score_batch(
        self, groups: list[list[int]], pairs: list[tuple[list[int], list[int]]]
    ) -> list[tuple[int, LoglikelihoodResult]]:
        """Each shared context runs once (left-padded, filling the KV cache); the continuations of all its
        requests then run as one right-padded batch against their context's cache rows."""
        device = self.device
        contexts = [pairs[g[0]][0] for g in groups]
        output, mask, lens = self._prefill(contexts)
        members = [i for g in groups for i in g]
        owner = torch.tensor([b for b, g in enumerate(groups) for _ in g], device=device)
        first = output.logits[owner, -1]
        continuations = [pairs[i][1] for i in members]
        longest = max(map(len, continuations))
        if longest > 1:
            cache = getattr(output, self.cache_name)
            if len(owner) != len(groups):
                cache.batch_select_indices(owner)
            ids = torch.full((len(members), longest - 1), self.pad_id, dtype=torch.long)
            for row, continuation in enumerate(continuations):
                ids[row, : len(continuation) - 1] = torch.tensor(continuation[:-1], dtype=torch.long)
            # right padding: a continuation token never sees the padding after it
            mask = torch.cat([mask[owner], mask.new_ones(len(members), longest - 1)], dim=1)
            positions = lens.to(device)[owner, None] + torch.arange(longest - 1, device=device)
            rest = self.model(
                input_ids=ids.to(device),
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{self.cache_name: cache},
            ).logits
            logits = torch.cat([first[:, None], rest], dim=1).float()
        else:
            logits = first[:, None].float()
        targets = torch.full((len(members), longest), -1, dtype=torch.long)
        for row, continuation in enumerate(continuations):
            targets[row, : len(continuation)] = torch.tensor(continuation, dtype=torch.long)
        targets = targets.to(device)
        valid = targets >= 0
        token_logprobs = (
            logits.gather(-1, targets.clamp_min(0)[..., None]).squeeze(-1) - logits.logsumexp(-1)
        ) * valid
        greedy = (logits.argmax(dim=-1) == targets) | ~valid
        sums, all_greedy = token_logprobs.sum(dim=1).tolist(), greedy.all(dim=1).tolist()
        return [
            (i, LoglikelihoodResult(logprob=sums[row], n_tokens=len(pairs[i][1]), is_greedy=all_greedy[row]))
            for row, i in enumerate(members)
        ]

    def _prefill(self, prompts: list[list[int]], shared: int = 0) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """One left-padded forward pass over the prompts with their KV cache: (model output, attention mask
        on the device, prompt lengths). Explicit positions make a padded row compute what it would alone;
        only the last position's logits are computed (the output layer is a large share of a small model).

        The first `shared` tokens, common to every prompt, run once and are copied to every row's cache;
        each row's own part follows them, left-padded: [shared | padding | own tokens].
        """
        device, rows = self.device, len(prompts)
        past: dict[str, Any] = {}
        if shared:
            prefix = torch.tensor([prompts[0][:shared]], device=device)
            cache = getattr(
                self.model(input_ids=prefix, use_cache=True, **self._last_logits_only), self.cache_name
            )
            cache.batch_select_indices(torch.zeros(rows, dtype=torch.long, device=device))
            past = {self.cache_name: cache}
        lens = torch.tensor([len(p) for p in prompts])
        width = int(lens.max()) - shared
        ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((rows, width), dtype=torch.long)
        for b, prompt in enumerate(prompts):
            ids[b, width - len(prompt) + shared :] = torch.tensor(prompt[shared:], dtype=torch.long)
            mask[b, width - len(prompt) + shared :] = 1
        positions = shared + (mask.cumsum(dim=-1) - 1).clamp_min(0)
        mask = torch.cat([mask.new_ones(rows, shared), mask], dim=1).to(device)
        output = self.model(
            input_ids=ids.to(device),
            attention_mask=mask,
            position_ids=positions.to(device),
            use_cache=True,
            **past,
            **self._last_logits_only,
        )
        return output, mask, lens

    # ------------------------------------------------------------------ generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        pieces = []
        for i, request in enumerate(requests):
            ids = fit_prompt(
                encode_prompt(self.encode, request.prompt, self.prefix_id),
                self.window,
                request.max_tokens,
                self.truncation,
                i,
            )
            steps = min(request.max_tokens, self.window + 1 - len(ids))
            for start in range(0, request.n, self.batch_size):
                samples = range(start, min(request.n, start + self.batch_size))
                pieces.append(_Piece(i, ids, request, samples, steps))
        out: list[list[Sample | None]] = [[None] * r.n for r in requests]
        with torch.inference_mode():
            for batch in self._generation_batches(pieces):
                for row in self._generate_batch(batch):
                    out[row.request_index][row.sample_index] = row.sample(self.decode)
        return [GenerationResult(samples=tuple(s for s in samples if s is not None)) for samples in out]

    def _generation_batches(self, pieces: list[_Piece]) -> Iterator[list[_Piece]]:
        """Longest prompt first, packed while the rows fit `batch_size`."""
        batch: list[_Piece] = []
        rows = 0
        for piece in sorted(pieces, key=lambda p: len(p.ids), reverse=True):
            if batch and rows + len(piece.samples) > self.batch_size:
                yield batch
                batch, rows = [], 0
            batch.append(piece)
            rows += len(piece.samples)
        if batch:
            yield batch

    def _generate_batch(self, pieces: list[_Piece]) -> list[DecodeRow]:
        """The tokens every prompt starts with (a few-shot prefix) are prefilled once; each row's cache then
        holds a copy of them (a `transformers` cache has no shared prefix), so the batch stays `batch_size`
        rows."""
        return self._generate_rows(pieces, shared_prefix_len([p.ids for p in pieces], len(pieces)))

    def _generate_rows(self, pieces: list[_Piece], shared: int) -> list[DecodeRow]:
        """Prefill the left-padded prompts once, fan out to one row per sample, decode with the KV cache."""
        device = self.device
        output, mask, lens = self._prefill([p.ids for p in pieces], shared)
        cache = getattr(output, self.cache_name)
        owner = torch.tensor([b for b, p in enumerate(pieces) for _ in p.samples], device=device)
        if len(owner) != len(pieces):
            cache.batch_select_indices(owner)
        last, mask, next_position = output.logits[owner, -1].float(), mask[owner], lens.to(device)[owner]

        rows = [DecodeRow(p.index, k, p.request, p.steps) for p in pieces for k in p.samples]
        step = _HFStep(self, cache, mask, next_position)
        decode_loop(
            last,
            rows,
            step,
            eos_ids=self.eos_ids,
            decode=self.decode,
            constraints=self._constraints.prepare(rows),
        )
        return rows


class _HFStep:
    """A `transformers` model under `decode_loop`: its cache, attention mask and next positions."""

    def __init__(
        self, backend: HFLanguageModel, cache: Any, mask: torch.Tensor, next_position: torch.Tensor
    ) -> None:
        self.backend, self.cache, self.mask, self.next_position = backend, cache, mask, next_position

    def select(self, keep: torch.Tensor) -> None:
        self.cache.batch_select_indices(keep)
        self.mask, self.next_position = self.mask[keep], self.next_position[keep]

    def __call__(self, chosen: torch.Tensor, step: int, rows: Sequence[DecodeRow]) -> torch.Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(rows), 1)], dim=1)
        name = self.backend.cache_name
        output = self.backend.model(
            input_ids=chosen[:, None],
            attention_mask=self.mask,
            position_ids=(self.next_position + step)[:, None],
            use_cache=True,
            **{name: self.cache},
        )
        self.cache = getattr(output, name)
        return output.logits[:, -1].float()


def _cache_name(model: Any) -> str:
    """The KV cache's name in `forward` and its output: `cache` in newer transformers, which warn on the
    older `past_key_values` (what the project's oldest supported release, 4.56, takes)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _last_logits_only(model: Any) -> dict[str, int]:
    """The forward argument that computes the logits of the last position only, where the model has one."""
    parameters = inspect.signature(model.forward).parameters
    return next(({name: 1} for name in ("logits_to_keep", "num_logits_to_keep") if name in parameters), {})


@dataclass
class _Piece:
    """A prompt and the sample indices one batch draws from it."""

    index: int
    ids: list[int]
    request: GenerationRequest
    samples: range
    steps: int  # new tokens allowed: max_tokens, or fewer where the window ends first


def _context_window(config: Any, tokenizer: Any, name: str) -> int:
    window = getattr(config, "max_position_embeddings", None)
    if window is None and tokenizer.model_max_length < 1_000_000:  # transformers' "unset" is a huge number
        window = tokenizer.model_max_length
    if window is None:
        raise ValueError(
            f"{name}: neither the config (max_position_embeddings) nor the tokenizer gives a context window"
        )
    return int(window)


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Every end-of-sequence id the tokenizer or the generation config knows (some models have several)."""
    ids = {tokenizer.eos_token_id}
    generation_config = getattr(model, "generation_config", None)
    configured = getattr(generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return frozenset(i for i in ids if i is not None)


def _tokenizer_identity(tokenizer: Any) -> str:
    """The vocabulary, merges and special-token settings, as text."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocab = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    settings = {
        "special": tokenizer.special_tokens_map,
        "split_special_tokens": getattr(tokenizer, "split_special_tokens", None),
    }
    return vocab + json.dumps(settings, sort_keys=True, default=str)
