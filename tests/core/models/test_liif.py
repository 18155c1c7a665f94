import torch

from cisr_zoom.core import models
from cisr_zoom.core.coords import make_cell, make_coord


def _inputs(h=12, w=9, H=31, W=22, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(1, 3, h, w, generator=g)
    coords = make_coord((H, W)).unsqueeze(0)
    cells = make_cell((H, W), n=H * W).unsqueeze(0)
    return img, coords, cells


def test_output_shape_and_determinism(tiny_liif):
    img, coords, cells = _inputs()
    with torch.no_grad():
        a = tiny_liif(img, coords, cells)
        b = tiny_liif(img, coords, cells)
    assert a.shape == (1, coords.shape[1], 3)
    assert torch.equal(a, b)
    assert torch.isfinite(a).all()


def test_chunked_query_equals_single_query(tiny_liif):
    img, coords, cells = _inputs()
    with torch.no_grad():
        f = tiny_liif.encode(img)
        whole = tiny_liif.query(f, coords, cells)
        for chunk in (1, 7, 100, 10_000):
            assert torch.allclose(tiny_liif.query(f, coords, cells, chunk_size=chunk), whole, atol=1e-6)


def test_batch_items_are_independent(tiny_liif):
    img, coords, cells = _inputs()
    img2, _, _ = _inputs(seed=1)
    with torch.no_grad():
        single = tiny_liif(img, coords, cells)
        batch = tiny_liif(torch.cat([img, img2]), coords.expand(2, -1, -1), cells.expand(2, -1, -1))
    assert torch.allclose(batch[:1], single, atol=1e-6)


def test_no_state_kept_on_module(tiny_liif):
    img, coords, cells = _inputs()
    before = set(vars(tiny_liif))
    with torch.no_grad():
        tiny_liif(img, coords, cells)
    assert set(vars(tiny_liif)) == before


def test_image_skip_changes_output_and_is_off_by_default(tiny_liif_spec):
    spec = dict(tiny_liif_spec, args=dict(tiny_liif_spec["args"], image_skip=True))
    torch.manual_seed(0)
    plain = models.make(tiny_liif_spec).eval()
    torch.manual_seed(0)
    skip = models.make(spec).eval()
    assert plain.image_skip is False and skip.image_skip is True
    # zero INN output: an image-skip model then returns the bilinear upsampling of its input
    for m in (plain, skip):
        last = m.imnet.layers[-1]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
    img = torch.rand(1, 3, 8, 8)
    coords = make_coord((16, 16)).unsqueeze(0)
    cells = make_cell((16, 16), n=256).unsqueeze(0)
    with torch.no_grad():
        out_skip = skip(img, coords, cells).view(16, 16, 3).permute(2, 0, 1)
        out_plain = plain(img, coords, cells)
    expected = torch.nn.functional.interpolate(img, size=(16, 16), mode="bilinear", align_corners=False)[0]
    assert torch.allclose(out_skip, expected, atol=1e-5)
    assert torch.allclose(out_plain, torch.full_like(out_plain, 0.5))


def test_gradients_flow(tiny_liif):
    img, coords, cells = _inputs(H=8, W=8)
    out = tiny_liif(img, coords, cells)
    out.abs().mean().backward()
    assert tiny_liif.encoder.head[0].weight.grad is not None
    assert tiny_liif.imnet.layers[0].weight.grad.abs().sum() > 0
