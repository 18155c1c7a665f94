"""Helpers for writing files atomically (temporary name in the target folder, then rename)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def new_file_mode(path: str | os.PathLike) -> int:
    """Permissions for a file about to replace ``path``: those of the file it replaces, else
    ``0o666 & ~umask`` (``tempfile.mkstemp`` creates 0600 files, which is wrong for outputs)."""
    try:
        return Path(path).stat().st_mode & 0o7777
    except OSError:
        pass
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: int | None = None):
    """``with atomic_writer(path) as f: f.write(...)``: a binary file under a temporary name in
    the target folder, flushed, fsynced and renamed over ``path`` when the block succeeds;
    removed (and ``path`` untouched) when it raises. ``mode``: permissions (default
    :func:`new_file_mode`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode(path) if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, mode) as f:
        f.write(data)
