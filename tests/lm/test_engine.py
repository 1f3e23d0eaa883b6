"""The inference engine: scores equal a plain forward pass, cached generation equals recomputing, batching
and sharing change nothing, and the bf16 autocast path stays near fp32."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from reasonkit.encoding import encode_pair
from reasonkit.lm.config import ModelConfig
from reasonkit.lm.engine import Engine
from reasonkit.lm.model import GPT
from reasonkit.lm.pretrained import save_pretrained
from reasonkit.lm.tokenizer import Tokenizer
from reasonkit.protocol import ContextWindowError, GenerationRequest, LanguageModel, LoglikelihoodRequest

WINDOW = 64
WORDS = "the cat sat on a mat while seven dogs ran across green fields under a pale sky and sang".split()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    lines = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(10)) + "." for i in range(300)]
    return Tokenizer.train(lines, vocab_size=400)


def random_model(tokenizer: Tokenizer, seed: int = 0) -> GPT:
    """Randomly initialised; a large init_std makes the next-token distributions peaked and distinct."""
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size, block_size=WINDOW, n_layer=2, n_head=4, n_embd=64, init_std=0.2
    )
    return GPT(config).eval()


@pytest.fixture(scope="module")
def model(tokenizer: Tokenizer) -> GPT:
    return random_model(tokenizer)


@pytest.fixture(scope="module")
def engine(model: GPT, tokenizer: Tokenizer) -> Engine:
    return Engine(model, tokenizer)


def full_forward_score(
    model: GPT, tokenizer: Tokenizer, context: str, continuation: str
) -> tuple[float, bool]:
    """Sum of continuation log-probs from one plain forward pass over the whole sequence."""
    context_ids, continuation_ids = encode_pair(tokenizer.encode, context, continuation, tokenizer.eot_id)
    ids = torch.tensor([context_ids + continuation_ids[:-1]])
    with torch.no_grad():
        logprobs = model(ids)[0].log_softmax(dim=-1)[len(context_ids) - 1 :]
    targets = torch.tensor(continuation_ids)
    total = logprobs.gather(-1, targets[:, None]).sum().item()
    return total, bool((logprobs.argmax(dim=-1) == targets).all())


def naive_greedy(model: GPT, ids: list[int], steps: int, eot_id: int) -> list[int]:
    """Greedy decoding that recomputes the whole sequence at every step (no cache, no padding)."""
    out: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            token = int(model(torch.tensor([ids + out]))[0, -1].argmax())
            out.append(token)
            if token == eot_id:
                break
    return out


def decode_greedy(tokenizer: Tokenizer, tokens: list[int]) -> str:
    return tokenizer.decode(tokens[:-1] if tokens and tokens[-1] == tokenizer.eot_id else tokens)


SCORING = [
    LoglikelihoodRequest(context="the cat sat on", continuation=" a mat"),
    LoglikelihoodRequest(context="the cat sat on", continuation=" green fields under a pale sky"),
    LoglikelihoodRequest(context="the cat sat on ", continuation="seven dogs"),
    LoglikelihoodRequest(context="dogs ran", continuation=" across"),
    LoglikelihoodRequest(context="", continuation="the pale sky"),
    LoglikelihoodRequest(context="a pale sky and seven green dogs sang while the cat", continuation=" sat."),
    LoglikelihoodRequest(context="dogs ran", continuation=""),
]


def test_engine_is_a_language_model(engine: Engine) -> None:
    assert isinstance(engine, LanguageModel)


def test_loglikelihood_equals_a_plain_forward(engine: Engine, model: GPT, tokenizer: Tokenizer) -> None:
    results = engine.loglikelihood(SCORING)
    for request, result in zip(SCORING, results, strict=True):
        expected, greedy = (
            full_forward_score(model, tokenizer, request.context, request.continuation)
            if request.continuation
            else (0.0, True)
        )
        assert result.logprob == pytest.approx(expected, abs=1e-4), request
        assert result.is_greedy == greedy
        pair = encode_pair(tokenizer.encode, request.context, request.continuation, tokenizer.eot_id)
        assert result.n_tokens == len(pair[1])


def test_loglikelihood_does_not_depend_on_order_or_batch_size(
    model: GPT, tokenizer: Tokenizer, engine: Engine
) -> None:
    reference = [r.logprob for r in engine.loglikelihood(SCORING)]
    order = [5, 2, 0, 6, 4, 1, 3]
    shuffled = engine.loglikelihood([SCORING[i] for i in order])
    assert [r.logprob for r in shuffled] == pytest.approx([reference[i] for i in order], abs=1e-4)
    one_by_one = Engine(model, tokenizer, max_batch_tokens=20).loglikelihood(SCORING)
    assert [r.logprob for r in one_by_one] == pytest.approx(reference, abs=1e-4)


def test_shared_context_runs_once(model: GPT, tokenizer: Tokenizer) -> None:
    counter = ForwardRecorder(model)
    options = [" a mat", " seven dogs", " the pale sky", " green", " fields under"]
    Engine(counter, tokenizer).loglikelihood(
        [LoglikelihoodRequest(context="the cat sat on", continuation=o) for o in options]
    )
    context_pass, continuation_pass = counter.shapes
    assert context_pass[0] == 1
    assert continuation_pass[0] == len(options)


def test_greedy_continuation_is_greedy(engine: Engine, model: GPT, tokenizer: Tokenizer) -> None:
    prompt = "the cat sat on a mat while"
    greedy = naive_greedy(model, tokenizer.encode(prompt), 6, tokenizer.eot_id)
    # the longest greedy prefix that survives decode -> joint encode (bytes may end inside a character)
    text = next(
        t
        for k in range(len(greedy), 0, -1)
        if encode_pair(tokenizer.encode, prompt, t := tokenizer.decode(greedy[:k]), tokenizer.eot_id)[1]
        == greedy[:k]
    )
    other = " sky"
    scored = engine.loglikelihood(
        [
            LoglikelihoodRequest(context=prompt, continuation=text),
            LoglikelihoodRequest(context=prompt, continuation=other),
        ]
    )
    assert scored[0].is_greedy
    assert scored[1].is_greedy == full_forward_score(model, tokenizer, prompt, other)[1]


def test_long_scoring_request_error_or_left_truncation(model: GPT, tokenizer: Tokenizer) -> None:
    context = " ".join(WORDS * 4)
    request = LoglikelihoodRequest(context=context, continuation=" the cat")
    with pytest.raises(
        ContextWindowError, match=rf"request 1: context \d+ \+ continuation \d+ .* window is {WINDOW}"
    ):
        Engine(model, tokenizer).loglikelihood([SCORING[0], request])
    result = Engine(model, tokenizer, truncation="left").loglikelihood([request])[0]
    context_ids, continuation_ids = encode_pair(
        tokenizer.encode, request.context, request.continuation, tokenizer.eot_id
    )
    kept = context_ids[-(WINDOW + 1 - len(continuation_ids)) :]
    ids = torch.tensor([kept + continuation_ids[:-1]])
    assert ids.shape[1] == WINDOW
    with torch.no_grad():
        logprobs = model(ids)[0].log_softmax(-1)[len(kept) - 1 :]
    expected = logprobs.gather(-1, torch.tensor(continuation_ids)[:, None]).sum().item()
    assert result.logprob == pytest.approx(expected, abs=1e-4)


def test_greedy_with_cache_equals_recomputing(engine: Engine, model: GPT, tokenizer: Tokenizer) -> None:
    prompt = "seven dogs ran across"
    result = engine.generate([GenerationRequest(prompt=prompt, max_tokens=20)])[0].samples[0]
    tokens = naive_greedy(model, tokenizer.encode(prompt), 20, tokenizer.eot_id)
    assert result.text == decode_greedy(tokenizer, tokens)
    assert len(result.token_logprobs) == len(tokens)


def test_batch_of_different_lengths_equals_each_alone(engine: Engine) -> None:
    requests = [
        GenerationRequest(prompt="the cat", max_tokens=12),
        GenerationRequest(prompt="a pale sky and seven green dogs sang while the cat sat", max_tokens=6),
        GenerationRequest(prompt="dogs ran across green fields", max_tokens=9),
        GenerationRequest(prompt="", max_tokens=5),
    ]
    batched = engine.generate(requests)
    alone = [engine.generate([r])[0] for r in requests]
    for together, single in zip(batched, alone, strict=True):
        assert together.samples[0].text == single.samples[0].text
        assert together.samples[0].token_logprobs == pytest.approx(single.samples[0].token_logprobs, abs=1e-4)
    assert [len(r.samples[0].token_logprobs) for r in batched] == [12, 6, 9, 5]


def sampled(engine: Engine, seed: int, **kwargs: object) -> str:
    request = GenerationRequest(prompt="the cat sat", max_tokens=16, temperature=1.0, seed=seed, **kwargs)
    return engine.generate([request])[0].samples[0].text


def test_same_seed_same_text_different_seeds_differ(engine: Engine) -> None:
    assert sampled(engine, seed=1) == sampled(engine, seed=1)
    assert len({sampled(engine, seed=s) for s in range(4)}) == 4
    in_batch = engine.generate(
        [
            GenerationRequest(prompt="dogs ran across green", max_tokens=5, temperature=0.8, top_k=5, seed=9),
            GenerationRequest(prompt="the cat sat", max_tokens=16, temperature=1.0, seed=1),
        ]
    )[1]
    assert in_batch.samples[0].text == sampled(engine, seed=1)


def test_top_k_one_and_tiny_top_p_are_greedy(engine: Engine) -> None:
    greedy = engine.generate([GenerationRequest(prompt="the cat sat", max_tokens=16)])[0].samples[0].text
    assert sampled(engine, seed=3, top_k=1) == greedy
    assert sampled(engine, seed=3, top_p=1e-6) == greedy
    assert sampled(engine, seed=3, top_k=5, top_p=0.9) != greedy


class ForwardRecorder(nn.Module):
    """The model, recording the shape of every forward call."""

    def __init__(self, model: GPT) -> None:
        super().__init__()
        self.inner = model
        self.config = model.config
        self.shapes: list[tuple[int, int]] = []

    def forward(self, idx: Tensor, **kwargs: object) -> Tensor:
        self.shapes.append(tuple(idx.shape))
        return self.inner(idx, **kwargs)


def test_samples_of_one_prompt_share_the_prefill(model: GPT, tokenizer: Tokenizer) -> None:
    recorder = ForwardRecorder(model)
    prompt = "seven dogs ran across green fields"
    request = GenerationRequest(prompt=prompt, n=6, max_tokens=8, temperature=1.0, seed=5)
    result = Engine(recorder, tokenizer).generate([request])[0]
    prefills = [shape for shape in recorder.shapes if shape[1] > 1]
    assert prefills == [(1, len(tokenizer.encode(prompt)))]
    assert recorder.shapes[1] == (6, 1)
    texts = [s.text for s in result.samples]
    assert len(texts) == 6 and len(set(texts)) > 1


SHARED = "the cat sat on a mat while seven dogs ran across green fields under a pale sky and sang. "


def test_samples_of_a_long_prompt_attend_to_one_copy_of_it(model: GPT, tokenizer: Tokenizer) -> None:
    """n samples of one prompt: the prompt (but its last token) is prefilled once as a shared prefix, and the
    samples equal those drawn when an unrelated prompt in the batch rules the sharing out."""
    request = GenerationRequest(prompt=SHARED + "the cat", n=5, max_tokens=6, temperature=1.0, seed=3)
    recorder = ForwardRecorder(model)
    shared = Engine(recorder, tokenizer).generate([request])[0]
    ids = tokenizer.encode(request.prompt)
    assert recorder.shapes[:3] == [(1, len(ids) - 1), (1, 1), (5, 1)]
    unshared = Engine(model, tokenizer).generate([request, GenerationRequest(prompt="dogs", max_tokens=2)])[0]
    assert [s.text for s in shared.samples] == [s.text for s in unshared.samples]
    for a, b in zip(shared.samples, unshared.samples, strict=True):
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)


def test_prompts_sharing_a_prefix_equal_each_alone(model: GPT, tokenizer: Tokenizer) -> None:
    """Few-shot prompts share their exemplars' prefill; greedy and seeded samples stay exactly the same."""
    suffixes = ("the cat", "dogs ran across green fields", "a pale")
    requests = [GenerationRequest(prompt=SHARED + s, max_tokens=8) for s in suffixes] + [
        GenerationRequest(prompt=SHARED + s, max_tokens=6, temperature=1.0, n=2, seed=i)
        for i, s in enumerate(suffixes)
    ]
    recorder = ForwardRecorder(model)
    batched = Engine(recorder, tokenizer).generate(requests)
    engine = Engine(model, tokenizer)
    alone = [engine.generate([r])[0] for r in requests]
    for together, single in zip(batched, alone, strict=True):
        assert [s.text for s in together.samples] == [s.text for s in single.samples]
        for a, b in zip(together.samples, single.samples, strict=True):
            assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)
    prefix = tokenizer.encode(SHARED)
    assert len(prefix) >= 16
    first, second = recorder.shapes[:2]
    assert first[0] == 1 and len(prefix) - 1 <= first[1] <= len(prefix) + 1  # the prefix runs once
    assert second[0] == len(requests) and second[1] < max(len(tokenizer.encode(r.prompt)) for r in requests)


def test_a_shared_prefix_counts_once_in_the_batch_budget(model: GPT, tokenizer: Tokenizer) -> None:
    """The prefix is stored once (KVCache.prefix), so a budget that fits it once plus every row's own part
    takes all the prompts in one batch (it used to count the prefix once per row and split them)."""
    suffixes = ("the cat", "dogs ran across", "a pale")
    requests = [GenerationRequest(prompt=SHARED + s, max_tokens=4) for s in suffixes]
    ids = [tokenizer.encode(r.prompt) for r in requests]
    shared = len(tokenizer.encode(SHARED)) - 2  # at most what the prompts' ids have in common
    own = max(map(len, ids)) - shared + 4 - 1
    budget = shared + 3 * own + 3  # the prefix once, three rows of their own part (a few tokens of slack)
    assert budget < 3 * (max(map(len, ids)) + 4 - 1)  # counting the prefix per row would not fit
    recorder = ForwardRecorder(model)
    batched = Engine(recorder, tokenizer, max_batch_tokens=budget).generate(requests)
    assert [rows for rows, _ in recorder.shapes[:3]] == [
        1,
        3,
        3,
    ]  # the prefix, then all three prompts at once
    alone = [Engine(model, tokenizer).generate([r])[0] for r in requests]
    assert [r.samples[0].text for r in batched] == [r.samples[0].text for r in alone]


def test_finished_rows_leave_the_batch(model: GPT, tokenizer: Tokenizer) -> None:
    recorder = ForwardRecorder(model)
    short = [GenerationRequest(prompt=p, max_tokens=2) for p in ("the cat", "a mat", "dogs ran")]
    long = GenerationRequest(prompt="green fields", max_tokens=6)
    results = Engine(recorder, tokenizer).generate([*short, long])
    assert [row for row, _ in recorder.shapes] == [4, 4, 1, 1, 1, 1]
    alone = Engine(model, tokenizer).generate([long])[0].samples[0]
    assert results[3].samples[0].text == alone.text
    assert results[3].samples[0].token_logprobs == pytest.approx(alone.token_logprobs, abs=1e-4)


def test_stop_strings_cut_the_text(engine: Engine) -> None:
    prompt = "the cat sat on a"
    full = engine.generate([GenerationRequest(prompt=prompt, max_tokens=20)])[0].samples[0]
    assert full.finish_reason == "length" and len(full.text) > 10
    stop = full.text[6:9]
    cut = engine.generate([GenerationRequest(prompt=prompt, max_tokens=20, stop=("never-there", stop))])[0]
    sample = cut.samples[0]
    assert sample.finish_reason == "stop"
    assert sample.text == full.text[: full.text.find(stop)]
    assert len(sample.token_logprobs) < 20


class EndsAtOnce(nn.Module):
    """The model with the end-of-text logit raised: the first new token ends the document."""

    def __init__(self, model: GPT, eot_id: int) -> None:
        super().__init__()
        self.inner, self.config, self.eot_id = model, model.config, eot_id

    def forward(self, idx: Tensor, **kwargs: object) -> Tensor:
        logits = self.inner(idx, **kwargs)
        logits[..., self.eot_id] += 1e4
        return logits


def test_end_of_text_finishes_with_eos(model: GPT, tokenizer: Tokenizer) -> None:
    result = Engine(EndsAtOnce(model, tokenizer.eot_id), tokenizer).generate(
        [GenerationRequest(prompt="the cat", max_tokens=8)]
    )[0]
    assert result.samples[0].text == ""
    assert result.samples[0].finish_reason == "eos"
    assert len(result.samples[0].token_logprobs) == 1


def test_long_prompt_error_or_left_truncation(model: GPT, tokenizer: Tokenizer) -> None:
    prompt = " ".join(WORDS * 5)
    ids = tokenizer.encode(prompt)
    assert len(ids) > WINDOW
    with pytest.raises(
        ContextWindowError,
        match=rf"request 0: the prompt has {len(ids)} tokens, the context window is {WINDOW}",
    ):
        Engine(model, tokenizer).generate([GenerationRequest(prompt=prompt, max_tokens=8)])
    result = Engine(model, tokenizer, truncation="left").generate(
        [GenerationRequest(prompt=prompt, max_tokens=8)]
    )[0]
    kept = ids[-(WINDOW + 1 - 8) :]
    assert result.samples[0].text == decode_greedy(tokenizer, naive_greedy(model, kept, 8, tokenizer.eot_id))


def test_generation_stops_at_the_window(engine: Engine, model: GPT, tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode(" ".join(WORDS * 5))[: WINDOW - 10]
    prompt = tokenizer.decode(ids)
    assert tokenizer.encode(prompt) == ids
    sample = engine.generate([GenerationRequest(prompt=prompt, max_tokens=50)])[0].samples[0]
    assert sample.finish_reason == "length"
    assert len(sample.token_logprobs) == 11  # the token at the last position is sampled, never fed back
    assert sample.text == decode_greedy(tokenizer, naive_greedy(model, ids, 11, tokenizer.eot_id))


def test_fingerprint_identifies_weights_and_survives_a_round_trip(
    tmp_path: object, engine: Engine, tokenizer: Tokenizer, model: GPT
) -> None:
    other = Engine(random_model(tokenizer, seed=1), tokenizer)
    assert other.fingerprint != engine.fingerprint
    save_pretrained(model, tokenizer, tmp_path)
    loaded = Engine.from_pretrained(tmp_path)
    assert loaded.fingerprint == engine.fingerprint
    assert loaded.loglikelihood(SCORING[:2]) == engine.loglikelihood(SCORING[:2])


@pytest.mark.slow
def test_trained_tiny_model(tiny_engine: Engine) -> None:
    """The real path: a trained model's scores equal a plain forward and its greedy text the uncached one."""
    tokenizer, model = tiny_engine.tokenizer, tiny_engine.model
    requests = [
        LoglikelihoodRequest(
            context="First Citizen:\nBefore we proceed any further,", continuation=" hear me speak."
        ),
        LoglikelihoodRequest(
            context="First Citizen:\nBefore we proceed any further,", continuation=" the king."
        ),
    ]
    for request, result in zip(requests, tiny_engine.loglikelihood(requests), strict=True):
        expected, greedy = full_forward_score(model, tokenizer, request.context, request.continuation)
        assert result.logprob == pytest.approx(expected, abs=1e-4)
        assert result.is_greedy == greedy
    prompt = "ROMEO:\n"
    greedy_text = tiny_engine.generate([GenerationRequest(prompt=prompt, max_tokens=24)])[0].samples[0].text
    assert greedy_text == decode_greedy(
        tokenizer, naive_greedy(model, tokenizer.encode(prompt), 24, tokenizer.eot_id)
    )
    request = GenerationRequest(prompt=prompt, n=4, max_tokens=24, temperature=1.0, seed=3)
    first, again = tiny_engine.generate([request, request])
    assert [s.text for s in first.samples] == [s.text for s in again.samples]
    for one, other in zip(first.samples, again.samples, strict=True):
        assert one.token_logprobs == pytest.approx(other.token_logprobs, abs=1e-4)
    assert len({s.text for s in first.samples}) == 4


@pytest.mark.slow
def test_bf16_autocast_runs_every_path_and_stays_near_fp32(tiny_model_dir: Path) -> None:
    """The path CUDA takes (bf16 autocast, bf16 KV cache), run on the CPU: batches of different lengths, n
    samples sharing one prefix, stop strings. Scores move by bf16 rounding only, and the fingerprint tells
    the two engines apart so that a cache never hands one's scores to the other."""
    fp32, bf16 = Engine.from_pretrained(tiny_model_dir), Engine.from_pretrained(tiny_model_dir, autocast=True)
    assert fp32.fingerprint != bf16.fingerprint
    context = "First Citizen:\nBefore we proceed any further,"
    requests = [
        LoglikelihoodRequest(context=context, continuation=c) for c in (" hear me speak.", " the king.")
    ]
    for exact, rounded in zip(fp32.loglikelihood(requests), bf16.loglikelihood(requests), strict=True):
        assert rounded.logprob == pytest.approx(exact.logprob, rel=0.02, abs=0.05)

    prompts = ["ROMEO:\n", "First Citizen:\n", "KING RICHARD III:\nNow is the", ""]
    greedy = [GenerationRequest(prompt=p, max_tokens=16, stop=("\n\n",)) for p in prompts]
    exact_texts = [r.samples[0].text for r in fp32.generate(greedy)]
    rounded_results = bf16.generate(greedy)
    assert all(len(r.samples[0].token_logprobs) > 0 for r in rounded_results)
    same = sum(r.samples[0].text == t for r, t in zip(rounded_results, exact_texts, strict=True))
    assert same >= 3, (exact_texts, [r.samples[0].text for r in rounded_results])  # a near-tie may flip one

    samples = bf16.generate(
        [GenerationRequest(prompt=prompts[0], max_tokens=12, n=6, temperature=1.0, seed=3)]
    )
    assert len(samples[0].samples) == 6
    for sample in samples[0].samples:  # 12 tokens unless a sample ends its text first
        assert len(sample.token_logprobs) == 12 or sample.finish_reason == "eos"
        assert all(map(math.isfinite, sample.token_logprobs))
