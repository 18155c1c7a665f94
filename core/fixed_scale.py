"""Fixed-scale SR models of other projects (ESRGAN, Real-ESRGAN Compact, SwinIR, HAT, ...) through
the optional ``spandrel`` extra, as comparison sources beside the INN models.

A model file that is not a CiSR Zoom / LIIF checkpoint but a plain state dict
(:class:`~.errors.BareStateDictError` from :func:`~.checkpoint.read_checkpoint`) is handed to
spandrel, which recognises the architecture and its hyper-parameters from the tensor names and
shapes. The file is always read here, safely (``torch.load(weights_only=True)`` or safetensors),
never by spandrel's own loader; spandrel only builds the network from the tensors.

* :func:`load_model`: a :class:`~.checkpoint.LoadedModel` (an INN checkpoint) or a
  :class:`FixedScaleModel`; the one entry point of the renderer's pool, ``cisr upscale``,
  ``cisr eval`` and ``cisr info``, which never ask which of the two they hold: each kind is
  described and opened through one table, :mod:`cisr_zoom.core.render.sources`
  (``describe_source``, ``open_source``).
* :func:`describe_fixed_scale`: architecture and scale without allocating weights (the network
  is built on torch's ``meta`` device where the architecture allows, else on the CPU).
* Rendering: :class:`cisr_zoom.core.render.fixed.FixedScaleSession`.

Real-ESRGAN's two architectures in BasicSR's layout (RRDBNet x4, e.g. ``realesrgan-x4plus``, and
SRVGGNetCompact, e.g. ``realesr-animevideov3``, as ``cisr weights fetch realesrgan`` writes them)
run natively (:mod:`.models.realesrgan`), without spandrel, under the same architecture names;
everything else goes to spandrel.

spandrel needs torchvision only for two architectures that are not SR (LaMa inpainting,
RestoreFormer faces). A torchvision whose compiled part does not fit the installed torch (pip's
CUDA build of torchvision beside a CPU-only torch) makes ``import spandrel`` fail outright; then
spandrel is imported once with a placeholder torchvision whose functions raise, and the
placeholder is removed again (:func:`import_spandrel`).
"""

from __future__ import annotations

import enum
import os
import sys
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from .errors import BareStateDictError, CheckpointError

#: how to get the extra, in the words of every error that needs it
INSTALL_HINT = ("install the optional spandrel extra together with your torch version, e.g. "
                "pip install 'cisr-zoom[spandrel]' 'torch==2.13.0'")
#: the purposes of spandrel models that can stand beside an SR model
USABLE_PURPOSES = ("SR", "Restoration")

_IMPORT_LOCK = threading.Lock()


@dataclass(frozen=True)
class FixedScaleInfo:
    """What a fixed-scale model file is: spandrel's architecture name and its integer scale."""

    architecture: str
    scale: int
    purpose: str = "SR"
    tags: tuple = ()

    @property
    def display_name(self) -> str:
        return f"{self.architecture} x{self.scale}"


@dataclass
class FixedScaleModel:
    """A spandrel model ready to run (eval mode, float32, on ``device``)."""

    descriptor: Any                   # spandrel.ImageModelDescriptor
    info: FixedScaleInfo
    name: str = ""                    # file stem
    path: Optional[Path] = None
    meta: Dict[str, Any] = field(default_factory=dict)
    runner: str = "spandrel"          # what builds and runs it: "spandrel", or "native" (:mod:`.models.realesrgan`)

    @property
    def scale(self) -> int:
        return self.info.scale

    @property
    def size_requirements(self):
        return self.descriptor.size_requirements


def _placeholder_torchvision() -> Dict[str, types.ModuleType]:
    tv = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")

    class InterpolationMode(enum.Enum):
        NEAREST = "nearest"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"

    def unavailable(*_args, **_kwargs):
        raise RuntimeError("torchvision cannot be loaded with this torch (install the torchvision build that "
                           "matches it)")

    functional.InterpolationMode = InterpolationMode
    functional.rotate = unavailable
    functional.normalize = unavailable
    tv.transforms, transforms.functional = transforms, functional
    return {"torchvision": tv, "torchvision.transforms": transforms, "torchvision.transforms.functional": functional}


def _drop_torchvision() -> None:
    for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
        del sys.modules[k]


def import_spandrel():
    """The ``spandrel`` module; raises :class:`CheckpointError` (one line) when it is not
    installed. See the module docstring for a torchvision that does not fit torch."""
    with _IMPORT_LOCK:
        if sys.modules.get("spandrel") is not None:
            return sys.modules["spandrel"]
        try:
            import spandrel   # noqa: F401
            return sys.modules["spandrel"]
        except ModuleNotFoundError as e:
            if e.name and e.name.split(".")[0] not in ("spandrel", "torchvision"):
                raise CheckpointError(f"the spandrel extra is incomplete ({e.name} is missing): {INSTALL_HINT}") from None
            if e.name and e.name.split(".")[0] == "spandrel":
                raise CheckpointError(f"fixed-scale models (ESRGAN, SwinIR, HAT, ...) need spandrel: "
                                      f"{INSTALL_HINT}") from None
        except (RuntimeError, OSError, ImportError, AttributeError):
            pass     # a torchvision that does not fit this torch: retry without it
        for k in [k for k in sys.modules if k == "spandrel" or k.startswith("spandrel.")]:
            del sys.modules[k]
        _drop_torchvision()
        sys.modules.update(_placeholder_torchvision())
        try:
            import spandrel   # noqa: F401
        except Exception as e:  # noqa: BLE001 - one line for the user
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise CheckpointError(f"spandrel cannot be imported ({first}): {INSTALL_HINT}") from None
        finally:
            _drop_torchvision()
        return sys.modules["spandrel"]


def spandrel_available() -> bool:
    try:
        import_spandrel()
        return True
    except CheckpointError:
        return False


def _tensors(obj: Dict[str, Any], path: Path, original: str = "") -> Dict[str, torch.Tensor]:
    """The state dict inside ``obj`` (spandrel's wrappers such as ``params_ema`` unwrapped),
    float32, every value a finite floating tensor."""
    spandrel = import_spandrel()
    try:
        sd = spandrel.canonicalize_state_dict(dict(obj))
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{original or f'cannot load {str(path)!r}'}; nor is it a state dict "
                              f"({str(e)[:120]})") from None
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{original or f'cannot load {str(path)!r}'}; nor is it a state dict of tensors "
                              f"(a fixed-scale model)")
    return sd


def _check_finite(sd: Dict[str, torch.Tensor], path: Path) -> None:
    for k, v in sd.items():
        if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all()):
            raise CheckpointError(f"cannot load '{path}': weight '{k}' holds NaN or infinite values "
                                  f"(a damaged or diverged model)")


def _build(sd: Dict[str, torch.Tensor], path: Path, original: str):
    spandrel = import_spandrel()
    try:
        d = spandrel.MAIN_REGISTRY.load(sd)
    except spandrel.UnsupportedModelError:
        raise CheckpointError(f"{original}; nor is it a model architecture spandrel knows (ESRGAN, SwinIR, "
                              f"HAT, ...)") from None
    except Exception as e:  # noqa: BLE001 - spandrel's detection of a damaged file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise CheckpointError(f"cannot load '{path}' as a fixed-scale model: {first}") from None
    if not isinstance(d, spandrel.ImageModelDescriptor) or d.purpose not in USABLE_PURPOSES:
        kind = getattr(d, "purpose", type(d).__name__)
        raise CheckpointError(f"cannot use '{path}': spandrel recognises it as {d.architecture.name} "
                              f"({kind}), not a super-resolution model")
    if d.input_channels != 3 or d.output_channels != 3:
        raise CheckpointError(f"cannot use '{path}': {d.architecture.name} with {d.input_channels} input and "
                              f"{d.output_channels} output channels (RGB models only)")
    return d


def _native(obj: Dict[str, Any]):
    """``(state dict, NativeArch)`` when ``obj`` is a Real-ESRGAN model the native modules run
    (:mod:`.models.realesrgan`), else None (spandrel's turn)."""
    from .models.realesrgan import detect
    for key in ("params_ema", "params", "state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        return None
    arch = detect(obj)
    return (obj, arch) if arch is not None else None


def _build_native(sd: Dict[str, torch.Tensor], arch, path: Path):
    from .models.realesrgan import NativeDescriptor
    model = arch.build()
    try:
        model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    except RuntimeError as e:
        first = next((l.strip() for l in str(e).splitlines() if "size mismatch" in l), str(e).splitlines()[0])
        raise CheckpointError(f"cannot load '{path}' as {arch.architecture} x{arch.scale}: {first[:160]}") from None
    return NativeDescriptor(model, arch)


def _info(d) -> FixedScaleInfo:
    return FixedScaleInfo(str(d.architecture.name), int(d.scale), str(d.purpose), tuple(d.tags or ()))


def load_fixed_scale(path: str | os.PathLike, device: torch.device | str = "cpu",
                     obj: Optional[Dict[str, Any]] = None, original: str = "") -> FixedScaleModel:
    """Load a plain state dict file (``obj``: already read) as a :class:`FixedScaleModel`."""
    from .checkpoint import read_raw
    p = Path(path)
    if obj is None:
        obj = read_raw(p)
    native = _native(obj)
    if native is not None:
        _check_finite(native[0], p)
        d = _build_native(*native, p).to(torch.device(device))
        d.model.eval()
        return FixedScaleModel(descriptor=d, info=_info(d), name=p.stem, path=p, runner="native")
    sd = _tensors(obj, p, original)
    _check_finite(sd, p)
    d = _build({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, p,
               original or f"cannot load '{p}': not a CiSR Zoom / LIIF checkpoint")
    d.model.float().eval()
    d = d.to(torch.device(device))
    return FixedScaleModel(descriptor=d, info=_info(d), name=p.stem, path=p)


def describe_fixed_scale(path: str | os.PathLike, obj: Optional[Dict[str, Any]] = None) -> FixedScaleInfo:
    """Architecture and scale of a fixed-scale model file, built on the ``meta`` device (no
    weight memory) where the architecture allows, else on the CPU."""
    from .checkpoint import read_raw
    p = Path(path)
    if obj is None:
        obj = read_raw(p, mmap=True)
    native = _native(obj)
    if native is not None:
        arch = native[1]
        return FixedScaleInfo(arch.architecture, arch.scale, "SR", tuple(arch.tags))
    original = f"cannot load '{p}': not a CiSR Zoom / LIIF checkpoint"
    sd = _tensors(obj, p, original)
    try:
        with torch.device("meta"):
            d = _build({k: torch.empty_like(v, device="meta") for k, v in sd.items()}, p, original)
    except CheckpointError as e:
        if "not a super-resolution" in str(e) or "channels" in str(e) or "spandrel knows" in str(e):
            raise
        d = _build(sd, p, original)
    return _info(d)


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu"):
    """A bundled name or model file: an INN checkpoint as a :class:`~.checkpoint.LoadedModel`,
    else a plain state dict as a :class:`FixedScaleModel` (needs spandrel)."""
    from .checkpoint import load_checkpoint, resolve_model_path
    p = resolve_model_path(path)
    try:
        return load_checkpoint(p, device)
    except BareStateDictError as e:
        if _native(e.obj) is not None:
            return load_fixed_scale(p, device, obj=e.obj, original=str(e))
        try:
            import_spandrel()
        except CheckpointError as missing:
            raise CheckpointError(f"{e}; if it is a fixed-scale model (ESRGAN, SwinIR, ...), "
                                  f"{str(missing).split(': ', 1)[-1]}") from None
        return load_fixed_scale(p, device, obj=e.obj, original=str(e))


def describe_any(path: str | os.PathLike):
    """``(ModelDescriptor or None, FixedScaleInfo or None)`` of a model file without loading its
    weights; raises :class:`CheckpointError` when it is neither."""
    from .checkpoint import describe_checkpoint
    try:
        return describe_checkpoint(path), None
    except BareStateDictError as e:
        return None, describe_fixed_scale(path, obj=e.obj)

