"""LM twins: which checkpoint actually renders a model the user chose.

A *twin* (:mod:`cisr_zoom.core.train.distill`) is an LM-LIIF with its teacher's encoder and a
decoder distilled from the teacher's; it renders the same pictures several times faster. A
twin's model card (``meta``) names its teacher (``twin_of``, ``teacher.sha256``) and, once it
has been measured against the teacher (``cisr eval``), the verdict ``twin_check``::

    {"bound_db": 0.10, "within_bound": true, "max_gap_db": 0.07, "sets": [...], "scales": [...]}

By default a model renders through a bundled twin whose teacher is that very file (same sha256)
and whose ``twin_check.within_bound`` is true; the exact decoder (the teacher itself) is one
switch away (the viewer's Device menu "Exact decoder", ``cisr upscale --exact-decoder``).
Nothing here loads weights: cards are read with the tensors memory-mapped, results are
remembered per file (path, size, modification time).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, Optional, Tuple

#: a twin renders by default only if within this many dB Y-PSNR of its teacher everywhere measured
TWIN_BOUND_DB = 0.10

_sha_cache: Dict[Tuple[str, int, int], str] = {}
_card_cache: Dict[Tuple[str, int, int], Optional[dict]] = {}


def _key(path: Path) -> Tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file (remembered per path, size and modification time)."""
    p = Path(path)
    key = _key(p)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


def twin_card(path: str | os.PathLike) -> Optional[dict]:
    """The model card of ``path`` if it is a twin (its ``meta`` has ``twin_of`` and a teacher
    with a sha256), else None; unreadable files are not twins."""
    from .checkpoint import read_checkpoint
    from .errors import CisrError
    p = Path(path)
    try:
        key = _key(p)
    except OSError:
        return None
    if key not in _card_cache:
        card = None
        try:
            meta = read_checkpoint(p, mmap=True).get("meta")
        except CisrError:
            meta = None
        if isinstance(meta, dict) and meta.get("twin_of") and isinstance(meta.get("teacher"), dict) \
                and isinstance(meta["teacher"].get("sha256"), str):
            card = meta
        _card_cache[key] = card
    return _card_cache[key]


def is_twin(path: str | os.PathLike) -> bool:
    return twin_card(path) is not None


def within_bound(card: dict) -> bool:
    """Whether a twin's card says it was measured within :data:`TWIN_BOUND_DB` of its teacher."""
    check = card.get("twin_check")
    return isinstance(check, dict) and check.get("within_bound") is True \
        and isinstance(check.get("max_gap_db"), (int, float)) and check["max_gap_db"] <= TWIN_BOUND_DB


def find_twin(path: str | os.PathLike, bundled: Optional[Dict[str, Path]] = None) -> Optional[Path]:
    """The bundled twin that renders ``path`` by default: its teacher's sha256 is ``path``'s and
    its card is within the bound. ``bundled``: name -> path (default: the installed models)."""
    from .checkpoint import bundled_models
    p = Path(path)
    candidates = bundled_models() if bundled is None else bundled
    twins = [(Path(c), card) for c in candidates.values() for card in [twin_card(c)] if card is not None]
    if not twins or not p.is_file():
        return None
    sha = file_sha256(p)
    for c, card in twins:
        if card["teacher"]["sha256"] == sha and within_bound(card) and c.resolve() != p.resolve():
            return c
    return None


def render_path(path: str | os.PathLike, exact_decoder: bool = False,
                bundled: Optional[Dict[str, Path]] = None) -> Path:
    """The checkpoint that renders the model at ``path``: its bundled twin (:func:`find_twin`)
    unless ``exact_decoder``, else ``path`` itself."""
    p = Path(path)
    if exact_decoder:
        return p
    return find_twin(p, bundled) or p
