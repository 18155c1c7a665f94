"""Helpers of the hostile-user suite: running the CLI, checking its answer, hostile file systems."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

import pytest


# -- running the command line -------------------------------------------------------------

@dataclass
class Result:
    rc: int
    stderr: str
    stdout: str = ""

    @property
    def lines(self) -> List[str]:
        return [x for x in self.stderr.splitlines() if x.strip()]


def run_cli(*argv: str) -> Result:
    """``cisr ARGV`` in this process."""
    from cisr_zoom.core import cli
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = cli.main([str(a) for a in argv])
    return Result(rc, err.getvalue(), out.getvalue())


def installed(name: str) -> List[str]:
    """The installed console script ``name`` beside this Python (the venv's ``bin``)."""
    exe = Path(sys.executable).parent / name
    if exe.is_file():
        return [str(exe)]
    found = shutil.which(name)
    if not found:
        pytest.skip(f"the installed '{name}' script is not on this machine")
    return [found]


def child_env(**extra: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def spawn(argv: Sequence[str], prefix: Sequence[str] = (), **popen) -> subprocess.Popen:
    return subprocess.Popen([*prefix, *installed("cisr"), *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(), **popen)


def run_child(argv: Sequence[str], prefix: Sequence[str] = (), timeout: float = 120) -> Result:
    p = spawn(argv, prefix)
    out, err = p.communicate(timeout=timeout)
    return Result(p.returncode, err, out)


def expect_error(r: Result, *fragments: str, progress: bool = False) -> None:
    """Exit status 1, exactly one line on stderr (``progress``: progress lines before it are
    allowed, as training prints them), no traceback, the line mentioning ``fragments``."""
    assert r.rc == 1, (r.rc, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = r.lines[-1:] if progress else r.lines
    assert len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("cisr"), lines[0]
    assert sum(x.startswith("cisr") for x in r.lines) == 1, r.stderr[-2000:]
    for f in fragments:
        assert f.lower() in lines[0].lower(), (f, lines[0])


def listing(folder: Path) -> set:
    """Every path under ``folder`` (hidden temporary files included), relative."""
    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*")}


def tiny_spec() -> dict:
    return {"name": "liif", "args": {
        "encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8, "no_upsampling": True}},
        "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [16]}}}}


def tiny_train_config(data: Path, **train) -> str:
    """A TOML config of a LIIF small enough to train a few iterations in a second."""
    train = {"max_iters": 3, "checkpoint_every": 1, "log_every": 1, **train}
    extra = "".join(f"{k} = {v}\n" for k, v in train.items())
    return (f'name = "fuzz"\nstage = "liif"\n[network_g]\nhidden = 16\nn_hidden = 1\n'
            f'encoder_args = {{ n_resblocks = 1, n_feats = 8 }}\n'
            f'[datasets.train]\ndirs = ["{data.as_posix()}"]\nlr_patch = 8\nn_points = 64\nbatch_size = 2\n'
            f'[train]\n{extra}')


def can_mount() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("mount") is not None


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int = 256, read_only: bool = False):
    """A small tmpfs at ``path`` (root only), removed afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size_kb}k" + (",ro" if read_only else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()[:100]})")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)
