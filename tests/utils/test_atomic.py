"""Atomic writes leave either the old file or the new one, never a partial one."""

import pytest

from flowvox.utils.atomic import atomic_path, atomic_write_text


def test_success_renames_and_keeps_suffix(tmp_path):
    with atomic_path(tmp_path / "sub" / "a.wav") as tmp:
        assert tmp.suffix == ".wav" and tmp.parent == tmp_path / "sub"
        tmp.write_bytes(b"data")
    assert (tmp_path / "sub" / "a.wav").read_bytes() == b"data"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.wav"]


def test_failure_keeps_old_file_and_removes_temp(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_file_mode_follows_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
