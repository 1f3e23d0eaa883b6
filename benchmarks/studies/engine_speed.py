"""How much the engine's three speed-ups buy, each measured against the plain way in the same run, and what
a position scheme costs generation (the same weights with and without one).

Figures: BENCHMARKS.md, "Language model: training and engine speed"; docs/studies/engine_speed.md.

    python -m reasonkit.benchmarks.studies.engine_speed            # `small` size, 2 threads
    python -m reasonkit.benchmarks.studies.engine_speed --size tiny --reps 3

The model is randomly initialised (speed does not depend on the weights); the tokenizer is trained on the
bundled Tiny Shakespeare with the model's vocabulary size. The two sides of each comparison run
interleaved, repetition by repetition; the ratio is the median of the paired ratios, so changes in machine
load hit both sides alike.
"""

from __future__ import annotations

import gzip
import random
import statistics
import time
from collections.abc import Callable
from importlib import resources

import click
import torch

from reasonkit.lm.config import config_for_size
from reasonkit.lm.engine import Engine
from reasonkit.lm.model import GPT
from reasonkit.lm.tokenizer import Tokenizer
from reasonkit.protocol import GenerationRequest, GenerationResult, LoglikelihoodRequest
from reasonkit.strategies.arithmetic_format import OPS, make_problem, render_prompt

COUPLED = "reasonkit.strategies.arithmetic_positions:coupled_positions"


def shakespeare() -> str:
    data = resources.files("reasonkit.lm").joinpath("corpora/tinyshakespeare.txt.gz").read_bytes()
    return gzip.decompress(data).decode("utf-8")


def text_of_tokens(tokenizer: Tokenizer, corpus: str, start: int, n_tokens: int) -> str:
    """A stretch of the corpus that encodes to exactly `n_tokens` tokens (cut at token boundaries)."""
    ids = tokenizer.encode(corpus[start : start + 20 * n_tokens])[:n_tokens]
    text = tokenizer.decode(ids)
    if len(tokenizer.encode(text)) != n_tokens:
        raise RuntimeError(f"corpus text at {start} does not re-encode to {n_tokens} tokens")
    return text


def no_cache_greedy(model: GPT, ids: list[int], new_tokens: int) -> int:
    """Greedy decoding the plain way: the whole sequence runs through the model for every new token."""
    sequence = torch.tensor([ids])
    with torch.inference_mode():
        for _ in range(new_tokens):
            token = model(sequence)[:, -1].argmax(dim=-1, keepdim=True)
            sequence = torch.cat([sequence, token], dim=1)
    return new_tokens


def one_forward_per_option(model: GPT, tokenizer: Tokenizer, requests: list[LoglikelihoodRequest]) -> int:
    """Multiple-choice scoring the plain way: a full forward pass over context + option, per option."""
    with torch.inference_mode():
        for request in requests:
            context = tokenizer.encode(request.context)
            option = tokenizer.encode(request.continuation)
            logprobs = model(torch.tensor([context + option[:-1]]))[0, len(context) - 1 :].log_softmax(-1)
            logprobs.gather(-1, torch.tensor(option)[:, None]).sum()
    return len(requests)


def rates(fn: Callable[[], int]) -> tuple[float, float]:
    """Work units (tokens generated, options scored) per second of wall time and of process CPU time.

    On a loaded machine wall time also counts waiting for a core; CPU time counts only the work done.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    done = fn()
    return done / (time.perf_counter() - wall), done / (time.process_time() - cpu)


def compare(
    name: str, unit: str, goal: float, plain: Callable[[], int], fast: Callable[[], int], reps: int
) -> float:
    """Median throughput of each side and median of the paired ratios (runs side by side share the load).

    The two sides alternate, after one warm-up call each.
    """
    plain(), fast()
    plain_runs, fast_runs = [], []
    for _ in range(reps):
        plain_runs.append(rates(plain))
        fast_runs.append(rates(fast))
    plain_wall = statistics.median(run[0] for run in plain_runs)
    fast_wall = statistics.median(run[0] for run in fast_runs)
    ratio = statistics.median(f[0] / p[0] for p, f in zip(plain_runs, fast_runs, strict=True))
    cpu_ratio = statistics.median(f[1] / p[1] for p, f in zip(plain_runs, fast_runs, strict=True))
    verdict = "ok" if ratio >= goal else "MISSED"
    click.echo(
        f"{name:<62} {plain_wall:8.1f} {fast_wall:8.1f} {unit:<9} {ratio:5.1f}x "
        f"(cpu time {cpu_ratio:4.1f}x)  goal {goal:g}x: {verdict}"
    )
    return ratio


def generated(results: list[GenerationResult]) -> int:
    return sum(len(sample.token_logprobs) for result in results for sample in result.samples)


@click.command()
@click.option("--size", default="small", show_default=True, help="named model size (random weights)")
@click.option("--threads", default=2, show_default=True, help="torch.set_num_threads")
@click.option("--reps", default=3, show_default=True, help="timed repetitions per side (median reported)")
@click.option("--new-tokens", default=128, show_default=True, help="tokens generated per sample")
@click.option("--prompt-tokens", default=32, show_default=True, help="prompt length for generation")
@click.option("--context-tokens", default=200, show_default=True, help="shared context length for scoring")
@click.option("--samples", default=20, show_default=True, help="samples of one prompt")
@click.option("--vocab-size", default=8192, show_default=True)
def main(
    size: str,
    threads: int,
    reps: int,
    new_tokens: int,
    prompt_tokens: int,
    context_tokens: int,
    samples: int,
    vocab_size: int,
) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    corpus = shakespeare()
    tokenizer = Tokenizer.train([corpus], vocab_size=vocab_size)
    model = GPT(config_for_size(size, vocab_size=vocab_size)).eval()
    engine = Engine(model, tokenizer)
    click.echo(
        f"model {size} ({model.num_params() / 1e6:.1f}M params, random weights), vocab {vocab_size}, "
        f"{threads} threads, median of {reps}"
    )
    click.echo(f"{'':<62} {'plain':>8} {'engine':>8}")

    prompt = text_of_tokens(tokenizer, corpus, 0, prompt_tokens)
    greedy = GenerationRequest(prompt=prompt, max_tokens=new_tokens)
    compare(
        f"generate {new_tokens} tokens after {prompt_tokens}: no cache vs KV cache",
        "tokens/s",
        3,
        lambda: no_cache_greedy(model, tokenizer.encode(prompt), new_tokens),
        lambda: generated(engine.generate([greedy])),
        reps,
    )

    sampling = {"prompt": prompt, "max_tokens": new_tokens, "temperature": 1.0, "top_k": 50}
    compare(
        f"{samples} samples of one prompt: {samples} calls vs one batch (n={samples})",
        "tokens/s",
        4,
        lambda: generated(
            [engine.generate([GenerationRequest(**sampling, seed=k)])[0] for k in range(samples)]
        ),
        lambda: generated(engine.generate([GenerationRequest(**sampling, n=samples)])),
        reps,
    )

    context = text_of_tokens(tokenizer, corpus, 5000, context_tokens)
    options = [" " + text_of_tokens(tokenizer, corpus, 9000 + 700 * k, 4 + k).strip() for k in range(5)]
    requests = [LoglikelihoodRequest(context=context, continuation=option) for option in options]
    lengths = [len(tokenizer.encode(option)) for option in options]
    compare(
        f"score 5 options ({min(lengths)}-{max(lengths)} tokens) after {context_tokens}: per option vs shared",
        "options/s",
        3,
        lambda: one_forward_per_option(model, tokenizer, requests),
        lambda: len(engine.loglikelihood(requests)),
        reps * 4,
    )

    coupled = GPT(model.config.model_copy(update={"position_scheme": COUPLED})).eval()
    coupled.load_state_dict(model.state_dict())
    coupled_engine = Engine(coupled, tokenizer)
    rng = random.Random(0)
    problems = [make_problem(rng, rng.randint(2, 7), rng.choice(OPS)) for _ in range(32)]
    requests_32 = [GenerationRequest(prompt=render_prompt(p), max_tokens=new_tokens) for p in problems]
    compare(
        f"32 scratchpad prompts, {new_tokens} tokens: counted vs coupled positions",
        "tokens/s",
        0.5,
        lambda: generated(engine.generate(requests_32)),
        lambda: generated(coupled_engine.generate(requests_32)),
        reps,
    )


if __name__ == "__main__":
    main()
