"""The fine-tune recipe of one iteration, written as TOML next to its rows (so `reasonkit train --recipe
OUT/iteration-1/recipe.toml` reruns it) and read back through `load_recipe`, which validates it in full.

It fine-tunes FROM THE CURRENT MODEL (init_from). The paper restarts from the pre-trained base model every
iteration, on that iteration's rationales, with 20% more steps each time, to avoid overfitting; here each
iteration goes on from the last one's weights for the same number of steps, so an iteration costs the same
and the loop's compute stays bounded on a small machine, and drift is held back by replay instead.

Replay: `replay_recipe`'s sources (the start model's own mixture) make up `replay_weight` of each batch. That
keeps the formats the loop relies on alive: the hinted questions that rationalisation prompts with (a model
that forgets the hint format cannot rationalise in the next iteration) and whatever else the start model
could do (e.g. arithmetic scratchpads). The replayed recipe's leak checks come along, and its sources drop
rows that overlap the benchmark's evaluation splits (which the fine-tune checks even if the replayed recipe
did not).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from reasonkit.atomic import atomic_write_text
from reasonkit.benchmarks.synthetic import suites
from reasonkit.lm.recipe import Recipe, load_recipe
from reasonkit.star.state import StarOptions

ROWS_SOURCE = "star_rows"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def recipe_table(
    options: StarOptions, name: str, init_dir: Path, rows_file: str, steps: int
) -> dict[str, Any]:
    """The recipe as a dict (TOML's shape): the iteration's rows, replayed sources, the [train] section."""
    rows_weight = 1.0 - options.replay_weight
    sources: list[dict[str, Any]] = [
        {
            "name": ROWS_SOURCE,
            "path": rows_file,
            "format": "jsonl",
            "weight": rows_weight,
            "field": "text",
            "question_field": "question",
            "drop_eval_overlap": True,
        }
    ]
    leak_checks: list[dict[str, Any]] = []
    leak_suites = {options.benchmark} & set(suites())
    if options.replay_recipe is not None and options.replay_weight > 0:
        replay = load_recipe(options.replay_recipe)
        for source in replay.sources:
            entry = source.model_dump(exclude_none=True)
            if source.format != "generated":
                entry["path"] = str(replay.source_path(source))
            else:
                entry.pop("path", None)
            entry["weight"] = round(source.weight * options.replay_weight, 12)
            entry["drop_eval_overlap"] = True  # the fine-tune checks the benchmark's evaluation splits
            sources.append(entry)
        leak_checks = [
            {**check.model_dump(exclude_none=True), "path": str(replay.leak_path(check))}
            for check in replay.leak_check
        ]
        leak_suites |= set(replay.leak_check_suites)
    return {
        "name": name,
        "data_dir": ".",
        "seed": options.seed,
        "init_from": str(init_dir),
        "leak_check_suites": sorted(leak_suites),
        "train": {
            "steps": steps,
            "batch_size": options.batch_size,
            "lr": options.lr,
            "min_lr_ratio": 0.1,
            "warmup_steps": min(options.warmup_steps, steps - 1),
            "weight_decay": 0.1,
            "grad_clip": 1.0,
            "eval_interval": steps,
            "eval_batches": 4,
            "checkpoint_interval": max(1, min(100, steps)),
            "device": options.device,
            "compile": False,
        },
        "sources": sources,
        "leak_check": leak_checks,
    }


def write_recipe(path: Path, table: dict[str, Any]) -> Recipe:
    """Write the recipe atomically and load it back (validated, init weights hashed)."""
    atomic_write_text(path, to_toml(table))
    return load_recipe(path)


def to_toml(table: dict[str, Any]) -> str:
    """A recipe-shaped dict as TOML: top-level keys, then tables, then arrays of tables (no third-party writer
    for one small, known shape)."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict | list) or _plain_list(v)}
    lines = [f"{_key(k)} = {_value(v)}" for k, v in scalars.items()]
    for key, value in table.items():
        if isinstance(value, dict):
            lines += ["", f"[{_key(key)}]", *(f"{_key(k)} = {_value(v)}" for k, v in value.items())]
    for key, value in table.items():
        if isinstance(value, list) and not _plain_list(value):
            for entry in value:
                lines += ["", f"[[{_key(key)}]]", *(f"{_key(k)} = {_value(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"


def _plain_list(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(item, dict) for item in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's string escapes are all TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")
