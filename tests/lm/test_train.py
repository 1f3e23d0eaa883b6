"""The trainer: outputs of the tiny run, exact resume, guard rails, and the `reasonkit train` command."""

from __future__ import annotations

import json
import math

from reasonkit.lm.pretrained import load_pretrained
from reasonkit.lm.train import TrainResult, read_metrics


def test_tiny_run_learns_and_writes_every_output(tiny_run: TrainResult) -> None:
    model, tokenizer, metadata = load_pretrained(tiny_run.model_dir)
    chance = math.log(tokenizer.vocab_size)
    assert tiny_run.initial_val_loss is not None and abs(tiny_run.initial_val_loss - chance) < 0.3
    assert tiny_run.val_loss is not None and tiny_run.val_loss < chance - 1.5
    assert metadata["recipe"] == "tiny" and metadata["steps"] == tiny_run.steps
    assert metadata["val_loss"] == tiny_run.val_loss

    records = read_metrics(tiny_run.out_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(tiny_run.steps + 1))
    assert all(math.isfinite(r["loss"]) and r["lr"] > 0 for r in records[1:])
    assert records[-1]["tokens"] == tiny_run.tokens_seen
    val_steps = [r["step"] for r in records if "val_loss" in r]
    assert val_steps[0] == 0 and val_steps[-1] == tiny_run.steps and len(val_steps) >= 3
    assert (tiny_run.out_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = json.loads((tiny_run.checkpoint_dir / "state.json").read_text())
    assert state["step"] == tiny_run.steps
