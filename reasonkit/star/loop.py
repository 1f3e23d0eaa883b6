"""The STaR loop. Iteration 0 evaluates the start model; iteration k (1..N) then runs four stages:

    sample       self_consistency(inner=STRATEGY, n=SAMPLES, temperature=T) on the pool of train questions, by
                 the benchmark runner (OUT/iteration-k/sample/...; it resumes by question id)
    rationalise  the questions no sample got right, asked again with the answer as a hint (`hinted_question`),
                 into OUT/iteration-k/rationalise/...; a correct sample is kept for the question WITHOUT the hint
    fine-tune    rows.jsonl and recipe.toml (reasonkit.star.recipe: from the current model, with replay), the
                 project's trainer into OUT/iteration-k/train (a half-done run resumes from its checkpoint)
    evaluate     every eval strategy on the evaluation split, into OUT/iteration-k/eval/...

Each stage records its result in OUT/star.json (reasonkit.star.state) and is skipped when a rerun finds it
there. The answers-only baseline is one iteration: the pool with gold answers (no sampling), fine-tuned for
STEPS x ITERATIONS steps, the compute the STaR loop spends in all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reasonkit.atomic import sha256_file
from reasonkit.benchmarks.plan import EvaluationPlan, RunOutcome, SpecSource, Track
from reasonkit.benchmarks.registry import available_benchmarks, load_questions
from reasonkit.benchmarks.runner import ResultLine
from reasonkit.lm.recipe import import_formatter
from reasonkit.models import load_model
from reasonkit.protocol import LanguageModel
from reasonkit.registry import StrategySpecError, build_strategy
from reasonkit.star.recipe import recipe_table, write_recipe
from reasonkit.star.rows import TrainingRow, check_renders, gold_rows, kept_rows, write_rows
from reasonkit.star.state import (
    Compute,
    IterationRecord,
    StarError,
    StarOptions,
    StarState,
    check_model,
    open_state,
)
from reasonkit.strategies.paths import GeneratingStrategy
from reasonkit.strategies.rationalization import HINT_PREFIX, hinted_question
from reasonkit.strategies.self_consistency import SelfConsistency
from reasonkit.strategy import Strategy
from reasonkit.types import Question

log = logging.getLogger(__name__)

ROWS_FILE = "rows.jsonl"
TOKEN_CACHE = "token-cache"


@dataclass(frozen=True)
class StarInputs:
    """Everything a run reads before its first stage, checked before any model is loaded or file written."""

    strategy: Strategy
    eval_strategies: list[SpecSource]
    pool: list[Question]
    eval_questions: list[Question]


@dataclass(frozen=True)
class Execution:
    """How the stages run (not part of the run's identity)."""

    concurrency: int = 64
    max_batch: int = 64
    track: Track | None = None
    progress: bool | None = None
    data_dir: Path | None = None


def train_questions(benchmark: str, count: int, data_dir: Path | None) -> list[Question]:
    """The first `count` questions of the benchmark's train split (a synthetic suite's as its training recipes
    draw it, at most TRAINED_N_TRAIN: only as many as needed, the split is drawn last), those without a gold
    answer left out."""
    infos = available_benchmarks()
    if benchmark not in infos:
        load_questions(benchmark)  # raises the registry's "did you mean" KeyError
    if infos[benchmark].origin == "synthetic":
        from reasonkit.benchmarks.synthetic import suites
        from reasonkit.benchmarks.synthetic.base import TRAINED_N_TRAIN, TRAINED_SEED

        # past TRAINED_N_TRAIN a train question could be in a fresh --suite-seed draw (fresh_split leaves out
        # only the first TRAINED_N_TRAIN), so the pool stays within them
        count = min(count, TRAINED_N_TRAIN)
        questions = list(suites()[benchmark].generate(TRAINED_SEED, n_train=count).splits["train"])
    else:
        questions = load_questions(benchmark, data_dir, "train")[:count]
    return [question for question in questions if question.gold is not None]


def prepare_inputs(options: StarOptions, data_dir: Path | None = None) -> StarInputs:
    """Strategies, the pool of train questions and the evaluation questions; StarError for bad input."""
    try:
        strategy = build_strategy(options.strategy)
        eval_strategies = [
            SpecSource(spec=spec, option="--eval-strategy") for spec in options.eval_strategies
        ]
        for source in eval_strategies:
            build_strategy(source.spec)
    except StrategySpecError as error:
        raise StarError(str(error)) from None
    if not isinstance(strategy, GeneratingStrategy):
        raise StarError(
            f"--strategy {options.strategy!r} cannot sample reasoning paths (cot and scratchpad can)"
        )
    check_renders(strategy)
    if options.answers_only:
        try:
            import_formatter(options.answers_formatter)
        except ValueError as error:
            raise StarError(f"--answers-format: {error}") from None
    try:
        pool = train_questions(options.benchmark, options.skip + options.questions, data_dir)[options.skip :]
        eval_questions = load_questions(options.benchmark, data_dir, options.eval_split, options.suite_seed)
    except KeyError as error:
        raise StarError(f"--benchmark: {error.args[0]}") from None
    except (ValueError, FileNotFoundError) as error:
        raise StarError(f"--benchmark {options.benchmark}: {error}") from None
    if len(pool) < options.questions:
        raise StarError(
            f"--questions {options.questions}: {options.benchmark}'s train split has {len(pool)} questions "
            f"with gold answers after --skip {options.skip}"
        )
    if options.rationalize and not options.answers_only and pool:
        check_hint_reaches(strategy, pool[0], options.strategy)
    applicable = [q for q in pool if strategy.applies_to(q)]
    if len(applicable) < len(pool):
        raise StarError(
            f"--strategy {options.strategy!r} does not apply to {len(pool) - len(applicable)} of the pool's "
            f"{options.benchmark} questions"
        )
    limited = eval_questions[: options.limit] if options.limit is not None else eval_questions
    if not limited:
        raise StarError(f"--benchmark {options.benchmark}: no evaluation questions")
    return StarInputs(strategy, eval_strategies, pool, limited)


def check_hint_reaches(strategy: Strategy, question: Question, spec: str) -> None:
    """Rationalisation asks again with the hint in the question's text; a strategy that builds its prompt from
    elsewhere (scratchpad reads the problem from metadata) would ask the same question twice."""
    request = strategy.generation_request(hinted_question(question), n=1, temperature=0.0, seed=0)  # type: ignore[attr-defined]
    if HINT_PREFIX not in request.prompt:
        raise StarError(
            f"--rationalize: the prompt of --strategy {spec!r} leaves out the hint given in the question's text; "
            "pass --no-rationalize"
        )


def run_star(
    options: StarOptions,
    out: Path,
    execution: Execution = Execution(),
    on_event: Callable[[str], None] = log.info,
) -> StarState:
    """Run (or resume) the loop into `out`; returns the final state. Raises StarError, and the errors of the
    trainer (RecipeError, DataError, TrainError, CheckpointError) and of the runner (RunError)."""
    inputs = prepare_inputs(options, execution.data_dir)
    state = open_state(out, options)
    state.save(out)
    loop = _Loop(options, out, inputs, execution, state, on_event)
    start = state.iteration(0)
    if start.model_sha256 is None:
        start.model_dir, start.model_sha256 = options.model, options.model_sha256
        state.save(out)
    loop.evaluate(start)
    last = 1 if options.answers_only else options.iterations
    for index in range(1, last + 1):
        record = state.iteration(index)
        loop.collect(record)
        loop.fine_tune(record)
        loop.evaluate(record)
    return state


@dataclass
class _Loop:
    options: StarOptions
    out: Path
    inputs: StarInputs
    execution: Execution
    state: StarState
    say: Callable[[str], None]

    def folder(self, record: IterationRecord) -> Path:
        return self.out / f"iteration-{record.index}"

    def model_of(self, record: IterationRecord) -> Path:
        assert record.model_dir is not None and record.model_sha256 is not None
        model_dir = Path(record.model_dir)
        check_model(model_dir, record.model_sha256, f"iteration {record.index}")
        return model_dir

    def load(self, model_dir: Path) -> LanguageModel:
        device = {} if self.options.device == "auto" else {"device": self.options.device}
        return load_model(str(model_dir), **device)

    def run(
        self,
        lm: LanguageModel,
        model_dir: Path,
        questions: Sequence[Question],
        specs: list[SpecSource],
        out: Path,
    ) -> list[RunOutcome]:
        plan = EvaluationPlan.build(
            {self.options.benchmark: questions}, specs, seed=self.options.seed, out=out, on_note=self.say
        )
        return plan.execute(
            lm,
            model=str(model_dir),
            concurrency=self.execution.concurrency,
            max_batch=self.execution.max_batch,
            fail_fast=True,
            track=self.execution.track,
        )

    def collect(self, record: IterationRecord) -> None:
        """Sample and rationalise (or, answers-only, take the gold answers) into rows.jsonl."""
        if record.rows_sha256 is not None:
            return
        if self.options.answers_only:
            rows = gold_rows(self.inputs.pool, import_formatter(self.options.answers_formatter))
            counts = {"sampled": 0, "correct": 0, "rationalised": 0, "kept": len(rows)}
            compute = Compute()
        else:
            rows, counts, compute = self.sample(record)
        if not rows:
            raise StarError(
                f"iteration {record.index}: no training rows: {counts['correct']} of {counts['sampled']} sampled "
                f"train questions reached the gold answer ({self.options.samples} samples each) and "
                f"{counts['rationalised']} were rationalised; nothing to fine-tune on (try more --samples, a "
                "higher --temperature, or --rationalize)"
            )
        path = self.folder(record) / ROWS_FILE
        record.rows_sha256 = write_rows(path, rows)
        record.rows_file = str(path)
        record.sampled, record.correct = counts["sampled"], counts["correct"]
        record.rationalised, record.kept = counts["rationalised"], counts["kept"]
        record.sampling = compute
        self.state.save(self.out)

    def sample(self, record: IterationRecord) -> tuple[list[TrainingRow], dict[str, int], Compute]:
        previous = self.state.iterations[record.index - 1]
        model_dir = self.model_of(previous)
        lm = self.load(model_dir)
        sampler = SelfConsistency(
            inner=self.inputs.strategy,
            n=self.options.samples,
            temperature=self.options.temperature,
            seed=self.options.seed + record.index,
        )
        by_id = {question.id: question for question in self.inputs.pool}
        self.say(f"iteration {record.index}: sampling {len(by_id)} train questions with {model_dir}")
        [sampled] = self.run(
            lm, model_dir, self.inputs.pool, [SpecSource(spec=sampler)], self.folder(record) / "sample"
        )
        rows = kept_rows(self.inputs.strategy, by_id, sampled.lines, "sampled")
        lines: list[ResultLine] = list(sampled.lines)
        rationalised: list[TrainingRow] = []
        solved = {row.id for row in rows}
        missed = [by_id[line.question_id] for line in sampled.lines if line.question_id not in solved]
        if self.options.rationalize and missed:
            self.say(
                f"iteration {record.index}: rationalising {len(missed)} missed questions with the answer as a hint"
            )
            hinted = [hinted_question(question) for question in missed]
            [hints] = self.run(
                lm, model_dir, hinted, [SpecSource(spec=sampler)], self.folder(record) / "rationalise"
            )
            rationalised = kept_rows(self.inputs.strategy, by_id, hints.lines, "rationalised")
            lines += hints.lines
        counts = {
            "sampled": len(sampled.lines),
            "correct": len(rows),
            "rationalised": len(rationalised),
            "kept": len(rows) + len(rationalised),
        }
        compute = Compute(
            calls=sum(line.lm_calls for line in lines), generated_tokens=sum(line.tokens for line in lines)
        )
        return rows + rationalised, counts, compute

    def fine_tune(self, record: IterationRecord) -> None:
        from reasonkit.lm.train import train

        if record.model_sha256 is not None:
            return
        previous = self.state.iterations[record.index - 1]
        init_dir = self.model_of(previous)
        steps = self.options.steps * (self.options.iterations if self.options.answers_only else 1)
        table = recipe_table(self.options, f"star-{record.index}", init_dir.resolve(), ROWS_FILE, steps)
        recipe = write_recipe(self.folder(record) / "recipe.toml", table)
        train_dir = self.folder(record) / "train"
        resume = (train_dir / "checkpoint").is_dir()
        self.say(
            f"iteration {record.index}: fine-tuning {steps} steps from {init_dir}"
            + (" (resumed)" if resume else "")
        )
        result = train(
            recipe,
            train_dir,
            resume=resume,
            cache_dir=self.out / TOKEN_CACHE,
            progress=self.execution.progress,
        )
        record.training = Compute(train_tokens=result.tokens_seen, train_seconds=result.seconds)
        record.model_dir = str(result.model_dir.resolve())
        record.model_sha256 = sha256_file(result.model_dir / "model.safetensors")
        self.state.save(self.out)

    def evaluate(self, record: IterationRecord) -> None:
        if record.accuracy is not None:
            return
        model_dir = self.model_of(record)
        self.say(f"iteration {record.index}: evaluating {model_dir}")
        outcomes = self.run(
            self.load(model_dir),
            model_dir,
            self.inputs.eval_questions,
            self.inputs.eval_strategies,
            self.folder(record) / "eval",
        )
        record.accuracy = {outcome.label: outcome.accuracy for outcome in outcomes}
        record.eval_runs = {outcome.label: str(outcome.run_dir) for outcome in outcomes}
        record.eval_questions = len(self.inputs.eval_questions)
        self.state.save(self.out)
