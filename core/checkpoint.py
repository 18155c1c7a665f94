"""Self-describing checkpoints: save, load (safely), and import official LIIF files.

Format (a dict, loadable with ``torch.load(..., weights_only=True)``)::

    {"model": {"name": "liif", "args": {...}, "sd": {param: tensor}},
     "meta":  {"format": "cisr-zoom/1", "training_data": ..., "iterations": ...,
               "losses": {...}, "metrics": {...}, ...},
     # optional, training only: "optimizer", "optimizer_d", "model_d", "iteration", ...}

The same checkpoint can be a ``.safetensors`` file (chosen by the suffix, reading and
writing): the tensors are the state dict ``sd``, and the file's string metadata holds the rest,
JSON-encoded (:data:`ST_SPEC` -> ``{"name", "args"}``, :data:`ST_META` -> ``meta``; plus
``"format": "pt"``, the convention other safetensors readers expect). Such a file holds a model
only: training state (optimizer, discriminator) needs ``.pth``.

Official LIIF checkpoints (``edsr-baseline-liif.pth``, ``rdn-liif.pth``) have the same
``model`` shape; their unused EDSR ``sub_mean``/``add_mean`` entries are dropped on import.
Weights stored as float16 are loaded as float32. A checkpoint is untrusted input: it is only
ever read with ``weights_only=True`` (``.safetensors`` holds no code at all), so a file that
would run code on unpickling is refused.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from . import models
from .atomic import atomic_write_bytes, atomic_writer
from .errors import BareStateDictError, CheckpointError
from .models.decoder import ImplicitDecoder, ModelDescriptor
from .model_check import check_entry

FORMAT = "cisr-zoom/1"
SAFETENSORS_SUFFIX = ".safetensors"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", SAFETENSORS_SUFFIX)
#: the string-metadata keys of a ``.safetensors`` checkpoint (values JSON-encoded)
ST_SPEC = "cisr_zoom.spec"
ST_META = "cisr_zoom.meta"


@dataclass
class LoadedModel:
    """A ready-to-use model (eval mode, float32) and where it came from."""

    model: torch.nn.Module
    spec: Dict[str, Any]          # {"name", "args"} without the state dict
    meta: Dict[str, Any] = field(default_factory=dict)
    name: str = ""                # display name (file stem)
    path: Optional[Path] = None
    official: bool = False        # imported from the official LIIF format
    #: what the model is and can do (None: not an image decoder, e.g. a discriminator)
    descriptor: Optional[ModelDescriptor] = None


def bundled_weights_dir() -> Path:
    from cisr_zoom.resources import WEIGHTS_DIR
    return WEIGHTS_DIR


def bundled_models() -> Dict[str, Path]:
    """Names of the bundled checkpoints (file stems) -> paths."""
    d = bundled_weights_dir()
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.iterdir()) if p.suffix in CHECKPOINT_SUFFIXES}


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A bundled model name (e.g. ``liif-edsr-baseline``), a path to a checkpoint file, or the
    name of a model ``cisr weights fetch`` put in the weights folder (e.g. ``edsr-baseline-liif``)."""
    from .wheel_weights import weights_dir
    s = str(name_or_path)
    bundled = bundled_models()
    if s in bundled:
        return bundled[s]
    p = Path(s).expanduser()
    if p.is_file():
        return p
    if s and "/" not in s and "\\" not in s:
        for suffix in CHECKPOINT_SUFFIXES:
            if (weights_dir() / f"{s}{suffix}").is_file():
                return weights_dir() / f"{s}{suffix}"
    known = ", ".join(bundled) or "none installed"
    raise CheckpointError(f"model {s!r} is neither a bundled model ({known}), a fetched one (cisr weights "
                          f"fetch) nor an existing file")


def is_safetensors(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == SAFETENSORS_SUFFIX


def atomic_save(obj: Any, path: str | os.PathLike, overwrite: bool = True) -> None:
    """``torch.save`` to a temporary file in the target folder, then rename over ``path``
    (``overwrite=False``: never over an existing file, see :func:`~.atomic.atomic_writer`);
    a ``.safetensors`` ``path`` gets :func:`safetensors_bytes` of ``obj`` instead."""
    if is_safetensors(path):
        atomic_write_bytes(path, safetensors_bytes(obj), overwrite=overwrite)
        return
    with atomic_writer(path, overwrite=overwrite) as f:
        torch.save(obj, f)


def safetensors_bytes(obj: Dict[str, Any]) -> bytes:
    """A checkpoint dict (``{"model": {"name", "args", "sd"}, "meta": {...}}``, nothing else)
    as the bytes of a ``.safetensors`` file. Raises :class:`CheckpointError` for what the
    format cannot hold (training state, tensors that share memory)."""
    from safetensors.torch import save
    rest = sorted(set(obj) - {"model", "meta"})
    if rest:
        raise CheckpointError(f"a .safetensors file holds a model only, not {', '.join(rest)} "
                              f"(training state): save it as .pth")
    entry = obj["model"]
    sd = {k: v.detach().cpu().contiguous() for k, v in entry["sd"].items()}
    metadata = {"format": "pt",
                ST_SPEC: json.dumps({"name": entry["name"], "args": entry.get("args") or {}}),
                ST_META: json.dumps(obj.get("meta") or {}, default=str)}
    try:
        return save(sd, metadata=metadata)
    except (RuntimeError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"cannot store the model as .safetensors: {first}") from None


def model_entry(model: torch.nn.Module, spec: Dict[str, Any], half: bool = False) -> Dict[str, Any]:
    """``{"name", "args", "sd"}`` for ``model``; ``half`` stores floating tensors as float16."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    return {"name": spec["name"], "args": spec.get("args", {}), "sd": sd}


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, spec: Dict[str, Any],
                    meta: Optional[Dict[str, Any]] = None, half: bool = False, *, overwrite: bool = True,
                    **extra: Any) -> None:
    """Write a self-describing checkpoint atomically, as ``.safetensors`` when ``path`` ends so,
    else with ``torch.save`` (``overwrite=False``: never over an existing file). ``extra`` adds
    top-level entries (optimizer states, iteration counters) for resuming training (``.pth`` only)."""
    obj = {"model": model_entry(model, spec, half), "meta": {"format": FORMAT, **(meta or {})}}
    obj.update(extra)
    atomic_save(obj, path, overwrite=overwrite)


def _torch_load(path: Path, mmap: bool) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. "Detected pickle protocol 4"
        if mmap:
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:   # mmap needs the zip format (older files): read it whole
                pass
        return torch.load(path, map_location="cpu", weights_only=True)


def _read_safetensors(path: Path) -> Dict[str, Any]:
    """A ``.safetensors`` checkpoint as the dict :func:`read_checkpoint` returns."""
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:   # a core dependency; only a broken install lacks it
        raise CheckpointError(f"cannot load checkpoint '{path}': the safetensors package is not installed "
                              f"(pip install safetensors)") from None
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        sd = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, RuntimeError, ValueError, TypeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"cannot load checkpoint '{path}': not a readable .safetensors file ({first})") from None
    if ST_SPEC not in metadata:
        raise BareStateDictError(f"cannot load checkpoint '{path}': its safetensors metadata has no model spec "
                                 f"({ST_SPEC!r}), so the architecture is unknown (a bare state dict, not a "
                                 f"CiSR Zoom model file)", sd)
    try:
        spec = json.loads(metadata[ST_SPEC])
        meta = json.loads(metadata.get(ST_META) or "{}")
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"cannot load checkpoint '{path}': its safetensors metadata is not valid JSON "
                              f"({str(e)[:120]})") from None
    if not isinstance(spec, dict) or "name" not in spec:
        raise CheckpointError(f"cannot load checkpoint '{path}': the model spec in its safetensors metadata "
                              f"is not {{'name', 'args'}}")
    if not isinstance(meta, dict):
        raise CheckpointError(f"cannot load checkpoint '{path}': the model card in its safetensors metadata "
                              f"is not a JSON object")
    return {"model": {"name": spec["name"], "args": spec.get("args") or {}, "sd": sd}, "meta": meta}


def read_raw(path: str | os.PathLike, mmap: bool = False) -> Any:
    """What a model file holds, read safely onto the CPU, not checked further: a ``.safetensors``
    file's tensors (a dict), else what ``torch.load(..., weights_only=True)`` gives. Raises
    :class:`CheckpointError` (one line) for a missing, unreadable or unsafe file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"cannot load checkpoint '{path}': no such file")
    if is_safetensors(path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, RuntimeError, ValueError, TypeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise CheckpointError(f"cannot load checkpoint '{path}': not a readable .safetensors file ({first})") from None
    return _read_torch(path, mmap)


def read_checkpoint(path: str | os.PathLike, mmap: bool = False) -> Dict[str, Any]:
    """The raw checkpoint dict, read safely (``weights_only=True``) onto the CPU; ``mmap``
    maps the tensors instead of reading them (for looking at ``meta`` and the spec only).
    A ``.safetensors`` file gives the same dict (see the module docstring). A file that is a
    plain state dict raises :class:`~.errors.BareStateDictError` (carrying what was read)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"cannot load checkpoint '{path}': no such file")
    if is_safetensors(path):
        return _read_safetensors(path)
    obj = _read_torch(path, mmap)
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), dict) \
            or not {"name", "sd"} <= set(obj["model"]):
        error = BareStateDictError if isinstance(obj, dict) else CheckpointError
        raise error(f"cannot load checkpoint '{path}': no model entry "
                    f"(expected {{'model': {{'name', 'args', 'sd'}}}})", *([obj] if isinstance(obj, dict) else []))
    return obj


def _read_torch(path: Path, mmap: bool) -> Any:
    try:
        obj = _torch_load(path, mmap)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if "weights_only" in str(e) or "Unsupported global" in str(e) or "GLOBAL" in str(e):
            raise CheckpointError(f"refused checkpoint '{path}': it contains pickled Python objects, "
                                  f"which could run code (only plain tensors and containers are allowed)") from None
        raise CheckpointError(f"cannot load checkpoint '{path}': corrupt file ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, AttributeError, KeyError,
            IndexError, TypeError, struct.error) as e:   # what torch's unpickler raises on junk bytes
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"cannot load checkpoint '{path}': not a readable checkpoint ({first})") from None
    return obj


def _is_official(entry: Dict[str, Any], meta: Any) -> bool:
    return not (isinstance(meta, dict) and meta.get("format") == FORMAT)


def build_model(entry: Dict[str, Any], source: str = "checkpoint") -> torch.nn.Module:
    """Instantiate ``entry`` (``{"name", "args", "sd"}``) as a float32 model in eval mode,
    after :func:`~.model_check.check_entry` has validated it without allocating anything."""
    try:
        sd = check_entry(entry)
    except CheckpointError as e:
        raise CheckpointError(f"cannot load {source}: {e}") from None
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    model = models.make({"name": entry["name"], "args": entry.get("args") or {}})
    model.load_state_dict(sd, strict=True)
    return model.float().eval()


#: ``meta["inputs"]``: the pictures a model was made for, as its label and ``cisr info`` say it
INPUTS = {"photos": ("photos", "real photos: camera and web JPEGs, with their noise and compression"),
          "clean": ("clean inputs", "clean, bicubic-downscaled inputs: reproduces the paper's benchmark tables")}


def describe(model: torch.nn.Module, meta: Dict[str, Any]) -> Optional[ModelDescriptor]:
    """The :class:`ModelDescriptor` of a built model; its family is the checkpoint's
    ``meta["stage"]`` (``"liif"``, ``"cisrgan"``) when present, else the architecture's; a
    ``meta["inputs"]`` of :data:`INPUTS` is added to the name (``"LIIF (EDSR-baseline, photos)"``).
    None for models that are not image decoders."""
    if not isinstance(model, ImplicitDecoder):
        return None
    stage = meta.get("stage")
    d = model.describe(family=stage if isinstance(stage, str) and stage else None)
    inputs = meta.get("inputs")
    if isinstance(inputs, str) and inputs in INPUTS and d.display_name.endswith(")"):
        d = replace(d, display_name=f"{d.display_name[:-1]}, {INPUTS[inputs][0]})")
    return d


def describe_checkpoint(path: str | os.PathLike) -> Optional[ModelDescriptor]:
    """The descriptor of a checkpoint file without loading its weights (the tensors are
    mapped, the architecture is built on the ``meta`` device). Raises :class:`CheckpointError`."""
    p = resolve_model_path(path)
    obj = read_checkpoint(p, mmap=True)
    entry = obj["model"]
    try:
        with torch.device("meta"):
            model = models.make({"name": entry["name"], "args": entry.get("args") or {}})
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"cannot build model from '{p}': {e}") from None
    return describe(model, obj.get("meta") if isinstance(obj.get("meta"), dict) else {})


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> LoadedModel:
    """Load a bundled name or checkpoint path (ours or official LIIF) as a :class:`LoadedModel`."""
    p = resolve_model_path(path)
    obj = read_checkpoint(p)
    entry = obj["model"]
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    model = build_model(entry, source=f"'{p}'").to(device)
    spec = {"name": entry["name"], "args": entry.get("args") or {}}
    return LoadedModel(model=model, spec=spec, meta=dict(meta), name=p.stem, path=p,
                       official=_is_official(entry, obj.get("meta")), descriptor=describe(model, meta))

