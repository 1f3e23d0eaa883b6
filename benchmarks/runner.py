"""Run a strategy on a benchmark into a run folder that survives crashes.

A run folder holds `run.json` (what was run: benchmark, strategy config, model fingerprint, seed, package
version, data hash) and `results.jsonl`, one line per finished question, appended and flushed as each
question finishes and fsync'ed by a thread right behind. Rerunning the same command resumes: finished
questions are skipped, a line cut short by a crash is discarded, and questions that failed are tried again.
A question that cannot be run (a ValueError: a prompt over the window, a non-finite score) is recorded as that
question's error and the run goes on. While a run writes to its folder it holds `run.lock` there (flock, which
the kernel releases even after kill -9), so a second run on the same folder stops and says who holds it.

Under torchrun each rank answers every WORLD_SIZE-th question into its own `results.rank<R>.jsonl` (and reads
back its share of an earlier merged `results.jsonl`); rank 0 holds the lock and merges the rank files into
`results.jsonl` when all ranks are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import reasonkit
from reasonkit.atomic import atomic_write_text
from reasonkit.client import BatchingClient
from reasonkit.driver import QuestionError, iter_outcomes
from reasonkit.protocol import GenerationResult, LanguageModel, LoglikelihoodResult
from reasonkit.strategy import Strategy
from reasonkit.types import Answer, LMCall, Prediction, Question, Trace

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = "run.lock"


class RunError(RuntimeError):
    """A run folder that does not match the command, or cannot be read; the message says which."""


class RunRecord(BaseModel):
    """What defines a run; a resumed run must match it field for field (IDENTITY_FIELDS)."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str
    split: str
    strategy: str
    strategy_config: dict[str, Any]
    model: str
    model_fingerprint: str
    model_options: dict[str, Any] = Field(
        default_factory=dict, description="backend options, e.g. truncation"
    )
    seed: int
    limit: int | None
    skip: int = Field(0, description="questions left out before the first one run")
    n_questions: int
    data_hash: str
    preparation: dict[str, Any] = Field(
        default_factory=dict, description="what the benchmark gave the strategy before its questions"
    )
    package_version: str = reasonkit.__version__
    python: str = Field(default_factory=platform.python_version)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @classmethod
    def of(
        cls,
        benchmark: str,
        split: str,
        questions: Sequence[Question],
        strategy: Strategy,
        lm: LanguageModel,
        model: str,
        **fields: Any,
    ) -> RunRecord:
        """The record of `strategy` run by `lm` on `questions`, the fields they determine read from them (seed 0
        and no limit unless `fields` say otherwise)."""
        return cls(
            benchmark=benchmark,
            split=split,
            strategy=strategy.name,
            strategy_config=strategy.config(),
            model=model,
            model_fingerprint=lm.fingerprint,
            n_questions=len(questions),
            data_hash=data_hash(questions),
            **{"seed": 0, "limit": None} | fields,
        )


IDENTITY_FIELDS = (
    "benchmark",
    "split",
    "strategy_config",
    "model_fingerprint",
    "model_options",
    "seed",
    "limit",
    "data_hash",
    "preparation",
)


class ResultLine(BaseModel):
    """One finished question; with `error` set, one that failed (counted wrong, its prediction a placeholder
    that abstains, tried again when the run is resumed)."""

    model_config = ConfigDict(extra="forbid")

    index: int
    question_id: str
    question: Question
    gold: Answer | None
    correct: bool
    abstained: bool
    lm_calls: int
    tokens: int
    finished_s: float = Field(description="seconds from the start of this process's run to this answer")
    prediction: Prediction
    error: str | None = None


def data_hash(questions: Sequence[Question]) -> str:
    digest = hashlib.sha256()
    for question in questions:
        digest.update(question.model_dump_json().encode())
    return digest.hexdigest()[:16]


def all_calls(trace: Trace) -> list[LMCall]:
    """The calls of a trace and of its children (inner strategies), depth first."""
    return [*trace.calls, *(call for child in trace.children for call in all_calls(child))]


def count_tokens(prediction: Prediction) -> int:
    """Tokens scored or generated by the model for this answer (cached calls included)."""
    total = 0
    for call in all_calls(prediction.trace):
        if call.kind == "loglikelihood":
            total += LoglikelihoodResult.model_validate(call.output).n_tokens
        elif call.kind == "generate":
            total += sum(len(s.token_logprobs) for s in GenerationResult.model_validate(call.output).samples)
    return total


def read_results(path: Path, *, repair: bool = False) -> list[ResultLine]:
    """Lines of a results file. A last line cut short by a crash is dropped; with `repair` (the run that is
    about to append, holding the lock) it is also cut from the file, and a complete last line that lacks its
    newline gets one, so the next line is not glued onto it."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines, good_bytes = [], 0
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        if not chunk.strip():
            good_bytes += len(chunk) + 1
            continue
        try:
            lines.append(ResultLine.model_validate_json(chunk))
            good_bytes += len(chunk) + 1
        except ValidationError as error:
            is_last = raw[good_bytes + len(chunk) :].strip() == b""
            if not is_last:
                raise RunError(
                    f"{path}:{number}: unreadable result line ({error.errors()[0]['msg']})"
                ) from error
            log.warning("%s:%d: dropping a line cut short by an interrupted run", path, number)
            break
    if repair and good_bytes < len(raw):
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    elif repair and raw and not raw.endswith(b"\n"):
        with path.open("ab") as handle:
            handle.write(b"\n")
    return lines


def to_resume(lines: Sequence[ResultLine]) -> list[ResultLine]:
    """One line per question, the first answer of each: a failed question is left out (to be tried again),
    and so is an answer written twice (by two runs on one folder before it was locked)."""
    kept: dict[int, ResultLine] = {}
    for line in lines:
        if line.error is None and line.index not in kept:
            kept[line.index] = line
    return list(kept.values())


def read_record(run_file: Path) -> RunRecord:
    try:
        return RunRecord.model_validate_json(run_file.read_bytes())
    except OSError as error:
        raise RunError(f"{run_file}: cannot read the run record ({error.strerror})") from error
    except ValidationError as error:
        raise RunError(f"{run_file}: not a reasonkit run record ({error.errors()[0]['msg']})") from error


_held: set[Path] = set()


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder for this process (re-entrant within it), or raise RunError naming the process that
    holds it. The lock file records the holder; it is removed on release, and a lock taken on a file that was
    removed meanwhile is taken again on the new one."""
    key = run_dir.resolve()
    if key in _held:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace")
            os.close(fd)
            raise RunError(
                f"{run_dir} is in use by another run ({describe_holder(holder)}); wait for it to "
                f"finish, or use another --out folder"
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(holder).encode())
    _held.add(key)
    try:
        yield
    finally:
        _held.discard(key)
        path.unlink(missing_ok=True)
        os.close(fd)


def describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on {holder['host']}, since {holder['since']}"
    except (ValueError, KeyError, TypeError):
        return "a process that has not said who it is yet"


def prepare_run_dir(run_dir: Path, record: RunRecord) -> None:
    """Create the folder, or check that an existing one is the same run."""
    run_file = run_dir / RUN_FILE
    if run_file.exists():
        existing = read_record(run_file)
        for name in IDENTITY_FIELDS:
            if getattr(existing, name) != getattr(record, name):
                raise RunError(
                    f"{run_dir} holds a different run: {name} was {getattr(existing, name)!r}, now "
                    f"{getattr(record, name)!r}; use another --out folder to start a new run"
                )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_file, record.model_dump_json(indent=2))


class ResultWriter:
    """Appends one line per result and flushes it at once, so a killed process loses at most the line being
    written. A thread fsyncs behind the writes (a power cut loses only the last few milliseconds): an fsync
    per line inside the runner's loop cost about 6 ms here, as much as scoring a question."""

    def __init__(self, path: Path) -> None:
        self.handle = path.open("ab")
        self._written = threading.Event()
        self._closing = False
        self._error: OSError | None = None
        self._syncer = threading.Thread(target=self._sync_behind, name="reasonkit-fsync", daemon=True)
        self._syncer.start()

    def write(self, line: ResultLine) -> None:
        if self._error is not None:
            raise self._error
        self.handle.write(line.model_dump_json().encode() + b"\n")
        self.handle.flush()
        self._written.set()

    def _sync_behind(self) -> None:
        while True:
            self._written.wait()
            self._written.clear()
            if self._closing:
                return
            try:
                os.fsync(self.handle.fileno())
            except OSError as error:  # raised in the runner's thread at the next write or at close
                self._error = error
                return

    def close(self) -> None:
        self._closing = True
        self._written.set()
        self._syncer.join()
        try:
            os.fsync(self.handle.fileno())
        finally:
            self.handle.close()
        if self._error is not None:
            raise self._error


def shard_of(n_questions: int, rank: int, world_size: int) -> list[int]:
    return list(range(rank, n_questions, world_size))


def results_path(run_dir: Path, rank: int, world_size: int) -> Path:
    return run_dir / (RESULTS_FILE if world_size == 1 else f"results.rank{rank}.jsonl")


def run_benchmark(
    questions: Sequence[Question],
    strategy: Strategy,
    lm: LanguageModel,
    run_dir: Path,
    record: RunRecord,
    *,
    concurrency: int = 64,
    max_batch: int = 64,
    rank: int = 0,
    world_size: int = 1,
    fail_fast: bool = False,
    on_resume: Callable[[list[ResultLine]], None] | None = None,
    on_result: Callable[[ResultLine], None] | None = None,
) -> list[ResultLine]:
    """Answer every question the run folder holds no answer for; returns this rank's results (old and new,
    failed ones included), in order. `on_resume` gets the answers found from earlier runs, `on_result` each new
    line. A question that cannot be run (its error caused by a ValueError) is written as a failed line and the
    run goes on, unless `fail_fast`; any other error stops the run (a lost device would fail every question)."""
    with run_lock(run_dir) if rank == 0 else contextlib.nullcontext():
        if rank == 0:
            prepare_run_dir(run_dir, record)
        else:
            run_dir.mkdir(parents=True, exist_ok=True)
        path = results_path(run_dir, rank, world_size)
        own = read_results(path, repair=True)
        kept = to_resume(own)
        if len(kept) < len(own):
            failed = sum(line.error is not None for line in own)
            log.warning(
                "%s: trying %d failed questions again, dropping %d answers written twice",
                path,
                failed,
                len(own) - len(kept) - failed,
            )
            atomic_write_text(path, "".join(line.model_dump_json() + "\n" for line in kept))
        mine = set(shard_of(len(questions), rank, world_size))
        merged = read_results(run_dir / RESULTS_FILE) if world_size > 1 else []
        done = {line.index: line for line in to_resume([*merged, *kept]) if line.index in mine}
        if on_resume is not None:
            on_resume([done[i] for i in sorted(done)])
        todo = [i for i in shard_of(len(questions), rank, world_size) if i not in done]
        if done:
            log.info("resuming %s: %d done, %d to go", run_dir, len(done), len(todo))
        writer = ResultWriter(path)
        start = time.perf_counter()

        async def answer_all() -> None:
            client = BatchingClient(lm, max_batch=max_batch)
            batch = [questions[i] for i in todo]
            async with contextlib.aclosing(iter_outcomes(strategy, batch, client, concurrency)) as outcomes:
                async for position, outcome in outcomes:
                    index = todo[position]
                    if isinstance(outcome, QuestionError) and not isinstance(outcome.__cause__, ValueError):
                        raise outcome
                    line = result_line(
                        index, questions[index], strategy, outcome, time.perf_counter() - start
                    )
                    writer.write(line)
                    done[index] = line
                    if on_result is not None:
                        on_result(line)
                    if fail_fast and isinstance(outcome, QuestionError):
                        raise outcome

        try:
            if todo:
                asyncio.run(answer_all())
        finally:
            writer.close()
        return [done[i] for i in sorted(done)]


def result_line(
    index: int, question: Question, strategy: Strategy, outcome: Prediction | QuestionError, finished_s: float
) -> ResultLine:
    """The line for one question: its answer, or its error with a prediction that abstains."""
    if isinstance(outcome, QuestionError):
        note = Prediction(
            question_id=question.id, answer=None, trace=Trace(strategy=strategy.name, notes=[str(outcome)])
        )
        return ResultLine(
            index=index,
            question_id=question.id,
            question=question,
            gold=question.gold,
            correct=False,
            abstained=False,
            lm_calls=0,
            tokens=0,
            finished_s=finished_s,
            prediction=note,
            error=str(outcome),
        )
    return ResultLine(
        index=index,
        question_id=question.id,
        question=question,
        gold=question.gold,
        correct=outcome.is_correct(question),
        abstained=outcome.abstained,
        lm_calls=len(all_calls(outcome.trace)),
        tokens=count_tokens(outcome),
        finished_s=finished_s,
        prediction=outcome,
    )


def merge_shards(run_dir: Path, world_size: int) -> list[ResultLine]:
    """Rank 0, holding the run's lock, after every rank finished: one results.jsonl in question order (earlier
    merged lines kept unless a rank answered that question again); the rank files are removed once it is
    written."""
    shards = [results_path(run_dir, rank, world_size) for rank in range(world_size)]
    by_index = {line.index: line for path in [run_dir / RESULTS_FILE, *shards] for line in read_results(path)}
    lines = [by_index[i] for i in sorted(by_index)]
    atomic_write_text(run_dir / RESULTS_FILE, "".join(line.model_dump_json() + "\n" for line in lines))
    for path in shards:
        path.unlink(missing_ok=True)
    return lines


def load_run(run_dir: Path) -> tuple[RunRecord, list[ResultLine]]:
    run_file = run_dir / RUN_FILE
    if not run_file.exists():
        raise RunError(f"{run_dir}: no {RUN_FILE}; not a reasonkit run folder")
    return read_record(run_file), read_results(run_dir / RESULTS_FILE)
