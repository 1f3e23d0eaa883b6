import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from reasonkit.benchmarks.metrics import auc
from reasonkit.benchmarks.studies import latent_probe


def test_a_text_gets_the_same_features_alone_and_padded_in_a_batch(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    short, long = "Question: True or false: Ice is cold.\nAnswer:", "Question: True or false: " + "word " * 40
    alone = latent_probe.lm_features(tiny_engine, [short])
    batched = latent_probe.lm_features(tiny_engine, [long, short, long], batch_size=3)
    assert alone.shape == (1, tiny_engine.config.n_embd) and batched.shape == (3, tiny_engine.config.n_embd)
    np.testing.assert_allclose(batched[1], alone[0], rtol=1e-3, atol=1e-3)
    assert not np.allclose(batched[0], alone[0], atol=1e-3)


def test_the_probe_reads_a_direction_the_features_hold() -> None:
    rng = np.random.default_rng(0)
    gold = rng.random(400) < 0.5
    features = rng.normal(size=(400, 8))
    features[:, 3] += np.where(gold, 1.5, -1.5)  # the label lives along one axis, noise along the others
    c, p_true = latent_probe.fit_and_read(features[:300], list(gold[:300]), features[300:])
    assert c in latent_probe.C_GRID
    assert auc(list(p_true), list(gold[300:])) > 0.9
    shuffled = rng.permutation(gold[:300])  # labels unrelated to the features: nothing to read
    _, p_noise = latent_probe.fit_and_read(features[:300], list(shuffled), features[300:])
    assert abs(auc(list(p_noise), list(gold[300:])) - 0.5) < 0.15


def test_the_command_prints_one_row_per_set_and_feature(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "creak"
    folder.mkdir()
    for split, n in (("train", 60), ("dev", 20)):
        rows = [
            {
                "ex_id": f"{split}-{i}",
                "sentence": f"Thing {i} is {'hot' if i % 2 else 'cold'}.",
                "label": "true" if i % 2 else "false",
            }
            for i in range(n)
        ]
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = CliRunner().invoke(
        latent_probe.main,
        ["--data-dir", str(tmp_path), "-b", "creak", "--model", str(tiny_model_dir), "--features", "lm"],
    )
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if line.startswith("| creak |")]
    assert "| lm | 60 |" in row and "(n = 20)" in row
