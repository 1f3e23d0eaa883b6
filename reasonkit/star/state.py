"""The record of a STaR run, OUT/star.json: the options it was started with and, per iteration, what each stage
produced (counts, the training rows' file and hash, the model's fingerprint, compute, accuracy). A stage whose
result is recorded is done; a rerun of the same command skips it. Every write is atomic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reasonkit.atomic import atomic_write_text, read_utf8, sha256_file

STATE_FILE = "star.json"
RESUMABLE = frozenset({"iterations"})
"""Options a rerun may change: more iterations continue a finished run."""


class StarError(ValueError):
    """A STaR run that cannot go on; the message names the iteration, the option or the file at fault."""


class StarOptions(BaseModel):
    """What defines a run; a rerun into the same folder must give the same (but `iterations`, which may grow)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="the start model folder (absolute)")
    model_sha256: str = Field(description="of the start model's model.safetensors")
    benchmark: str
    strategy: str = Field(description="the generating strategy spec that samples rationales")
    eval_strategies: tuple[str, ...]
    iterations: int = Field(ge=1)
    questions: int = Field(ge=1, description="train questions in the pool every iteration samples")
    skip: int = Field(0, ge=0, description="the pool is train questions skip .. skip + questions - 1")
    samples: int = Field(ge=1)
    temperature: float = Field(ge=0.0)
    rationalize: bool = True
    answers_only: bool = False
    answers_formatter: str = "reasonkit.strategies.prompts:question_direct_text"
    steps: int = Field(ge=1, description="fine-tune steps per iteration (answers-only: times iterations)")
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    warmup_steps: int = Field(ge=0)
    replay_recipe: str | None = Field(None, description="recipe whose sources are mixed back in")
    replay_weight: float = Field(0.0, ge=0.0, lt=1.0)
    device: str = "auto"
    seed: int = Field(0, ge=0)
    eval_split: str | None = None
    suite_seed: int | None = None
    limit: int | None = None

    def differences(self, other: StarOptions) -> list[str]:
        """'--name: A there, B here' for every option (but the resumable ones) where the two runs differ."""
        mine, theirs = self.model_dump(), other.model_dump()
        free = (
            set() if self.answers_only else RESUMABLE
        )  # answers-only trains STEPS x ITERATIONS steps at once
        return [
            f"--{key.replace('_', '-')}: {json.dumps(theirs[key])} there, {json.dumps(mine[key])} here"
            for key in mine
            if key not in free and mine[key] != theirs[key]
        ]


class Compute(BaseModel):
    """What a stage cost: LM calls and tokens (sampling), training tokens and seconds (fine-tuning)."""

    calls: int = 0
    generated_tokens: int = 0
    train_tokens: int = 0
    train_seconds: float = 0.0


class IterationRecord(BaseModel):
    """One iteration; None marks a stage not done yet. Iteration 0 is the start model, evaluated only."""

    index: int
    sampled: int | None = None
    correct: int | None = None
    rationalised: int | None = None
    kept: int | None = None
    rows_file: str | None = None
    rows_sha256: str | None = None
    sampling: Compute = Field(default_factory=Compute)
    training: Compute = Field(
        default_factory=Compute,
        description="train_seconds: the call that finished (after a resume, its part)",
    )
    model_dir: str | None = None
    model_sha256: str | None = None
    accuracy: dict[str, float] | None = None
    eval_questions: int | None = None
    eval_runs: dict[str, str] = Field(default_factory=dict, description="eval strategy -> run folder")


class StarState(BaseModel):
    options: StarOptions
    iterations: list[IterationRecord] = Field(default_factory=list)

    def iteration(self, index: int) -> IterationRecord:
        """The record of iteration `index`, added empty when the run reaches it for the first time."""
        while len(self.iterations) <= index:
            self.iterations.append(IterationRecord(index=len(self.iterations)))
        return self.iterations[index]

    def save(self, out: Path) -> None:
        atomic_write_text(out / STATE_FILE, self.model_dump_json(indent=2) + "\n")


def open_state(out: Path, options: StarOptions) -> StarState:
    """A new state, or the one in OUT when its options match `options` (its `iterations` updated)."""
    path = out / STATE_FILE
    if not path.is_file():
        return StarState(options=options)
    try:
        state = StarState.model_validate_json(read_utf8(path))
    except (ValidationError, ValueError) as error:
        raise StarError(f"{path}: not a STaR state file ({first_line(error)})") from None
    differences = options.differences(state.options)
    if differences:
        raise StarError(
            f"{path} holds a run with other options ({'; '.join(differences)}); "
            "give the same options to resume it, or another --out"
        )
    return state.model_copy(update={"options": options})


def first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def check_model(model_dir: Path, expected: str, where: str) -> None:
    """The model a stage goes on from must be the one the run recorded (not retrained or replaced since)."""
    actual = sha256_file(model_dir / "model.safetensors")
    if actual != expected:
        raise StarError(
            f"{where}: {model_dir}/model.safetensors changed since the run recorded it "
            f"(sha256 {actual[:12]}, recorded {expected[:12]}); start another --out"
        )


def summary(state: StarState) -> list[dict[str, Any]]:
    """One row per iteration, for tables: counts, accuracy per eval strategy, compute."""
    return [
        {
            "iteration": record.index,
            "sampled": record.sampled,
            "correct": record.correct,
            "rationalised": record.rationalised,
            "kept": record.kept,
            **{f"acc {label}": value for label, value in (record.accuracy or {}).items()},
            "train_tokens": record.training.train_tokens,
            "train_minutes": round(record.training.train_seconds / 60, 2),
            "model_sha256": (record.model_sha256 or "")[:12],
        }
        for record in state.iterations
    ]
