"""Helpers for writing files atomically (temporary name in the target folder, then rename)."""

from __future__ import annotations

import os
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
