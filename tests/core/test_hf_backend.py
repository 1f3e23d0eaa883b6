"""HFLanguageModel: on our exported GPT it computes what our GPT computes; on any HF model, batching and
padding change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reasonkit.backends.hf import HFLanguageModel
from reasonkit.encoding import encode_pair, encode_prompt
from reasonkit.lm.config import config_for_size
from reasonkit.lm.engine import Engine
from reasonkit.lm.export_hf import export_hf
from reasonkit.lm.model import GPT
from reasonkit.lm.pretrained import TOKENIZER_FILE, save_pretrained
from reasonkit.lm.tokenizer import EOT, PAD, Tokenizer
from reasonkit.protocol import ContextWindowError, GenerationRequest, LanguageModel, LoglikelihoodRequest
from reasonkit.sampling import SamplingParams, choose_tokens, row_uniforms

transformers = pytest.importorskip("transformers")

VOCAB = 300
WORDS = "the cat sat on a mat while seven dogs ran across green fields under a pale sky".split()
TEXTS = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12)) + "." for i in range(200)]

SCORING = [
    LoglikelihoodRequest(context="the cat sat on", continuation=" a mat"),
    LoglikelihoodRequest(context="seven dogs ran ", continuation="across green fields under a pale sky"),
    LoglikelihoodRequest(context="", continuation="the cat"),
    LoglikelihoodRequest(context="a pale sky", continuation=""),
    LoglikelihoodRequest(context="the", continuation=" the the the"),
]


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> tuple[GPT, Tokenizer, Path]:
    """A tiny random GPT; tied, enlarged embeddings make greedy decoding repeat the last token."""
    torch.manual_seed(11)
    tokenizer = Tokenizer.train(TEXTS, VOCAB)
    model = GPT(config_for_size("tiny", VOCAB, block_size=48)).eval()
    with torch.no_grad():
        model.embed.weight.mul_(4.0)  # logits wide enough that sampling settings matter
    root = tmp_path_factory.mktemp("hf_backend")
    save_pretrained(model, tokenizer, root / "ours")
    export_hf(root / "ours", root / "hf")
    return model, tokenizer, root / "hf"


@pytest.fixture(scope="module")
def hf_lm(ours: tuple[GPT, Tokenizer, Path]) -> HFLanguageModel:
    return HFLanguageModel(ours[2], batch_size=3)


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory, ours: tuple[GPT, Tokenizer, Path]) -> Path:
    """A randomly initialised GPT-2 (learned absolute positions: wrong position ids would show)."""
    directory = tmp_path_factory.mktemp("gpt2")
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(ours[2] / TOKENIZER_FILE), eos_token=EOT, pad_token=PAD, split_special_tokens=True
    )
    eot = tokenizer.eos_token_id
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=eot, eos_token_id=eot
    )
    torch.manual_seed(5)
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def reference_loglikelihood(
    model: GPT, tokenizer: Tokenizer, request: LoglikelihoodRequest
) -> tuple[float, int, bool]:
    """A plain forward pass of our GPT over context + continuation."""
    context, continuation = encode_pair(
        tokenizer.encode, request.context, request.continuation, tokenizer.eot_id
    )
    if not continuation:
        return 0.0, 0, True
    with torch.no_grad():
        logits = model(torch.tensor([context + continuation]))[0, len(context) - 1 : -1].log_softmax(dim=-1)
    targets = torch.tensor(continuation)
    logprob = logits.gather(-1, targets[:, None]).sum().item()
    return logprob, len(continuation), bool((logits.argmax(dim=-1) == targets).all())


def reference_sample(
    model: GPT, tokenizer: Tokenizer, request: GenerationRequest, k: int
) -> tuple[str, str, list[float]]:
    """Sample k of a request by full recomputation each step (no cache, no batch, no padding)."""
    ids = encode_prompt(tokenizer.encode, request.prompt, tokenizer.eot_id)
    uniforms = row_uniforms(request.seed, k, request.max_tokens)
    params = SamplingParams(
        torch.tensor([request.temperature]),
        torch.tensor([request.top_k or 1 << 62]),
        torch.tensor([request.top_p or 1.0]),
    )
    new: list[int] = []
    logprobs: list[float] = []
    for step in range(request.max_tokens):
        with torch.no_grad():
            logits = model(torch.tensor([ids + new]))[:, -1]
        new.append(int(choose_tokens(logits, params, uniforms[step : step + 1])))
        logprobs.append(logits[0].log_softmax(dim=-1)[new[-1]].item())
        if new[-1] == tokenizer.eot_id:
            return tokenizer.decode(new[:-1]), "eos", logprobs
        text = tokenizer.decode(new)
        cuts = [at for stop in request.stop if (at := text.find(stop)) >= 0]
        if cuts:
            return text[: min(cuts)], "stop", logprobs
    return tokenizer.decode(new), "length", logprobs


def test_is_a_language_model(hf_lm: HFLanguageModel) -> None:
    assert isinstance(hf_lm, LanguageModel)


def test_loglikelihood_equals_our_forward_pass(
    ours: tuple[GPT, Tokenizer, Path], hf_lm: HFLanguageModel
) -> None:
    model, tokenizer, _ = ours
    greedy_text, _, _ = reference_sample(
        model, tokenizer, GenerationRequest(prompt="the cat sat on", max_tokens=4), 0
    )
    requests = [*SCORING, LoglikelihoodRequest(context="the cat sat on", continuation=greedy_text)]
    expected = [reference_loglikelihood(model, tokenizer, r) for r in requests]
    assert {greedy for _, n, greedy in expected if n} == {True, False}  # both outcomes are exercised
    for result, (logprob, n_tokens, greedy) in zip(hf_lm.loglikelihood(requests), expected, strict=True):
        assert result.logprob == pytest.approx(logprob, abs=1e-3)
        assert (result.n_tokens, result.is_greedy) == (n_tokens, greedy)


def test_generation_equals_our_model(ours: tuple[GPT, Tokenizer, Path], hf_lm: HFLanguageModel) -> None:
    """Mixed prompt lengths (left padding), n > batch_size, stop strings; greedy and sampled rows."""
    model, tokenizer, _ = ours
    requests = [
        GenerationRequest(prompt="the cat sat on a mat while", max_tokens=8),
        GenerationRequest(prompt="", max_tokens=6),
        GenerationRequest(prompt="the cat sat on", max_tokens=6, stop=("onon",)),
        GenerationRequest(prompt="seven", n=5, temperature=1.0, top_k=40, top_p=0.95, seed=3, max_tokens=7),
        GenerationRequest(prompt="green fields under", n=2, temperature=0.7, top_k=8, seed=3, max_tokens=5),
    ]
    results = hf_lm.generate(requests)
    finishes = set()
    for request, result in zip(requests, results, strict=True):
        assert len(result.samples) == request.n
        for k, sample in enumerate(result.samples):
            text, finish, logprobs = reference_sample(model, tokenizer, request, k)
            assert (sample.text, sample.finish_reason) == (text, finish)
            assert sample.token_logprobs == pytest.approx(logprobs, abs=1e-4)
            finishes.add(sample.finish_reason)
    assert finishes == {"length", "stop", "eos"}
    assert len({s.text for s in results[3].samples}) > 1


def test_agrees_with_our_engine(ours: tuple[GPT, Tokenizer, Path], hf_lm: HFLanguageModel) -> None:
    """The two backends are interchangeable: same scores, same samples for the same seeds."""
    engine = Engine(ours[0], ours[1])
    for got, want in zip(hf_lm.loglikelihood(SCORING), engine.loglikelihood(SCORING), strict=True):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-3)
        assert (got.n_tokens, got.is_greedy) == (want.n_tokens, want.is_greedy)
    requests = [
        GenerationRequest(prompt="a mat while", max_tokens=5),
        GenerationRequest(
            prompt="the cat", n=4, temperature=1.0, top_k=60, seed=9, max_tokens=6, stop=("at",)
        ),
        GenerationRequest(prompt="", n=2, temperature=1.2, top_k=300, top_p=0.8, seed=1, max_tokens=4),
    ]
    for got, want in zip(hf_lm.generate(requests), engine.generate(requests), strict=True):
        assert [(s.text, s.finish_reason) for s in got.samples] == [
            (s.text, s.finish_reason) for s in want.samples
        ]
        for got_sample, want_sample in zip(got.samples, want.samples, strict=True):
            assert got_sample.token_logprobs == pytest.approx(want_sample.token_logprobs, abs=1e-4)


def test_sampling_depends_on_seed_only(hf_lm: HFLanguageModel) -> None:
    request = GenerationRequest(
        prompt="a pale", n=3, temperature=1.0, top_p=0.9, top_k=100, seed=42, max_tokens=6
    )
    alone = hf_lm.generate([request])[0]
    among_others = hf_lm.generate([GenerationRequest(prompt="the cat sat on a mat", top_k=5), request])[1]
    assert alone == among_others
    other_seed = hf_lm.generate([request.model_copy(update={"seed": 43})])[0]
    assert [s.text for s in other_seed.samples] != [s.text for s in alone.samples]


def test_context_window_policy(ours: tuple[GPT, Tokenizer, Path], hf_lm: HFLanguageModel) -> None:
    long_context = " ".join(TEXTS[:10])
    request = LoglikelihoodRequest(context=long_context, continuation=" the cat")
    with pytest.raises(ContextWindowError, match="request 0"):
        hf_lm.loglikelihood([request])
    truncating = HFLanguageModel(ours[2], truncation="left")
    assert truncating.loglikelihood([request])[0].n_tokens >= 1
    sample = truncating.generate([GenerationRequest(prompt=long_context, max_tokens=4)])[0].samples[0]
    assert len(sample.token_logprobs) == 4


def test_batching_and_padding_change_nothing_on_gpt2(gpt2_dir: Path) -> None:
    batched, single = HFLanguageModel(gpt2_dir, batch_size=4), HFLanguageModel(gpt2_dir, batch_size=1)
    scores = batched.loglikelihood(SCORING)
    for got, want in zip(scores, single.loglikelihood(SCORING), strict=True):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)
        assert (got.n_tokens, got.is_greedy) == (want.n_tokens, want.is_greedy)
    # against the model called directly on one unpadded sequence
    model = transformers.AutoModelForCausalLM.from_pretrained(gpt2_dir, local_files_only=True).eval()
    context, continuation = encode_pair(batched.encode, SCORING[1].context, SCORING[1].continuation, 0)
    with torch.no_grad():
        logits = (
            model(torch.tensor([context + continuation])).logits[0, len(context) - 1 : -1].log_softmax(dim=-1)
        )
    direct = logits.gather(-1, torch.tensor(continuation)[:, None]).sum().item()
    assert scores[1].logprob == pytest.approx(direct, abs=1e-4)

    requests = [GenerationRequest(prompt=p, max_tokens=6) for p in ("the", "seven dogs ran across green", "")]
    for got, want in zip(
        batched.generate(requests), [single.generate([r])[0] for r in requests], strict=True
    ):
        (got_sample,), (want_sample,) = got.samples, want.samples
        assert (got_sample.text, got_sample.finish_reason) == (want_sample.text, want_sample.finish_reason)
        assert got_sample.token_logprobs == pytest.approx(want_sample.token_logprobs, abs=1e-4)


def test_fingerprint_names_the_model_and_changes_with_weights(
    hf_lm: HFLanguageModel, ours: tuple[GPT, Tokenizer, Path], tmp_path: Path
) -> None:
    model, tokenizer, exported = ours
    assert hf_lm.fingerprint == HFLanguageModel(exported).fingerprint
    assert hf_lm.fingerprint.startswith("hf-hf-")
    with torch.no_grad():
        changed = GPT(model.config).eval()
        changed.load_state_dict(model.state_dict())
        changed.blocks[1].mlp.up_proj.weight.add_(1e-3)
    save_pretrained(changed, tokenizer, tmp_path / "ours")
    export_hf(tmp_path / "ours", tmp_path / "hf")
    assert HFLanguageModel(tmp_path / "hf").fingerprint != hf_lm.fingerprint


def test_missing_model_is_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="never downloads"):
        HFLanguageModel(tmp_path / "nowhere")


def test_constrained_generation_matches_our_engine(
    ours: tuple[GPT, Tokenizer, Path], hf_lm: HFLanguageModel
) -> None:
    from reasonkit.protocol import Constraint

    model, tokenizer, _ = ours
    requests = [
        GenerationRequest(
            prompt="the cat",
            n=2,
            max_tokens=12,
            temperature=1.0,
            seed=4,
            constraint=Constraint(choices=(" sat on a mat.", " ran.", " the sky")),
        ),
        GenerationRequest(
            prompt="seven dogs", max_tokens=6, constraint=Constraint(regex=r" (green|pale)+ [a-z]+")
        ),
        GenerationRequest(prompt="a pale", max_tokens=5, temperature=0.5, seed=1),
    ]
    got = hf_lm.generate(requests)
    assert all(s.text in (" sat on a mat.", " ran.", " the sky") for s in got[0].samples)
    texts = [[s.text for s in r.samples] for r in got]
    assert texts == [[s.text for s in r.samples] for r in Engine(model, tokenizer).generate(requests)]


def _count_positions(module: torch.nn.Module, seen: list[int]) -> torch.utils.hooks.RemovableHandle:
    """Record how many (row, position) pairs pass through `module` on each call."""
    return module.register_forward_hook(lambda _m, _args, out: seen.append(out.shape[0] * out.shape[1]))


def test_a_shared_context_runs_once_and_only_needed_logits_are_computed(
    ours: tuple[GPT, Tokenizer, Path],
) -> None:
    """Five options of one question: the context's tokens go through the model once, not once per option,
    and the output layer sees only the positions whose logits score a continuation token."""
    lm = HFLanguageModel(ours[2], batch_size=8)
    context = "the cat sat on a mat while seven dogs ran across green fields under a"
    options = [" pale sky", " mat", " cat sat", " green fields", " dogs"]
    requests = [LoglikelihoodRequest(context=context, continuation=o) for o in options]
    pairs = [encode_pair(lm.encode, r.context, r.continuation, lm.prefix_id) for r in requests]
    assert len({tuple(c) for c, _ in pairs}) == 1
    longest = max(len(x) for _, x in pairs)
    assert longest > 1
    embedded: list[int] = []
    projected: list[int] = []
    handles = [
        _count_positions(lm.model.get_input_embeddings(), embedded),
        _count_positions(lm.model.get_output_embeddings(), projected),
    ]
    try:
        scores = lm.loglikelihood(requests)
    finally:
        for handle in handles:
            handle.remove()
    assert [s.n_tokens for s in scores] == [len(x) for _, x in pairs]
    assert sum(embedded) == len(pairs[0][0]) + len(options) * (longest - 1)
    assert sum(projected) == 1 + len(options) * (longest - 1)  # the context's last position, once


def test_a_shared_prompt_prefix_runs_once_and_changes_no_sample(ours: tuple[GPT, Tokenizer, Path]) -> None:
    """Prompts that start alike (a few-shot prefix) prefill the common tokens once; every sample is still the
    one full recomputation gives."""
    model, tokenizer, directory = ours
    lm = HFLanguageModel(directory, batch_size=8)
    shots = "the cat sat on a mat while seven dogs ran across green fields under a pale sky."
    requests = [
        GenerationRequest(prompt=f"{shots} the cat", max_tokens=5),
        GenerationRequest(
            prompt=f"{shots} seven dogs ran", n=2, temperature=1.0, top_k=50, seed=5, max_tokens=5
        ),
        GenerationRequest(prompt=f"{shots} a", max_tokens=4, stop=("at",)),
    ]
    ids = [encode_prompt(lm.encode, r.prompt, lm.prefix_id) for r in requests]
    shared = next(k for k in range(len(ids[0])) if len({tuple(i[: k + 1]) for i in ids}) > 1)
    assert shared >= 16
    embedded: list[int] = []
    handle = _count_positions(lm.model.get_input_embeddings(), embedded)
    try:
        results = lm.generate(requests)
    finally:
        handle.remove()
    width = max(map(len, ids))
    assert embedded[0] + embedded[1] == shared + len(requests) * (width - shared)  # the prefix, then the rest
    for request, result in zip(requests, results, strict=True):
        for k, sample in enumerate(result.samples):
            text, finish, logprobs = reference_sample(model, tokenizer, request, k)
            assert (sample.text, sample.finish_reason) == (text, finish)
            assert sample.token_logprobs == pytest.approx(logprobs, abs=1e-4)
