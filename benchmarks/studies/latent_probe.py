"""Does the model know more than it says? A linear probe on its hidden states, fitted on a true/false set's
train split and read on its evaluation split.

Figures: BENCHMARKS.md, "Why the true/false sets stay at chance"; docs/studies/latent_probe.md.

On the synthetic world the model holds facts it cannot state when asked for a judgement
(`world_beliefs`); on the real true/false sets its True - False margin carries nothing (AUC ~0.5). A probe
asks whether the signal is in the representation and only the readout is missing: features are the mean,
over the positions of direct's prompt, of the last block's output; a standardised logistic regression
(C by 5-fold cross-validation on train) is fitted on the whole train split. The same probe on
all-MiniLM-L6-v2's sentence embeddings is the control: a generic encoder that never saw the sets.

The model was trained on these train questions with their answers, so a probe fitted on them can learn
memorisation that does not carry over; only the evaluation split says what the probe finds.

    python -m reasonkit.benchmarks.studies.latent_probe --data-dir ../shared/data -b creak [-b csqa2 ...] \
        [--model lm/default_model] [--features lm --features minilm]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import click
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from reasonkit.benchmarks.loaders import load_benchmark
from reasonkit.benchmarks.metrics import Interval, bootstrap_accuracy, bootstrap_auc, majority_baseline
from reasonkit.datasets import BUILTIN
from reasonkit.lm.engine import Engine
from reasonkit.models import load_model
from reasonkit.strategies.memory_store import MemoryStore
from reasonkit.strategies.prompts import direct_prompt
from reasonkit.types import Question

Features = Literal["lm", "minilm"]
C_GRID = (0.01, 0.1, 1.0)


class ProbeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    benchmark: str
    features: Features
    n_train: int
    c: float
    accuracy: Interval
    auc: Interval
    majority_label: str
    majority: Interval


def lm_features(engine: Engine, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """(len(texts), n_embd): the last block's output averaged over each text's positions (the last
    block_size tokens of a longer text). Right padding is safe without a mask: attention is causal."""
    captured: list[torch.Tensor] = []
    hook = engine.model.blocks[-1].register_forward_hook(
        lambda _module, _inputs, output: captured.append(output)
    )
    rows: list[np.ndarray] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                encoded = [
                    engine.tokenizer.encode(t)[-engine.config.block_size :]
                    for t in texts[start : start + batch_size]
                ]
                lengths = torch.tensor([len(ids) for ids in encoded], device=engine.device)
                ids = torch.full(
                    (len(encoded), int(lengths.max())), engine.tokenizer.pad_id, device=engine.device
                )
                for i, row in enumerate(encoded):
                    ids[i, : len(row)] = torch.tensor(row, device=engine.device)
                captured.clear()
                engine.model(ids, logits_at=-1)
                hidden = captured[0].float()
                real = torch.arange(ids.shape[1], device=engine.device)[None, :] < lengths[:, None]
                pooled = (hidden * real[..., None]).sum(1) / lengths[:, None]
                rows.append(pooled.cpu().numpy())
    finally:
        hook.remove()
    return np.concatenate(rows) if rows else np.zeros((0, engine.config.n_embd), dtype=np.float32)


def features_of(kind: Features, questions: Sequence[Question], engine: Engine | None) -> np.ndarray:
    """The model reads direct's prompt for the question; the sentence encoder reads the question alone."""
    if kind == "minilm":
        return MemoryStore().embed([q.text for q in questions])
    if engine is None:
        raise ValueError("the 'lm' features need a model")
    return lm_features(engine, [direct_prompt(q.text, None) for q in questions])


def fit_and_read(train: np.ndarray, train_gold: Sequence[bool], test: np.ndarray) -> tuple[float, np.ndarray]:
    """(chosen C, P(True) per test row): a standardised logistic regression, C by 5-fold log loss on train."""
    search = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        {"logisticregression__C": list(C_GRID)},
        cv=5,
        scoring="neg_log_loss",
    )
    search.fit(train, np.asarray(train_gold, dtype=bool))
    classes = list(search.best_estimator_.classes_)
    return float(search.best_params_["logisticregression__C"]), search.predict_proba(test)[
        :, classes.index(True)
    ]


def probe_benchmark(
    benchmark: str, data_dir: str, kinds: Sequence[Features], engine: Engine | None
) -> list[ProbeResult]:
    train = [q for q in load_benchmark(benchmark, data_dir, split="train") if isinstance(q.gold, bool)]
    evaluation = load_benchmark(benchmark, data_dir)
    train_gold = [bool(q.gold) for q in train]
    gold = [bool(q.gold) for q in evaluation]
    label, majority = majority_baseline(evaluation)
    results = []
    for kind in kinds:
        c, p_true = fit_and_read(
            features_of(kind, train, engine), train_gold, features_of(kind, evaluation, engine)
        )
        results.append(
            ProbeResult(
                benchmark=benchmark,
                features=kind,
                n_train=len(train),
                c=c,
                accuracy=bootstrap_accuracy([(p >= 0.5) == g for p, g in zip(p_true, gold, strict=True)]),
                auc=bootstrap_auc(list(p_true), gold),
                majority_label=label,
                majority=majority,
            )
        )
    return results


@click.command()
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The shared data folder (train splits are not shipped).",
)
@click.option(
    "-b",
    "--benchmark",
    "benchmarks",
    multiple=True,
    required=True,
    type=click.Choice(sorted(spec.name for spec in BUILTIN if spec.kind == "binary")),
    help="A true/false set (repeatable).",
)
@click.option("--model", default="default", show_default=True, help="Model folder or default.")
@click.option(
    "--features",
    "kinds",
    multiple=True,
    type=click.Choice(["lm", "minilm"]),
    default=("lm", "minilm"),
    show_default=True,
    help="What the probe reads (repeatable).",
)
def main(data_dir: str, benchmarks: tuple[str, ...], model: str, kinds: tuple[Features, ...]) -> None:
    lm = load_model(model) if "lm" in kinds else None
    if lm is not None and not isinstance(lm, Engine):
        raise click.UsageError(
            f"--model {model!r}: the probe reads hidden states of a reasonkit model folder"
        )
    click.echo(
        "| set | features | train | C | evaluation accuracy % [95% CI] | majority class | AUC [95% CI] |"
    )
    click.echo("|---|---|---:|---:|---|---|---|")
    for benchmark in benchmarks:
        for r in probe_benchmark(benchmark, data_dir, kinds, lm):
            click.echo(
                f"| {r.benchmark} | {r.features} | {r.n_train} | {r.c:g} | {r.accuracy} (n = {r.accuracy.n}) | "
                f"{r.majority} ({r.majority_label}) | {r.auc.estimate:.3f} [{r.auc.low:.3f}, {r.auc.high:.3f}] |"
            )


if __name__ == "__main__":
    main()
