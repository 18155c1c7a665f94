"""A fixed-scale model of another project (a random-weight ESRGAN through the spandrel extra)
added beside LIIF: a comparison pane renders it (headless), labelled with its architecture and
scale."""

import pytest
import torch

from cisr_zoom.core.fixed_scale import spandrel_available
from test_main_window import wait_idle, wait_session

pytestmark = pytest.mark.skipif(not spandrel_available(), reason="the spandrel extra is not installed")


@pytest.fixture
def esrgan_file(tmp_path):
    from spandrel.architectures.ESRGAN import ESRGAN
    torch.manual_seed(1)
    p = tmp_path / "models" / "2x-tiny-esrgan.pth"
    p.parent.mkdir(exist_ok=True)
    torch.save(ESRGAN(num_filters=8, num_blocks=1, scale=2).state_dict(), p)
    return p


def _pixels(win, source):
    """The image of every tile a view holds for ``source`` (as bytes), over all levels."""
    layer = win.scene.tile_layer
    out = []
    for level in layer.levels(source):
        for patch in layer.patches(source, level, touch=False):
            img = patch.image
            out.append(bytes(img.constBits()[: img.sizeInBytes()]))
    return out


def test_esrgan_pane_beside_liif(make_window, test_image, tiny_checkpoints, esrgan_file, qtbot):
    from cisr_zoom.app.model_catalog import FIXED_FAMILY
    from cisr_zoom.core.render.fixed import FixedScaleSession
    liif = tiny_checkpoints[0]
    win = make_window(test_image, models=[liif, esrgan_file], size=(1100, 700))
    fixed_id = f"file:{esrgan_file.resolve()}"
    entry = win.catalog.get(fixed_id)
    assert entry.family == FIXED_FAMILY and entry.label == "2x-tiny-esrgan (ESRGAN x2)"
    panes = win.compare.panes
    sources = [p.source for p in panes]
    assert fixed_id in sources and f"file:{liif.resolve()}" in sources
    pane = panes[sources.index(fixed_id)]
    assert pane.combo.currentText() == "2x-tiny-esrgan (ESRGAN x2)"      # scale and architecture
    wait_session(qtbot, win)
    win.view.zoom_at(3.0)
    wait_idle(qtbot, [win.view] + [p.view for p in panes])
    session = win.scene.session(fixed_id)
    assert isinstance(session, FixedScaleSession) and session.scale == 2
    assert win.scene.source_error(fixed_id) is None
    esr, lii = _pixels(win, fixed_id), _pixels(win, f"file:{liif.resolve()}")
    assert esr and lii and set(esr) != set(lii)                            # its own pixels, not LIIF's
    assert session.tiles.encode_calls >= 1 and session.uncached_pixels((-1.0, -1.0, 1.0, 1.0)) >= 0


def test_adding_a_fixed_scale_file_in_the_app(make_window, test_image, esrgan_file, qtbot):
    win = make_window(test_image)
    win.add_model_file(esrgan_file)
    qtbot.waitUntil(lambda: any(e.path == esrgan_file.resolve() for e in win.catalog.entries()), timeout=20000)
    assert "2x-tiny-esrgan (ESRGAN x2)" in [win.catalog.label(s) for s in win.catalog.sources()]
    assert win.last_message_box is None
