"""The old home of the LM client and the run driver, kept so existing imports work; it warns when imported.

Strategies call `reasonkit.client` (`BatchingClient`, `solve_traced`); runs go through `reasonkit.driver`
(`run_questions`, `iter_outcomes`, `QuestionError`, ...).
"""

from __future__ import annotations

import warnings

from reasonkit.client import BatchingClient, solve_traced
from reasonkit.driver import (
    QuestionError,
    arun_questions,
    check_finite,
    iter_outcomes,
    iter_predictions,
    run_questions,
)

__all__ = [
    "BatchingClient",
    "QuestionError",
    "arun_questions",
    "check_finite",
    "iter_outcomes",
    "iter_predictions",
    "run_questions",
    "solve_traced",
]

warnings.warn(
    "reasonkit.batching is split in two: import the LM client from reasonkit.client and the run driver "
    "from reasonkit.driver",
    DeprecationWarning,
    stacklevel=2,
)
