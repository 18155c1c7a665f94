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
