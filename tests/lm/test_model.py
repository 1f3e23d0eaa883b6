import pytest
import torch

from reasonkit.lm.config import ModelConfig
from reasonkit.lm.model import GPT, KVCache, attend_after_prefix

CONFIG = ModelConfig(vocab_size=300, block_size=64, n_layer=2, n_head=4, n_embd=32, init_std=0.2)


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(CONFIG).eval()


@pytest.mark.parametrize("queries", [1, 3])
def test_attention_after_a_shared_prefix_equals_attention_over_the_concatenation(queries: int) -> None:
    torch.manual_seed(1)
    rows, heads, prefix_len, own, dim = 5, 4, 11, 6, 8
    q = torch.randn(rows, heads, queries, dim)
    k, v = torch.randn(rows, heads, own, dim), torch.randn(rows, heads, own, dim)
    prefix_k, prefix_v = torch.randn(heads, prefix_len, dim), torch.randn(heads, prefix_len, dim)
    mask = torch.rand(rows, 1, queries, own) > 0.3
    full_k = torch.cat([prefix_k.expand(rows, -1, -1, -1), k], dim=2)
    full_v = torch.cat([prefix_v.expand(rows, -1, -1, -1), v], dim=2)
    full_mask = torch.cat([torch.ones(rows, 1, queries, prefix_len, dtype=torch.bool), mask], dim=3)
    expected = torch.nn.functional.scaled_dot_product_attention(q, full_k, full_v, attn_mask=full_mask)
    got = attend_after_prefix(q, k, v, prefix_k, prefix_v, mask)
    assert torch.allclose(got, expected, atol=1e-5)
    unmasked = torch.nn.functional.scaled_dot_product_attention(q, full_k, full_v)
    assert torch.allclose(attend_after_prefix(q, k, v, prefix_k, prefix_v, None), unmasked, atol=1e-5)


def test_rows_after_a_shared_prefix_compute_what_the_whole_sequence_does(model: GPT) -> None:
    """A prefix run once into a one-row cache, then three rows each continuing it, equal three full forwards."""
    torch.manual_seed(2)
    prefix_ids = torch.randint(0, CONFIG.vocab_size, (1, 20))
    own_ids = torch.randint(0, CONFIG.vocab_size, (3, 5))
    with torch.no_grad():
        expected = model(torch.cat([prefix_ids.expand(3, -1), own_ids], dim=1))[:, 20:]
        prefix = KVCache.empty(CONFIG, 1, 20, "cpu", torch.float32)
        model(prefix_ids, cache=prefix)
        rows = KVCache.empty(CONFIG, 3, 5, "cpu", torch.float32, prefix=prefix)
        first = model(own_ids[:, :2], cache=rows)  # positions continue after the prefix by default
        second = model(own_ids[:, 2:], cache=rows)  # causal within the new tokens, all of the past visible
        steps = torch.cat([first, second], dim=1)
    assert torch.allclose(steps, expected, atol=1e-4)


def test_logits_at_one_position_or_one_per_row(model: GPT) -> None:
    ids = torch.randint(0, CONFIG.vocab_size, (3, 9))
    with torch.no_grad():
        everywhere = model(ids)
        assert torch.allclose(model(ids, logits_at=-1), everywhere[:, -1:], atol=1e-5)
        per_row = model(ids, logits_at=torch.tensor([0, 4, 8]))
    assert per_row.shape == (3, 1, CONFIG.vocab_size)
    for row, position in enumerate((0, 4, 8)):
        assert torch.allclose(per_row[row, 0], everywhere[row, position], atol=1e-5)


def test_a_prefix_cache_must_be_one_row() -> None:
    two_rows = KVCache.empty(CONFIG, 2, 4, "cpu", torch.float32)
    with pytest.raises(ValueError, match="one row"):
        KVCache.empty(CONFIG, 3, 4, "cpu", torch.float32, prefix=two_rows)


def test_the_window_counts_the_prefix(model: GPT) -> None:
    prefix = KVCache.empty(CONFIG, 1, 60, "cpu", torch.float32)
    with torch.no_grad():
        model(torch.zeros(1, 60, dtype=torch.long), cache=prefix)
        rows = KVCache.empty(CONFIG, 2, 8, "cpu", torch.float32, prefix=prefix)
        with pytest.raises(ValueError, match="exceeds the context window of 64"):
            model(torch.zeros(2, 5, dtype=torch.long), cache=rows)
