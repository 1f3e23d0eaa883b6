"""Training data: read the recipe's sources, refuse evaluation leaks, tokenize once into cached uint16 shards.

`TrainData.prepare` does the work once per (tokenizer, source content, leak-check files) and reuses the
shards on later runs. `TrainData.batch` is a pure function of (seed, step, micro_step, rank), so a run
resumed at step k sees exactly the batches it would have seen, and DDP ranks see different data.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import itertools
import json
import logging
import math
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from pydantic import BaseModel

from reasonkit.atomic import atomic_file, atomic_write_bytes, sha256_file
from reasonkit.jsonl import JsonlError, iter_jsonl, open_text
from reasonkit.lm.positions import PositionScheme, load_scheme
from reasonkit.lm.recipe import (
    LeakCheck,
    Recipe,
    Source,
    generated_rows,
    get_field,
    import_formatter,
    render_row,
)
from reasonkit.lm.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the shard layout or document rules change
VAL_FRACTION = 0.01
MIN_VAL_DOCS = 4
SHINGLE_WORDS = 8
SCAN_CHUNK = 4096  # documents hashed at once by the leak scan
SHINGLE_FRACTION = 0.5  # of an eval question's shingles that make a document a leak
ENCODE_CHUNK = 4096  # documents per encode_batch call; bounds the memory of Python token lists
_WORD = re.compile(r"[^\W_]+")
_HASH_BASE = np.uint64(0x100000001B3)


class DataError(ValueError):
    """Training data that cannot be used; the message names the source and file."""


class DataLeakError(DataError):
    """A training row contains a dev/test question named by the recipe's [[leak_check]]."""


class SourceStats(BaseModel):
    documents: int
    val_documents: int
    train_tokens: int
    val_tokens: int
    rows_skipped: int  # formatter returned None or the text was empty
    rows_dropped_as_leaks: int  # drop_eval_overlap = true
    reused: bool


class LeakCheckStats(BaseModel):
    eval_files: list[str]
    eval_questions: int
    shingles: int


class DataStats(BaseModel):
    tokenizer: str
    vocab_size: int
    sources: dict[str, SourceStats]
    leak_check: LeakCheckStats


# ---- reading documents ---------------------------------------------------------------------------------


@dataclass
class _Documents:
    """One source's documents in file order, with the line each starts on and its question (if any)."""

    texts: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    questions: list[str | None] = field(default_factory=list)
    skipped: int = 0
    dropped_leaks: int = 0

    def keep(self, mask: list[bool]) -> None:
        self.texts = [t for t, k in zip(self.texts, mask, strict=True) if k]
        self.lines = [n for n, k in zip(self.lines, mask, strict=True) if k]
        self.questions = [q for q, k in zip(self.questions, mask, strict=True) if k]


def read_documents(source: Source, path: Path) -> _Documents:
    docs = _Documents()
    if source.format == "text":
        with open_text(path) as handle:
            content = handle.read()
        line = 1
        for piece in content.split(source.doc_separator):
            text = piece.strip()
            if text:
                docs.texts.append(text)
                docs.lines.append(line + piece[: len(piece) - len(piece.lstrip())].count("\n"))
                docs.questions.append(None)
            line += piece.count("\n") + source.doc_separator.count("\n")
        return _check_loss_after(source, docs, str(path))
    formatter = import_formatter(source.formatter) if source.formatter else None
    if source.format == "generated":
        rows: Iterable[tuple[int, dict[str, Any]]] = enumerate(generated_rows(source), start=1)
        origin = f"{source.generator}"
    else:
        rows, origin = _jsonl_rows(path), str(path)
    for number, row in rows:
        where = f"{origin}:{number} (source {source.name!r})"
        try:
            text = render_row(source, row, formatter)
            question = str(get_field(row, source.question_field)) if source.question_field else None
        except (KeyError, IndexError, AttributeError, TypeError, ValueError) as error:
            raise DataError(f"{where}: cannot render the row: {type(error).__name__} {error}") from error
        if not text or not text.strip():
            docs.skipped += 1
            continue
        docs.texts.append(text)
        docs.lines.append(number)
        docs.questions.append(question)
    return _check_loss_after(source, docs, origin)


def _check_loss_after(source: Source, docs: _Documents, origin: str) -> _Documents:
    """Every document must hold the source's loss_after marker: one without it would train on nothing."""
    marker = source.loss_after
    if marker is None:
        return docs
    for text, number in zip(docs.texts, docs.lines, strict=True):
        if marker not in text:
            raise DataError(
                f"{origin}:{number} (source {source.name!r}): loss_after {marker!r} does not occur in the "
                "document, so nothing of it would be trained on"
            )
    return docs


def split_completion(text: str, marker: str) -> tuple[str, str]:
    """(prompt, completion) around the marker's last occurrence; the marker stays in the prompt."""
    cut = text.rindex(marker) + len(marker)
    return text[:cut], text[cut:]


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        yield from iter_jsonl(path)
    except JsonlError as error:
        raise DataError(str(error)) from None


def _doc_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


# ---- the leak check ------------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Lowercased words, punctuation dropped: "Don't!" and "don 't" both give ["don", "t"]."""
    return _WORD.findall(text.lower())


def normalise(text: str) -> str:
    return " ".join(words_of(text))


@dataclass
class _EvalQuestion:
    file: str
    qid: str
    shingles: int  # distinct 8-word shingles of the question


@dataclass
class Leak:
    doc: int  # index into the source's documents
    question: int  # index into LeakChecker.questions
    evidence: str


class LeakChecker:
    """Every question of the recipe's [[leak_check]] files, indexed for exact and 8-word-shingle matching.

    A training document leaks an eval question when its question_field equals the question (after
    normalise), or when the document's text holds at least SHINGLE_FRACTION of the question's 8-word
    shingles. (A single shared 8-word phrase is not enough: on the real corpora it flags stock phrases such
    as "the office of president of the united states" and crowd-sourcing templates such as "where would you
    go if you want to".) The scan maps words to random 64-bit values (0 for a word no eval question uses),
    rolls a polynomial hash over 8-word windows with numpy, and confirms hash hits by comparing words.
    """

    def __init__(
        self,
        checks: list[tuple[LeakCheck, Path]],
        suite_splits: dict[str, list[tuple[str, str]]] | None = None,
    ) -> None:
        """checks: eval files; suite_splits: in-memory eval splits by label ("consistency:test"), as
        (question id, text) pairs."""
        self.questions: list[_EvalQuestion] = []
        self.exact: dict[str, int] = {}
        self.shingles: dict[str, list[int]] = {}
        self.files = [check.path for check, _ in checks] + list(suite_splits or {})
        texts: list[str] = []
        for check, path in checks:
            for number, row in _jsonl_rows(path):
                try:
                    text = str(get_field(row, check.question_field))
                    qid = str(get_field(row, check.id_field)) if check.id_field else f"line {number}"
                except KeyError as error:
                    raise DataError(f"{path}:{number}: {error}") from None
                self._add(check.path, qid, text, texts)
        for label, questions in (suite_splits or {}).items():
            for qid, text in questions:
                self._add(label, qid, text, texts)
        rng = np.random.default_rng(0)
        vocabulary = sorted({word for shingle in self.shingles for word in shingle.split()})
        self._word_values = dict(
            zip(vocabulary, rng.integers(1, 2**63, size=len(vocabulary)).tolist(), strict=True)
        )
        hashes, _ = self._window_hashes(texts)
        self._shingle_hashes = np.unique(hashes)

    def _add(self, file: str, qid: str, text: str, texts: list[str]) -> None:
        """Index one eval question (texts collects those long enough to have shingles)."""
        words = words_of(text)
        if not words:
            return
        index = len(self.questions)
        own = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}
        self.questions.append(_EvalQuestion(file, qid, len(own)))
        self.exact.setdefault(" ".join(words), index)
        for shingle in own:
            self.shingles.setdefault(shingle, []).append(index)
        if own:
            texts.append(text)

    @property
    def stats(self) -> LeakCheckStats:
        return LeakCheckStats(
            eval_files=self.files, eval_questions=len(self.questions), shingles=len(self.shingles)
        )

    def _window_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Hashes of every 8-word window made only of eval-vocabulary words, and the text each lies in."""
        get, zeros = self._word_values.get, itertools.repeat(0)
        values: list[int] = []
        starts: list[int] = []
        for text in texts:
            starts.append(len(values))
            values.extend(map(get, words_of(text), zeros))
            values.append(0)  # windows that span two texts contain a 0 and are discarded
        array = np.array(values, dtype=np.uint64)
        count = len(array) - SHINGLE_WORDS + 1
        if count <= 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        hashes = np.zeros(count, np.uint64)
        for offset in range(SHINGLE_WORDS):
            hashes = hashes * _HASH_BASE + array[offset : offset + count]
        unknown = np.concatenate([[0], np.cumsum(array == 0)])
        keep = np.flatnonzero(unknown[SHINGLE_WORDS:] == unknown[:count])
        owner = np.searchsorted(np.array(starts), keep, side="right") - 1
        return hashes[keep], owner

    @classmethod
    def for_recipe(cls, recipe: Recipe) -> LeakChecker:
        """The checker over every question of the recipe's [[leak_check]] files and leak_check_suites."""
        return cls(
            [(check, recipe.leak_path(check)) for check in recipe.leak_check],
            suite_eval_splits(recipe.leak_check_suites),
        )

    def describe(self, leak: Leak) -> str:
        question = self.questions[leak.question]
        return f"{question.file} question {question.qid} ({leak.evidence})"

    def find_in_texts(self, texts: list[str], questions: list[str | None]) -> list[Leak]:
        """`find` over plain texts (e.g. memory-store entries); Leak.doc indexes `texts`."""
        docs = _Documents(texts=texts, lines=list(range(1, len(texts) + 1)), questions=questions)
        return self.find(docs)

    def find(self, docs: _Documents) -> list[Leak]:
        """Every leaking document, with the eval question it leaks and why."""
        leaks: dict[int, Leak] = {}
        for doc, question in enumerate(docs.questions):
            if question is not None:
                match = self.exact.get(normalise(question))
                if match is not None:
                    leaks[doc] = Leak(doc, match, "the same question")
        if self._shingle_hashes.size:
            for first in range(0, len(docs.texts), SCAN_CHUNK):  # bounds the memory of the hash arrays
                hashes, owner = self._window_hashes(docs.texts[first : first + SCAN_CHUNK])
                found = np.searchsorted(self._shingle_hashes, hashes)
                found = np.minimum(found, len(self._shingle_hashes) - 1)
                for doc in (np.unique(owner[self._shingle_hashes[found] == hashes]) + first).tolist():
                    if doc not in leaks:
                        leak = self._shingle_leak(doc, docs.texts[doc])
                        if leak is not None:
                            leaks[doc] = leak
        return [leaks[doc] for doc in sorted(leaks)]

    def _shingle_leak(self, doc: int, text: str) -> Leak | None:
        words = words_of(text)
        present: dict[int, list[str]] = {}
        for shingle in {
            " ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)
        }:
            for question in self.shingles.get(shingle, ()):
                present.setdefault(question, []).append(shingle)
        for question, shingles in sorted(present.items(), key=lambda item: -len(item[1])):
            total = self.questions[question].shingles
            if len(shingles) >= SHINGLE_FRACTION * total:
                return Leak(
                    doc, question, f"{len(shingles)}/{total} of its 8-word shingles, e.g. {min(shingles)!r}"
                )
        return None


def suite_eval_splits(names: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Every evaluation split (all but train) of the named synthetic suites, drawn at the seed `reasonkit bench`
    evaluates, as {"suite:split": [(question id, text), ...]}."""
    if not names:
        return {}
    found: dict[str, list[tuple[str, str]]] = {}
    for name in names:
        for split, questions in _suite_eval_splits(name):
            found[f"{name}:{split}"] = list(questions)
    return found


@functools.cache
def _suite_eval_splits(name: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """One suite's evaluation splits, drawn once per process: a suite draws its 20,000-question train split
    too (seconds), and a loop that fine-tunes again and again (`reasonkit star`) checks the same splits each time."""
    from reasonkit.benchmarks.synthetic import suites
    from reasonkit.benchmarks.synthetic.base import TRAINED_SEED

    return tuple(
        (split, tuple((q.id, q.text) for q in questions))
        for split, questions in suites()[name].generate(TRAINED_SEED).splits.items()
        if split != "train"
    )


def apply_leak_check(checker: LeakChecker, source: Source, path: Path, docs: _Documents) -> None:
    """Raise DataLeakError on leaking documents, or drop and count them when the source allows it."""
    leaks = checker.find(docs)
    if not leaks:
        return
    if not source.drop_eval_overlap:
        lines = [f"  {path}:{docs.lines[leak.doc]}: {checker.describe(leak)}" for leak in leaks[:10]]
        more = f"\n  ... and {len(leaks) - 10} more" if len(leaks) > 10 else ""
        raise DataLeakError(
            f"source {source.name!r}: {len(leaks)} training document(s) contain dev/test questions "
            f"(set drop_eval_overlap = true on the source to drop them):\n" + "\n".join(lines) + more
        )
    leaking = {leak.doc for leak in leaks}
    docs.keep([i not in leaking for i in range(len(docs.texts))])
    docs.dropped_leaks = len(leaking)
    logger.info("source %s: dropped %d rows that contain dev/test questions", source.name, len(leaking))


# ---- splitting, tokenizing, caching ---------------------------------------------------------------------


def split_validation(docs: _Documents, source: Source) -> tuple[list[str], list[str]]:
    """(train, val) texts; val is the ~1% of documents with the smallest content hash, so it is stable."""
    count = len(docs.texts)
    n_val = max(math.ceil(count * VAL_FRACTION), min(MIN_VAL_DOCS, count // 10))
    if count - n_val < 1:
        raise DataError(
            f"source {source.name!r}: {count} document(s) are too few to hold out a validation slice"
            + (" (a text source is split on doc_separator)" if source.format == "text" else "")
        )
    order = sorted(range(count), key=lambda i: _doc_hash(docs.texts[i]))
    val = set(order[:n_val])
    train = [docs.texts[i] for i in order[n_val:]]  # hash order: a fair sample for the tokenizer
    return train, [docs.texts[i] for i in sorted(val)]


def _read_checked_split(
    source: Source, path: Path, checker: LeakChecker
) -> tuple[list[str], list[str], _Documents]:
    """(train texts, val texts, documents) of one source, after the leak check."""
    started = time.perf_counter()
    docs = read_documents(source, path)
    apply_leak_check(checker, source, path, docs)
    train, val = split_validation(docs, source)
    logger.info(
        "source %s: %d documents (%d rows skipped, %d leaks dropped) read and checked in %.1fs",
        source.name,
        len(docs.texts),
        docs.skipped,
        docs.dropped_leaks,
        time.perf_counter() - started,
    )
    return train, val, docs


def _write_tokens(
    tokenizer: Tokenizer,
    texts: list[str],
    path: Path,
    scheme: PositionScheme | None = None,
    loss_after: str | None = None,
) -> int:
    """Documents, each followed by eot_id, as uint16 into `path` (temp file + rename); returns the count.

    With a position scheme, also every token's position id as int32 into `positions_path(path)`: a document
    the scheme declines counts 0, 1, 2, ...; every document starts one after the previous one's end-of-text
    (only differences between positions reach the model).

    With loss_after, also one uint8 per token into `mask_path(path)`: 1 where the token is a target the
    loss counts (the completion after the marker, and the end-of-text). Prompt and completion are tokenized
    apart, as a log-likelihood request's context and continuation are, so training sees the boundary the
    scorer will."""
    next_start = 0
    total = 0
    with (
        atomic_file(path) as handle,
        atomic_file(positions_path(path)) if scheme is not None else contextlib.nullcontext() as pos_handle,
        atomic_file(mask_path(path)) if loss_after is not None else contextlib.nullcontext() as mask_handle,
    ):
        for start in range(0, len(texts), ENCODE_CHUNK):
            chunk = texts[start : start + ENCODE_CHUNK]
            if loss_after is None:
                encoded = tokenizer.encode_batch(chunk)
            else:
                prompts, completions = zip(
                    *(split_completion(text, loss_after) for text in chunk), strict=True
                )
                heads, tails = tokenizer.encode_batch(prompts), tokenizer.encode_batch(completions)
                encoded = [head + tail for head, tail in zip(heads, tails, strict=True)]
                mask = itertools.chain.from_iterable(
                    [0] * len(head) + [1] * (len(tail) + 1) for head, tail in zip(heads, tails, strict=True)
                )
                np.fromiter(mask, dtype=np.uint8).tofile(mask_handle)
            if scheme is not None:
                positions = []
                for text, ids in zip(chunk, encoded, strict=True):
                    own = scheme.for_ids(tokenizer, ids, text) or list(range(len(ids)))
                    row = np.asarray(own + [max(own, default=-1) + 1], dtype=np.int64) + next_start
                    next_start = int(row[-1]) + 1
                    positions.append(row)
                if next_start > np.iinfo(np.int32).max:
                    raise DataError(f"{path.name}: position ids pass the int32 range; split the source")
                np.concatenate(positions).astype(np.int32).tofile(pos_handle)
            for ids in encoded:
                ids.append(tokenizer.eot_id)
            count = sum(map(len, encoded))
            flat = np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.uint16, count=count)
            flat.tofile(handle)
            total += len(flat)
    return total


def positions_path(tokens_path: Path) -> Path:
    """Where the position ids of a token shard live ("x.train.bin" -> "x.train.pos.bin")."""
    return tokens_path.with_suffix(".pos.bin")


def mask_path(tokens_path: Path) -> Path:
    """Where the loss mask of a token shard lives ("x.train.bin" -> "x.train.mask.bin")."""
    return tokens_path.with_suffix(".mask.bin")


def _atomic_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, json.dumps(value, indent=2, sort_keys=True).encode())


def _source_key(source: Source, path: Path) -> str:
    """Content of the file + every option that changes its documents + the source of the formatter's module."""
    content = _digest(list(generated_rows(source))) if source.format == "generated" else sha256_file(path)
    parts: dict[str, Any] = {"file": content, "source": source.model_dump(exclude={"weight", "path"})}
    if source.formatter:
        parts["formatter_module"] = _module_digest(source.formatter)
    return _digest(parts)


def _module_digest(spec: str, role: str = "formatter") -> str | None:
    """Hash of the source of the module holding 'package.module:function': editing it renews the caches."""
    module = sys.modules[import_formatter(spec, role).__module__]
    try:
        return hashlib.sha256(inspect.getsource(module).encode()).hexdigest()
    except (OSError, TypeError):  # no source available (compiled module): the name must do
        return None


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class _Stream:
    name: str
    train: np.ndarray
    val: np.ndarray
    train_positions: np.ndarray | None = None  # int32 per token, with a position scheme
    val_positions: np.ndarray | None = None
    train_mask: np.ndarray | None = None  # uint8 per token, 1 = a trained target (a source with loss_after)
    val_mask: np.ndarray | None = None


class Batch(NamedTuple):
    """Inputs and next-token targets (batch_size, block_size); positions only under a position scheme.
    A target of -1 is not trained on (a prompt token of a source with loss_after)."""

    inputs: torch.Tensor
    targets: torch.Tensor
    positions: torch.Tensor | None = None


class TrainData:
    """Token streams of the recipe's sources and the mixture sampler over them."""

    def __init__(
        self, recipe: Recipe, tokenizer: Tokenizer, streams: list[_Stream], stats: DataStats
    ) -> None:
        self.recipe = recipe
        self.tokenizer = tokenizer
        self.stats = stats
        self._streams = streams
        self._weights = np.array([s.weight for s in recipe.sources], dtype=np.float64)
        self._weights /= self._weights.sum()

    @classmethod
    def prepare(cls, recipe: Recipe, cache_dir: str | Path) -> TrainData:
        """Read, leak-check, split and tokenize every source, or reuse the shards cached by an earlier run."""
        started = time.perf_counter()
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        paths = {s.name: recipe.source_path(s) for s in recipe.sources}
        checks = [(check, recipe.leak_path(check)) for check in recipe.leak_check]
        leak_key = _digest(
            [[c.model_dump(), sha256_file(p)] for c, p in checks]
            + ([["suites", recipe.leak_check_suites]] if recipe.leak_check_suites else [])
        )
        source_keys = {s.name: _source_key(s, paths[s.name]) for s in recipe.sources}
        tok_key = _digest([CACHE_FORMAT, recipe.tokenizer.model_dump(), source_keys, leak_key])
        tok_path = cache_dir / f"tokenizer-{tok_key}.json"
        if recipe.init_dir is not None:  # fine-tuning keeps the init model's tokenizer
            tok_path = recipe.init_dir / "tokenizer.json"
        tokenizer = Tokenizer.load(tok_path) if tok_path.is_file() else None

        scheme = load_scheme(recipe.position_scheme)
        # no key part without a scheme: the caches of earlier runs stay valid
        scheme_key = [] if scheme is None else [scheme.spec, _module_digest(scheme.spec, "position_scheme")]

        def shard_dir(name: str, tok: Tokenizer) -> Path:
            return cache_dir / _digest(
                [CACHE_FORMAT, tok.fingerprint, source_keys[name], leak_key, *scheme_key]
            )

        missing = [
            s
            for s in recipe.sources
            if tokenizer is None or not (shard_dir(s.name, tokenizer) / f"{s.name}.meta.json").is_file()
        ]
        checker_stats: LeakCheckStats | None = None
        if missing:
            checker = LeakChecker.for_recipe(recipe)
            checker_stats = checker.stats
            logger.info(
                "leak check against %d questions (%d shingles) from %d files",
                len(checker.questions),
                len(checker.shingles),
                len(checker.files),
            )
            splits = {
                source.name: _read_checked_split(source, paths[source.name], checker)
                for source in (recipe.sources if tokenizer is None else missing)
            }
            if tokenizer is None:
                tokenizer = cls._train_tokenizer(recipe, {name: split[0] for name, split in splits.items()})
                tokenizer.save(tok_path)
            for source in missing:
                train, val, docs = splits[source.name]
                cls._write_source(
                    tokenizer, source, shard_dir(source.name, tokenizer), train, val, docs, checker, scheme
                )
        assert tokenizer is not None
        streams, source_stats = [], {}
        for source in recipe.sources:
            folder = shard_dir(source.name, tokenizer)
            meta = json.loads((folder / f"{source.name}.meta.json").read_text())
            if source not in missing:
                logger.info("source %s: reusing cached tokens in %s", source.name, folder)
            checker_stats = checker_stats or LeakCheckStats.model_validate(meta["leak_check"])
            source_stats[source.name] = SourceStats(**meta["stats"], reused=source not in missing)
            train_path, val_path = folder / f"{source.name}.train.bin", folder / f"{source.name}.val.bin"
            masked = source.loss_after is not None
            streams.append(
                _Stream(
                    source.name,
                    _memmap(train_path),
                    _memmap(val_path),
                    None if scheme is None else _memmap(positions_path(train_path), np.int32),
                    None if scheme is None else _memmap(positions_path(val_path), np.int32),
                    _memmap(mask_path(train_path), np.uint8) if masked else None,
                    _memmap(mask_path(val_path), np.uint8) if masked else None,
                )
            )
        stats = DataStats(
            tokenizer=tokenizer.fingerprint,
            vocab_size=tokenizer.vocab_size,
            sources=source_stats,
            leak_check=checker_stats or LeakCheckStats(eval_files=[], eval_questions=0, shingles=0),
        )
        data = cls(recipe, tokenizer, streams, stats)
        data._check_lengths(recipe.architecture(tokenizer.vocab_size).block_size)
        logger.info("training data ready in %.1fs: %s", time.perf_counter() - started, data.summary())
        return data

    @staticmethod
    def _train_tokenizer(recipe: Recipe, train_texts: dict[str, list[str]]) -> Tokenizer:
        """BPE on up to sample_chars characters of each source (documents in hash order: a fair sample)."""
        started = time.perf_counter()

        def sample() -> Iterator[str]:
            for texts in train_texts.values():
                budget = recipe.tokenizer.sample_chars
                for text in texts:
                    if budget <= 0:
                        break
                    yield text[:budget]
                    budget -= len(text)

        tokenizer = Tokenizer.train(sample(), vocab_size=recipe.tokenizer.vocab_size)
        logger.info(
            "trained tokenizer (vocab %d, %s) in %.1fs",
            tokenizer.vocab_size,
            tokenizer.fingerprint,
            time.perf_counter() - started,
        )
        return tokenizer

    @staticmethod
    def _write_source(
        tokenizer: Tokenizer,
        source: Source,
        folder: Path,
        train: list[str],
        val: list[str],
        docs: _Documents,
        checker: LeakChecker,
        scheme: PositionScheme | None,
    ) -> None:
        started = time.perf_counter()
        folder.mkdir(parents=True, exist_ok=True)
        train_tokens = _write_tokens(
            tokenizer, train, folder / f"{source.name}.train.bin", scheme, source.loss_after
        )
        val_tokens = _write_tokens(
            tokenizer, val, folder / f"{source.name}.val.bin", scheme, source.loss_after
        )
        stats = {
            "documents": len(train) + len(val),
            "val_documents": len(val),
            "train_tokens": train_tokens,
            "val_tokens": val_tokens,
            "rows_skipped": docs.skipped,
            "rows_dropped_as_leaks": docs.dropped_leaks,
        }
        # the meta file is written last: its presence marks the shards complete
        _atomic_json(
            folder / f"{source.name}.meta.json", {"stats": stats, "leak_check": checker.stats.model_dump()}
        )
        logger.info(
            "source %s: tokenized %d + %d tokens in %.1fs",
            source.name,
            train_tokens,
            val_tokens,
            time.perf_counter() - started,
        )

    def _check_lengths(self, block_size: int) -> None:
        """Every source must fill a training window; small sources may be left out of validation."""
        for stream in self._streams:
            if len(stream.train) < block_size + 1:
                raise DataError(
                    f"source {stream.name!r}: train split has {len(stream.train)} tokens, fewer than "
                    f"block_size + 1 = {block_size + 1}; add data or lower block_size"
                )
        if not self._split_weights("val", block_size).any():
            raise DataError(f"no source has a val split of block_size + 1 = {block_size + 1} tokens")

    def _split_weights(self, split: str, block_size: int) -> np.ndarray:
        """Mixture weights over the sources whose `split` fills a window (val: small sources drop out)."""
        fits = np.array([len(getattr(s, split)) > block_size for s in self._streams], dtype=np.float64)
        weights = self._weights * fits
        return weights / weights.sum() if weights.any() else weights

    def summary(self) -> str:
        parts = [f"{name} {s.train_tokens:,}+{s.val_tokens:,}" for name, s in self.stats.sources.items()]
        return "tokens (train+val): " + ", ".join(parts)

    def batch(self, step: int, micro_step: int, rank: int, batch_size: int, block_size: int) -> Batch:
        """Windows from sources drawn by mixture weight.

        A pure function of (recipe seed, step, micro_step, rank): resuming reproduces it, ranks differ."""
        rng = np.random.default_rng([self.recipe.seed, 0, step, micro_step, rank])
        return self._sample(rng, "train", batch_size, block_size)

    def val_batches(self, n_batches: int, batch_size: int, block_size: int) -> list[Batch]:
        """The same held-out batches on every call, so validation losses are comparable across a run."""
        rng = np.random.default_rng([self.recipe.seed, 1, batch_size, block_size])
        return [self._sample(rng, "val", batch_size, block_size) for _ in range(n_batches)]

    def _sample(self, rng: np.random.Generator, split: str, batch_size: int, block_size: int) -> Batch:
        self._check_lengths(block_size)
        weights = self._weights if split == "train" else self._split_weights(split, block_size)
        sources = rng.choice(len(self._streams), size=batch_size, p=weights)
        rows = np.empty((batch_size, block_size + 1), dtype=np.int64)
        positioned = self._streams[0].train_positions is not None
        positions = np.empty((batch_size, block_size), dtype=np.int64) if positioned else None
        window = np.arange(block_size + 1)
        ignored = np.zeros((batch_size, block_size), dtype=bool)
        for index in np.unique(sources):
            stream = self._streams[index]
            tokens = getattr(stream, split)
            picked = np.flatnonzero(sources == index)
            starts = rng.integers(0, len(tokens) - block_size, size=len(picked))
            rows[picked] = tokens[starts[:, None] + window]
            mask = getattr(stream, f"{split}_mask")
            if mask is not None:
                ignored[picked] = mask[starts[:, None] + window[1:]] == 0
            if positions is not None:
                ids = getattr(stream, f"{split}_positions")[starts[:, None] + window[:-1]].astype(np.int64)
                positions[picked] = ids - ids[:, :1]  # only differences matter; keep the numbers small
        targets = np.where(ignored, -1, rows[:, 1:])
        return Batch(
            torch.from_numpy(rows[:, :-1].copy()),
            torch.from_numpy(targets),
            None if positions is None else torch.from_numpy(positions),
        )


def _memmap(path: Path, dtype: type[np.integer] = np.uint16) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")
