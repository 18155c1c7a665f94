"""Turn a training checkpoint into a compact model file for distribution (e.g. bundling).

Drops the optimizer/discriminator state, keeps the model card (``meta``), optionally stores the
weights as float16 (loaded back as float32 by :func:`cisr_zoom.core.checkpoint.load_checkpoint`).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

from ..checkpoint import build_model, read_checkpoint, save_checkpoint


def export_model(src: str | os.PathLike, dst: str | os.PathLike, half: bool = True,
                 extra_meta: Optional[Dict[str, Any]] = None, overwrite: bool = True) -> Dict[str, Any]:
    """Write ``src``'s generator and meta to ``dst`` (atomically; ``overwrite=False``: never over
    an existing file, also one written meanwhile); returns the meta written."""
    obj = read_checkpoint(src)
    entry = obj["model"]
    model = build_model(entry, source=f"'{src}'")
    meta = {k: v for k, v in (obj.get("meta") or {}).items() if k != "format"}
    meta["weights_dtype"] = "float16" if half else "float32"
    meta.update(extra_meta or {})
    save_checkpoint(dst, model, {"name": entry["name"], "args": entry.get("args") or {}}, meta=meta, half=half,
                    overwrite=overwrite)
    return meta
