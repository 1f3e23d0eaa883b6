"""Reading the JSONL and (gzipped) text files every dataset here comes in, with errors naming file and line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


class JsonlError(ValueError):
    """A line that is not a JSON object; the message starts with "file:line:"."""


def open_text(path: Path) -> IO[str]:
    """Open a UTF-8 text file, transparently decompressing `.gz`."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _open_bytes(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for every non-blank line. Lines are decoded one at a time, so a byte that is not
    UTF-8 is reported on its own line, as is JSON nested too deeply for the parser."""
    with _open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise JsonlError(f"{path}:{number}: not UTF-8 (byte {error.start + 1} of the line)") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise JsonlError(f"{path}:{number}: invalid JSON ({error.msg})") from None
            except RecursionError:
                raise JsonlError(f"{path}:{number}: JSON nested too deeply to read") from None
            if not isinstance(row, dict):
                raise JsonlError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row
