"""Atomic file writes: write to a temporary name beside the target, then rename.

A reader (or a crashed run) never sees a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flowvox.errors import FlowvoxError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``path``.

    The temporary name keeps the target's suffix (or ``suffix``) so that libraries which
    pick a format from the extension (soundfile, safetensors) still work. On an exception
    the temporary file is removed and the target is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; give the usual file mode
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _current_umask() -> int:
    """The process umask, read from /proc where possible (thread-safe), else set and reset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_new_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder to create: refused when it exists non-empty (or is a file), or
    when its parent folder is missing."""

    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FlowvoxError(f"{out}: exists and is not empty; choose a new folder")
    if not out.parent.is_dir():
        raise FlowvoxError(f"{out.parent}: no such folder; create it first")
    return out


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, tag: str = "writing") -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path`` (checked with ``check_new_folder``);
    on success it is renamed onto ``path``, on an exception it is removed. Verify the
    folder's contents inside the block: only a complete folder gets the final name."""
    import shutil

    out = check_new_folder(path)
    tmp = out.with_name(f".{out.name}.{tag}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            out.rmdir()  # empty (checked above)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
