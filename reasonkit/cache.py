"""`CachedLM`: a persistent, content-addressed cache in front of any `LanguageModel`.

One sqlite row per request, keyed by sha256(model fingerprint, kind, request JSON): the JSON holds every
sampling parameter and the seed, so a cached sample is exactly the one the model would draw again. WAL mode
lets many processes read while one writes. Only the misses of a batch reach the model, as one batch.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from reasonkit.protocol import (
    GenerationRequest,
    GenerationResult,
    LanguageModel,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    call_backend,
)

__all__ = [
    "CacheStats",
    "CachedLM",
    "ReportsCacheHits",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SQL_VARIABLES = 500  # keys per SELECT ... IN (...), well under sqlite's limit

R = TypeVar("R", bound=BaseModel)


@runtime_checkable
class ReportsCacheHits(Protocol):
    """A backend that says which results came from a cache; the batching client records it in traces."""

    def loglikelihood_with_hits(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> tuple[list[LoglikelihoodResult], list[bool]]: ...

    def generate_with_hits(
        self, requests: Sequence[GenerationRequest]
    ) -> tuple[list[GenerationResult], list[bool]]: ...


class CacheStats(BaseModel):
    path: str
    entries: int
    hits: int
    misses: int
    size_bytes: int


class CachedLM:
    """Wrap `lm` with the sqlite cache at `path` (created if missing). Same fingerprint as `lm`."""

    def __init__(self, lm: LanguageModel, path: str | Path) -> None:
        self.lm = lm
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise ValueError(
                    f"{self.path}: cache schema version {version}, this reasonkit reads {SCHEMA_VERSION}"
                )
            with self._db:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, kind TEXT NOT NULL,"
                    " request TEXT NOT NULL, output TEXT NOT NULL)"
                )
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise ValueError(f"{self.path}: not a usable reasonkit cache ({error})") from error

    @property
    def fingerprint(self) -> str:
        return self.lm.fingerprint

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self.loglikelihood_with_hits(requests)[0]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return self.generate_with_hits(requests)[0]

    def loglikelihood_with_hits(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> tuple[list[LoglikelihoodResult], list[bool]]:
        return self._through("loglikelihood", requests, LoglikelihoodResult, self.lm.loglikelihood)

    def generate_with_hits(
        self, requests: Sequence[GenerationRequest]
    ) -> tuple[list[GenerationResult], list[bool]]:
        return self._through("generate", requests, GenerationResult, self.lm.generate)

    async def aloglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return (await self.aloglikelihood_with_hits(requests))[0]

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return (await self.agenerate_with_hits(requests))[0]

    async def aloglikelihood_with_hits(
        self, requests: Sequence[LoglikelihoodRequest]
    ) -> tuple[list[LoglikelihoodResult], list[bool]]:
        """As `loglikelihood_with_hits`, awaiting an async backend (a sync one is called inline)."""
        return await self._athrough("loglikelihood", requests, LoglikelihoodResult)

    async def agenerate_with_hits(
        self, requests: Sequence[GenerationRequest]
    ) -> tuple[list[GenerationResult], list[bool]]:
        return await self._athrough("generate", requests, GenerationResult)

    def stats(self) -> CacheStats:
        with self._lock:
            entries = self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return CacheStats(
            path=str(self.path), entries=entries, hits=self.hits, misses=self.misses, size_bytes=size
        )

    def clear(self) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM entries")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CachedLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def key(self, kind: str, request: BaseModel) -> str:
        payload = "\x00".join((self.lm.fingerprint, kind, request.model_dump_json()))
        return hashlib.sha256(payload.encode()).hexdigest()

    def _through(
        self,
        kind: str,
        requests: Sequence[BaseModel],
        result_type: type[R],
        compute: Callable[[list], Sequence[R]],
    ) -> tuple[list[R], list[bool]]:
        keys, found, missing = self._split(kind, requests, result_type)
        if missing:
            self._store(kind, found, missing, list(compute(list(missing.values()))))
        return self._answers(keys, found, missing)

    async def _athrough(
        self, kind: Literal["loglikelihood", "generate"], requests: Sequence[BaseModel], result_type: type[R]
    ) -> tuple[list[R], list[bool]]:
        keys, found, missing = self._split(kind, requests, result_type)
        if missing:
            self._store(kind, found, missing, await call_backend(self.lm, kind, list(missing.values())))
        return self._answers(keys, found, missing)

    def _split(
        self, kind: str, requests: Sequence[BaseModel], result_type: type[R]
    ) -> tuple[list[str], dict[str, R], dict[str, BaseModel]]:
        """Each request's key, the cached results, and the requests still to compute (by key)."""
        keys = [self.key(kind, r) for r in requests]
        found = self._lookup(keys, result_type)
        missing = {k: r for k, r in zip(keys, requests, strict=True) if k not in found}
        return keys, found, missing

    def _store(
        self, kind: str, found: dict[str, R], missing: dict[str, BaseModel], computed: list[R]
    ) -> None:
        if len(computed) != len(missing):
            raise RuntimeError(f"{kind} returned {len(computed)} results for {len(missing)} requests")
        rows = [
            (k, kind, r.model_dump_json(), out.model_dump_json())
            for (k, r), out in zip(missing.items(), computed, strict=True)
        ]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)", rows)
        found.update(zip(missing, computed, strict=True))

    def _answers(
        self, keys: list[str], found: dict[str, R], missing: dict[str, BaseModel]
    ) -> tuple[list[R], list[bool]]:
        hit_flags = [k not in missing for k in keys]
        self.hits += sum(hit_flags)
        self.misses += len(keys) - sum(hit_flags)
        return [found[k] for k in keys], hit_flags

    def _lookup(self, keys: list[str], result_type: type[R]) -> dict[str, R]:
        found: dict[str, R] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), _SQL_VARIABLES):
                part = unique[start : start + _SQL_VARIABLES]
                marks = ",".join("?" * len(part))
                for key, output in self._db.execute(
                    f"SELECT key, output FROM entries WHERE key IN ({marks})", part
                ):
                    try:
                        found[key] = result_type.model_validate_json(output)
                    except ValidationError as error:
                        log.warning("%s: ignoring unreadable cache entry %s (%s)", self.path, key, error)
        return found
