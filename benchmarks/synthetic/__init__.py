"""Synthetic suites whose reasoning can be checked; each generates train and test splits from a seed."""

from __future__ import annotations

from reasonkit.benchmarks.synthetic.base import SuiteSplits, SyntheticSuite, fresh_split, world_split


def suites() -> dict[str, SyntheticSuite]:
    """All suites by name (imported lazily: arithmetic needs the strategies package)."""
    from reasonkit.benchmarks.synthetic.arithmetic import ArithmeticSuite
    from reasonkit.benchmarks.synthetic.consistency import ConsistencySuite
    from reasonkit.benchmarks.synthetic.corrections import CorrectionsSuite
    from reasonkit.benchmarks.synthetic.countdown import CountdownSuite
    from reasonkit.benchmarks.synthetic.longchains import LongChainsSuite
    from reasonkit.benchmarks.synthetic.multistep import MultiStepSuite
    from reasonkit.benchmarks.synthetic.twohop import TwoHopSuite
    from reasonkit.benchmarks.synthetic.world import WorldSuite

    return {
        s.name: s
        for s in (
            ArithmeticSuite(),
            MultiStepSuite(),
            WorldSuite(),
            CorrectionsSuite(),
            LongChainsSuite(),
            CountdownSuite(),
            TwoHopSuite(),
            ConsistencySuite(),
        )
    }


def rows(
    suite: str, split: str = "train", seed: int = 0, documents: bool = False, n_train: int | None = None
) -> list[dict[str, object]]:
    """A suite's split (or its background documents, as {"text": ...}) as JSON rows, for training recipes:
    `format = "generated"`, `generator = "reasonkit.benchmarks.synthetic:rows"`. n_train enlarges (or
    shrinks) the train split; the suites draw their test splits first, so those stay the same."""
    generated = suites()[suite].generate(seed, n_train=n_train)
    if documents:
        return [{"text": text} for text in generated.documents]
    if split not in generated.splits:
        raise ValueError(f"suite {suite!r} has no split {split!r}; it has {', '.join(generated.splits)}")
    return [question.model_dump(mode="json") for question in generated.splits[split]]


__all__ = ["SuiteSplits", "SyntheticSuite", "fresh_split", "rows", "suites", "world_split"]
