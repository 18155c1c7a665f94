"""Persistent settings (JSON in the platform's config dir) and the cache dir.

``CISR_ZOOM_CONFIG_DIR`` and ``CISR_ZOOM_CACHE_DIR`` override the platformdirs locations
(tests, portable installs). Writes are atomic (temporary file in the same folder, then
rename). The file is untrusted input: one that cannot be parsed, is larger than
:data:`MAX_SETTINGS_BYTES` or nested deeper than :data:`MAX_DEPTH` is moved aside to
``settings.json.corrupt`` and replaced by defaults; :attr:`Settings.warning` then holds a
one-line message for the user. Values of the wrong type (or strings longer than
:data:`MAX_STRING`) are replaced by their defaults one by one; lists are cut to their limits
(:data:`LIST_LIMITS`) as they are read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import platformdirs

from cisr_zoom.core.atomic import atomic_write_bytes, rename_file

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
    "tile_cache_mb": 384,
    "feature_cache_mb": 512,
    "window_geometry": None,     # base64 of QWidget.saveGeometry()
    "window_state": None,        # base64 of QMainWindow.saveState()
    "export_dir": None,
}


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
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    return isinstance(value, type(default))


class Settings:
    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path else config_dir() / SETTINGS_FILE
        self.values: Dict[str, Any] = json.loads(json.dumps(DEFAULTS))
        self.warning: Optional[str] = None

    @classmethod
    def load(cls, path: Optional[Path] = None) -> "Settings":
        s = cls(path)
        if not s.path.exists():
            return s
        try:
            size = s.path.stat().st_size
            if size > MAX_SETTINGS_BYTES:
                raise ValueError(f"{size:,} bytes, more than a settings file can be")
            data = json.loads(s.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("top level is not an object")
            if _depth(data, MAX_DEPTH) > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
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
        bad = []
        for key, value in data.items():
            if key not in DEFAULTS:
                continue
            if _type_ok(key, value):
                s.values[key] = value[:LIST_LIMITS[key]] if key in LIST_LIMITS else value
            else:
                bad.append(key)
        if bad:
            s.warning = f"Some settings in {s.path} were invalid and have been reset: {', '.join(sorted(bad))}."
        return s

    def save(self) -> None:
        """Write atomically; errors are returned to the caller as OSError."""
        atomic_write_bytes(self.path, json.dumps(self.values, indent=2).encode("utf-8"))

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
