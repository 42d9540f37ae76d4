"""Atomic file writes: write to a temporary name beside the target, then rename.

A reader (or a crashed run) never sees a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from flowvox.errors import FlowvoxError

DISK_FULL = {errno.ENOSPC: "no space left on the disk", errno.EFBIG: "file too large"}
DISK_FULL[errno.EDQUOT] = "disk quota exceeded"
_OS_ERROR = re.compile(r"os error (\d+)")  # how Rust writers (safetensors) quote errno


def disk_full_reason(err: BaseException) -> str | None:
    """What ``err`` says about a full disk (or a file-size limit or quota), else None: an
    ``OSError`` with such an errno, or a writer's error quoting one ("os error 28")."""
    code = err.errno if isinstance(err, OSError) else None
    if code is None and (found := _OS_ERROR.search(str(err))):
        code = int(found.group(1))
    return DISK_FULL.get(code)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``path``.

    The temporary name keeps the target's suffix (or ``suffix``) so that libraries which
    pick a format from the extension (soundfile, safetensors) still work. On an exception
    the temporary file is removed and the target is left untouched.
    """
    target = Path(path)
    if target.is_dir():
        raise FlowvoxError(f"{target}: is a folder; give a file name")
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


def check_output_file(path: str | os.PathLike) -> Path:
    """``path`` as a file to write: refused when it is a folder or its folder is missing."""
    out = Path(path)
    if out.is_dir():
        raise FlowvoxError(f"{out}: is a folder; give a file name")
    _check_parent(out)
    return out


def check_output_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder to write into (new, or one to complete): refused when it is a
    file or its parent folder is missing."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"{out}: exists and is not a folder; choose another folder")
    _check_parent(out)
    return out


def check_new_folder(path: str | os.PathLike) -> Path:
    """``path`` as a folder to create: refused when it exists non-empty (or is a file), or
    when its parent folder is missing."""

    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FlowvoxError(f"{out}: exists and is not empty; choose a new folder")
    _check_parent(out)
    return out


def _check_parent(out: Path) -> None:
    if not out.absolute().parent.is_dir():
        raise FlowvoxError(f"{out.parent}: no such folder; create it first")


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
