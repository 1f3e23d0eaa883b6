"""Checkpoint round trip, integrity checks and the atomic swap."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from reasonkit.lm.checkpoint import (
    MODEL_FILE,
    OPTIMIZER_FILE,
    STATE_FILE,
    CheckpointError,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from reasonkit.lm.config import ModelConfig
from reasonkit.lm.model import GPT

CONFIG = ModelConfig(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=16)


def _trained(steps: int = 2) -> tuple[GPT, torch.optim.AdamW]:
    torch.manual_seed(0)
    model = GPT(CONFIG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(steps):
        idx = torch.randint(0, CONFIG.vocab_size, (2, 9))
        model.loss(idx[:, :-1], idx[:, 1:].contiguous()).backward()
        optimizer.step()
        optimizer.zero_grad()
    return model, optimizer


def _save(directory: Path, model: GPT, optimizer: torch.optim.Optimizer, step: int = 2) -> Path:
    return save_checkpoint(
        directory,
        model,
        optimizer,
        step=step,
        tokens_seen=step * 16,
        recipe_fingerprint="abc",
        model_config=CONFIG.model_dump(),
    )


def _fresh() -> tuple[GPT, torch.optim.AdamW]:
    model = GPT(CONFIG)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2)


def test_round_trip_restores_weights_moments_and_rng(tmp_path: Path) -> None:
    model, optimizer = _trained()
    random.seed(5)
    np.random.seed(6)
    _save(tmp_path / "ckpt", model, optimizer)
    expected_draws = (torch.rand(3), random.random(), np.random.rand())

    restored, restored_opt = _fresh()
    state = load_checkpoint(tmp_path / "ckpt", restored, restored_opt, recipe_fingerprint="abc")

    assert (state.step, state.tokens_seen, state.data_position) == (2, 32, 2)
    assert ModelConfig.model_validate(state.model) == CONFIG
    for (name, a), b in zip(model.state_dict().items(), restored.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for param, other in zip(model.parameters(), restored.parameters(), strict=True):
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(optimizer.state[param][key], restored_opt.state[other][key]), key
    draws = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(draws[0], expected_draws[0]) and draws[1:] == expected_draws[1:]


def test_resumed_optimizer_steps_like_the_original(tmp_path: Path) -> None:
    model, optimizer = _trained()
    _save(tmp_path / "ckpt", model, optimizer)
    restored, restored_opt = _fresh()
    load_checkpoint(tmp_path / "ckpt", restored, restored_opt, recipe_fingerprint="abc")
    idx = torch.randint(0, CONFIG.vocab_size, (2, 9))
    for m, opt in ((model, optimizer), (restored, restored_opt)):
        m.loss(idx[:, :-1], idx[:, 1:].contiguous()).backward()
        opt.step()
    for a, b in zip(model.parameters(), restored.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("victim", [MODEL_FILE, OPTIMIZER_FILE])
def test_tampered_or_truncated_file_is_named(tmp_path: Path, victim: str) -> None:
    model, optimizer = _trained()
    for mode in ("flip", "truncate"):
        directory = _save(tmp_path / mode, model, optimizer)
        path = directory / victim
        data = bytearray(path.read_bytes())
        if mode == "flip":
            data[-3] ^= 0xFF
        else:
            data = data[: len(data) // 2]
        path.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match=rf"{victim}.*sha256 mismatch"):
            load_checkpoint(directory, *_fresh(), recipe_fingerprint="abc")


def test_missing_and_broken_files_are_named(tmp_path: Path) -> None:
    model, optimizer = _trained()
    directory = _save(tmp_path / "ckpt", model, optimizer)
    (directory / OPTIMIZER_FILE).unlink()
    with pytest.raises(CheckpointError, match=rf"{OPTIMIZER_FILE}: missing"):
        read_state(directory)
    state = directory / STATE_FILE
    state.write_text(state.read_text()[:100])
    with pytest.raises(CheckpointError, match=rf"{STATE_FILE}: unreadable or invalid"):
        read_state(directory)
    with pytest.raises(CheckpointError, match="no checkpoint there"):
        read_state(tmp_path / "nowhere")


def test_recipe_fingerprint_mismatch(tmp_path: Path) -> None:
    directory = _save(tmp_path / "ckpt", *_trained())
    with pytest.raises(CheckpointError, match=rf"{STATE_FILE}: recipe fingerprint mismatch"):
        load_checkpoint(directory, *_fresh(), recipe_fingerprint="other")


def test_save_replaces_atomically_and_survives_an_interrupted_swap(tmp_path: Path) -> None:
    model, optimizer = _trained()
    target = tmp_path / "checkpoint"
    _save(target, model, optimizer, step=1)
    _save(target, model, optimizer, step=2)
    assert read_state(target).step == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    # a crash after `checkpoint` -> `.checkpoint.old` but before the new folder was renamed in
    target.rename(tmp_path / ".checkpoint.old")
    (tmp_path / ".checkpoint.tmp-dead").mkdir()
    assert read_state(target).step == 2
    _save(target, model, optimizer, step=3)
    assert read_state(target).step == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_an_edited_state_file_is_refused(tmp_path: Path) -> None:
    """state.json's step (and everything else in it) is covered by its own checksum."""
    model, optimizer = _trained()
    directory = _save(tmp_path / "ckpt", model, optimizer)
    state = directory / STATE_FILE
    state.write_text(state.read_text().replace('"step": 2,', '"step": 7,'))
    assert '"step": 7,' in state.read_text()
    with pytest.raises(CheckpointError, match=rf"{STATE_FILE}: sha256 mismatch"):
        load_checkpoint(directory, *_fresh(), recipe_fingerprint="abc")


def test_a_checkpoint_written_before_state_checksums_still_resumes(tmp_path: Path, caplog) -> None:
    """Format 1 (no state_sha256) is read with a warning, so a run in progress survives the upgrade."""
    model, optimizer = _trained()
    directory = _save(tmp_path / "ckpt", model, optimizer)
    state_path = directory / STATE_FILE
    state = json.loads(state_path.read_text())
    state.pop("state_sha256")
    state["format_version"] = 1
    state_path.write_text(json.dumps(state))
    with caplog.at_level("WARNING"):
        assert read_state(directory, recipe_fingerprint="abc").step == 2
    assert "format 1" in caplog.text
