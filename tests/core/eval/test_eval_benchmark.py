"""cisr eval: the pipeline (LR making, SR, metrics, tables) on tiny folders, and bicubic on Set5 x4."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from cisr_zoom.core import cli
from cisr_zoom.core.checkpoint import save_checkpoint
from cisr_zoom.core.eval import benchmark as B
from cisr_zoom.core.eval import metrics as M
from cisr_zoom.core.eval.bicubic import imresize
from cisr_zoom.core.imageio import load_image, to_uint8
from cisr_zoom.resources import RESOURCES_DIR


def _write_set(folder, sizes=((100, 130), (97, 110))):
    folder.mkdir(parents=True)
    src = (load_image(RESOURCES_DIR / "sample.jpg").rgb * 255).round().astype(np.uint8)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(src[40 * i:40 * i + h, 60 * i:60 * i + w]).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def tiny_set(tmp_path):
    return _write_set(tmp_path / "Tiny" / "HR")


def test_bicubic_figures_equal_a_direct_computation(tiny_set):
    scorers = B.Scorers(["psnr", "ssim"])
    r = B.evaluate([B.bicubic_method()], tiny_set.parent, [2, 3], scorers)
    assert r.dataset == "Tiny" and r.kind == "benchmark" and r.images == ["img0.png", "img1.png"]
    for s in (2, 3):
        want = []
        for p in sorted(tiny_set.iterdir()):
            hr = np.asarray(Image.open(p))
            hr = hr[:hr.shape[0] // s * s, :hr.shape[1] // s * s]
            sr = imresize(imresize(hr, 1 / s), s)            # uint8 all the way, like MATLAB
            assert sr.dtype == np.uint8 and sr.shape == hr.shape
            want.append(M.psnr_y(sr / 255.0, hr / 255.0, border=s))
        assert r.mean("bicubic", "psnr", s) == pytest.approx(np.mean(want), abs=1e-9)
        assert 0 < r.mean("bicubic", "ssim", s) < 1
    assert r.mean("bicubic", "psnr", 2) > r.mean("bicubic", "psnr", 3)


def test_grey_files_are_scored_on_grey_levels(tmp_path):
    d = tmp_path / "Grey"
    d.mkdir()
    g = (load_image(RESOURCES_DIR / "sample.jpg").rgb[:64, :80, 1] * 255).round().astype(np.uint8)
    Image.fromarray(g, mode="L").save(d / "g.png")
    r = B.evaluate([B.bicubic_method()], d, [2], B.Scorers(["psnr"]))
    assert r.grey_images == ["g.png"]
    sr = imresize(imresize(g, 1 / 2), 2).astype(np.float64)
    assert r.mean("bicubic", "psnr", 2) == pytest.approx(M.psnr(sr[2:-2, 2:-2], g[2:-2, 2:-2].astype(float), 255), abs=1e-6)
    assert "grey levels" in B.format_text(r)


def test_div2k_convention_is_detected(tmp_path):
    d = _write_set(tmp_path / "DIV2K_valid_HR", sizes=((96, 120),))
    r = B.evaluate([B.bicubic_method()], d, [2], B.Scorers(["psnr"]))
    assert r.kind == "div2k"
    hr = np.asarray(Image.open(d / "img0.png"))
    sr = imresize(imresize(hr, 1 / 2), 2)
    assert r.mean("bicubic", "psnr", 2) == pytest.approx(M.psnr_rgb(sr / 255.0, hr / 255.0, border=8), abs=1e-9)
    r2 = B.evaluate([B.bicubic_method()], d, [2], B.Scorers(["psnr"]), kind="benchmark")
    assert r2.kind == "benchmark" and r2.mean("bicubic", "psnr", 2) != r.mean("bicubic", "psnr", 2)


def test_model_output_is_the_query_at_hr_pixel_centres(tiny_liif):
    lr = (np.random.default_rng(0).random((9, 11, 3)) * 255).astype(np.uint8)
    a = B.super_resolve(tiny_liif, lr, (27, 33), chunk_size=100)
    b = B.super_resolve(tiny_liif, lr, (27, 33), chunk_size=10_000)
    assert a.shape == (27, 33, 3) and a.min() >= 0 and a.max() <= 1
    np.testing.assert_allclose(a, b, atol=1e-6)
    # pixel (i, j) is the query at (-1 + (2i+1)/H, -1 + (2j+1)/W) with cell (2/H, 2/W)
    x = torch.from_numpy(lr.astype(np.float32) / 255).permute(2, 0, 1)[None]
    i, j = 5, 20
    coord = torch.tensor([[[-1 + (2 * i + 1) / 27, -1 + (2 * j + 1) / 33]]])
    cell = torch.tensor([[[2 / 27, 2 / 33]]])
    with torch.no_grad():
        v = tiny_liif.query(tiny_liif.encode(x), coord, cell)[0, 0].clamp(0, 1).numpy()
    np.testing.assert_allclose(a[i, j], v, atol=1e-6)
    q = to_uint8(a)
    assert q.dtype == np.uint8 and np.abs(q / 255.0 - a).max() <= 0.5 / 255 + 1e-7


def test_cli_with_a_checkpoint_and_all_output_formats(tmp_path, tiny_set, tiny_liif, tiny_liif_spec, capsys, monkeypatch):
    monkeypatch.setenv("CISR_NO_DOWNLOAD", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))   # an empty hub cache
    monkeypatch.setattr("cisr_zoom.core.imagenet_weights._lpips_package_file", lambda name: None)
    ckpt = tmp_path / "tiny.pth"
    save_checkpoint(ckpt, tiny_liif, tiny_liif_spec)
    for suffix in (".json", ".md", ".csv"):
        out = tmp_path / f"res{suffix}"
        rc = cli.main(["eval", "--model", "bicubic", "--model", str(ckpt), "--data", str(tiny_set.parent),
                       "--scales", "2,4", "--metrics", "psnr,ssim,lpips", "--limit", "1", "--device", "cpu",
                       "-q", "-o", str(out)])
        assert rc == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "bicubic" in text and "tiny" in text and "unavailable" in text and "x4" in text
    data = json.loads((tmp_path / "res.json").read_text())
    res = data["results"][0]
    assert res["methods"] == ["bicubic", "tiny"] and res["images"] == ["img0.png"]
    assert "not available" in res["unavailable"]["lpips"]
    assert math.isfinite(res["mean"]["tiny"]["psnr"]["x2"])
    assert data["run"]["machine"] and data["run"]["date"]
    md = (tmp_path / "res.md").read_text()
    assert "| bicubic | PSNR (dB) |" in md and "unavailable" in md
    csv_lines = (tmp_path / "res.csv").read_text().splitlines()
    assert csv_lines[0] == "dataset,kind,method,metric,scale,value,images"
    assert len(csv_lines) == 1 + 2 * 3 * 2


def test_cli_errors(tmp_path, tiny_set, capsys):
    assert cli.main(["eval", "--data", str(tmp_path / "nope"), "--metrics", "psnr"]) == 1
    assert cli.main(["eval", "--data", str(tiny_set), "--scales", "2.5", "--metrics", "psnr"]) == 1
    assert cli.main(["eval", "--data", str(tiny_set), "--metrics", "psnr,fid"]) == 1
    assert cli.main(["eval", "--data", str(tiny_set), "--scales", "2", "--metrics", "psnr", "-q",
                     "-o", str(tmp_path / "r.txt")]) == 1
    assert cli.main(["eval", "--model", str(tmp_path / "missing.pth"), "--data", str(tiny_set)]) == 1
    set5 = _write_set(tmp_path / "Set5" / "HR", sizes=((100, 100),))
    assert cli.main(["eval", "--fit-niqe", str(set5), "-o", str(tmp_path / "p.npz")]) == 1
    assert cli.main(["eval", "--data", str(tiny_set), "--lpips-alexnet", str(tmp_path / "typo.pth")]) == 1
    assert cli.main(["eval", "--data", str(tiny_set), "--metrics", ","]) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("cisr eval: error:")]
    assert len(lines) == 8 and "typo.pth" in lines[6]
    assert not (tmp_path / "r.txt").exists() and not (tmp_path / "p.npz").exists()


def test_small_images_are_skipped_not_fatal(tmp_path):
    d = _write_set(tmp_path / "Small", sizes=((40, 40),))
    r = B.evaluate([B.bicubic_method()], d, [2, 30], B.Scorers(["psnr"]))
    assert r.mean("bicubic", "psnr", 2) is not None
    assert r.mean("bicubic", "psnr", 30) is None and r.skipped == {"x30": ["img0.png"]}
    assert "n/a" in B.format_text(r) and "too small" in B.format_text(r)


def test_set5_x4_bicubic_reproduces_the_published_psnr(shared_dir):
    r = B.evaluate([B.bicubic_method()], shared_dir / "data" / "benchmark" / "Set5", [4], B.Scorers(["psnr"]))
    assert len(r.images) == 5
    assert r.mean("bicubic", "psnr", 4) == pytest.approx(28.42, abs=0.05)


# -- artifact columns, --degrade, progress ----------------------------------------------------

def _oracle(tiny_set):
    """A 'method' that returns the ground truth itself (it looks the LR up among the HR files)."""
    hrs = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(tiny_set.iterdir())]

    def up(lr, size):
        for hr in hrs:
            h = hr[:size[0], :size[1]]
            if h.shape[:2] == tuple(size) and np.array_equal(imresize(h, size=lr.shape[:2]), lr):
                return h
        raise AssertionError("no HR matches")
    return B.Method("oracle", up)


def test_artifact_ratios_are_one_for_the_ground_truth_and_for_bicubic(tiny_set):
    r = B.evaluate([B.bicubic_method(), _oracle(tiny_set)], tiny_set.parent, [2, 3],
                   B.Scorers(["psnr", "cell", "blocking"]))
    assert r.keys() == ["psnr", "cell_gt", "cell_bicubic", "blocking_gt", "blocking_bicubic"]
    for s in (2, 3):
        for img in r.images:
            o, b = r.per_image["oracle"][s][img], r.per_image["bicubic"][s][img]
            assert o["cell_gt"] == pytest.approx(1.0) and o["blocking_gt"] == pytest.approx(1.0)
            assert b["cell_bicubic"] == pytest.approx(1.0) and b["blocking_bicubic"] == pytest.approx(1.0)
            assert o["cell_bicubic"] == pytest.approx(1 / b["cell_gt"])
            assert b["cell_gt"] < 1.0                  # bicubic's blur has less energy at the LR period
        vals = [r.per_image["bicubic"][s][i]["cell_gt"] for i in r.images]
        assert r.value("bicubic", "cell_gt", s) == pytest.approx(float(np.median(vals)))
    d = r.to_dict()
    assert set(d["median"]["oracle"]) == {"cell_gt", "cell_bicubic", "blocking_gt", "blocking_bicubic"}
    assert set(d["mean"]["oracle"]) == {"psnr"}
    text = B.format_text(r)
    assert "cell/GT (median)" in text and "blocking/bicubic (median)" in text


def test_degraded_inputs_are_scored_against_the_clean_hr(tiny_set):
    from cisr_zoom.core.eval.degrade_lr import parse_degrade
    clean = B.evaluate([B.bicubic_method()], tiny_set.parent, [2], B.Scorers(["psnr"]))
    jpeg = B.evaluate([B.bicubic_method()], tiny_set.parent, [2], B.Scorers(["psnr"]), degrade=parse_degrade("jpeg:30"))
    assert jpeg.mean("bicubic", "psnr", 2) < clean.mean("bicubic", "psnr", 2) - 0.3
    assert "JPEG quality 30 (Pillow, 4:2:0)" in B.format_text(jpeg) and "clean HR" in B.format_text(jpeg)
    assert jpeg.to_dict()["degrade"]["spec"] == "jpeg:30" and clean.to_dict()["degrade"] is None
    # the realistic setting: the same on every run, different per image name
    real = [B.evaluate([B.bicubic_method()], tiny_set.parent, [2], B.Scorers(["psnr"]),
                       degrade=parse_degrade("Realistic")) for _ in range(2)]
    assert real[0].per_image == real[1].per_image
    lr = (np.random.default_rng(0).random((30, 30, 3)) * 255).astype(np.uint8)
    d = parse_degrade("realistic")
    assert np.array_equal(d.apply(lr, "a.png", 4), d.apply(lr, "a.png", 4))
    assert not np.array_equal(d.apply(lr, "a.png", 4), d.apply(lr, "b.png", 4))
    assert not np.array_equal(d.apply(lr, "a.png", 4), lr)


def test_jpeg_is_stored_with_4_2_0_chroma():
    from cisr_zoom.core.eval.degrade_lr import parse_degrade
    # constant luma, chroma alternating every pixel: 4:2:0 averages it away, 4:4:4 would keep it
    lr = np.zeros((32, 32, 3), np.uint8)
    lr[..., 0] = np.where((np.arange(32)[:, None] + np.arange(32)[None]) % 2, 180, 80)
    lr[..., 1] = 128
    lr[..., 2] = 128
    import io
    out = parse_degrade("jpeg:100").apply(lr, "a.png", 2).astype(float)
    buf = io.BytesIO()
    Image.fromarray(lr).save(buf, format="JPEG", quality=100, subsampling="4:4:4")
    full = np.asarray(Image.open(buf).convert("RGB")).astype(float)
    assert np.ptp(full[4:-4, 4:-4, 0]) > 90                    # 4:4:4 keeps the red alternation
    assert np.ptp(out[4:-4, 4:-4, 0]) < 40                     # 4:2:0 keeps only its luma share


def test_cli_degrade_progress_and_errors(tmp_path, tiny_set, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["eval", "--data", str(tiny_set.parent), "--scales", "2", "--metrics", "psnr,cell",
                     "--degrade", "jpeg:75", "-o", str(out)]) == 0
    cap = capsys.readouterr()
    assert "degraded: JPEG quality 75" in cap.out and "cell/GT (median)" in cap.out
    lines = [ln for ln in cap.err.splitlines() if "bicubic:" in ln]
    assert len(lines) == 2 and "Tiny 1/2 img0.png x2 bicubic:" in lines[0]      # a line per model and image
    data = json.loads(out.read_text())
    assert data["run"]["degrade"]["spec"] == "jpeg:75" and data["results"][0]["degrade"]["spec"] == "jpeg:75"
    assert "cell_energy" in data["results"][0]["per_image"]["bicubic"]["x2"]["img0.png"]
    assert cli.main(["eval", "--data", str(tiny_set.parent), "--scales", "2", "--metrics", "psnr", "-q",
                     "--degrade", "jpeg:75"]) == 0
    assert capsys.readouterr().err == ""
    for bad in ("jpeg:0", "jpeg:x", "webp:50"):
        assert cli.main(["eval", "--data", str(tiny_set.parent), "--degrade", bad, "-q",
                         "-o", str(tmp_path / "bad.json")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith("cisr eval: error: --degrade") for e in err)
    assert not (tmp_path / "bad.json").exists()


# -- --no-reference ---------------------------------------------------------------------------

def test_no_reference_photos_scores_artifacts_against_bicubic_and_writes_figures(tmp_path, tiny_liif, tiny_liif_spec,
                                                                                 capsys):
    from cisr_zoom.core.eval.figure import GAP, LABEL_HEIGHT
    photos = _write_set(tmp_path / "photos")
    ckpt = tmp_path / "tiny.pth"
    save_checkpoint(ckpt, tiny_liif, tiny_liif_spec)
    out = tmp_path / "nr.json"
    assert cli.main(["eval", "--no-reference", str(photos), "-m", "bicubic", "-m", str(ckpt), "--scales", "2,3",
                     "--crop", "48", "--figure-crop", "20", "--device", "cpu", "-o", str(out)]) == 0
    cap = capsys.readouterr()
    assert "no ground truth" in cap.out and "per image:" in cap.out and "cell/bicubic (median)" in cap.out
    assert "GT" not in cap.out
    assert len([ln for ln in cap.err.splitlines() if " x3 tiny:" in ln]) == 2
    res = json.loads(out.read_text())["results"][0]
    assert res["kind"] == "no-reference" and res["metrics"] == ["niqe", "cell", "blocking"]
    for s in ("x2", "x3"):
        for img in ("img0.png", "img1.png"):
            b, t = res["per_image"]["bicubic"][s][img], res["per_image"]["tiny"][s][img]
            assert b["cell_bicubic"] == pytest.approx(1.0) and b["blocking_bicubic"] == pytest.approx(1.0)
            assert set(t) == {"niqe", "cell_energy", "cell_bicubic", "blocking_energy", "blocking_bicubic"}
            assert t["cell_bicubic"] > 0 and t["cell_bicubic"] != pytest.approx(1.0)
    figs = sorted(p.name for p in (tmp_path / "nr-figures").iterdir())
    assert figs == ["img0_x2.png", "img0_x3.png", "img1_x2.png", "img1_x3.png"]
    fig = np.asarray(Image.open(tmp_path / "nr-figures" / "img0_x3.png"))
    assert fig.shape == (LABEL_HEIGHT + 60, 2 * 60 + GAP, 3)          # bicubic | tiny, 20 LR px at x3


def test_no_reference_errors_are_one_line(tmp_path, tiny_set, capsys):
    runs = [["--no-reference", str(tiny_set), "--metrics", "psnr,niqe"],
            ["--no-reference", str(tiny_set), "--data", str(tiny_set)],
            ["--no-reference", str(tiny_set), "--degrade", "jpeg:75"],
            ["--no-reference", str(tmp_path / "nope")],
            ["--no-reference", str(tiny_set), "--scales", "1"]]
    for extra in runs:
        assert cli.main(["eval", "-q", "-o", str(tmp_path / "x.json")] + extra) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == len(runs) and all(e.startswith("cisr eval: error:") for e in err)
    assert "ground truth" in err[0] and not (tmp_path / "x.json").exists()


def test_no_reference_options_with_data_are_refused_not_ignored(tmp_path, tiny_set, capsys):
    for extra, named in ((["--crop", "32"], "--crop"), (["--figures", str(tmp_path / "f")], "--figures"),
                         (["--figure-crop", "40"], "--figure-crop")):
        assert cli.main(["eval", "-q", "--data", str(tiny_set), "--scales", "2"] + extra) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("cisr eval: error:") and named in err and "--no-reference" in err
    assert not (tmp_path / "f").exists()
