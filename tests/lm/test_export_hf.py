"""Export to Hugging Face Llama: transformers computes the same logits and the same token ids as we do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reasonkit.backends.hf import require_transformers
from reasonkit.cli import main
from reasonkit.lm.config import config_for_size
from reasonkit.lm.export_hf import export_hf, hf_tensor_name
from reasonkit.lm.model import GPT
from reasonkit.lm.pretrained import save_pretrained
from reasonkit.lm.tokenizer import Tokenizer

transformers = pytest.importorskip("transformers")

VOCAB = 300
TEXTS = [
    f"The {animal} number {i} jumps over {i * 7} fences, then rests."
    for i in range(60)
    for animal in ("cat", "dog", "fox")
]


def tiny_model(seed: int) -> GPT:
    """Random weights with non-unit norm gains, so a swapped or dropped tensor changes the logits."""
    torch.manual_seed(seed)
    model = GPT(config_for_size("tiny", VOCAB, rope_theta=500.0, norm_eps=1e-6)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.uniform_(0.3, 2.0)
            else:
                param.mul_(5.0)  # sharper attention and wider logits than the 0.02 init gives
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[GPT, Tokenizer, Path]:
    root = tmp_path_factory.mktemp("export")
    model, tokenizer = tiny_model(seed=3), Tokenizer.train(TEXTS, VOCAB)
    save_pretrained(model, tokenizer, root / "ours")
    return model, tokenizer, export_hf(root / "ours", root / "hf")


def test_same_logits_in_fp32(exported: tuple[GPT, Tokenizer, Path]) -> None:
    model, _, hf_dir = exported
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, local_files_only=True).eval()
    assert hf_model.dtype == torch.float32
    ids = torch.randint(0, VOCAB, (3, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours, theirs = model(ids), hf_model(ids).logits
    assert ours.std() > 0.5  # the comparison is not between near-constant logits
    assert (ours - theirs).abs().max().item() < 1e-4


def test_config_and_tied_weights(exported: tuple[GPT, Tokenizer, Path]) -> None:
    model, tokenizer, hf_dir = exported
    config = transformers.AutoConfig.from_pretrained(hf_dir, local_files_only=True)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (64, 2, 4)
    assert config.intermediate_size == model.config.mlp_hidden
    assert config.max_position_embeddings == model.config.block_size
    assert config.eos_token_id == tokenizer.eot_id and config.pad_token_id == tokenizer.pad_id
    assert config.tie_word_embeddings
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, local_files_only=True)
    assert hf_model.lm_head.weight.data_ptr() == hf_model.model.embed_tokens.weight.data_ptr()


@pytest.mark.parametrize(
    "text",
    [
        "The cat number 3 jumps.",
        "  leading spaces and ünïcödé 😀\n\ttabs",
        "literal <|endoftext|> and <|pad|> stay text",
        "",
    ],
)
def test_tokenizer_gives_our_ids(exported: tuple[GPT, Tokenizer, Path], text: str) -> None:
    _, tokenizer, hf_dir = exported
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
    ids = hf_tokenizer(text)["input_ids"]
    assert ids == tokenizer.encode(text)
    assert hf_tokenizer.decode(ids) == text
    assert hf_tokenizer.eos_token_id == tokenizer.eot_id and hf_tokenizer.pad_token_id == tokenizer.pad_id


def test_cli_export(tmp_path: Path) -> None:
    save_pretrained(tiny_model(seed=5), Tokenizer.train(TEXTS[:30], VOCAB), tmp_path / "ours")
    result = CliRunner().invoke(
        main, ["export", "--model", str(tmp_path / "ours"), "--hf", str(tmp_path / "hf")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hf" / "model.safetensors").is_file() and (
        tmp_path / "hf" / "tokenizer.json"
    ).is_file()


def test_cli_export_rejects_a_folder_without_a_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", "--model", str(tmp_path), "--hf", str(tmp_path / "hf")])
    assert result.exit_code != 0
    assert "config.json is missing" in result.output


def test_unknown_tensor_name_is_reported() -> None:
    assert hf_tensor_name("blocks.1.attn.q_proj.weight") == "model.layers.1.self_attn.q_proj.weight"
    with pytest.raises(KeyError, match="blocks.0.attn.qkv.weight"):
        hf_tensor_name("blocks.0.attn.qkv.weight")


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ImportError, match=r"reasonkit\[hf\]"):
        require_transformers()
