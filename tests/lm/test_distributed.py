"""DDP through the real launcher: two CPU processes (gloo) under `torchrun` train the same replica."""

from __future__ import annotations

import gzip
import importlib.resources
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reasonkit.lm.train import TrainResult, read_metrics

RECIPE = """
name = "ddp"
data_dir = "."
seed = 1

[tokenizer]
vocab_size = 300
sample_chars = 50000

[model]
size = "tiny"
block_size = 32
n_layer = 1
n_head = 2
n_embd = 32

[train]
steps = 4
batch_size = 4
grad_accum = 2
lr = 1e-2
warmup_steps = 1
eval_interval = 2
eval_batches = 2
checkpoint_interval = 2
device = "cpu"

[[sources]]
name = "text"
path = "corpus.txt"
format = "text"
weight = 1.0
"""

WORKER = """
import os, sys
from pathlib import Path
from reasonkit.lm.recipe import load_recipe
from reasonkit.lm.train import train

recipe, out, cache, reports = sys.argv[1:5]
result = train(load_recipe(recipe), out, cache_dir=cache, progress=False)
Path(reports, f"rank{os.environ['RANK']}.json").write_text(result.model_dump_json())
"""


@pytest.mark.slow
def test_two_gloo_ranks_under_torchrun_keep_identical_replicas(tmp_path: Path) -> None:
    corpus = importlib.resources.files("reasonkit.lm") / "corpora" / "tinyshakespeare.txt.gz"
    (tmp_path / "corpus.txt").write_text(gzip.decompress(corpus.read_bytes()).decode()[:60_000])
    (tmp_path / "ddp.toml").write_text(RECIPE)
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "reports").mkdir()
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(tmp_path / "worker.py"), str(tmp_path / "ddp.toml"), str(tmp_path / "run"), str(tmp_path / "cache"),
        str(tmp_path / "reports"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    ranks = [
        TrainResult.model_validate_json((tmp_path / "reports" / f"rank{r}.json").read_text()) for r in (0, 1)
    ]
    assert [r.world_size for r in ranks] == [2, 2]
    assert ranks[0].weights_sha256 == ranks[1].weights_sha256
    assert ranks[0].tokens_seen == 4 * 2 * 4 * 32 * 2  # steps x grad_accum x batch x block x ranks
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")  # written by rank 0 alone
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4]
    assert all(math.isfinite(r["loss"]) for r in records[1:])
    assert ranks[0].val_loss is not None and ranks[0].val_loss < records[0]["val_loss"]
    assert json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["step"] == 4
