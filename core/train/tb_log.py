"""Optional TensorBoard scalars beside ``log.jsonl`` (written only when ``tensorboard`` is installed).

``log.jsonl`` stays the record of a run; this is a convenience view (``tensorboard --logdir
<out>/tb``). Without the package every call is a no-op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional


class ScalarLog:
    """``add(step, {tag: value})``; ``close()``. Inactive (no-op) unless TensorBoard is importable."""

    def __init__(self, folder: Optional[Path] = None):
        self._writer = None
        if folder is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
        except ImportError:
            return
        self._writer = SummaryWriter(str(folder))

    @property
    def active(self) -> bool:
        return self._writer is not None

    def add(self, step: int, values: Dict[str, float]) -> None:
        if self._writer is None:
            return
        for tag, v in values.items():
            self._writer.add_scalar(tag, float(v), int(step))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
