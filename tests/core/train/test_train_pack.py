"""The training-subset packer for GPU machines."""

from __future__ import annotations

from PIL import Image

from cisr_zoom.core.train.pack import main


def test_pack_writes_crops_within_the_budget(tmp_path, train_images):
    out = tmp_path / "pack"
    assert main(["--data", str(train_images), "--out", str(out), "--max-mib", "0.1", "--crop", "64"]) == 0
    crops = sorted(out.glob("crop_*.png"))
    assert crops and sum(p.stat().st_size for p in crops) <= 0.1 * 2**20
    with Image.open(crops[0]) as im:
        assert im.size == (64, 64)
    assert len((out / "SOURCES.txt").read_text().splitlines()) == len(crops) + 1


def test_pack_refuses_a_benchmark_folder(tmp_path, train_images, capsys):
    bench = tmp_path / "Set5"
    bench.mkdir()
    (bench / "a.png").write_bytes((train_images / "img0.png").read_bytes())
    assert main(["--data", str(bench), "--out", str(tmp_path / "p")]) == 1
    assert "evaluation set" in capsys.readouterr().err
