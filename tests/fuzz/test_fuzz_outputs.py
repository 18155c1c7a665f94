"""Outputs that cannot be written: a read-only folder, a read-only or full file system, a path
that is a file or a folder. Each gives one line naming the path, and leaves nothing behind."""

import json

import pytest

from fuzzkit import expect_error, listing, run_child, run_cli, tiny_train_config


def _upscale(assets, out):
    return ["upscale", assets / "photo.png", "-o", out, "--scale", "2", "--model", assets / "tiny.pth", "-q"]


def _eval(assets, out):
    return ["eval", "--data", assets / "images", "--model", "bicubic", "--metrics", "psnr", "--scales", "2",
            "-q", "-o", out]


def _train(assets, out, cfg):
    cfg.write_text(tiny_train_config(assets / "images"))
    return ["train", "--config", cfg, "--out", out]


COMMANDS = {
    "upscale": lambda a, d, t: _upscale(a, d / "out.png"),
    "eval": lambda a, d, t: _eval(a, d / "results.md"),
    "train": lambda a, d, t: _train(a, d / "run", t / "tiny.toml"),
    "export-model": lambda a, d, t: ["export-model", a / "tiny.pth", d / "model.pth"],
    "export-model-safetensors": lambda a, d, t: ["export-model", a / "tiny.pth", d / "model.safetensors"],
}


def _no_partial_files(folder):
    for p in folder.rglob("*"):
        assert not p.name.startswith("."), f"temporary file left: {p}"
        assert p.suffix not in (".pth", ".safetensors"), f"checkpoint written: {p}"
        if p.name == "log.jsonl":
            lines = p.read_text().splitlines()
            assert lines and all(json.loads(x) for x in lines), "empty or broken log"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_full_disk(tmp_path, assets, full_fs, command):
    before = listing(full_fs)
    expect_error(run_cli(*COMMANDS[command](assets, full_fs, tmp_path)), "no space left",
                 progress=command == "train")
    assert listing(full_fs) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_read_only_file_system(tmp_path, assets, readonly_fs, command):
    expect_error(run_cli(*COMMANDS[command](assets, readonly_fs, tmp_path)), "read-only",
                 progress=command == "train")
    assert listing(readonly_fs) == set()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_read_only_folder_as_a_user(tmp_path, assets, readonly_dir, command):
    folder, prefix = readonly_dir
    r = run_child([str(a) for a in COMMANDS[command](assets, folder, tmp_path)], prefix=prefix)
    expect_error(r, "permission denied", progress=command == "train")
    assert listing(folder) == set()


def test_output_inside_a_file(tmp_path, assets):
    (tmp_path / "file").write_text("x")
    before = listing(tmp_path)
    expect_error(run_cli(*_upscale(assets, tmp_path / "file" / "out.png")))
    expect_error(run_cli(*_eval(assets, tmp_path / "file" / "sub" / "r.md")), "a file")
    assert listing(tmp_path) == before


def test_output_that_is_a_folder(tmp_path, assets):
    (tmp_path / "out.png").mkdir()
    before = listing(tmp_path)
    expect_error(run_cli(*_upscale(assets, tmp_path / "out.png")), "folder")
    assert listing(tmp_path) == before


def test_full_disk_during_training_keeps_the_log_whole(tmp_path, assets):
    """A disk that fills up between log lines and checkpoints (here: a 64 kB file system
    whose first checkpoint does not fit): one line, no partial checkpoint, no broken log."""
    from fuzzkit import can_mount, tmpfs
    if not can_mount():
        pytest.skip("needs a tmpfs mount (root on Linux)")
    with tmpfs(tmp_path / "small", 24) as d:
        expect_error(run_cli(*_train(assets, d / "run", tmp_path / "tiny.toml")), "no space left", progress=True)
        _no_partial_files(d)


def test_concurrent_writers_leave_one_valid_file(tmp_path, assets):
    from PIL import Image

    from fuzzkit import spawn
    out = tmp_path / "out" / "same.png"
    out.parent.mkdir()
    procs = [spawn(["upscale", assets / "photo.png", "-o", out, "--size", f"{w}x{w}", "--model",
                    assets / "tiny.pth", "-q", "--overwrite"]) for w in (300, 400)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-500:] for r in results]
    with Image.open(out) as img:
        img.load()
        assert img.size in ((300, 300), (400, 400))
    assert listing(out.parent) == {"same.png"}


# -- issue 29: nothing lost, nothing left behind ---------------------------------------------

_RACE = """
import os, sys, time, pathlib
from cisr_zoom.core import batch
ready, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
render = batch.Batch.render_steps

def after_all_checked(self, *a, **k):
    # every process has passed its 'exists?' check before any of them writes
    (ready / str(os.getpid())).touch()
    end = time.monotonic() + 240
    while len(list(ready.iterdir())) < n and time.monotonic() < end:
        time.sleep(0.01)
    return render(self, *a, **k)

batch.Batch.render_steps = after_all_checked
from cisr_zoom.core import cli
sys.exit(cli.main(sys.argv[3:]))
"""


def test_concurrent_writers_without_overwrite_one_wins(tmp_path, assets):
    """Three processes write one new output without --overwrite, all past their existence
    check at once: exactly one writes it, the others say it exists (status 1)."""
    import subprocess
    import sys

    from PIL import Image

    from fuzzkit import child_env
    out = tmp_path / "out" / "same.png"
    out.parent.mkdir()
    ready = tmp_path / "ready"
    ready.mkdir()
    sizes = (40, 50, 60)
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, str(ready), str(len(sizes)), "upscale",
                               str(assets / "photo.png"), "-o", str(out), "--size", f"{w}x{w}", "--model",
                               str(assets / "tiny.pth"), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=child_env()) for w in sizes]
    results = [(p.wait(timeout=400), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 1, 1], results
    winner = sizes[[rc for rc, _ in results].index(0)]
    for rc, err in results:
        if rc:
            lines = [x for x in err.splitlines() if x.strip()]
            assert len(lines) == 1 and "exists" in lines[0] and "Traceback" not in err, err[-2000:]
    with Image.open(out) as img:
        assert img.size == (winner, winner)     # the winner's file, not replaced by a later one
    assert listing(out.parent) == {"same.png"}


def test_sigkill_mid_write_leaves_a_temp_that_the_next_write_removes(tmp_path, assets):
    """A writer killed outright (SIGKILL) cannot clean up; the next write into that folder
    removes its temporary file, but never a live process's or a file of another naming."""
    import os
    import signal
    import time

    from fuzzkit import spawn
    if os.name != "posix":
        pytest.skip("SIGKILL is POSIX")
    out = tmp_path / "out.png"
    p = spawn(["upscale", assets / "photo.png", "-o", out, "--size", "3000x3000", "--model", assets / "tiny.pth", "-q"])
    end = time.monotonic() + 300          # a child's start-up takes minutes on a saturated machine
    try:
        while not list(tmp_path.glob(".out.png.*.part")):
            assert p.poll() is None and time.monotonic() < end, p.communicate()[1][-2000:]
            time.sleep(0.02)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
    (stale,) = tmp_path.glob(".out.png.*.part")
    # the same naming for a process that is alive (this one), and a file that is not ours
    live = tmp_path / stale.name.replace(f".{p.pid}-", f".{os.getpid()}-")
    live = live if live != stale else tmp_path / f".out.png.{os.getpid()}.part"
    live.write_bytes(b"in progress")
    other = tmp_path / ".out.png.notours.part"
    other.write_bytes(b"someone else's")
    r = run_cli("upscale", assets / "photo.png", "-o", out, "--size", "40x40", "--model", assets / "tiny.pth", "-q")
    assert r.rc == 0, r.stderr
    assert not stale.exists(), "the killed writer's temporary file is still there"
    assert listing(tmp_path) == {"out.png", live.name, other.name}


def _big_checkpoint(folder):
    """A LIIF checkpoint of about 1.3 MB (float32), so a small disk fills in mid-file."""

    from cisr_zoom.core import models
    from cisr_zoom.core.checkpoint import save_checkpoint
    spec = {"name": "liif", "args": {
        "encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 4, "n_feats": 64, "no_upsampling": True}},
        "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [16]}}}}
    path = folder / "big.pth"
    save_checkpoint(path, models.make(spec), spec)
    assert path.stat().st_size > 1 << 20
    return path


@pytest.mark.parametrize("options", [[], ["--float32"]], ids=["float16", "float32"])
def test_disk_full_mid_model_export_is_one_line(tmp_path, options):
    """torch's zip writer reports a full disk as 'unexpected pos': the writer helper maps it."""
    from fuzzkit import can_mount, tmpfs
    if not can_mount():
        pytest.skip("needs a tmpfs mount (root on Linux)")
    src = _big_checkpoint(tmp_path)
    with tmpfs(tmp_path / "small", 256) as d:
        expect_error(run_cli("export-model", src, d / "m.pth", *options), "no space left")
        assert listing(d) == set()


@pytest.mark.parametrize("where", ["readonly_fs", "full_fs"])
def test_unwritable_output_is_refused_before_the_progress_bar(tmp_path, assets, where, request):
    """Without -q: the one error line comes before any work (no progress bar lines)."""
    folder = request.getfixturevalue(where)
    before = listing(folder)
    r = run_cli("upscale", assets / "photo.png", "-o", folder / "out.png", "--scale", "2", "--model",
                assets / "tiny.pth")
    expect_error(r, "read-only" if where == "readonly_fs" else "no space left")
    assert listing(folder) == before


def test_symlink_loop_as_output_folder(tmp_path, assets):
    (tmp_path / "L1").symlink_to(tmp_path / "L2")
    (tmp_path / "L2").symlink_to(tmp_path / "L1")
    before = listing(tmp_path)
    expect_error(run_cli(*_upscale(assets, tmp_path / "L1" / "out.png")), "symbolic link")
    expect_error(run_cli(*_eval(assets, tmp_path / "L1" / "r.json")), "symbolic link")
    expect_error(run_cli("export-model", assets / "tiny.pth", tmp_path / "L1" / "m.pth"), "symbolic link")
    assert listing(tmp_path) == before
