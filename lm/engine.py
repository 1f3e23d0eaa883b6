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

from reasonkit.lm.encoding import encode_pair, encode_prompt, fit_pair, fit_prompt, refuse_unencoded
from reasonkit.lm.model import GPT, KVCache
from reasonkit.lm.positions import load_scheme
from reasonkit.lm.sampling import SamplingParams, choose_tokens, row_uniforms
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
    find_stop,
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
    tokens (see `reasonkit.lm.encoding.fit_pair` / `fit_prompt`). `autocast` runs the model under bf16
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
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self._autocast):
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
        first = self.model(contexts, positions=context_positions, cache=cache, logits_at=context_lens - 1)[:, 0]

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
                for i, result in zip(batch, self._prompt_batch([encoded[i] for i in batch], [requests[i] for i in batch]), strict=True):
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
        top_values, top_ids = (logprobs.topk(top, dim=-1) if top else (None, None))
        out = []
        for row, ((_ids, spans), request) in enumerate(zip(encoded, requests, strict=True)):
            text = request.text
            entries = []
            for k, (start, end) in enumerate(spans):
                alternatives: dict[str, float] = {}
                if k > 0 and request.top and top_values is not None and top_ids is not None:
                    values, alt_ids = top_values[row, k - 1, : request.top].tolist(), top_ids[row, k - 1, : request.top]
                    alternatives = {
                        self.tokenizer.decode([int(t)]): v for t, v in zip(alt_ids.tolist(), values, strict=True)
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
        """Longest prompt first; a batch grows while its padded cache fits the window and the budget."""
        batch: list[_Prompt] = []
        rows = 0
        for prompt in sorted(prompts, key=lambda p: len(p.ids), reverse=True):
            if batch:
                width = len(batch[0].ids) + max(prompt.steps, *(p.steps for p in batch)) - 1
                fits = (
                    width <= self.config.block_size
                    and (rows + prompt.request.n) * width <= self.max_batch_tokens
                )
                if not fits:
                    yield batch
                    batch, rows = [], 0
            batch.append(prompt)
            rows += prompt.request.n
        if batch:
            yield batch

    def _generate_batch(self, prompts: list[_Prompt]) -> list[list[Sample]]:
        device = self.device
        total_steps = max(p.steps for p in prompts)
        schemed = any(p.positions is not None for p in prompts)
        # a shared prefix runs at positions 0, 1, 2, ...; prompts with a scheme's positions keep their own
        shared = 0 if schemed else _shared_prefix_len([p.ids for p in prompts], sum(p.request.n for p in prompts))
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
        state = _DecodeState.start(prompts, total_steps, device, self.tokenizer)
        for step in range(total_steps):
            chosen = choose_tokens(last, state.params, state.uniforms[:, step])
            alive = state.record(chosen.tolist(), _chosen_logprobs(last, chosen), self.tokenizer)
            if not alive:
                break
            # compacting copies the cache, so it waits until a quarter of the rows are done
            if len(alive) <= 3 * len(state.rows) // 4:
                keep = torch.tensor(alive, device=device)
                cache, key_valid, chosen = cache.select_rows(keep), key_valid[keep], chosen[keep]
                state.keep(keep, alive)
            mask = key_valid[:, None, None, : cache.length + 1] if padded else None
            positions = state.prompt_lens[:, None] + step
            if schemed:
                positions = self._scheme_positions(state, positions)
            last = self.model(chosen[:, None], positions=positions, cache=cache, attn_mask=mask)[:, -1]
        return state.samples(prompts, self.tokenizer)

    def _scheme_positions(self, state: _DecodeState, counted: Tensor) -> Tensor:
        """The positions of the tokens just chosen: the scheme's for rows whose prompt it gave positions."""
        assert self.scheme is not None
        rows, values = [], []
        for batch_row, row in enumerate(state.rows):
            prompt_text = state.prompt_texts[row]
            if prompt_text is None or state.finish[row] is not None:
                continue
            last = self.scheme.last_position(prompt_text + self.tokenizer.decode(state.tokens[row]))
            state.last_positions[row] = state.last_positions[row] + 1 if last is None else last
            rows.append(batch_row)
            values.append(state.last_positions[row])
        positions = counted.clone()
        if rows:  # one copy to the device, not one per row
            positions[torch.tensor(rows, device=counted.device), 0] = torch.tensor(values, device=counted.device)
        return positions


def _shared_prefix_len(rows: Sequence[Sequence[int]], samples: int, minimum: int = 16) -> int:
    """Tokens every prompt starts with, worth sharing when more than one sample row will attend to them;
    each prompt keeps at least one token of its own."""
    if samples < 2:
        return 0
    shared = min(len(r) for r in rows) - 1
    first = rows[0]
    for row in rows[1:]:
        shared = next((i for i in range(shared) if row[i] != first[i]), shared)
    return shared if shared >= minimum else 0


def _chosen_logprobs(logits: Tensor, chosen: Tensor) -> list[float]:
    """log softmax(logits)[chosen] per row, without materialising the whole log-softmax."""
    logits = logits.float()
    return (logits.gather(-1, chosen[:, None]).squeeze(-1) - logits.logsumexp(dim=-1)).tolist()


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


@dataclass
class _DecodeState:
    """Bookkeeping of the sampling loop: one row per sample; `rows` maps batch rows to sample rows."""

    owner: list[int]  # sample row -> prompt position in the batch
    sample_index: list[int]
    step_limit: list[int]
    stops: list[tuple[str, ...]]
    tokens: list[list[int]]
    logprobs: list[list[float]]
    finish: list[str | None]
    cut: list[int | None]  # where the text is cut at a stop string
    rows: list[int]
    prompt_lens: Tensor
    params: SamplingParams
    uniforms: Tensor
    prompt_texts: list[str | None]  # the prompt of a row whose positions come from a position scheme
    last_positions: list[int]  # of such a row: its last token's position

    @classmethod
    def start(
        cls, prompts: list[_Prompt], total_steps: int, device: torch.device, tokenizer: Tokenizer
    ) -> _DecodeState:
        owner = [b for b, p in enumerate(prompts) for _ in range(p.request.n)]
        sample_index = [k for p in prompts for k in range(p.request.n)]
        requests = [prompts[b].request for b in owner]
        uniforms = torch.zeros(len(owner), total_steps, dtype=torch.float64)
        for row, (request, k) in enumerate(zip(requests, sample_index, strict=True)):
            # drawn per request (not per batch) so the stream depends on seed and sample index only
            stream = row_uniforms(request.seed, k, request.max_tokens)[:total_steps]
            uniforms[row, : len(stream)] = stream
        vocab = 1 << 62
        params = SamplingParams(
            temperature=torch.tensor([r.temperature for r in requests], device=device),
            top_k=torch.tensor([r.top_k or vocab for r in requests], device=device),
            top_p=torch.tensor([r.top_p or 1.0 for r in requests], device=device),
        )
        return cls(
            owner=owner,
            sample_index=sample_index,
            step_limit=[prompts[b].steps for b in owner],
            stops=[r.stop for r in requests],
            tokens=[[] for _ in owner],
            logprobs=[[] for _ in owner],
            finish=[None] * len(owner),
            cut=[None] * len(owner),
            rows=list(range(len(owner))),
            prompt_lens=torch.tensor([len(prompts[b].ids) for b in owner], device=device),
            params=params,
            uniforms=uniforms.to(device),
            prompt_texts=[
                None if prompts[b].positions is None else tokenizer.decode(prompts[b].ids) for b in owner
            ],
            last_positions=[(prompts[b].positions or [0])[-1] for b in owner],
        )

    def record(self, chosen: list[int], logprobs: list[float], tokenizer: Tokenizer) -> list[int]:
        """Append this step's tokens; returns the batch positions still generating."""
        alive = []
        for position, row in enumerate(self.rows):
            if self.finish[row] is not None:
                continue
            token = chosen[position]
            self.tokens[row].append(token)
            self.logprobs[row].append(logprobs[position])
            if token == tokenizer.eot_id:
                self.finish[row] = "eos"
            elif (
                self.stops[row]
                and (cut := find_stop(tokenizer.decode(self.tokens[row]), self.stops[row])) is not None
            ):
                self.finish[row], self.cut[row] = "stop", cut
            elif len(self.tokens[row]) >= self.step_limit[row]:
                self.finish[row] = "length"
            else:
                alive.append(position)
        return alive

    def keep(self, keep: Tensor, alive: list[int]) -> None:
        self.rows = [self.rows[position] for position in alive]
        self.prompt_lens = self.prompt_lens[keep]
        self.params = self.params.select(keep)
        self.uniforms = self.uniforms[keep]

    def samples(self, prompts: list[_Prompt], tokenizer: Tokenizer) -> list[list[Sample]]:
        out: list[list[Sample]] = [[] for _ in prompts]
        for row, owner in enumerate(self.owner):
            tokens, finish = self.tokens[row], self.finish[row] or "length"
            text = tokenizer.decode(tokens[:-1] if finish == "eos" else tokens)
            if self.cut[row] is not None:
                text = text[: self.cut[row]]
            pieces = tuple(tokenizer.decode([token]) for token in tokens)
            out[owner].append(
                Sample(text=text, token_logprobs=tuple(self.logprobs[row]), tokens=pieces, finish_reason=finish)
            )
        return out
