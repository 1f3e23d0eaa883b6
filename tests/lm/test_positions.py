"""Position schemes in the engine: a model trained with one scores and generates at the scheme's positions."""

import random

import pytest
import torch

from reasonkit.encoding import encode_pair
from reasonkit.lm.config import ModelConfig
from reasonkit.lm.engine import Engine
from reasonkit.lm.model import GPT
from reasonkit.lm.positions import PositionScheme, _token_positions, load_scheme
from reasonkit.lm.tokenizer import Tokenizer
from reasonkit.protocol import GenerationRequest, LoglikelihoodRequest
from reasonkit.strategies.arithmetic_format import ArithmeticProblem, render_example, render_prompt

SCHEME = "reasonkit.strategies.arithmetic_positions:coupled_positions"
WINDOW = 256


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    rng = random.Random(0)
    texts = [
        render_example(
            ArithmeticProblem(
                op=rng.choice(["add", "mul"]), operands=(rng.randint(0, 99999), rng.randint(0, 9))
            )
        )
        for _ in range(200)
    ]
    return Tokenizer.train(texts + ["the cat sat on a mat while dogs ran."] * 20, vocab_size=320)


def random_model(tokenizer: Tokenizer, scheme: str | None) -> GPT:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=WINDOW,
        n_layer=2,
        n_head=4,
        n_embd=64,
        init_std=0.2,
        position_scheme=scheme,
    )
    return GPT(config).eval()


@pytest.fixture(scope="module")
def engine(tokenizer: Tokenizer) -> Engine:
    return Engine(random_model(tokenizer, SCHEME), tokenizer)


def scheme() -> PositionScheme:
    loaded = load_scheme(SCHEME)
    assert loaded is not None
    return loaded


PROMPTS = [
    render_prompt(ArithmeticProblem(op="add", operands=(48799, 59))),
    render_prompt(ArithmeticProblem(op="mul", operands=(1234567, 8))),
    render_prompt(ArithmeticProblem(op="add", operands=(7, 5)), scratchpad=False),
    "the cat sat on a mat",
]


def naive_greedy(model: GPT, tokenizer: Tokenizer, prompt: str, steps: int) -> list[int]:
    """Recompute the whole sequence every step, each token at the position the scheme gives its text."""
    ids = tokenizer.encode(prompt)
    positions = scheme().for_ids(tokenizer, ids)
    plain = positions is None
    positions = list(range(len(ids))) if plain else positions
    out: list[int] = []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(torch.tensor([ids + out]), positions=torch.tensor([positions]))
            token = int(logits[0, -1].argmax())
            out.append(token)
            if token == tokenizer.eot_id:
                break
            if plain:
                positions.append(len(positions))
            else:
                last = scheme().last_position(prompt + tokenizer.decode(out))
                positions.append(positions[-1] + 1 if last is None else last)
    return out


def test_generation_in_a_batch_equals_recomputing_at_the_schemes_positions(
    engine: Engine, tokenizer: Tokenizer
) -> None:
    steps = 40
    results = engine.generate(
        [GenerationRequest(prompt=p, max_tokens=steps, temperature=0.0) for p in PROMPTS]
    )
    for prompt, result in zip(PROMPTS, results, strict=True):
        expected = naive_greedy(engine.model, tokenizer, prompt, steps)
        text = tokenizer.decode(expected[:-1] if expected[-1] == tokenizer.eot_id else expected)
        assert result.samples[0].text == text, prompt


def test_several_samples_of_a_schemed_prompt_match_one_alone(engine: Engine) -> None:
    request = GenerationRequest(prompt=PROMPTS[0], max_tokens=30, temperature=0.8, seed=3, n=3)
    together = engine.generate([request])[0].samples
    alone = engine.generate([request.model_copy(update={"n": 1})])[0].samples
    assert together[0].text == alone[0].text


def test_scoring_equals_one_forward_at_the_schemes_positions(engine: Engine, tokenizer: Tokenizer) -> None:
    problem = ArithmeticProblem(op="add", operands=(48799, 59))
    whole = render_example(problem)
    cut = len(render_prompt(problem))
    requests = [
        LoglikelihoodRequest(context=whole[:cut], continuation=whole[cut:]),
        LoglikelihoodRequest(context=whole[:cut], continuation=whole[cut : cut + 30]),
        LoglikelihoodRequest(context="the cat sat", continuation=" on a mat"),
    ]
    results = engine.loglikelihood(requests)
    for request, result in zip(requests, results, strict=True):
        context, continuation = encode_pair(
            tokenizer.encode, request.context, request.continuation, tokenizer.eot_id
        )
        ids = context + continuation
        positions = scheme().for_ids(tokenizer, ids) or list(range(len(ids)))
        with torch.no_grad():
            logits = engine.model(torch.tensor([ids[:-1]]), positions=torch.tensor([positions[:-1]]))
        logprobs = logits[0].log_softmax(-1)[len(context) - 1 :]
        expected = logprobs.gather(-1, torch.tensor(continuation)[:, None]).sum().item()
        assert result.logprob == pytest.approx(expected, rel=1e-5)


def test_texts_outside_the_format_are_unchanged_by_the_scheme(engine: Engine, tokenizer: Tokenizer) -> None:
    plain = Engine(random_model(tokenizer, None), tokenizer)
    request = GenerationRequest(prompt="the cat sat", max_tokens=20, temperature=0.0)
    assert engine.generate([request])[0].samples[0].text == plain.generate([request])[0].samples[0].text
    score = LoglikelihoodRequest(context="the cat", continuation=" sat on a mat")
    assert engine.loglikelihood([score])[0].logprob == pytest.approx(
        plain.loglikelihood([score])[0].logprob, abs=1e-5
    )
    # and a text of the format is not: the scheme's positions reach the model
    arithmetic = GenerationRequest(prompt=PROMPTS[0], max_tokens=20, temperature=0.0)
    assert (
        engine.generate([arithmetic])[0].samples[0].token_logprobs
        != plain.generate([arithmetic])[0].samples[0].token_logprobs
    )


def test_token_positions_put_end_of_text_next_to_its_neighbours() -> None:
    assert _token_positions([5, 6, 9, 9, 12], [2, 5]) == [6, 12]
    assert _token_positions([5, 6, 9], [0, 2, 3, 3]) == [5, 6, 9, 10]  # leading and trailing end-of-text
    assert _token_positions([0, 1], [0, 1, 2]) == [0, 1, 2]  # shifted so no position is negative


def test_a_scheme_that_miscounts_is_named() -> None:
    bad = PositionScheme("reasonkit.strategies.arithmetic_positions:coupled_positions")
    bad._char_positions = lambda text: [0]
    with pytest.raises(ValueError, match="returned 1 positions for"):
        bad.char_positions("Input: 1 + 2")
    with pytest.raises(ValueError, match="position_scheme 'nope' must look like"):
        PositionScheme("nope")
