"""The hostile-user suite: it builds bad inputs itself and runs the command line on them.

Most cases call :func:`cisr_zoom.core.cli.main` in this process (the entry point of the
installed ``cisr``, so an uncaught exception fails the test as a traceback would); cases
that need a process of their own (signals, permissions, the application) start the
installed ``cisr`` / ``cisr-zoom``. Every case asserts the exit status, one line on stderr
without a traceback, and that nothing was left behind.

Read-only folders: root ignores permissions, so as root the child runs without
CAP_DAC_OVERRIDE (``setpriv``); full and read-only file systems are small tmpfs mounts
(root only). Where neither is possible the case is skipped.

At the end, a table of cases tried / handled per group is printed (RELIABILITY.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import List

import numpy as np
import pytest

_TRIED: Counter = Counter()
_HANDLED: Counter = Counter()


def _group(nodeid: str) -> str:
    return Path(nodeid.split("::")[0]).stem.removeprefix("test_fuzz_")


def pytest_runtest_logreport(report):
    if "tests/fuzz/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if report.skipped:
            return
        _TRIED[_group(report.nodeid)] += 1
        _HANDLED[_group(report.nodeid)] += report.passed


def pytest_terminal_summary(terminalreporter):
    if not _TRIED:
        return
    tr = terminalreporter
    tr.section("hostile-input cases (tried / handled)")
    for g in sorted(_TRIED):
        tr.write_line(f"{g:12s} {_TRIED[g]:4d} / {_HANDLED[g]:4d}")
    tr.write_line(f"{'total':12s} {sum(_TRIED.values()):4d} / {sum(_HANDLED.values()):4d}")


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


from fuzzkit import can_mount, tiny_spec, tmpfs  # noqa: E402


@pytest.fixture(scope="session")
def assets(tmp_path_factory):
    """A tiny LIIF checkpoint, a small photo and two training/evaluation images (read-only use)."""
    import torch
    from PIL import Image

    from cisr_zoom.core import models
    from cisr_zoom.core.checkpoint import save_checkpoint
    d = tmp_path_factory.mktemp("fuzz-assets")
    spec = tiny_spec()
    torch.manual_seed(0)
    save_checkpoint(d / "tiny.pth", models.make(spec), spec, meta={"note": "fuzz"})
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(d / "photo.png")
    (d / "images").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(d / "images" / f"{i}.png")
    return d


@pytest.fixture
def full_fs(tmp_path):
    """A tmpfs with no space left (root only, else skipped)."""
    if not can_mount():
        pytest.skip("a full file system needs a tmpfs mount (root on Linux)")
    with tmpfs(tmp_path / "full", 64) as d:
        fd = os.open(d / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        yield d


@pytest.fixture
def readonly_fs(tmp_path):
    """A read-only tmpfs (root only, else skipped)."""
    if not can_mount():
        pytest.skip("a read-only file system needs a tmpfs mount (root on Linux)")
    with tmpfs(tmp_path / "ro", 64, read_only=True) as d:
        yield d


@pytest.fixture
def readonly_dir(tmp_path):
    """``(folder, prefix)``: a folder without write permission and the command prefix under
    which a child process cannot write there anyway (as root: no CAP_DAC_OVERRIDE)."""
    d = tmp_path / "readonly"
    d.mkdir()
    prefix: List[str] = []
    if os.name != "posix":
        pytest.skip("permission bits need a POSIX system")
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            pytest.skip("root ignores permissions and setpriv (to drop CAP_DAC_OVERRIDE) is missing")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    os.chmod(d, 0o555)
    probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(d / 'probe')!r}, 'w')"],
                           capture_output=True)
    if probe.returncode == 0:
        os.unlink(d / "probe")
        pytest.skip("this user can write into a read-only folder")
    yield d, prefix
    os.chmod(d, 0o755)
