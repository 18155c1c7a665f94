"""The view group, without Qt: one camera (centre, scale), the pointer, the focus and the
settle state that every view of a group observes and edits."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cisr_zoom.app.viewer.view_group import LOUPE, MAIN, MIRROR, ViewGroup


def _group(view=(400, 300), image=(600, 800)):
    g = ViewGroup()
    g.join("main", MAIN)
    g.join("loupe", LOUPE)
    g.join("mirror", MIRROR)
    g.resize(*view, 1.0)
    g.set_image(image)
    seen = {"view": [], "pointer": 0, "settled": 0}
    g.events.view.connect(seen["view"].append)
    g.events.pointer.connect(lambda: seen.__setitem__("pointer", seen["pointer"] + 1))
    g.events.settled.connect(lambda: seen.__setitem__("settled", seen["settled"] + 1))
    return g, seen


def test_the_model_imports_no_qt():
    code = ("import sys; import cisr_zoom.app.viewer.view_group; "
            "sys.exit(any(m.startswith(('PySide6', 'shiboken6', 'qasync')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], timeout=600).returncode == 0


def test_zoom_keeps_the_anchor_on_screen_and_becomes_the_focus():
    g, seen = _group()
    anchor = (200.0, 150.0)
    before = g.camera.image_to_screen(*anchor)
    g.zoom_at(2.0, anchor)
    assert g.camera.image_to_screen(*anchor) == pytest.approx(before)
    assert g.camera.physical_scale == pytest.approx(2.0 * 0.5)       # fit: 400/800
    assert g.focus == pytest.approx(anchor) and not g.auto_fit
    assert seen["view"] == [None]
    g.fit()
    assert g.focus is None and g.auto_fit and g.camera.physical_scale == pytest.approx(0.5)


def test_pan_moves_whole_pixels_carries_the_rest_and_reports_an_exact_shift():
    g, seen = _group()
    g.zoom_at(4.0, (400.0, 300.0))
    cx = g.camera.cx
    g.pan_by(0.4, 0.0)                                   # less than a pixel: nothing yet
    assert seen["view"] == [None] and g.camera.cx == cx and g.focus is not None
    g.pan_by(0.4, 0.0)                                   # 0.8 in all: one pixel
    assert seen["view"][-1] == (1, 0) and g.camera.cx == pytest.approx(cx - 1 / g.camera.scale)
    assert g.focus is None                               # a pan forgets the zoom's anchor
    g.pan_by(10_000.0, 0.0)                              # clamped at the image's edge: not a plain shift
    assert seen["view"][-1] is None and g.camera.cx == 0.0


def test_a_loupe_centres_on_the_pointer_unless_it_is_in_a_loupe():
    g, seen = _group()
    middle = (g.camera.cx, g.camera.cy)
    assert g.centre_for("loupe") == middle                # no pointer: the camera's centre
    g.point("mirror", (10.0, 20.0))
    assert seen["pointer"] == 1 and g.pointer_member == "mirror"
    assert g.centre_for("loupe") == (10.0, 20.0) and g.centre_for("mirror") == middle
    g.point("mirror", (10.0, 20.0))                       # the same point: nothing to tell
    assert seen["pointer"] == 1
    g.point("loupe", (30.0, 40.0))
    assert g.centre_for("loupe") == middle                # the cursor is in a loupe
    g.unpoint("mirror")                                   # left a view it was no longer in: nothing
    assert seen["pointer"] == 2 and g.pointer == (30.0, 40.0)
    g.leave("loupe")                                      # a member that goes takes the pointer along
    assert g.pointer is None and g.pointer_member is None and seen["pointer"] == 3


def test_settling_is_announced_only_when_the_main_views_requests_are_made():
    g, seen = _group()
    g.unsettle()
    assert not g.settled
    g.settle(announce=False)                              # dropped (cancelled): the others are not told
    assert g.settled and seen["settled"] == 0
    g.unsettle()
    g.settle()
    assert g.settled and seen["settled"] == 1


def test_resize_refits_until_the_user_zooms():
    g, seen = _group()
    g.resize(800, 600, 1.0)
    assert g.camera.physical_scale == pytest.approx(1.0)
    g.zoom_at(2.0)
    g.resize(400, 300, 1.0)
    assert g.camera.physical_scale == pytest.approx(2.0)
    g.centre_on(cx=100.0)
    assert (g.camera.cx, g.camera.cy) == (100.0, 300.0)
    with pytest.raises(ValueError):
        g.join("x", "sideways")
