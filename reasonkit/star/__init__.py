"""STaR, the self-taught reasoner (Zelikman et al. 2022): sample rationales on a train split, keep those that
reach the gold answer, rationalise the misses with the answer given as a hint, fine-tune, repeat.

    state.py    the options and the per-iteration record of a run (star.json), resume and mismatch checks
    rows.py     which samples become training documents, and how they are written
    recipe.py   the fine-tune recipe of one iteration (TOML, read back by the project's trainer)
    loop.py     the stages of an iteration, each skipped when a rerun finds it done

`reasonkit star` (reasonkit/commands/star.py) runs the loop; `--answers-only` fine-tunes on gold answers alone,
the baseline the paper compares with.
"""

from reasonkit.star.loop import run_star
from reasonkit.star.state import IterationRecord, StarError, StarOptions, StarState

__all__ = ["IterationRecord", "StarError", "StarOptions", "StarState", "run_star"]
