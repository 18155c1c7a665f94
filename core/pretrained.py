"""Pretrained weight files that the project cannot ship (ImageNet VGG19, AlexNet for LPIPS).

:func:`load_pretrained_state_dict` finds a published state-dict file in this order:

1. ``explicit_path`` (e.g. ``--vgg-weights FILE``): must exist and load, else an error;
2. torch's hub cache, ``torch.hub.get_dir()/checkpoints/<filename>`` (where torchvision and
   ``torch.hub`` put downloads, so a file fetched by any of them is reused);
3. a download from ``url`` into that cache (atomic; SHA-256 prefix checked when the file name
   carries one, as torchvision's names do), unless downloads are disabled with
   ``download=False`` or the environment variable ``CISR_NO_DOWNLOAD=1``.

If none works it raises :class:`PretrainedWeightsUnavailable`, whose one-line message says
where it looked and how to provide the file. Files are read with ``weights_only=True``.
Callers must never fall back to random weights silently.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

from .atomic import atomic_writer
from .errors import CisrError, OutputError

DOWNLOAD_TIMEOUT_S = 30
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


class PretrainedWeightsUnavailable(CisrError):
    """Pretrained weights needed for a computation cannot be found, downloaded or read."""


def hub_checkpoint_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints`` (honours ``TORCH_HOME`` and ``torch.hub.set_dir``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def downloads_allowed(download: Optional[bool] = None) -> bool:
    if download is not None:
        return bool(download)
    return os.environ.get("CISR_NO_DOWNLOAD", "").strip().lower() not in ("1", "true", "yes", "on")


def read_state_dict(path: Path, what: str) -> Dict[str, torch.Tensor]:
    """A ``{name: tensor}`` dict from ``path`` (``weights_only=True``), or ``PretrainedWeightsUnavailable``."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any failure means: not a usable weight file)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise PretrainedWeightsUnavailable(f"cannot read {what} from '{path}': {first}") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise PretrainedWeightsUnavailable(f"cannot use '{path}' as {what}: it is not a state dict of tensors")
    return obj


class DownloadError(ValueError):
    """A network failure while downloading (not an ``OSError``, so that the atomic writer
    around it does not report it as a failure to write the file)."""


def _network_reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or str(e) or type(e).__name__
    return str(reason).strip().splitlines()[0] if str(reason).strip() else type(e).__name__


def download_problem(url: str, e: BaseException) -> str:
    """One line for a failed :func:`_download`: "cannot download URL (reason)" for the network,
    the writer's own "cannot write ..." line for the destination."""
    if isinstance(e, OutputError):
        return str(e)
    return f"cannot download {url} ({_network_reason(e)[:120]})"


def _download(url: str, dest: Path, timeout: float, say: Optional[Callable[[str], None]] = None) -> None:
    """Fetch ``url`` to ``dest`` atomically; checks the SHA-256 prefix in the file name if any.
    ``say`` receives progress lines (about every 10 %)."""
    m = _HASH_IN_NAME.search(dest.name)
    sha = hashlib.sha256()
    try:
        r = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise DownloadError(_network_reason(e)) from None
    with r, atomic_writer(dest) as f:
        total = int(r.headers.get("Content-Length") or 0)
        done, next_report = 0, 0.1
        if say:
            say(f"downloading {url}" + (f" ({total / 1e6:.0f} MB)" if total else ""))
        while True:
            try:      # a network error here is not the writer's: it must not read "cannot write"
                chunk = r.read(1 << 20)
            except (http.client.HTTPException, OSError) as e:
                raise DownloadError(_network_reason(e)) from None
            if not chunk:
                break
            f.write(chunk)
            sha.update(chunk)
            done += len(chunk)
            if say and total and done / total >= next_report:
                say(f"  {dest.name}: {100 * done / total:.0f} % of {total / 1e6:.0f} MB")
                next_report += 0.1
        if m and not sha.hexdigest().startswith(m.group(1)):
            raise DownloadError(f"checksum mismatch (sha256 {sha.hexdigest()[:12]}..., expected {m.group(1)}...)")


def load_pretrained_state_dict(filename: str, url: str, explicit_path: Optional[str | os.PathLike] = None,
                               what: str = "VGG19 ImageNet weights", hint: Optional[str] = None,
                               download: Optional[bool] = None,
                               timeout: float = DOWNLOAD_TIMEOUT_S,
                               say: Optional[Callable[[str], None]] = None) -> Dict[str, torch.Tensor]:
    """The state dict stored as ``filename`` (published at ``url``); see the module docstring.

    ``hint`` completes the error message with the caller's way of providing the file (e.g.
    "pass it with --vgg-weights FILE"); ``say`` receives download progress lines. Raises
    :class:`PretrainedWeightsUnavailable`.
    """
    if explicit_path:
        p = Path(explicit_path).expanduser()
        if not p.is_file():
            raise PretrainedWeightsUnavailable(f"{what}: file '{p}' does not exist")
        return read_state_dict(p, what)
    cached = hub_checkpoint_dir() / filename
    if cached.is_file():
        return read_state_dict(cached, what)
    how = f"download {url} on a machine with internet and copy it to {cached}"
    if hint:
        how += f", or {hint}"
    if not downloads_allowed(download):
        raise PretrainedWeightsUnavailable(f"{what} are not available: not in the torch hub cache ({cached}) "
                                           f"and downloads are disabled; {how}")
    try:
        _download(url, cached, timeout, say)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as e:
        raise PretrainedWeightsUnavailable(f"{what} are not available: not in the torch hub cache ({cached}) and "
                                           f"{download_problem(url, e)}; {how}") from None
    return read_state_dict(cached, what)
