from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasonkit.jsonl import JsonlError, iter_jsonl


def write(tmp_path: Path, data: bytes, name: str = "rows.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.gz"])
def test_json_nested_too_deeply_names_file_and_line(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, b'{"a": 1}\n\n{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", name)
    with pytest.raises(JsonlError, match=rf"^{path}:3: JSON nested too deeply"):
        list(iter_jsonl(path))


def test_bytes_that_are_not_utf8_name_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": "ok"}\n{"a": "caf\xe9"}\n')
    with pytest.raises(JsonlError, match=rf"^{path}:2: not UTF-8 \(byte 11 of the line\)"):
        list(iter_jsonl(path))


def test_rows_come_with_their_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, '{"a": 1}\r\n\n{"b": "é"}\n'.encode())
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (3, {"b": "é"})]


lines = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=8,
    ).map(lambda value: repr(value).encode()),
    st.integers(1, 5000).map(lambda depth: b'{"a": ' + b"[" * depth + b"]" * depth + b"}"),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lines, max_size=4))
def test_fuzzed_files_give_rows_or_a_jsonl_error(tmp_path: Path, content: list[bytes]) -> None:
    path = write(tmp_path, b"\n".join(content))
    try:
        rows = list(iter_jsonl(path))
    except JsonlError as error:
        assert str(error).startswith(f"{path}:")
    else:
        assert all(isinstance(row, dict) for _, row in rows)
