"""Synthetic suites whose reasoning can be checked; each generates train and test splits from a seed."""

from __future__ import annotations

from reasonkit.benchmarks.synthetic.base import SuiteSplits, SyntheticSuite


def suites() -> dict[str, SyntheticSuite]:
    """All suites by name (imported lazily: arithmetic needs the strategies package)."""
    from reasonkit.benchmarks.synthetic.arithmetic import ArithmeticSuite
    from reasonkit.benchmarks.synthetic.corrections import CorrectionsSuite
    from reasonkit.benchmarks.synthetic.multistep import MultiStepSuite
    from reasonkit.benchmarks.synthetic.world import WorldSuite

    return {s.name: s for s in (ArithmeticSuite(), MultiStepSuite(), WorldSuite(), CorrectionsSuite())}


__all__ = ["SuiteSplits", "SyntheticSuite", "suites"]
