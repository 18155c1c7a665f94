"""Every file write of the project: a temporary name in the target folder, then a rename.

* :func:`atomic_writer` / :func:`atomic_write_bytes` / :func:`atomic_write_text`: the file
  appears at ``path`` only when complete; on any error, cancellation or stop signal the
  temporary file is removed (and folders this call created, if still empty), ``path`` is
  untouched.
* ``overwrite=False``: the no-overwrite policy, atomically: the finished file is linked to
  ``path`` (create-or-fail: :func:`_publish`), so of several processes writing one new
  ``path`` at once exactly one wins and the others raise :class:`~.errors.OutputExistsError`.
* :func:`check_output_folder`: the one rule for an output file's folder (it must exist).
* :func:`probe_writable`: create, fill (one block) and remove a temporary file in an output's
  folder, so a read-only or full disk is reported before any work starts.
* :func:`append_text`: an append-only log line; on failure the file is cut back to its old
  length (removed if this call created it).
* :func:`rename_file`: a plain move (e.g. an unusable settings file moved aside).
* :func:`make_dirs`: ``mkdir -p`` that reports failures in words.

OS errors (permission, full disk, read-only file system, a path that is a file) become one
:class:`~.errors.OutputError` line naming the path (see :func:`~.errors.output_error`).
Temporary files still open are listed in a registry, so a process that stops on a signal can
remove them (:func:`remove_temporary_files`). A process killed outright (SIGKILL, power loss)
cannot: its temporary files are named ``.NAME.PID-HOST-RANDOM.SUFFIX`` (``HOST``: a hash of
the machine's name), and every write removes those in its folder whose process is gone
(:func:`remove_stale_temporary_files`: only names of this pattern, never a live process's,
never the calling process's; files of another machine only after :data:`STALE_FOREIGN_SECONDS`).

OS errors a library swallows (torch's zip writer turns a full disk into ``RuntimeError:
unexpected pos``) are still reported in words: the file the block writes to records the first
OS error of its writes and flushes, and that error is raised in place of the library's.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import secrets
import socket
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

from .errors import OutputError, OutputExistsError, output_error

_LIVE_LOCK = threading.Lock()
_LIVE_TEMPS: set[str] = set()
#: a temporary file of a process on another machine (a shared folder) counts as stale only
#: after this long untouched (its process cannot be checked from here)
STALE_FOREIGN_SECONDS = 7 * 24 * 3600
#: ``.NAME.PID-HOST-RANDOM.SUFFIX`` (RANDOM: 8 hex digits)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>[0-9]{1,10})-(?P<host>[0-9a-f]{8})-[a-z0-9_]{8}\.(part|tmp)$")


def new_file_mode(path: str | os.PathLike) -> int:
    """Permissions for a file about to replace ``path``: those of the file it replaces, else
    ``0o666 & ~umask`` (temporary files are created 0600, which is wrong for outputs)."""
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


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temp_prefix(name: str) -> str:
    """The start of a temporary file's name for the target ``name`` (see the module docstring)."""
    return f".{name}.{os.getpid()}-{_host_tag()}-"


def _create_temp(folder: Path, prefix: str, suffix: str) -> tuple:
    """``(fd, path)`` of a new file ``PREFIX + 8 random hex digits + SUFFIX`` in ``folder``
    (mode 0600, exclusive). The name is listed in the registry of live temporary files *before*
    the file exists, so a stop signal at any point leaves nothing that
    :func:`remove_temporary_files` does not know of."""
    for _ in range(100):
        tmp = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")
        with _LIVE_LOCK:
            _LIVE_TEMPS.add(tmp)
        try:
            return os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600), tmp
        except FileExistsError:
            _forget(tmp)
        except BaseException:
            _forget(tmp)
            raise
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))


def _forget(tmp: str) -> None:
    with _LIVE_LOCK:
        _LIVE_TEMPS.discard(tmp)


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (True when that cannot be told)."""
    if pid <= 0:
        return True
    if os.name == "nt":
        import ctypes
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)   # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.GetLastError() == 5                # access denied: it exists
        try:
            code = ctypes.c_ulong()
            return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True                                          # e.g. another user's process
    return True


def remove_stale_temporary_files(folder: str | os.PathLike) -> List[Path]:
    """Remove temporary files of this module's naming in ``folder`` whose writer is gone: made
    on this machine by a process that no longer runs, or on another machine and untouched for
    :data:`STALE_FOREIGN_SECONDS`. Never this process's own, never another name. Returns the
    files removed; errors are ignored (a clean-up, not the write)."""
    removed: List[Path] = []
    host, me, now = _host_tag(), os.getpid(), time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if m is None:
            continue
        pid = int(m["pid"])
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if m["host"] == host:
                if pid == me or _process_alive(pid):
                    continue
            elif now - entry.stat(follow_symlinks=False).st_mtime < STALE_FOREIGN_SECONDS:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _publish(tmp: str, path: Path, overwrite: bool) -> None:
    """Give the finished temporary file ``tmp`` the name ``path``: a rename over it, or with
    ``overwrite=False`` create-or-fail (a hard link, which refuses an existing name; Windows'
    rename refuses one too; where a file system has no hard links, the name is reserved with
    ``O_EXCL`` first). Raises :class:`OutputExistsError` when ``path`` exists."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        if os.name == "nt":
            os.rename(tmp, path)
            return
        try:
            os.link(tmp, path)
        except OSError as e:
            if e.errno == errno.EEXIST:
                raise
            if e.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOSYS,
                               getattr(errno, "ENOTSUP", -1), getattr(errno, "EOPNOTSUPP", -1)):
                raise
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))   # no hard links here
            os.replace(tmp, path)
            return
        _unlink_quietly(tmp)
    except FileExistsError:
        raise OutputExistsError(f"'{path}' exists (another process wrote it meanwhile); it was not replaced "
                                f"(pass --overwrite to replace it)", errno.EEXIST) from None


class _RecordingWriter(io.BufferedWriter):
    """A buffered file that remembers the first OS error of its writes and flushes, for
    libraries that report it as something else (see the module docstring)."""

    first_error: OSError | None = None

    def _record(self, e: OSError) -> None:
        if self.first_error is None:
            self.first_error = e

    def write(self, b):
        try:
            return super().write(b)
        except OSError as e:
            self._record(e)
            raise

    def flush(self):
        try:
            return super().flush()
        except OSError as e:
            self._record(e)
            raise


def check_output_folder(path: str | os.PathLike) -> None:
    """The one rule for an output *file*: its folder must exist (commands create only the
    folders they are given as folders: ``upscale -o DIR/``, ``train --out``). Raises
    :class:`~.errors.OutputError` naming the missing folder, a part of the path that is a
    file, or a symbolic link loop."""
    path = Path(path).expanduser()
    parent = path.parent
    try:
        st = os.stat(parent)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise output_error(path, e) from None
        p = parent
        while not os.path.lexists(p) and p != p.parent:
            p = p.parent
        if p.exists() and not p.is_dir():
            raise output_error(path, NotADirectoryError(errno.ENOTDIR, "Not a directory")) from None
        raise OutputError(f"cannot write '{path}': the folder '{parent}' does not exist", errno.ENOENT) from None
    if not stat.S_ISDIR(st.st_mode):
        raise output_error(path, NotADirectoryError(errno.ENOTDIR, "Not a directory")) from None


def probe_writable(path: str | os.PathLike) -> None:
    """Check that a file can be written at ``path`` before the work that makes it starts: a
    temporary file (this module's naming) is created in its folder, one block written, and
    removed. Raises :class:`~.errors.OutputError` (read-only folder or file system, no space
    left, a path that is a file). Failures at the end are still possible and reported."""
    path = Path(path).expanduser()
    check_output_folder(path)
    try:
        fd, tmp = _create_temp(path.parent, _temp_prefix(path.name), ".tmp")
    except OSError as e:
        raise output_error(path, e) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
    except OSError as e:
        raise output_error(path, e) from None
    finally:
        _unlink_quietly(tmp)
        _forget(tmp)


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
                  text: bool = False, encoding: str = "utf-8", overwrite: bool = True) -> Iterator[io.IOBase]:
    """``with atomic_writer(path) as f: f.write(...)``: a file (binary, or ``text``) under a
    temporary name ``.NAME.PID-HOST-RANDOM.SUFFIX`` in the target folder, flushed, fsynced and
    renamed over ``path`` when the block succeeds; removed (and ``path`` untouched) when it
    raises anything, ``KeyboardInterrupt`` and stop signals included. ``overwrite=False``:
    an existing ``path`` is never replaced, also one that appears while the block runs
    (:class:`~.errors.OutputExistsError`). ``mode``: permissions (default
    :func:`new_file_mode`). OS errors raise :class:`~.errors.OutputError`, also those a
    library in the block reported as another exception. Stale temporary files of the folder
    are removed first (:func:`remove_stale_temporary_files`)."""
    path = Path(path)
    created = make_dirs(path.parent)
    remove_stale_temporary_files(path.parent)
    try:
        fd, tmp = _create_temp(path.parent, _temp_prefix(path.name), suffix)   # registered for stop signals
    except OSError as e:
        remove_empty_dirs(created)
        raise output_error(path, e) from None
    raw = None
    try:
        raw = _RecordingWriter(io.FileIO(fd, "wb"))
        f = io.TextIOWrapper(raw, encoding=encoding, newline="") if text else raw
        with f:
            yield f
            _fsync(f)
        os.chmod(tmp, new_file_mode(path) if mode is None else mode)
        _publish(tmp, path, overwrite)
    except BaseException as e:
        if raw is None:
            os.close(fd)
        _unlink_quietly(tmp)
        remove_empty_dirs(created)
        if isinstance(e, OSError):
            raise output_error(path, e) from None
        recorded = raw.first_error if raw is not None else None
        if recorded is not None and not isinstance(e, KeyboardInterrupt):
            raise output_error(path, recorded) from None
        raise
    finally:
        _forget(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None, *,
                       overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path, mode, overwrite=overwrite) as f:
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
