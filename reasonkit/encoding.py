"""Turning requests into token ids: the lm-evaluation-harness pair rule and the context-window policy.

Shared by every backend (our GPT engine, the Hugging Face backend) so that a request is tokenised and
truncated the same way whichever model scores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from reasonkit.protocol import ContextWindowError, TruncationPolicy

logger = logging.getLogger(__name__)

Encode = Callable[[str], list[int]]


def encode_pair(encode: Encode, context: str, continuation: str, eot_id: int) -> tuple[list[int], list[int]]:
    """Context and continuation ids, encoded jointly and split (lm-evaluation-harness).

    Trailing whitespace of the context moves to the front of the continuation ("Answer: " + "yes" scores
    " yes"), because BPE vocabularies attach a space to the word after it. The joint encoding decides the
    token boundary, so the continuation is tokenised as it would appear in running text.

    An empty context (after the move) becomes `[eot_id]`: the model predicts the first token from a document
    boundary, as in training.

    If the joint encoding does not start with the context's own ids (a merge across the boundary, which
    byte-level BPE with whitespace pre-tokenisation rarely makes), splitting it would score part of the
    context or lose part of the continuation; we then fall back to encoding the continuation on its own,
    which keeps both texts whole at the cost of one unusual token boundary.
    """
    stripped = context.rstrip()
    if len(stripped) < len(context):
        continuation = context[len(stripped) :] + continuation
        context = stripped
    if not context:
        return [eot_id], encode(continuation)
    if not continuation:
        return encode(context), []
    context_ids = encode(context)
    whole = encode(context + continuation)
    if whole[: len(context_ids)] == context_ids:
        return context_ids, whole[len(context_ids) :]
    logger.debug(
        "joint encoding of %r + %r crosses the boundary; encoding the continuation alone",
        context,
        continuation,
    )
    return context_ids, encode(continuation)


def encode_prompt(encode: Encode, prompt: str, eot_id: int) -> list[int]:
    """Prompt ids for generation; an empty prompt becomes `[eot_id]` (sampling starts a new document)."""
    return encode(prompt) if prompt else [eot_id]


def truncate_left(ids: Sequence[int], limit: int) -> list[int]:
    """The last `limit` ids (the most recent text is what the model needs)."""
    if limit < 0:
        raise ValueError(f"truncate_left: limit must be >= 0, got {limit}")
    return list(ids[len(ids) - limit :]) if len(ids) > limit else list(ids)


def refuse_unencoded(
    what: str, index: int, chars: int, max_token_chars: int, window: int, slack: int = 0
) -> None:
    """Raise ContextWindowError, before tokenising, for text that needs more than `window` + `slack` tokens
    whatever they are: no token covers more than `max_token_chars` characters. Tokenising a 10 MB question
    only to find it too long takes seconds, once per request that carries it."""
    least = -(-chars // max_token_chars)
    if least > window + slack:
        raise ContextWindowError(
            f"{what} request {index}: {chars} characters are at least {least} tokens, the context window is "
            f"{window} (pass truncation='left' to drop the oldest tokens)",
            index,
        )


def fit_pair(
    context_ids: Sequence[int],
    continuation_ids: Sequence[int],
    window: int,
    policy: TruncationPolicy,
    index: int,
) -> tuple[list[int], list[int]]:
    """Make a scoring pair fit `window` input tokens (context + continuation[:-1]).

    Under "left" the context loses its oldest tokens (at least one is kept: it predicts the first
    continuation token). A continuation longer than the window can never be scored whole and always raises.
    """
    needed = len(context_ids) + max(len(continuation_ids) - 1, 0)
    if needed <= window:
        return list(context_ids), list(continuation_ids)
    if len(continuation_ids) > window:
        raise ContextWindowError(
            f"loglikelihood request {index}: the continuation has {len(continuation_ids)} tokens, more than "
            f"the context window of {window}; it cannot be scored whole",
            index,
        )
    if policy == "error":
        raise ContextWindowError(
            f"loglikelihood request {index}: context {len(context_ids)} + continuation "
            f"{len(continuation_ids)} tokens need {needed} positions, the context window is {window} "
            f"(pass truncation='left' to drop the oldest context tokens)",
            index,
        )
    return truncate_left(context_ids, window + 1 - len(continuation_ids)), list(continuation_ids)


def fit_prompt(
    prompt_ids: Sequence[int], window: int, max_tokens: int, policy: TruncationPolicy, index: int
) -> list[int]:
    """Make a generation prompt fit `window`.

    "error" raises only when the prompt itself is longer than the window; a prompt that fits but leaves
    fewer than `max_tokens` positions simply stops early with finish_reason "length". "left" drops the
    oldest tokens so that the prompt leaves room for `max_tokens` new ones, but never keeps fewer than half
    the window (a prompt cut to a few tokens is worse than a shorter answer).
    """
    if policy == "error":
        if len(prompt_ids) > window:
            raise ContextWindowError(
                f"generation request {index}: the prompt has {len(prompt_ids)} tokens, the context window "
                f"is {window} (pass truncation='left' to drop the oldest prompt tokens)",
                index,
            )
        return list(prompt_ids)
    # the last sampled token is never fed back, so prompt + max_tokens - 1 positions are needed
    keep = max(window + 1 - max_tokens, window // 2, 1)
    return truncate_left(prompt_ids, min(keep, window))
