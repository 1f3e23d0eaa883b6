"""Model folders: checksums of the weights and tokenizer verified at load, non-finite weights refused, and a
malformed config.json named in one line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from reasonkit.atomic import sha256_file
from reasonkit.cli import main
from reasonkit.lm.config import ModelConfig
from reasonkit.lm.model import GPT
from reasonkit.lm.pretrained import (
    CONFIG_FILE,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    ModelFolderError,
    load_pretrained,
    save_pretrained,
)
from reasonkit.lm.tokenizer import Tokenizer
from reasonkit.models import default_model_dir


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.train(["one two three four five six seven"] * 20, vocab_size=300)


def _folder(tmp_path: Path, tokenizer: Tokenizer) -> Path:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=16)
    return save_pretrained(GPT(config), tokenizer, tmp_path / "model")


def test_saved_folders_carry_checksums_that_load_verifies(tmp_path: Path, tokenizer: Tokenizer) -> None:
    folder = _folder(tmp_path, tokenizer)
    recorded = json.loads((folder / CONFIG_FILE).read_text())["sha256"]
    assert recorded == {name: sha256_file(folder / name) for name in (WEIGHTS_FILE, TOKENIZER_FILE)}
    load_pretrained(folder)
    data = bytearray((folder / WEIGHTS_FILE).read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in a weight: still a readable safetensors file
    (folder / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelFolderError, match=rf"{WEIGHTS_FILE}: sha256 mismatch"):
        load_pretrained(folder)


def test_an_edited_tokenizer_is_named(tmp_path: Path, tokenizer: Tokenizer) -> None:
    folder = _folder(tmp_path, tokenizer)
    (folder / TOKENIZER_FILE).write_text((folder / TOKENIZER_FILE).read_text().replace('"one"', '"uno"'))
    with pytest.raises(ModelFolderError, match=rf"{TOKENIZER_FILE}: sha256 mismatch"):
        load_pretrained(folder)


def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path: Path, tokenizer: Tokenizer) -> None:
    """NaN weights with a checksum that matches them (saved that way) still never reach scoring."""
    torch.manual_seed(0)
    model = GPT(ModelConfig(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=16))
    with torch.no_grad():
        model.norm.weight[3] = float("nan")
    folder = save_pretrained(model, tokenizer, tmp_path / "model")
    with pytest.raises(
        ModelFolderError, match=r"model.safetensors: tensor 'norm.weight' holds 1 NaN or infinite"
    ):
        load_pretrained(folder)
    result = CliRunner().invoke(main, ["ask", "one two?", "--model", str(folder)])
    assert result.exit_code == 2 and "norm.weight" in result.output and "Traceback" not in result.output


def test_a_folder_without_checksums_loads_with_a_warning(
    tmp_path: Path, tokenizer: Tokenizer, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _folder(tmp_path, tokenizer)
    raw = json.loads((folder / CONFIG_FILE).read_text())
    del raw["sha256"]
    (folder / CONFIG_FILE).write_text(json.dumps(raw))
    with caplog.at_level(logging.WARNING):
        load_pretrained(folder)
    assert "no sha256" in caplog.text and str(folder) in caplog.text


def test_the_embedded_model_carries_checksums_of_its_files() -> None:
    folder = default_model_dir()
    recorded = json.loads((folder / CONFIG_FILE).read_text())["sha256"]
    assert recorded == {name: sha256_file(folder / name) for name in (WEIGHTS_FILE, TOKENIZER_FILE)}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'{"model": [1]}', "model"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{" * 5000, "invalid JSON"),
        (b'{"model": {"vocab_size": 300}', "invalid JSON"),
    ],
)
def test_a_malformed_config_is_named_in_one_line(
    tmp_path: Path, tokenizer: Tokenizer, content: bytes, problem: str
) -> None:
    folder = _folder(tmp_path, tokenizer)
    (folder / CONFIG_FILE).write_bytes(content)
    with pytest.raises(ModelFolderError, match=rf"{CONFIG_FILE}: .*{problem}") as info:
        load_pretrained(folder)
    assert "\n" not in str(info.value)
    result = CliRunner().invoke(main, ["ask", "one two?", "--model", str(folder)])
    assert result.exit_code == 2 and CONFIG_FILE in result.output and "Traceback" not in result.output
