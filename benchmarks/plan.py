"""The evaluation plan `reasonkit bench` runs, as a library object: which strategy runs on which benchmark,
with which seed, into which run folder; and its execution, each rank answering its share of the questions
under torchrun and rank 0 merging the shares at the end.

    import reasonkit as rk

    plan = rk.EvaluationPlan.build({"csqa": rk.load_questions("csqa")}, ["direct", "cot"], limit=50)
    for outcome in plan.execute(rk.load_model()):
        print(outcome.label, outcome.accuracy)

The command builds the same plan from its options and only renders it (messages, progress bars, the table).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from reasonkit import torchrun
from reasonkit.benchmarks.registry import prepare
from reasonkit.benchmarks.runner import (
    ResultLine,
    RunError,
    RunRecord,
    data_hash,
    merge_shards,
    prepare_run_dir,
    run_benchmark,
    run_lock,
    shard_of,
)
from reasonkit.driver import QuestionError
from reasonkit.protocol import LanguageModel
from reasonkit.registry import StrategySpecError, available_strategies, build_strategy
from reasonkit.strategy import Strategy
from reasonkit.torchrun import DistContext
from reasonkit.types import Question

__all__ = [
    "ALL_STRATEGIES",
    "DEFAULT_STRATEGY",
    "MAX_SEED",
    "SLUG_LENGTH",
    "EvaluationPlan",
    "PlanError",
    "PlannedRun",
    "RunObserver",
    "RunOutcome",
    "Spec",
    "SpecSource",
    "Track",
    "default_strategies",
    "read_strategy_config",
    "slug",
    "spec_label",
]

log = logging.getLogger(__name__)

Spec = str | dict[str, Any] | Strategy
"""A strategy as a spec string, a dict spec, or a strategy object (run as given, with its own seed)."""

SLUG_LENGTH = 80
MAX_SEED = 2**63 - 1
ALL_STRATEGIES = "all"
"""As a strategy: every registered strategy that builds without options and applies to the questions."""
DEFAULT_STRATEGY = "direct"
"""What a plan without strategies runs: the cheapest strategy (lm-eval's default scoring), not all of them."""


class PlanError(ValueError):
    """A plan that cannot be made from what it was given. `option` names the input at fault as the command
    line does (e.g. --strategy); None when it is the inputs together."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class SpecSource(BaseModel):
    """A strategy spec and where it came from (for error messages)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    spec: Spec
    option: str = "strategies"


class PlannedRun(BaseModel):
    """One strategy on one benchmark's questions; its folder is OUT/<folder>."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    benchmark: str
    questions: list[Question]
    label: str
    strategy: Strategy

    @property
    def folder(self) -> Path:
        return Path(slug(self.benchmark)) / slug(self.label)


class RunOutcome(BaseModel):
    """A finished run as rank 0 holds it: its folder, record and one line per question."""

    benchmark: str
    label: str
    run_dir: Path
    record: RunRecord
    lines: list[ResultLine]

    @property
    def accuracy(self) -> float:
        return sum(line.correct for line in self.lines) / len(self.lines) if self.lines else 0.0


class RunObserver(Protocol):
    """What a progress display hears from a run: the answers found from earlier runs, then each new one."""

    def resumed(self, lines: list[ResultLine]) -> None: ...

    def result(self, line: ResultLine) -> None: ...


Track = Callable[[PlannedRun, int], AbstractContextManager[RunObserver | None]]
"""(run, this rank's share of its questions) -> a context holding the run's observer, e.g. a progress bar."""


def slug(text: str) -> str:
    """A folder name for a strategy label or a benchmark; a long one is cut and ends in a hash of the whole label,
    so specs that differ only past the cut (e.g. in an ensemble's last weight) get folders of their own. No
    leading dot: a name such as ".." must not lead out of the output folder."""
    name = (
        re.sub(r"[^A-Za-z0-9_.=-]+", "_", re.sub(r"[\"']", "", text)).lstrip("._").rstrip("_") or "strategy"
    )
    if len(name) <= SLUG_LENGTH:
        return name
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{name[: SLUG_LENGTH - 9]}-{digest}"


def spec_label(spec: Spec) -> str:
    """How a run is named: the spec string as given, or a dict spec written as one, `name(option=value)`
    (a strategy object by its own spec string)."""
    if isinstance(spec, Strategy):
        return repr(spec)
    if isinstance(spec, str):
        return " ".join(spec.split())

    def render(value: Any) -> str:
        return spec_label(value) if isinstance(value, dict) and "name" in value else repr(value)

    options = ", ".join(f"{key}={render(value)}" for key, value in spec.items() if key != "name")
    return f"{spec['name']}({options})" if options else str(spec["name"])


def read_strategy_config(config_file: Path) -> list[SpecSource]:
    """Specs from a TOML file of [[strategy]] tables (name plus options)."""
    option = "--strategy-config"
    raw = config_file.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise PlanError(f"{config_file}:{line}: not UTF-8 text", option) from None
    except tomllib.TOMLDecodeError as error:
        raise PlanError(f"{config_file}: {error}", option) from error
    except RecursionError:
        raise PlanError(f"{config_file}: nested too deeply to read", option) from None
    tables = data.get("strategy", [])
    if not isinstance(tables, list) or not tables:
        raise PlanError(f"{config_file}: expected [[strategy]] tables", option)
    sources = []
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict) or not isinstance(table.get("name"), str):
            raise PlanError(f'{config_file}: [[strategy]] table {number} needs a name = "..."', option)
        sources.append(
            SpecSource(spec=table, option=f"{option} ({config_file}, [[strategy]] table {number})")
        )
    return sources


def sets_seed(spec: Any) -> bool:
    """Whether a spec sets a seed anywhere, nested strategies included."""
    if isinstance(spec, str):
        return re.search(r"\bseed\s*=", spec) is not None
    if isinstance(spec, dict):
        return "seed" in spec or any(sets_seed(value) for value in spec.values())
    if isinstance(spec, list | tuple):
        return any(sets_seed(value) for value in spec)
    return False


def seeded(config: Any, seed: int) -> Any:
    """The config with every `seed` option, nested ones included, set to `seed`."""
    if isinstance(config, dict):
        return {key: seed if key == "seed" else seeded(value, seed) for key, value in config.items()}
    if isinstance(config, list | tuple):
        return type(config)(seeded(value, seed) for value in config)
    return config


def build_seeded(source: SpecSource, seed: int) -> Strategy:
    """The strategy, with the plan's seed in every strategy that samples unless the spec sets a seed (a
    strategy object runs as given)."""
    if isinstance(source.spec, Strategy):
        return source.spec
    try:
        strategy = build_strategy(source.spec)
        if sets_seed(source.spec):
            return strategy
        config = strategy.config()
        with_seed = seeded(config, seed)
        return strategy if with_seed == config else build_strategy(with_seed)
    except StrategySpecError as error:
        raise PlanError(str(error), source.option) from error


def default_strategies(questions: Sequence[Question]) -> list[SpecSource]:
    """Every registered strategy that builds without options and applies to most of the questions."""
    sources = []
    sample = questions[:20]
    for name in available_strategies():
        try:
            strategy = build_strategy(name)
        except StrategySpecError as error:  # needs options we cannot guess
            log.info("skipping strategy %s as a default: %s", name, error)
            continue
        if sum(strategy.applies_to(q) for q in sample) > len(sample) / 2:
            sources.append(SpecSource(spec=name, option="default strategies"))
    return sources


def describe_kind(question: Question) -> str:
    if question.options is not None:
        return f"{'fill-in-the-blank' if question.is_fill_blank else 'multiple choice'}, e.g. {question.id}"
    return f"{'true/false statements' if question.is_binary else 'free-form answers'}, e.g. {question.id}"


def applicable(runs: list[PlannedRun], on_note: Callable[[str], None]) -> list[PlannedRun]:
    """The runs whose strategy applies to some of their questions: a run that could only abstain would read
    as 0% accuracy. Each one dropped is named; if none is left, the plan cannot be made."""
    kept = []
    for run in runs:
        if not run.questions or any(run.strategy.applies_to(q) for q in run.questions):
            kept.append(run)
        else:
            on_note(
                f"skipping {run.label} on {run.benchmark}: it applies to none of its questions "
                f"({describe_kind(run.questions[0])})"
            )
    if not kept:
        raise PlanError(
            "no strategy asked for applies to any question of the benchmarks asked for "
            "(`reasonkit list` describes each strategy)"
        )
    return kept


def _is_all(spec: Spec | SpecSource) -> bool:
    return (spec.spec if isinstance(spec, SpecSource) else spec) == ALL_STRATEGIES


class EvaluationPlan(BaseModel):
    """The runs of an evaluation, in order, and what every run records: the output folder, the seed given to
    strategies that sample, and the question limit."""

    model_config = ConfigDict(frozen=True)

    runs: list[PlannedRun]
    out: Path = Path("runs")
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    limit: int | None = Field(default=None, ge=1)
    skip: int = Field(default=0, ge=0)

    @classmethod
    def build(
        cls,
        suites: Mapping[str, Sequence[Question]],
        strategies: Sequence[Spec | SpecSource] = (),
        *,
        seed: int = 0,
        limit: int | None = None,
        skip: int = 0,
        out: str | Path = "runs",
        on_note: Callable[[str], None] | None = None,
    ) -> EvaluationPlan:
        """Every strategy on every benchmark (the first `limit` questions of each after its first `skip`),
        skipping, by name in `on_note`, a strategy that applies to none of a benchmark's questions. `"all"` among
        the strategies adds every registered strategy that applies; none at all runs `direct`. Each run gets its
        own strategy, with `seed` in every strategy that samples unless its spec sets a seed. Raises PlanError."""
        note = on_note or log.warning
        given = [s if isinstance(s, SpecSource) else SpecSource(spec=s) for s in strategies if not _is_all(s)]
        every = any(_is_all(s) for s in strategies)
        if not given and not every:
            given = [SpecSource(spec=DEFAULT_STRATEGY, option="the default strategy")]
        short = [
            f"{name} has {len(questions)}" for name, questions in suites.items() if len(questions) <= skip
        ]
        if skip and short:
            raise PlanError(f"skip {skip}: no question is left to run ({', '.join(short)})", "--skip")
        if skip or limit is not None:
            suites = {name: questions[skip:][:limit] for name, questions in suites.items()}
        runs = [
            PlannedRun(
                benchmark=name,
                questions=list(questions),
                label=spec_label(source.spec),
                strategy=build_seeded(source, seed),
            )
            for name, questions in suites.items()
            for source in [
                *given,
                *(
                    s
                    for s in (default_strategies(questions) if every else [])
                    if s.spec not in [known.spec for known in given]
                ),
            ]
        ]
        return cls(runs=applicable(runs, note), out=Path(out), seed=seed, limit=limit, skip=skip)

    def describe(self) -> list[str]:
        """What the plan will do, in a few lines: runs, questions, and answers to compute."""
        total = sum(len(run.questions) for run in self.runs)
        lines = [
            f"plan: {len(self.runs)} run{'s' * (len(self.runs) != 1)}, {total} answers in all, into "
            f"{self.out}/"
        ]
        for benchmark in dict.fromkeys(run.benchmark for run in self.runs):
            runs = [run for run in self.runs if run.benchmark == benchmark]
            lines.append(
                f"  {benchmark} ({len(runs[0].questions)} questions): {', '.join(run.label for run in runs)}"
            )
        return lines

    def check_folders(self) -> None:
        """Raise PlanError if two runs would write to the same folder."""
        folders = [run.folder for run in self.runs]
        twice = next((folder for folder in folders if folders.count(folder) > 1), None)
        if twice is not None:
            raise PlanError(f"two strategies would share the run folder {self.out / twice}")

    def execute(
        self,
        lm: LanguageModel,
        *,
        model: str = "default",
        model_options: Mapping[str, Any] | None = None,
        concurrency: int = 64,
        max_batch: int = 64,
        fail_fast: bool = False,
        context: DistContext | None = None,
        track: Track | None = None,
        on_finished: Callable[[RunOutcome], None] | None = None,
    ) -> list[RunOutcome]:
        """Run the plan, run after run, into OUT/<benchmark>/<strategy>/, resuming what a folder already holds.
        `model` and `model_options` are recorded in each run.json (a rerun must match them). Under torchrun
        (joined here unless `context` is given) every rank answers its share of each run and rank 0 merges the
        shares; rank 0 returns the outcomes, the other ranks an empty list. Raises RunError (a folder that holds
        another run or is in use, a question that could not be run when `fail_fast`), and PeerFailed on the
        other ranks when rank 0 could not start a run."""
        self.check_folders()
        if context is None:
            with torchrun.process_group(backend="gloo") as joined:
                return self.execute(
                    lm,
                    model=model,
                    model_options=model_options,
                    concurrency=concurrency,
                    max_batch=max_batch,
                    fail_fast=fail_fast,
                    context=joined,
                    track=track,
                    on_finished=on_finished,
                )
        outcomes = []
        for run in self.runs:
            outcome = self._execute_run(
                run, lm, model, dict(model_options or {}), concurrency, max_batch, fail_fast, context, track
            )
            if outcome is not None:
                outcomes.append(outcome)
                if on_finished is not None:
                    on_finished(outcome)
        return outcomes

    def _execute_run(
        self,
        run: PlannedRun,
        lm: LanguageModel,
        model: str,
        model_options: dict[str, Any],
        concurrency: int,
        max_batch: int,
        fail_fast: bool,
        context: DistContext,
        track: Track | None,
    ) -> RunOutcome | None:
        """One strategy on one benchmark; the outcome on rank 0, None on the other ranks. Rank 0 holds the run
        folder's lock from the first check to the merge, so no other run writes there meanwhile."""
        run_dir = self.out / run.folder
        preparation = prepare(run.strategy, run.questions)
        record = RunRecord(
            benchmark=run.benchmark,
            split=run.questions[0].split,
            strategy=run.label,
            strategy_config=run.strategy.config(),
            model=model,
            model_fingerprint=lm.fingerprint,
            model_options=model_options,
            seed=self.seed,
            limit=self.limit,
            skip=self.skip,
            n_questions=len(run.questions),
            data_hash=data_hash(run.questions),
            preparation=preparation,
        )
        with ExitStack() as held:

            def check_folder() -> None:
                held.enter_context(run_lock(run_dir))
                prepare_run_dir(run_dir, record)

            context.on_rank_zero(check_folder, (RunError,))
            share = len(shard_of(len(run.questions), context.rank, context.world_size))
            with track(run, share) if track is not None else nullcontext() as observer:
                try:
                    lines = run_benchmark(
                        run.questions,
                        run.strategy,
                        lm,
                        run_dir,
                        record,
                        concurrency=concurrency,
                        max_batch=max_batch,
                        rank=context.rank,
                        world_size=context.world_size,
                        fail_fast=fail_fast,
                        on_resume=observer.resumed if observer is not None else None,
                        on_result=observer.result if observer is not None else None,
                    )
                except QuestionError as error:
                    raise RunError(f"{run_dir}: {error}") from error
            if context.is_distributed:
                context.barrier()
                if not context.is_main:
                    return None
                lines = merge_shards(run_dir, context.world_size)
        return RunOutcome(
            benchmark=run.benchmark, label=run.label, run_dir=run_dir, record=record, lines=lines
        )
