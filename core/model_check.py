"""Validation of model specs and state dicts from untrusted files, before any weight is allocated.

A checkpoint's ``{"name", "args", "sd"}`` entry is checked in this order, each step raising
:class:`~.errors.CheckpointError` with one line:

1. the spec's structure: nested dicts/lists/scalars only, bounded depth, list lengths and
   integer sizes, a registered model name at every ``*_spec``;
2. the model is built on torch's ``meta`` device (shapes only, no memory) and its parameter
   count is held under :data:`MAX_PARAMETERS`;
3. the state dict: a dict of tensors whose names and shapes are those of the meta model,
   floating point where the model's are, with finite values only.

Only then is the real model allocated (:func:`cisr_zoom.core.checkpoint.build_model`).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping

import torch

from . import models
from .errors import CheckpointError

#: the largest model accepted, in parameters (4 GB of float32; the paper's RDN-LIIF has 22 M)
MAX_PARAMETERS = 1_000_000_000
#: limits on the spec's structure (the real specs are three levels deep, lists of <= 10)
MAX_SPEC_DEPTH = 8
MAX_SPEC_LIST = 64
MAX_SPEC_INT = 1 << 16
#: entries of official files that the models do not have (EDSR's unused mean-shift layers)
IGNORED_KEYS = (".sub_mean.", ".add_mean.")


def _check_value(where: str, value: Any, depth: int) -> None:
    if depth > MAX_SPEC_DEPTH:
        raise CheckpointError(f"{where}: nested deeper than {MAX_SPEC_DEPTH} levels")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{where}: key {k!r} is not a string")
            _check_value(f"{where}.{k}", v, depth + 1)
            if k.endswith("_spec") and v is not None:
                check_spec(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, (list, tuple)):
        if len(value) > MAX_SPEC_LIST:
            raise CheckpointError(f"{where}: a list of {len(value)} items (at most {MAX_SPEC_LIST})")
        for i, v in enumerate(value):
            _check_value(f"{where}[{i}]", v, depth + 1)
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        pass
    elif isinstance(value, int):
        if abs(value) > MAX_SPEC_INT:
            raise CheckpointError(f"{where}: {value} is out of range (at most {MAX_SPEC_INT})")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CheckpointError(f"{where}: {value} is not a finite number")
    else:
        raise CheckpointError(f"{where}: unexpected value of type {type(value).__name__}")


def check_spec(spec: Any, where: str = "model", depth: int = 0) -> Dict[str, Any]:
    """Step 1: ``spec`` is ``{"name": registered name, "args": {...}}`` with bounded contents."""
    if not isinstance(spec, Mapping):
        raise CheckpointError(f"{where}: a model spec must be a dict, got {type(spec).__name__}")
    name = spec.get("name")
    if not isinstance(name, str) or name not in models.registered():
        raise CheckpointError(f"{where}: unknown model {name!r} (known: {', '.join(models.registered())})")
    args = spec.get("args") or {}
    if not isinstance(args, Mapping):
        raise CheckpointError(f"{where}.args must be a dict, got {type(args).__name__}")
    _check_value(f"{where}.args", args, depth + 1)
    return {"name": name, "args": dict(args)}


def build_meta_model(spec: Mapping[str, Any], where: str = "model") -> torch.nn.Module:
    """Step 2: the model built on the ``meta`` device (no memory), its size checked."""
    spec = check_spec(spec, where)
    try:
        with torch.device("meta"):
            model = models.make(spec)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{where}: cannot build model '{spec['name']}' from its arguments ({detail})") from None
    n = sum(p.numel() for p in model.parameters())
    if n > MAX_PARAMETERS:
        raise CheckpointError(f"{where}: the model would have {n:,} parameters (the limit is {MAX_PARAMETERS:,})")
    return model


def usable_state_dict(sd: Any) -> Dict[str, torch.Tensor]:
    """``sd`` without the ignored official entries; a dict of tensors or CheckpointError."""
    if not isinstance(sd, Mapping):
        raise CheckpointError(f"the state dict is a {type(sd).__name__}, not a dict of tensors")
    out = {}
    for k, v in sd.items():
        if not isinstance(k, str):
            raise CheckpointError(f"state dict key {k!r} is not a string")
        if any(s in f".{k}" for s in IGNORED_KEYS):
            continue
        if not torch.is_tensor(v):
            raise CheckpointError(f"state dict entry '{k}' is a {type(v).__name__}, not a tensor")
        out[k] = v
    return out


def check_state_dict(meta_model: torch.nn.Module, sd: Any) -> Dict[str, torch.Tensor]:
    """Step 3: ``sd`` fits ``meta_model`` exactly (names, shapes, float where float) and holds
    finite values; returns it without the ignored official entries."""
    sd = usable_state_dict(sd)
    expected = meta_model.state_dict()
    missing = [k for k in expected if k not in sd]
    extra = [k for k in sd if k not in expected]
    if missing or extra:
        what = (f"missing '{missing[0]}'" if missing else f"unexpected '{extra[0]}'")
        n = len(missing) + len(extra)
        raise CheckpointError(f"the weights do not fit the architecture ({what}"
                              f"{f' and {n - 1} more' if n > 1 else ''})")
    for k, ref in expected.items():
        v = sd[k]
        if tuple(v.shape) != tuple(ref.shape):
            raise CheckpointError(f"the weights do not fit the architecture ('{k}' has shape "
                                  f"{tuple(v.shape)}, the model needs {tuple(ref.shape)})")
        if ref.is_floating_point() != v.is_floating_point() or v.is_complex():
            raise CheckpointError(f"weight '{k}' has dtype {str(v.dtype).removeprefix('torch.')}; "
                                  f"the model needs {'floating point' if ref.is_floating_point() else 'integers'}")
        if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"weight '{k}' holds NaN or infinite values (a damaged or diverged checkpoint)")
    return sd


def check_entry(entry: Any, where: str = "model") -> Dict[str, torch.Tensor]:
    """Steps 1-3 for a checkpoint's ``{"name", "args", "sd"}`` entry; returns the usable state dict."""
    if not isinstance(entry, Mapping):
        raise CheckpointError(f"{where}: the model entry is a {type(entry).__name__}, not a dict")
    return check_state_dict(build_meta_model(entry, where), entry.get("sd"))
