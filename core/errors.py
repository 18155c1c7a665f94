"""Exceptions whose message is a complete one-line explanation for the user, and the one
formatter (:func:`error_message`) that turns any exception into such a line (CLI and app)."""

from __future__ import annotations

import errno
import os
import sys


class CisrError(Exception):
    """Base class: ``str(err)`` is shown to the user as is, without a traceback."""


class ImageLoadError(CisrError):
    """An input image cannot be used (missing, truncated, not an image, empty, too large)."""


class CheckpointError(CisrError):
    """A checkpoint cannot be loaded (missing, corrupt, unsafe, unknown architecture)."""


class BareStateDictError(CheckpointError):
    """A model file that is a plain state dict (no CiSR Zoom / LIIF model entry or spec), e.g.
    an ESRGAN-family model; ``obj`` is what was read (a dict), for a loader that knows more
    architectures (:mod:`cisr_zoom.core.fixed_scale`)."""

    def __init__(self, message: str, obj=None):
        super().__init__(message)
        self.obj = obj


class UsageError(CisrError):
    """A command-line or configuration value is out of range or malformed."""


class SizeError(CisrError, ValueError):
    """An output size that is not two whole numbers of at least 1 pixel."""


class OutputError(CisrError, OSError):
    """An output file or folder cannot be written (permission, full disk, read-only file system,
    a path that is a file). Also an :class:`OSError` (with ``errno``), so callers that handle
    OS errors keep working; ``str(err)`` is the one-line message."""

    def __init__(self, message: str, err: int | None = None):
        OSError.__init__(self, err or 0, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class OutputExistsError(OutputError):
    """An output that must not replace an existing file found one at its name (also one that
    another process wrote while this one worked: :func:`~.atomic.atomic_writer`)."""


#: plain words for the OS errors an output can hit
_OUTPUT_REASONS = {getattr(errno, name): reason for name, reason in (
    ("EACCES", "permission denied"),
    ("EPERM", "permission denied"),
    ("ENOSPC", "no space left on the device"),
    ("EDQUOT", "disk quota exceeded"),
    ("EROFS", "the file system is read-only"),
    ("ENOTDIR", "a part of the path is a file, not a folder"),
    ("EISDIR", "it is a folder"),
    ("EEXIST", "a file of that name is in the way"),
    ("ENAMETOOLONG", "the name is too long"),
    ("ENOENT", "the folder does not exist"),
    ("EFBIG", "the file is too large for this file system"),
    ("ELOOP", "the path has a loop of symbolic links"),
) if hasattr(errno, name)}


def output_error(path: str | os.PathLike, err: OSError, what: str = "write") -> OutputError:
    """The one-line :class:`OutputError` for an OS error ``err`` while writing ``path``."""
    if isinstance(err, OutputError):
        return err
    reason = _OUTPUT_REASONS.get(err.errno or -1) or (err.strerror or str(err) or type(err).__name__).lower()
    return OutputError(f"cannot {what} '{os.fspath(path)}': {reason}", err.errno)


def is_symlink_loop(err: BaseException) -> bool:
    """pathlib's ``RuntimeError('Symlink loop from ...')`` (``Path.resolve`` on Python < 3.13),
    an OS error in all but type."""
    return isinstance(err, RuntimeError) and str(err).startswith("Symlink loop")


def is_out_of_memory(err: BaseException) -> bool:
    """True for host or device out-of-memory errors (``MemoryError``, torch's
    ``OutOfMemoryError``, and the runtime errors MPS and other back-ends raise for it)."""
    if isinstance(err, MemoryError):
        return True
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom is not None and isinstance(err, oom):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


OUT_OF_MEMORY_HINT = "out of memory: try a smaller output, the CPU device, or close other programs"


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of ``text``, at most ``limit`` characters."""
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def error_message(e: BaseException) -> str:
    """One line for the user, for any exception: a :class:`CisrError`'s own text; out of
    memory with a hint; an OS error in words with its file; anything else is named as an
    unexpected error (a bug) with its type and first line, and asks to be reported."""
    if isinstance(e, CisrError):
        return first_line(str(e), 1000) or type(e).__name__
    if is_out_of_memory(e):
        detail = first_line(str(e), 160)
        return OUT_OF_MEMORY_HINT + (f" ({detail})" if detail and not isinstance(e, MemoryError) else "")
    if isinstance(e, OSError):
        reason = (e.strerror or first_line(str(e)) or type(e).__name__)
        return f"{reason}: '{e.filename}'" if e.filename else reason
    if isinstance(e, RecursionError):
        return "the input is nested too deeply to process"
    if is_symlink_loop(e):
        where = str(e).partition(" from ")[2]
        return f"the path {where or ''} has a loop of symbolic links".replace("  ", " ")
    text = first_line(str(e), 300)
    kind = type(e).__name__
    return (f"unexpected error ({kind}{': ' + text if text else ''}); this is a bug in CiSR Zoom: "
            f"please report it with these words and what you were doing")
