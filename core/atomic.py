"""Every file write of the project: a temporary name in the target folder, then a rename.

* :func:`atomic_writer` / :func:`atomic_write_bytes` / :func:`atomic_write_text`: the file
  appears at ``path`` only when complete; on any error, cancellation or stop signal the
  temporary file is removed (and folders this call created, if still empty), ``path`` is
  untouched.
* :func:`append_text`: an append-only log line; on failure the file is cut back to its old
  length (removed if this call created it).
* :func:`rename_file`: a plain move (e.g. an unusable settings file moved aside).
* :func:`make_dirs`: ``mkdir -p`` that reports failures in words.

OS errors (permission, full disk, read-only file system, a path that is a file) become one
:class:`~.errors.OutputError` line naming the path (see :func:`~.errors.output_error`).
Temporary files still open are listed in a registry, so a process that stops on a signal can
remove them (:func:`remove_temporary_files`).
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

from .errors import output_error

_LIVE_LOCK = threading.Lock()
_LIVE_TEMPS: set[str] = set()


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


def make_dirs(folder: str | os.PathLike) -> List[Path]:
    """Create ``folder`` and missing parents; returns the folders created (outermost first).
    Raises :class:`~.errors.OutputError` (e.g. a parent is a file, or not writable)."""
    folder = Path(folder)
    missing: List[Path] = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise output_error(folder, e, "create the folder") from None
    if not folder.is_dir():
        raise output_error(folder, FileExistsError(17, "File exists"), "use the folder")
    return list(reversed(missing))


def remove_empty_dirs(created: List[Path]) -> None:
    """Remove folders from :func:`make_dirs`'s list again, innermost first, if still empty."""
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            return


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync(f) -> None:
    f.flush()
    try:
        os.fsync(f.fileno())
    except OSError as e:
        if e.errno not in (22, 95):   # EINVAL, EOPNOTSUPP: the file system cannot sync; fine
            raise


@contextmanager
def atomic_writer(path: str | os.PathLike, mode: int | None = None, *, suffix: str = ".tmp",
                  text: bool = False, encoding: str = "utf-8") -> Iterator[io.IOBase]:
    """``with atomic_writer(path) as f: f.write(...)``: a file (binary, or ``text``) under a
    temporary name ``.NAME.*SUFFIX`` in the target folder, flushed, fsynced and renamed over
    ``path`` when the block succeeds; removed (and ``path`` untouched) when it raises
    anything, ``KeyboardInterrupt`` and stop signals included. ``mode``: permissions
    (default :func:`new_file_mode`). OS errors raise :class:`~.errors.OutputError`."""
    path = Path(path)
    created = make_dirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:
        remove_empty_dirs(created)
        raise output_error(path, e) from None
    with _LIVE_LOCK:
        _LIVE_TEMPS.add(tmp)
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": encoding, "newline": ""} if text else {})) as f:
            yield f
            _fsync(f)
        os.chmod(tmp, new_file_mode(path) if mode is None else mode)
        os.replace(tmp, path)
    except BaseException as e:
        _unlink_quietly(tmp)
        remove_empty_dirs(created)
        if isinstance(e, OSError):
            raise output_error(path, e) from None
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE_TEMPS.discard(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, mode) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, mode: int | None = None, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, mode, text=True, encoding=encoding) as f:
        f.write(text)


def append_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Append ``text`` to ``path`` (a log); all of it or nothing: on failure the file is cut
    back to its previous length, or removed if this call created it."""
    path = Path(path)
    data = text.encode(encoding)
    existed = path.exists()
    try:
        with open(path, "ab") as f:
            start = f.tell()
            try:
                f.write(data)
                f.flush()
            except BaseException:
                try:
                    f.truncate(start)
                except OSError:
                    pass
                raise
    except BaseException as e:
        if not existed:
            _unlink_quietly(str(path))
        if isinstance(e, OSError):
            raise output_error(path, e) from None
        raise


def rename_file(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move ``src`` to ``dst`` (same file system), replacing ``dst``. Raises OutputError."""
    try:
        os.replace(src, dst)
    except OSError as e:
        raise output_error(dst, e, "move a file to") from None


def remove_temporary_files() -> int:
    """Remove the temporary files of writes still in progress (a process stopping on a
    signal whose writers cannot run their own clean-up); returns how many were removed."""
    with _LIVE_LOCK:
        live = list(_LIVE_TEMPS)
        _LIVE_TEMPS.clear()
    for tmp in live:
        _unlink_quietly(tmp)
    return len(live)
