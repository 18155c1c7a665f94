"""Which models the app can use: the bundled checkpoints plus files the user added.

A *source* is what a view renders with: a model id from this catalog, or :data:`BICUBIC`.
Ids are stable strings: ``bundled:<stem>`` or ``file:<absolute path>``. No weights are loaded
here (loading happens on the render worker): a file's family and display name come from its
checkpoint's description (``meta`` and spec, read with the tensors memory-mapped), never from
its name. A plain state dict of another project's fixed-scale model (Real-ESRGAN natively; ESRGAN,
SwinIR, ... through the optional spandrel extra) is family :data:`FIXED_FAMILY`, labelled with its architecture and
scale (``4x-model (ESRGAN x4)``), described on torch's meta device. Bundled LM twins are not
listed: they render their teachers (:mod:`cisr_zoom.core.twins`), they are not a choice of their
own. This is bookkeeping on the GUI thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from cisr_zoom.core.checkpoint import CHECKPOINT_SUFFIXES, bundled_models
from cisr_zoom.core.defaults import DEFAULT_MODEL
from cisr_zoom.core.errors import CisrError
from cisr_zoom.core.render.sources import BICUBIC, FIXED_SCALE, NO_IMAGES_FAMILY, describe_file
from cisr_zoom.core.twins import is_twin

BICUBIC_LABEL = "Bicubic"
#: the family of a file that cannot be described (it fails later, when a view loads it) or
#: makes no images
UNKNOWN_FAMILY = NO_IMAGES_FAMILY
#: the family of fixed-scale models of other projects (native Real-ESRGAN or through spandrel)
FIXED_FAMILY = FIXED_SCALE


def _entry(model_id: str, path: Path, bundled: bool) -> "ModelEntry":
    """Bundled models are labelled by their descriptor's display name, user files by their
    file name (what the user chose); a model at one native scale by its file name and its
    architecture and scale. All get the descriptor's family
    (:func:`cisr_zoom.core.render.sources.describe_file`, the same for every kind)."""
    try:
        d = describe_file(path)
    except CisrError:
        return ModelEntry(model_id, path.stem, path, bundled, UNKNOWN_FAMILY)
    if not d.renders:
        label = path.stem
    elif d.native_scale is not None:
        label = f"{path.stem} ({d.display_name})"
    else:
        label = d.display_name if bundled else path.stem
    return ModelEntry(model_id, label, path, bundled, d.family)


@dataclass(frozen=True)
class ModelEntry:
    id: str
    label: str
    path: Path
    bundled: bool
    family: str


class ModelCatalog:
    def __init__(self, bundled: Optional[Dict[str, Path]] = None, user_paths: Iterable[str | os.PathLike] = ()):
        """``bundled``: name -> path (default: the installed bundled checkpoints)."""
        self._entries: Dict[str, ModelEntry] = {}
        for stem, path in (bundled_models() if bundled is None else bundled).items():
            if is_twin(path):
                continue
            e = _entry(f"bundled:{stem}", Path(path), True)
            self._entries[e.id] = e
        for p in user_paths:
            self.add_user(p)

    # -- queries -------------------------------------------------------------------------
    def entries(self) -> List[ModelEntry]:
        return list(self._entries.values())

    def get(self, model_id: str) -> Optional[ModelEntry]:
        return self._entries.get(model_id)

    def __contains__(self, source: str) -> bool:
        return source == BICUBIC or source in self._entries

    def is_empty(self) -> bool:
        return not self._entries

    def user_paths(self) -> List[str]:
        return [str(e.path) for e in self._entries.values() if not e.bundled]

    def label(self, source: Optional[str]) -> str:
        if source == BICUBIC:
            return BICUBIC_LABEL
        e = self._entries.get(source or "")
        return e.label if e else "none"

    def sources(self) -> List[str]:
        """Every choice for a view: the models, then bicubic."""
        return list(self._entries) + [BICUBIC]

    def first_of_family(self, family: str) -> Optional[str]:
        for e in self._entries.values():
            if e.family == family:
                return e.id
        return None

    def default_main(self) -> Optional[str]:
        """The bundled default model (``core.checkpoint.DEFAULT_MODEL``, the one ``cisr upscale``
        uses) if present, else CiSRGAN, else LIIF, else any model, else ``None``."""
        if f"bundled:{DEFAULT_MODEL}" in self._entries:
            return f"bundled:{DEFAULT_MODEL}"
        return self.first_of_family("cisrgan") or self.first_of_family("liif") or next(iter(self._entries), None)

    def default_compare(self) -> List[str]:
        """Up to three panes: LIIF, CiSRGAN, bicubic (other models fill missing families);
        fewer when fewer sources exist, bicubic always last."""
        wanted = [self.first_of_family("liif"), self.first_of_family("cisrgan")]
        rest = [m for m in self._entries if m not in wanted]
        out = []
        for w in wanted:
            if w is None and rest:
                w = rest.pop(0)
            if w is not None:
                out.append(w)
        return out + [BICUBIC]

    # -- user files ----------------------------------------------------------------------
    def add_user(self, path: str | os.PathLike) -> ModelEntry:
        p = Path(path).expanduser().resolve()
        mid = f"file:{p}"
        if mid not in self._entries:
            self._entries[mid] = _entry(mid, p, False)
        return self._entries[mid]

    def remove(self, model_id: str) -> None:
        e = self._entries.get(model_id)
        if e is not None and not e.bundled:
            del self._entries[model_id]


def is_checkpoint_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in CHECKPOINT_SUFFIXES


def checkpoint_file_filter() -> str:
    """The file dialog's filter for model files (every suffix the loader reads)."""
    return f"Model files ({' '.join('*' + s for s in CHECKPOINT_SUFFIXES)});;All files (*)"
