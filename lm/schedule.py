"""Learning-rate schedule: linear warmup, then cosine decay to a floor.

A pure function of the step, so a resumed run needs nothing but the step to be back on schedule.
"""

from __future__ import annotations

import math


def learning_rate(
    step: int, *, peak: float, total_steps: int, warmup_steps: int, min_lr_ratio: float
) -> float:
    """Learning rate for optimizer step `step` (0-based).

    Warmup climbs linearly to `peak`, reaching it at step `warmup_steps - 1`; cosine decay then falls to
    `peak * min_lr_ratio` at the last step (`total_steps - 1`) and stays there past it.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    floor = peak * min_lr_ratio
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    decay_steps = total_steps - 1 - warmup_steps
    if decay_steps <= 0:
        return peak
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))
