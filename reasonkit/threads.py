"""Torch CPU threads: idle OpenMP threads sleep instead of spinning, and a thread count the user can set.

Why: a small model runs many tiny parallel regions, and by default libgomp (torch's OpenMP) lets a thread
that waits for the next one spin for about 300,000 loops. Beside other busy processes the spinning thread
holds the core its partner needs: chain-of-thought on 64 questions went from 7 s to 54 s (issue 23). With
OMP_WAIT_POLICY=PASSIVE waiting threads sleep, and a run beside busy processes takes about what one thread
would (`python -m reasonkit.benchmarks.studies.thread_speed`).
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def sleep_when_idle() -> None:
    """Set OMP_WAIT_POLICY=PASSIVE unless the user set a wait variable of their own.

    OpenMP reads it once, when torch loads it, so `import reasonkit` calls this; after `import torch` it
    changes nothing for this process (its subprocesses still get it).
    """
    if any(name in os.environ for name in WAIT_VARIABLES):
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    if "torch" in sys.modules:
        logger.debug("torch was imported before reasonkit: its OpenMP threads keep spinning when idle")


def set_threads(threads: int) -> None:
    """Use `threads` torch threads for the operations of this process (torch.set_num_threads).

    Without a call torch uses one per core; one thread is as fast for a model the size of the default one
    when other processes keep the cores busy.
    """
    if threads < 1:
        raise ValueError(f"threads: {threads} (give 1 or more)")
    import torch

    torch.set_num_threads(threads)
