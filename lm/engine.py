"""Inference for the project's GPT: batched scoring with shared-context prefixes, KV-cache sampling.

`Engine` implements `reasonkit.protocol.LanguageModel`. Two ideas make it fast on small machines:

- scoring: requests whose contexts encode to the same ids form a group; the context runs once (filling a
  KV cache) and all continuations of the group run as one batch against that cached prefix;
- generation: prompts are left-padded into one batch with explicit positions and an attention mask (a
  padded row computes what it would alone), the tokens all prompts start with (a few-shot prefix, or the
  whole prompt of n samples) are prefilled once and attended to as one shared copy (`KVCache.prefix`), the
  n samples of a prompt repeat only its own part (`KVCache.repeat_rows`), and rows that finish leave the
  batch (`KVCache.select_rows`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from reasonkit.decoding import (
    ConstraintCompiler,
    DecodeRow,
    byte_level_vocabulary,
    common_prefix,
    decode_loop,
    shared_prefix_len,
    worth_sharing,
)
from reasonkit.encoding import encode_pair, encode_prompt, fit_pair, fit_prompt, refuse_unencoded
from reasonkit.lm.model import GPT, KVCache
from reasonkit.lm.positions import load_scheme
from reasonkit.lm.tokenizer import Tokenizer
from reasonkit.protocol import (
    ContextWindowError,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    PromptLogprobsRequest,
    PromptLogprobsResult,
    Sample,
    TokenLogprob,
    TruncationPolicy,
)

logger = logging.getLogger(__name__)


@dataclass
class _ScoreGroup:
    """Requests (by index) whose contexts encode to the same ids; the context runs once for all of them."""

    context: list[int]
    members: list[int]
    longest: int  # tokens in the longest continuation

    @property
    def width(self) -> int:
        """Cache positions the group needs: context + longest continuation minus the last token."""
        return len(self.context) + self.longest - 1


@dataclass
class _Prompt:
    index: int
    ids: list[int]
    request: GenerationRequest
    steps: int  # new tokens allowed: max_tokens, or fewer where the window ends first
    positions: list[int] | None = None  # the position scheme's, for a prompt of its format


class Engine:
    """The `LanguageModel` backend for a `GPT` and its `Tokenizer`.

    max_batch_tokens bounds rows x padded length of one forward batch (and so the KV cache's size); one
    request that alone exceeds it still runs, in a batch of its own. truncation says what happens to a
    request longer than the context window: "error" raises (naming the request), "left" drops its oldest
    tokens (see `reasonkit.encoding.fit_pair` / `fit_prompt`). `autocast` runs the model under bf16
    autocast with a bf16 KV cache (scores then carry bf16 rounding); the default is on for CUDA, off
    elsewhere, where the model runs in its dtype (fp32 unless `dtype`). On the CPU it is how the CUDA path
    is tested, not a speed-up: on an AMX CPU, scoring ran faster in bf16 but generation slower.
    """

    def __init__(
        self,
        model: GPT,
        tokenizer: Tokenizer,
        *,
        device: str | torch.device = "cpu",
        max_batch_tokens: int = 8192,
        truncation: TruncationPolicy = "error",
        dtype: torch.dtype | None = None,
        autocast: bool | None = None,
    ) -> None:
        if tokenizer.vocab_size > model.config.vocab_size:
            raise ValueError(
                f"tokenizer has {tokenizer.vocab_size} tokens, the model's vocabulary only {model.config.vocab_size}"
            )
        if max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be >= 1, got {max_batch_tokens}")
        if truncation not in ("error", "left"):
            raise ValueError(f"truncation must be 'error' or 'left', got {truncation!r}")
        self.device = torch.device(device)
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.tokenizer = tokenizer
        self.config = model.config
        self.max_batch_tokens = max_batch_tokens
        self.truncation: TruncationPolicy = truncation
        self._fingerprint: str | None = None
        self._autocast = self.device.type == "cuda" if autocast is None else autocast
        self._cache_dtype = torch.bfloat16 if self._autocast else next(model.parameters()).dtype
        self.scheme = load_scheme(model.config.position_scheme)
        self._constraints = ConstraintCompiler(self._vocabulary, frozenset({tokenizer.eot_id}))

    def _vocabulary(self) -> dict[bytes, list[int]]:
        """Token bytes -> ids, what a constraint is compiled over (the special tokens never match text)."""
        return byte_level_vocabulary(self.tokenizer.vocab, (self.tokenizer.eot_id, self.tokenizer.pad_id))

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs: Any) -> Engine:
        """An engine for a model folder written by `save_pretrained` (config, safetensors, tokenizer)."""
        from reasonkit.lm.pretrained import load_pretrained

        model, tokenizer, _ = load_pretrained(path, device=kwargs.get("device", "cpu"))
        return cls(model, tokenizer, **kwargs)

    @property
    def fingerprint(self) -> str:
        """Hash of config, tokenizer and weights (as they sit on the device, dtype included).

        Computed once, on first use: an engine serves a frozen model.
        """
        if self._fingerprint is None:
            digest = hashlib.sha256(self.config.model_dump_json().encode())
            digest.update(self.tokenizer.fingerprint.encode())
            if self._autocast:  # bf16 scores differ from fp32 ones: a cache must not mix them
                digest.update(b"autocast-bf16")
            for name, tensor in sorted(self.model.state_dict().items()):
                digest.update(name.encode())
                digest.update(str(tensor.dtype).encode())
                digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
            self._fingerprint = f"gpt-{digest.hexdigest()[:16]}"
        return self._fingerprint

    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._autocast),
        ):
            yield

    def _new_cache(self, rows: int, length: int, prefix: KVCache | None = None) -> KVCache:
        return KVCache.empty(self.config, rows, length, self.device, self._cache_dtype, prefix=prefix)

    # ------------------------------------------------------------------ scoring

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        window = self.config.block_size
        if self.truncation == "error":  # context + continuation - 1 positions are needed
            for i, r in enumerate(requests):
                chars = len(r.context) + len(r.continuation)
                refuse_unencoded("loglikelihood", i, chars, self.tokenizer.max_token_chars, window, slack=1)
        pairs = [
            fit_pair(
                *encode_pair(self.tokenizer.encode, r.context, r.continuation, self.tokenizer.eot_id),
                window,
                self.truncation,
                i,
            )
            for i, r in enumerate(requests)
        ]
        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        # under a position scheme a request of its format has its own positions (None: 0, 1, 2, ...)
        positions = [self._positions(c + x) if self.scheme else None for c, x in pairs]
        by_context: dict[tuple[Any, ...], list[int]] = {}
        for i, (context, continuation) in enumerate(pairs):
            if continuation:
                own = positions[i]
                key = (tuple(context), None if own is None else tuple(own[: len(context)]))
                by_context.setdefault(key, []).append(i)
            else:
                results[i] = LoglikelihoodResult(logprob=0.0, n_tokens=0, is_greedy=True)
        groups = self._split_groups(by_context, pairs)
        with self._inference():
            for batch in self._score_batches(groups):
                for i, result in self._score_batch(batch, pairs, positions):
                    results[i] = result
        return [r for r in results if r is not None]

    def _positions(self, ids: list[int]) -> list[int] | None:
        assert self.scheme is not None
        return self.scheme.for_ids(self.tokenizer, ids)

    def _split_groups(
        self, by_context: dict[tuple[Any, ...], list[int]], pairs: list[tuple[list[int], list[int]]]
    ) -> list[_ScoreGroup]:
        """Groups of requests sharing a context, cut so that none alone exceeds the batch budget."""
        groups = []
        for (context, _), members in by_context.items():
            longest = max(len(pairs[i][1]) for i in members)
            per_chunk = max(1, self.max_batch_tokens // (len(context) + longest - 1))
            for start in range(0, len(members), per_chunk):
                chunk = members[start : start + per_chunk]
                groups.append(_ScoreGroup(list(context), chunk, max(len(pairs[i][1]) for i in chunk)))
        return groups

    def _score_batches(self, groups: list[_ScoreGroup]) -> Iterator[list[_ScoreGroup]]:
        """Longest first (an out-of-memory shows at once), packed while the padded batch fits the budget."""
        batch: list[_ScoreGroup] = []
        rows = context_width = continuation_width = 0
        for group in sorted(groups, key=lambda g: (g.width, len(g.context)), reverse=True):
            grown = (max(context_width, len(group.context)), max(continuation_width, group.longest))
            width = grown[0] + grown[1] - 1
            if batch and (
                width > self.config.block_size or (rows + len(group.members)) * width > self.max_batch_tokens
            ):
                yield batch
                batch, rows, grown = [], 0, (len(group.context), group.longest)
            batch.append(group)
            rows += len(group.members)
            context_width, continuation_width = grown
        if batch:
            yield batch

    def _score_batch(
        self,
        groups: list[_ScoreGroup],
        pairs: list[tuple[list[int], list[int]]],
        positions: list[list[int] | None],
    ) -> list[tuple[int, LoglikelihoodResult]]:
        """Contexts (right-padded) fill a KV cache; the continuations of every group then run against it."""
        device, pad = self.device, self.tokenizer.pad_id
        context_lens = torch.tensor([len(g.context) for g in groups], device=device)
        context_width = int(context_lens.max())
        longest = max(g.longest for g in groups)
        contexts = _pad([g.context for g in groups], context_width, pad).to(device)
        cache = self._new_cache(len(groups), context_width + longest - 1)
        schemed = any(positions[i] is not None for g in groups for i in g.members)
        context_positions = None
        if schemed:  # a group's members share its context's positions (they are part of the group's key)
            context_positions = _pad_positions(
                [positions[g.members[0]] for g in groups], [0] * len(groups), context_width
            ).to(device)
        # right padding: real positions never see the pads; (groups, vocab) at each context's last token
        first = self.model(contexts, positions=context_positions, cache=cache, logits_at=context_lens - 1)[
            :, 0
        ]

        members = [i for g in groups for i in g.members]
        counts = torch.tensor([len(g.members) for g in groups], device=device)
        first = first.repeat_interleave(counts, dim=0)
        targets = _pad([pairs[i][1] for i in members], longest, -1).to(device)
        if longest > 1:
            if int(counts.max()) > 1:
                cache = cache.repeat_rows(counts)
            row_context_lens = context_lens.repeat_interleave(counts)
            inputs = targets[:, :-1].clamp_min(0)  # padding slots hold token 0; their outputs are ignored
            if schemed:
                starts = [len(pairs[i][0]) for i in members]
                continuation_positions = _pad_positions([positions[i] for i in members], starts, longest - 1)
                continuation_positions = continuation_positions.to(device)
            else:
                continuation_positions = row_context_lens[:, None] + torch.arange(longest - 1, device=device)
            mask = None
            if bool((context_lens < context_width).any()):
                mask = _continuation_mask(row_context_lens, context_width, longest - 1)
            rest = self.model(inputs, positions=continuation_positions, cache=cache, attn_mask=mask)
            logits = torch.cat([first[:, None], rest], dim=1)
        else:
            logits = first[:, None]
        logits = logits.float()
        valid = targets >= 0
        safe_targets = targets.clamp_min(0)[..., None]
        token_logprobs = (logits.gather(-1, safe_targets).squeeze(-1) - logits.logsumexp(dim=-1)) * valid
        greedy = (logits.argmax(dim=-1) == targets) | ~valid
        sums, all_greedy = token_logprobs.sum(dim=1).tolist(), greedy.all(dim=1).tolist()
        n_tokens = valid.sum(dim=1).tolist()
        return [
            (i, LoglikelihoodResult(logprob=sums[row], n_tokens=n_tokens[row], is_greedy=all_greedy[row]))
            for row, i in enumerate(members)
        ]

    # ------------------------------------------------------------------ prompt tokens

    def prompt_logprobs(self, requests: Sequence[PromptLogprobsRequest]) -> list[PromptLogprobsResult]:
        """Each token of each text with its log-probability given the tokens before it (the first has none):
        what an OpenAI-style server returns for echo=True. The text is encoded as it is, without a leading
        end-of-text, as `loglikelihood` encodes a non-empty context; texts over the window raise."""
        window = self.config.block_size
        encoded = []
        for i, request in enumerate(requests):
            ids, spans = self.tokenizer.encode_offsets(request.text)
            if len(ids) > window:
                raise ContextWindowError(
                    f"prompt_logprobs request {i}: the text has {len(ids)} tokens, the context window is {window}"
                )
            encoded.append((ids, spans))
        results: list[PromptLogprobsResult | None] = [None] * len(requests)
        order = sorted(range(len(requests)), key=lambda i: len(encoded[i][0]), reverse=True)
        with self._inference():
            start = 0
            while start < len(order):
                width = len(encoded[order[start]][0])
                rows = max(1, self.max_batch_tokens // width)
                batch = order[start : start + rows]
                start += rows
                for i, result in zip(
                    batch,
                    self._prompt_batch([encoded[i] for i in batch], [requests[i] for i in batch]),
                    strict=True,
                ):
                    results[i] = result
        return [r for r in results if r is not None]

    def _prompt_batch(
        self, encoded: list[tuple[list[int], list[tuple[int, int]]]], requests: list[PromptLogprobsRequest]
    ) -> list[PromptLogprobsResult]:
        """One right-padded forward pass; a real position never attends to the padding after it."""
        width = len(encoded[0][0])
        tokens = _pad([ids for ids, _ in encoded], width, self.tokenizer.pad_id).to(self.device)
        positions = None
        if self.scheme:
            schemed = [self._positions(ids) for ids, _ in encoded]
            positions = _pad_positions(schemed, [0] * len(encoded), width).to(self.device)
        logits = self.model(tokens, positions=positions).float()
        logprobs = logits.log_softmax(dim=-1)
        chosen = logprobs[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1).tolist()
        top = max(r.top for r in requests)
        top_values, top_ids = logprobs.topk(top, dim=-1) if top else (None, None)
        out = []
        for row, ((_ids, spans), request) in enumerate(zip(encoded, requests, strict=True)):
            text = request.text
            entries = []
            for k, (start, end) in enumerate(spans):
                alternatives: dict[str, float] = {}
                if k > 0 and request.top and top_values is not None and top_ids is not None:
                    values, alt_ids = (
                        top_values[row, k - 1, : request.top].tolist(),
                        top_ids[row, k - 1, : request.top],
                    )
                    alternatives = {
                        self.tokenizer.decode([int(t)]): v
                        for t, v in zip(alt_ids.tolist(), values, strict=True)
                    }
                entries.append(
                    TokenLogprob(
                        token=text[start:end],
                        offset=start,
                        logprob=None if k == 0 else chosen[row][k - 1],
                        top=alternatives,
                    )
                )
            out.append(PromptLogprobsResult(tokens=tuple(entries)))
        return out

    # ------------------------------------------------------------------ generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """n samples per request, in request order.

        token_logprobs are the model's own log-probabilities of the chosen tokens (temperature 1, before
        top-k / top-p), one per generated token, the end-of-text token included when it ends a sample; a
        stop string cuts the text, not the log-probs of the tokens that produced it. A request's samples
        depend only on its prompt, settings and seed, never on the other requests in the batch.
        """
        window = self.config.block_size
        if self.truncation == "error":
            for i, request in enumerate(requests):
                refuse_unencoded("generation", i, len(request.prompt), self.tokenizer.max_token_chars, window)
        prompts = []
        for i, request in enumerate(requests):
            ids = fit_prompt(
                encode_prompt(self.tokenizer.encode, request.prompt, self.tokenizer.eot_id),
                window,
                request.max_tokens,
                self.truncation,
                i,
            )
            steps = min(request.max_tokens, window + 1 - len(ids))
            prompts.append(_Prompt(i, ids, request, steps, self._positions(ids) if self.scheme else None))
        results: list[GenerationResult | None] = [None] * len(requests)
        with self._inference():
            for batch in self._generation_batches(prompts):
                for prompt, samples in zip(batch, self._generate_batch(batch), strict=True):
                    results[prompt.index] = GenerationResult(samples=tuple(samples))
        return [r for r in results if r is not None]

    def _generation_batches(self, prompts: list[_Prompt]) -> Iterator[list[_Prompt]]:
        """Longest prompt first; a batch grows while its padded cache fits the window and the budget.

        The tokens all of a batch's prompts start with are stored once (`KVCache.prefix`), so the budget
        counts them once, not once per row: the rows x (padded width - shared prefix) + shared prefix.
        """
        batch: list[_Prompt] = []
        rows = common = 0  # common: tokens every prompt of the batch starts with
        for prompt in sorted(prompts, key=lambda p: len(p.ids), reverse=True):
            if batch:
                width = len(batch[0].ids) + max(prompt.steps, *(p.steps for p in batch)) - 1
                grown = common_prefix(batch[0].ids, prompt.ids, common)
                schemed = any(p.positions is not None for p in (*batch, prompt))
                shared = (
                    0 if schemed else worth_sharing(min(grown, len(prompt.ids) - 1), rows + prompt.request.n)
                )
                fits = (
                    width <= self.config.block_size
                    and (rows + prompt.request.n) * (width - shared) + shared <= self.max_batch_tokens
                )
                if fits:
                    common = grown
                else:
                    yield batch
                    batch, rows = [], 0
            if not batch:
                common = len(prompt.ids)
            batch.append(prompt)
            rows += prompt.request.n
        if batch:
            yield batch

    def _generate_batch(self, prompts: list[_Prompt]) -> list[list[Sample]]:
        device = self.device
        total_steps = max(p.steps for p in prompts)
        schemed = any(p.positions is not None for p in prompts)
        # a shared prefix runs at positions 0, 1, 2, ...; prompts with a scheme's positions keep their own
        shared = (
            0 if schemed else shared_prefix_len([p.ids for p in prompts], sum(p.request.n for p in prompts))
        )
        prefix = None
        if shared:  # the common prefix runs once; every row attends to that one copy (KVCache.prefix)
            prefix = self._new_cache(1, shared)
            self.model(torch.tensor([prompts[0].ids[:shared]], device=device), cache=prefix, logits_at=-1)
        lens = torch.tensor([len(p.ids) - shared for p in prompts], device=device)
        width = int(lens.max())
        pads = width - lens
        tokens = _pad([p.ids[shared:] for p in prompts], width, self.tokenizer.pad_id, left=True).to(device)
        cache = self._new_cache(len(prompts), width + total_steps - 1, prefix=prefix)
        slots = torch.arange(cache.max_len, device=device)
        # (prompts, cache slots): False on the left padding of each prompt's own part
        key_valid = slots[None, :] >= pads[:, None]
        padded = bool((pads > 0).any())
        positions = shared + (slots[None, :width] - pads[:, None]).clamp_min(0)
        if schemed:
            for row, prompt in enumerate(prompts):
                if prompt.positions is not None:
                    positions[row, int(pads[row]) :] = torch.tensor(prompt.positions, device=device)
        mask = None
        if padded:
            causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
            diagonal = torch.eye(width, dtype=torch.bool, device=device)
            # a padding query attends to itself only: no row is fully masked (which would give NaN)
            mask = (causal & (key_valid[:, None, :width] | diagonal))[:, None]
        last = self.model(tokens, positions=positions, cache=cache, attn_mask=mask, logits_at=-1)[:, -1]

        counts = torch.tensor([p.request.n for p in prompts], device=device)
        if int(counts.max()) > 1:
            cache = cache.repeat_rows(counts)
            last = last.repeat_interleave(counts, dim=0)
            key_valid = key_valid.repeat_interleave(counts, dim=0)
        rows = [
            DecodeRow(b, k, p.request, p.steps) for b, p in enumerate(prompts) for k in range(p.request.n)
        ]
        step = _GPTStep(self, cache, key_valid if padded else None, prompts, rows)
        eos = frozenset({self.tokenizer.eot_id})
        constraints = self._constraints.prepare(rows)
        decode_loop(last, rows, step, eos_ids=eos, decode=self.tokenizer.decode, constraints=constraints)
        out: list[list[Sample]] = [[] for _ in prompts]
        for row in rows:
            out[row.request_index].append(row.sample(self.tokenizer.decode))
        return out


class _GPTStep:
    """The GPT under `decode_loop`: its KV cache, the padding mask and positions of the rows still going."""

    def __init__(
        self,
        engine: Engine,
        cache: KVCache,
        key_valid: Tensor | None,
        prompts: list[_Prompt],
        rows: list[DecodeRow],
    ) -> None:
        self.engine, self.cache, self.key_valid = engine, cache, key_valid
        device = engine.device
        self.prompt_lens = torch.tensor([len(prompts[r.request_index].ids) for r in rows], device=device)
        tokenizer = engine.tokenizer
        # a row whose positions come from a position scheme: its prompt text and its last token's position
        self.prompt_texts = [
            None
            if prompts[r.request_index].positions is None
            else tokenizer.decode(prompts[r.request_index].ids)
            for r in rows
        ]
        self.last_positions = [(prompts[r.request_index].positions or [0])[-1] for r in rows]
        self.schemed = any(text is not None for text in self.prompt_texts)

    def select(self, keep: Tensor) -> None:
        self.cache = self.cache.select_rows(keep)
        if self.key_valid is not None:
            self.key_valid = self.key_valid[keep]
        self.prompt_lens = self.prompt_lens[keep]
        kept = keep.tolist()
        self.prompt_texts = [self.prompt_texts[p] for p in kept]
        self.last_positions = [self.last_positions[p] for p in kept]

    def __call__(self, chosen: Tensor, step: int, rows: Sequence[DecodeRow]) -> Tensor:
        mask = None if self.key_valid is None else self.key_valid[:, None, None, : self.cache.length + 1]
        positions = self.prompt_lens[:, None] + step
        if self.schemed:
            positions = self._scheme_positions(rows, positions)
        return self.engine.model(chosen[:, None], positions=positions, cache=self.cache, attn_mask=mask)[
            :, -1
        ]

    def _scheme_positions(self, rows: Sequence[DecodeRow], counted: Tensor) -> Tensor:
        """The positions of the tokens just chosen: the scheme's for rows whose prompt it gave positions."""
        scheme, tokenizer = self.engine.scheme, self.engine.tokenizer
        assert scheme is not None
        batch_rows, values = [], []
        for batch_row, row in enumerate(rows):
            prompt_text = self.prompt_texts[batch_row]
            if prompt_text is None or row.finished:
                continue
            last = scheme.last_position(prompt_text + tokenizer.decode(row.tokens))
            self.last_positions[batch_row] = self.last_positions[batch_row] + 1 if last is None else last
            batch_rows.append(batch_row)
            values.append(self.last_positions[batch_row])
        positions = counted.clone()
        if batch_rows:  # one copy to the device, not one per row
            device = counted.device
            positions[torch.tensor(batch_rows, device=device), 0] = torch.tensor(values, device=device)
        return positions


def _pad(rows: Sequence[Sequence[int]], width: int, fill: int, *, left: bool = False) -> Tensor:
    """Rows of ids as one (rows, width) tensor padded with `fill` on the right (or the left).

    Built on the CPU, so a GPU receives one copy instead of one per row.
    """
    out = torch.full((len(rows), width), fill, dtype=torch.long)
    for row, ids in enumerate(rows):
        if ids:
            (out[row, width - len(ids) :] if left else out[row, : len(ids)]).copy_(torch.tensor(ids))
    return out


def _pad_positions(rows: Sequence[list[int] | None], starts: Sequence[int], width: int) -> Tensor:
    """(rows, width) positions of each row's tokens from `starts[row]` on: the scheme's where the row has
    them (None: counting from its start), then one more per padding slot."""
    out = torch.empty((len(rows), width), dtype=torch.long)
    for row, (own, start) in enumerate(zip(rows, starts, strict=True)):
        values = list(range(start, start + width)) if own is None else own[start : start + width]
        tail = (values[-1] + 1) if values else start
        out[row] = torch.tensor(values + list(range(tail, tail + width - len(values))))
    return out


def _continuation_mask(context_lens: Tensor, context_width: int, new: int) -> Tensor:
    """(rows, 1, new, context_width + new): a continuation token sees its row's real context and its own past."""
    device = context_lens.device
    keys = torch.arange(context_width + new, device=device)
    queries = torch.arange(new, device=device)
    sees_context = keys[None, None, :] < context_lens[:, None, None]
    sees_own = (keys[None, :] >= context_width) & (keys[None, :] - context_width <= queries[:, None])
    return (sees_context | sees_own[None])[:, None]
