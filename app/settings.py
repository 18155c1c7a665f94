"""Persistent settings (JSON in the platform's config dir) and the cache dir.

``CISR_ZOOM_CONFIG_DIR`` and ``CISR_ZOOM_CACHE_DIR`` override the platformdirs locations
(tests, portable installs). Writes are atomic (temporary file in the same folder, then
rename). The file is untrusted input: one that cannot be parsed, is larger than
:data:`MAX_SETTINGS_BYTES` or nested deeper than :data:`MAX_DEPTH` is moved aside to
``settings.json.corrupt`` and replaced by defaults; :attr:`Settings.warning` then holds a
one-line message for the user. Values of the wrong type (or strings longer than
:data:`MAX_STRING`) are replaced by their defaults one by one; lists are cut to their limits
(:data:`LIST_LIMITS`) as they are read; numbers outside their range (:data:`NUMBER_RANGES`)
are clamped into it, with a warning.

Several windows share one file: :meth:`Settings.save` merges, under a lock on
``settings.json.lock`` (:func:`_locked`), what this window changed since it loaded or last
saved with what is on disk now (another window's saves), so no window's change is lost
(recent files and user models: both windows' additions and removals).
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, List, Optional

import platformdirs

from cisr_zoom.core.atomic import atomic_write_bytes, make_dirs, rename_file

APP_NAME = "cisr-zoom"
SETTINGS_FILE = "settings.json"
MAX_RECENT = 10
#: a settings file is a few kB; far larger is not ours (16 MiB still holds 500 000 recent files, cut on load)
MAX_SETTINGS_BYTES = 16 << 20
#: the file is a flat object of scalars, lists of strings and one map of numbers (depth 2)
MAX_DEPTH = 4
#: longest string value kept (paths, base64 window state)
MAX_STRING = 65536
LIST_LIMITS = {"recent_files": MAX_RECENT, "user_models": 100, "compare_models": 16, "grid_models": 2}


def config_dir() -> Path:
    env = os.environ.get("CISR_ZOOM_CONFIG_DIR")
    return Path(env).expanduser() if env else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    env = os.environ.get("CISR_ZOOM_CACHE_DIR")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


DEFAULTS: Dict[str, Any] = {
    "recent_files": [],          # most recent first, absolute paths
    "user_models": [],           # checkpoint files added by the user
    "main_model": None,          # source id of the main view
    "split_model": None,         # source id of the right side in split mode
    "compare_models": [],        # source ids of the comparison panes
    "compare_visible": False,    # the comparison panel is closed on the first run (C opens it)
    "split_enabled": False,
    "view_layout": 1,            # views in the central area: 1, or a grid of 2 or 4
    "grid_models": [],           # source ids of grid views 3 and 4 ("" : empty)
    "device": "auto",            # auto | cpu | cuda | cuda:N | mps
    "exact_float32": False,      # False: precision auto (fastest invisible); True: float32
    "exact_decoder": False,      # False: a model renders through its bundled LM twin if one is good enough
    "tile_cache_mb": 384,
    "feature_cache_mb": 1024,    # per render source, features encoded ahead included (float16)
    "window_geometry": None,     # base64 of QWidget.saveGeometry()
    "window_state": None,        # base64 of QMainWindow.saveState()
    "export_dir": None,
}
#: the documented range of the numeric settings (MB); values outside are clamped on load
NUMBER_RANGES = {"tile_cache_mb": (16, 65536), "feature_cache_mb": (16, 65536)}
#: lists whose entries two windows add and remove independently (merged entry by entry on save)
MERGED_LISTS = ("recent_files", "user_models")
#: longest wait for another window's save to finish (then this one saves anyway)
LOCK_TIMEOUT_S = 10.0


def _ranges_text() -> str:
    return ", ".join(f"{k} {lo}-{hi}" for k, (lo, hi) in NUMBER_RANGES.items())


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of ``value`` (scalars 0), counted no further than ``limit + 1``."""
    stack, deepest = [(value, 0)], 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _type_ok(key: str, value: Any) -> bool:
    default = DEFAULTS[key]
    if key in LIST_LIMITS:
        return isinstance(value, list) and all(isinstance(v, str) and len(v) <= MAX_STRING for v in value)
    if key in ("main_model", "split_model", "window_geometry", "window_state", "export_dir"):
        return value is None or (isinstance(value, str) and len(value) <= MAX_STRING)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if key in NUMBER_RANGES:           # clamped later (:func:`_clamped`); any finite number is usable
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    return isinstance(value, type(default))


def _clamped(key: str, value: Any) -> Any:
    """``value`` of a numeric setting clamped into :data:`NUMBER_RANGES` (a whole number)."""
    lo, hi = NUMBER_RANGES[key]
    return int(min(max(value, lo), hi))


def _merge_list(ours: List[str], base: List[str], theirs: List[str], limit: int) -> List[str]:
    """Three-way merge of a list of paths (most recent first): this window's additions, then
    the other's, then the rest in this window's order; an entry either side removed stays out."""
    new_ours = [p for p in ours if p not in base]
    new_theirs = [p for p in theirs if p not in base and p not in ours]
    rest = [p for p in ours if p in base and p in theirs]
    return (new_ours + new_theirs + rest)[:limit]


def _merge(key: str, ours: Any, base: Any, theirs: Any) -> Any:
    """The value to save of ``key``: the disk's (``theirs``) unless this window changed it
    since ``base``; changed lists are merged entry by entry."""
    if ours == base:
        return theirs
    if key in MERGED_LISTS:
        return _merge_list(ours, base, theirs, LIST_LIMITS[key])
    return ours


@contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on the file ``path`` (created if missing) while the block runs:
    ``fcntl.flock`` on Linux and macOS, ``msvcrt.locking`` on Windows. Waits at most
    :data:`LOCK_TIMEOUT_S`, then runs the block without it (a stuck process must not stop
    this one from saving)."""
    make_dirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    locked = False
    try:
        end = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                if os.name == "nt":
                    import msvcrt
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except OSError:
                if time.monotonic() >= end:
                    break
                time.sleep(0.02)
        yield locked
    finally:
        if locked:
            try:
                if os.name == "nt":
                    import msvcrt
                    os.lseek(fd, 0, os.SEEK_SET)
                    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
                else:
                    import fcntl
                    fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                pass
        os.close(fd)


class Settings:
    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path else config_dir() / SETTINGS_FILE
        self.values: Dict[str, Any] = json.loads(json.dumps(DEFAULTS))
        self.warning: Optional[str] = None
        #: the values as loaded or last saved: what this window changed is what differs from it
        self._base: Dict[str, Any] = json.loads(json.dumps(DEFAULTS))

    def _read(self) -> Dict[str, Any]:
        """The file's object; raises for a file that is not a settings file (see the module
        docstring)."""
        size = self.path.stat().st_size
        if size > MAX_SETTINGS_BYTES:
            raise ValueError(f"{size:,} bytes, more than a settings file can be")
        data = json.loads(self.path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
        if _depth(data, MAX_DEPTH) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        return data

    def _apply(self, data: Dict[str, Any]) -> List[str]:
        """Take the usable values of ``data`` (lists cut, numbers clamped); returns problems:
        ``"key"`` for an unusable value (the default stays), ``"key (V -> C)"`` for a clamped one."""
        problems = []
        for key, value in data.items():
            if key not in DEFAULTS:
                continue
            if not _type_ok(key, value):
                problems.append(key)
            elif key in NUMBER_RANGES:
                self.values[key] = _clamped(key, value)
                if self.values[key] != value:
                    problems.append(f"{key} ({value:g} -> {self.values[key]})")
            else:
                self.values[key] = value[:LIST_LIMITS[key]] if key in LIST_LIMITS else value
        return problems

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "Settings":
        s = cls(path)
        if not s.path.exists():
            return s
        try:
            data = s._read()
        except (OSError, UnicodeDecodeError, ValueError, RecursionError, MemoryError) as e:
            if isinstance(e, RecursionError):
                e = ValueError("nested too deeply")
            backup = s.path.with_name(s.path.name + ".corrupt")
            try:
                rename_file(s.path, backup)
                where = f"; the old file was kept as {backup.name}"
            except OSError:
                where = ""
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            s.warning = f"The settings file {s.path} was unreadable ({reason}) and has been reset to defaults{where}."
            return s
        problems = s._apply(data)
        bad = sorted(p for p in problems if " " not in p)
        clamped = sorted(p for p in problems if " " in p)
        words = ([f"invalid and have been reset: {', '.join(bad)}"] if bad else []) + \
            ([f"out of range and have been clamped to {_ranges_text()}: {', '.join(clamped)}"] if clamped else [])
        if words:
            s.warning = f"Some settings in {s.path} were {'; some were '.join(words)}."
        s._base = json.loads(json.dumps(s.values))
        return s

    def _on_disk(self) -> Dict[str, Any]:
        """The values in the file now (defaults for what is missing or unusable)."""
        other = Settings(self.path)
        try:
            other._apply(other._read())
        except (OSError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
            pass
        return other.values

    def save(self) -> None:
        """Merge this window's changes with the file as it is now (another window may have
        saved since) and write the result atomically, under the lock (see the module
        docstring); errors are returned to the caller as OSError."""
        with _locked(self.path.with_name(self.path.name + ".lock")):
            disk = self._on_disk()
            merged = {k: _merge(k, self.values[k], self._base[k], disk[k]) for k in DEFAULTS}
            atomic_write_bytes(self.path, json.dumps(merged, indent=2).encode("utf-8"))
        self.values.update(merged)
        self._base = json.loads(json.dumps(merged))

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self.values[key] = value

    # -- recent files --------------------------------------------------------------------
    def add_recent(self, path: str | os.PathLike) -> None:
        p = str(Path(path).expanduser().resolve())
        recent: List[str] = [r for r in self.values["recent_files"] if r != p]
        self.values["recent_files"] = [p] + recent[: MAX_RECENT - 1]

    def remove_recent(self, path: str | os.PathLike) -> None:
        p = str(Path(path).expanduser().resolve())
        self.values["recent_files"] = [r for r in self.values["recent_files"] if r != p]
