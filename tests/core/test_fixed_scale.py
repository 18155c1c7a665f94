"""Fixed-scale models of other projects through the optional spandrel extra: two architectures
with small random weights (ESRGAN's RRDBNet as a .pth state dict, Real-ESRGAN Compact as
.safetensors), recognised, rendered at their native scale on any region (tiles with a halo) and
resampled; files spandrel cannot use are one line."""

import sys

import numpy as np
import pytest
import torch

from cisr_zoom.core.errors import CheckpointError
from cisr_zoom.core.fixed_scale import describe_any, load_model, spandrel_available
from cisr_zoom.core.imageio import LoadedImage
from cisr_zoom.core.render.fixed import FixedScaleSession
from cisr_zoom.core.render.session import RenderCancelled
from cisr_zoom.core.render.sources import describe_source

pytestmark = pytest.mark.skipif(not spandrel_available(), reason="the spandrel extra is not installed")


@pytest.fixture
def esrgan_file(tmp_path):
    from spandrel.architectures.ESRGAN import ESRGAN
    torch.manual_seed(1)
    net = ESRGAN(num_filters=8, num_blocks=1, scale=2)
    p = tmp_path / "2x-tiny-esrgan.pth"
    torch.save(net.state_dict(), p)
    return p


@pytest.fixture
def compact_file(tmp_path):
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact
    torch.manual_seed(2)
    net = Compact(num_feat=8, num_conv=2, upscale=4)
    p = tmp_path / "4x-tiny-compact.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(p))
    return p


def _image(h=70, w=90, seed=0):
    return LoadedImage(rgb=np.random.default_rng(seed).random((h, w, 3)).astype(np.float32), alpha=None)


def _whole(model, image):
    with torch.no_grad():
        x = torch.from_numpy(image.rgb).permute(2, 0, 1)[None]
        return model.descriptor(x)[0].permute(1, 2, 0).numpy()


def test_two_architectures_are_recognised(esrgan_file, compact_file):
    for path, arch, scale in ((esrgan_file, "ESRGAN", 2), (compact_file, "RealESRGAN Compact", 4)):
        d, info = describe_any(path)                     # no weights allocated
        assert d is None and (info.architecture, info.scale) == (arch, scale)
        assert info.display_name == f"{arch} x{scale}"
        m = load_model(path)
        assert describe_source(m).kind == "fixed-scale" and describe_source(m).native_scale == scale
        assert m.scale == scale and m.info == info and m.name == path.stem


@pytest.mark.parametrize("which, halo", [("compact", 16), ("esrgan", 24)])
def test_tiles_with_a_halo_give_the_whole_image_output(esrgan_file, compact_file, which, halo):
    m = load_model(compact_file if which == "compact" else esrgan_file)
    img = _image()
    ref = _whole(m, img)
    s = FixedScaleSession(m, img, tile=16, max_box=32, halo=halo)       # many boxes, many seams
    out = s.render((-1.0, -1.0, 1.0, 1.0), ref.shape[:2])
    assert s.tiles.encode_calls > 4
    assert np.abs(out - ref).max() < 1e-4
    # without the halo the seams show: the test can fail
    bare = FixedScaleSession(m, img, tile=16, max_box=32, halo=0).render((-1.0, -1.0, 1.0, 1.0), ref.shape[:2])
    assert np.abs(bare - ref).max() > 1e-3


def test_a_region_at_native_density_is_that_part_of_the_output(compact_file):
    m = load_model(compact_file)
    img = _image()
    ref = _whole(m, img)
    h, w = img.rgb.shape[:2]
    s = FixedScaleSession(m, img, tile=16, max_box=32)
    r0, r1, c0, c1 = 20, 45, 33, 71                         # LR pixels
    region = (-1 + 2 * r0 / h, -1 + 2 * c0 / w, -1 + 2 * r1 / h, -1 + 2 * c1 / w)
    out = s.render(region, ((r1 - r0) * 4, (c1 - c0) * 4))
    assert np.abs(out - ref[r0 * 4:r1 * 4, c0 * 4:c1 * 4]).max() < 1e-4
    assert s.uncached_pixels(region) == 0
    assert s.uncached_pixels((-1.0, -1.0, 1.0, 1.0)) > 0       # only the region's tiles were run


def test_any_output_size_is_resampled(esrgan_file):
    m = load_model(esrgan_file)
    img = _image()
    s = FixedScaleSession(m, img)
    native = s.render((-1.0, -1.0, 1.0, 1.0), (140, 180))
    for size in ((211, 277), (35, 45), (7, 300)):           # x3, x0.5, anisotropic
        out = s.render((-1.0, -1.0, 1.0, 1.0), size)
        assert out.shape == size + (3,) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    half = s.render((-1.0, -1.0, 1.0, 1.0), (70, 90))         # x1: the native output, antialiased
    assert abs(float(half.mean()) - float(native.mean())) < 0.01


def test_steps_prefetch_and_cancel(compact_file):
    m = load_model(compact_file)
    s = FixedScaleSession(m, _image(), tile=16, max_box=32)
    region = (-0.5, -0.5, 0.5, 0.5)
    before = s.uncached_pixels(region)
    assert before > 0
    steps = 0
    while s.encode_step(region):
        steps += 1
    assert steps >= 1 and s.uncached_pixels(region) == 0
    calls = s.tiles.encode_calls
    s.render(region, (100, 100))
    assert s.tiles.encode_calls == calls                   # nothing left to run
    with pytest.raises(RenderCancelled):
        s.render((-1.0, -1.0, 1.0, 1.0), (50, 50), should_stop=lambda: True)
    assert s.prefetch((-1.0, -1.0, 1.0, 1.0)) is True and s.uncached_pixels((-1.0, -1.0, 1.0, 1.0)) == 0


def test_unknown_state_dict_and_damaged_weights_are_one_line(tmp_path, esrgan_file):
    p = tmp_path / "mystery.pth"
    torch.save({"layer.weight": torch.zeros(3, 3)}, p)
    with pytest.raises(CheckpointError, match="no model entry.*nor is it a model architecture spandrel knows") as e:
        load_model(p)
    assert "\n" not in str(e.value)
    sd = torch.load(esrgan_file, weights_only=True)
    next(iter(sd.values())).fill_(float("nan"))
    torch.save(sd, tmp_path / "nan.pth")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load_model(tmp_path / "nan.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="no model entry"):
        load_model(tmp_path / "list.pth")


def test_without_spandrel_the_error_says_how_to_get_it(tmp_path, esrgan_file, monkeypatch):
    import cisr_zoom.core.fixed_scale as fs
    monkeypatch.setitem(sys.modules, "spandrel", None)       # as if not installed
    with pytest.raises(CheckpointError) as e:
        fs.load_model(esrgan_file)
    msg = str(e.value)
    assert "no model entry" in msg and "pip install 'cisr-zoom[spandrel]'" in msg and "torch==" in msg
    assert "\n" not in msg


def test_no_placeholder_torchvision_is_left_behind():
    tv = sys.modules.get("torchvision")
    assert tv is None or getattr(tv, "__file__", None)


def test_cli_upscale_and_eval_with_a_fixed_scale_model(tmp_path, esrgan_file, capsys):
    from PIL import Image
    from cisr_zoom.core.cli import main
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--scale", "3",
                 "--model", str(esrgan_file), "--device", "cpu", "-q"]) == 0
    assert Image.open(tmp_path / "out.png").size == (72, 60)
    (tmp_path / "hr").mkdir()
    Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / "hr" / "a.png")
    assert main(["eval", "--data", str(tmp_path / "hr"), "--model", str(esrgan_file), "--model", "bicubic",
                 "--metrics", "psnr", "--scales", "2", "-q", "-o", str(tmp_path / "r.md")]) == 0
    assert "2x-tiny-esrgan" in (tmp_path / "r.md").read_text()


def test_info_describes_a_fixed_scale_model(esrgan_file, capsys):
    import json
    from cisr_zoom.core.cli import main
    assert main(["info", str(esrgan_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2x-tiny-esrgan: ESRGAN x2 (a fixed-scale model") and "x2 only" in out
    assert main(["info", str(esrgan_file), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert (card["architecture"], card["scale"]) == ("ESRGAN", 2) and card["parameters"] > 0


def test_info_names_what_runs_a_fixed_scale_model(esrgan_file, compact_file, capsys):
    """The runner comes from the loaded model (the source descriptor), not from probing its class."""
    import json
    from cisr_zoom.core.cli import main
    for path, runner, words in ((esrgan_file, "spandrel", "loaded through spandrel"),
                                (compact_file, "native", "run natively")):
        assert describe_source(load_model(path)).facts["runner"] == runner
        assert main(["info", str(path)]) == 0
        assert words in capsys.readouterr().out
        assert main(["info", str(path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["kind"] == f"fixed-scale ({runner})"
