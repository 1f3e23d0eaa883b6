import hashlib
import os
import stat
from pathlib import Path

import pytest

from reasonkit.atomic import atomic_file, atomic_path, atomic_write_bytes, atomic_write_text, sha256_file


def test_a_write_in_pieces_appears_whole_and_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "tokens.bin"
    with atomic_file(target) as handle:
        handle.write(b"abc")
        assert not target.exists()  # nothing at the path until the block ends
        handle.write(b"def")
    assert target.read_bytes() == b"abcdef"
    assert [p.name for p in target.parent.iterdir()] == ["tokens.bin"]


def test_an_error_inside_the_block_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "meta.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_file(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_write_bytes_replaces_and_sha256_matches_hashlib(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"x" * (3 << 20))  # larger than one read block
    assert sha256_file(target) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


def test_a_new_file_gets_the_umask_mode_and_a_replaced_one_keeps_its_mode(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.json"
        atomic_write_text(fresh, "{}")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        shared = tmp_path / "shared.json"
        shared.write_text("old")
        shared.chmod(0o664)
        atomic_write_text(shared, "new")
        assert stat.S_IMODE(shared.stat().st_mode) == 0o664 and shared.read_text() == "new"
    finally:
        os.umask(old_umask)


def test_a_write_through_a_path_lands_whole_with_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    with pytest.raises(RuntimeError, match="killed"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"weights")
        assert not target.exists()
    assert target.read_bytes() == b"weights" and list(tmp_path.iterdir()) == [target]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current_umask()


def test_a_saved_model_folder_is_readable_like_any_file(tiny_model_dir: Path) -> None:
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tiny_model_dir.iterdir() if p.is_file()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(modes)
    assert set(modes.values()) == {0o666 & ~current_umask()}


def current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask
