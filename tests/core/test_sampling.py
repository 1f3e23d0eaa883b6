import torch

from reasonkit.sampling import NUCLEUS_CANDIDATES, SamplingParams, choose_tokens, hash_seed, row_uniforms

VOCAB = 1000
GRID = torch.linspace(0, 1, 4001, dtype=torch.float64)[:-1]  # uniforms covering [0, 1)


def params(rows: int, temperature: float = 1.0, top_k: int = VOCAB, top_p: float = 1.0) -> SamplingParams:
    return SamplingParams(
        temperature=torch.full((rows,), temperature),
        top_k=torch.full((rows,), top_k),
        top_p=torch.full((rows,), top_p),
    )


def chosen_set(logits: torch.Tensor, settings: SamplingParams) -> set[int]:
    """Every token the row can produce, found by sweeping the uniform over [0, 1)."""
    rows = len(GRID)
    batch = SamplingParams(
        settings.temperature.expand(rows), settings.top_k.expand(rows), settings.top_p.expand(rows)
    )
    return set(choose_tokens(logits.expand(rows, -1), batch, GRID).tolist())


def slowly_falling_logits() -> torch.Tensor:
    return -torch.arange(VOCAB, dtype=torch.float32)[None] * 1e-3  # token i is the i-th most likely


def test_temperature_zero_is_argmax_whatever_the_uniform() -> None:
    logits = torch.randn(3, VOCAB)
    tokens = choose_tokens(logits, params(3, temperature=0.0), torch.tensor([0.0, 0.5, 0.99]))
    assert tokens.tolist() == logits.argmax(-1).tolist()


def test_top_k_keeps_exactly_the_k_most_likely() -> None:
    assert chosen_set(slowly_falling_logits(), params(1, top_k=7)) == set(range(7))


def test_top_p_beyond_the_candidates_takes_the_full_sort() -> None:
    logits = slowly_falling_logits()
    probs = logits.softmax(-1)[0]
    nucleus = int(((probs.cumsum(0) - probs) < 0.5).sum())
    assert nucleus > NUCLEUS_CANDIDATES
    assert chosen_set(logits, params(1, top_p=0.5)) == set(range(nucleus))


def test_zero_probability_tokens_are_never_chosen() -> None:
    logits = torch.full((1, VOCAB), -torch.inf)
    logits[0, [3, 500]] = 0.0
    assert chosen_set(logits, params(1)) == {3, 500}


def test_a_row_does_not_depend_on_its_batch() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, VOCAB) * 3
    uniforms = torch.rand(4, dtype=torch.float64)
    mixed = SamplingParams(
        temperature=torch.tensor([1.0, 0.7, 0.0, 1.3]),
        top_k=torch.tensor([VOCAB, 40, VOCAB, VOCAB]),
        top_p=torch.tensor([1.0, 1.0, 1.0, 0.8]),
    )
    together = choose_tokens(logits, mixed, uniforms)
    rows = torch.arange(4)
    alone = [int(choose_tokens(logits[[i]], mixed.select(rows[[i]]), uniforms[[i]])) for i in range(4)]
    assert together.tolist() == alone


def test_streams_are_reproducible_and_distinct() -> None:
    assert torch.equal(row_uniforms(1, 0, 8), row_uniforms(1, 0, 8))
    assert not torch.equal(row_uniforms(1, 0, 8), row_uniforms(1, 1, 8))
    assert len({hash_seed(seed, k) for seed in range(20) for k in range(20)}) == 400
