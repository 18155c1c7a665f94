"""Application benchmark: ``python -m cisr_zoom.app.bench [--model NAME_OR_PATH] [--image IMAGE] [--only TESTS]``.

Prints JSON with, measured in one run on this machine:

* **full view** (``full_view``): the time from zooming a 1920x1080 view to ``--view-zoom``
  (400 %) with no encoder features cached (as after opening an image) until every visible pixel
  is super-resolved, the time to the first tile and the **longest gap between two tiles**
  arriving on the GUI thread, the arrival order against the distance from the view centre
  (Kendall's tau; the cursor is outside the view), and per tile where the render thread's time
  went (queue wait, encode, decode: ``RenderedTile.timing``);
* **warm zoom** (``warm_zoom``, opt-in): the same view zoomed from ``--view-zoom`` to twice
  that, cold (the features dropped just before) and warm (after the app's encode-ahead, the
  idle job the settled view starts, has finished): the time until every visible pixel is
  super-resolved, and the encoder's time meanwhile (none when warm: the decoder only);
* **export** (``export``): two identical whole-image exports at ``--export-scale`` through the
  export dialog: the first estimate, the second one (from the first's stored timing), the
  real durations, the longest gap between progress events, and, while the second runs, how
  the view's tiles keep arriving after a zoom;
* **export estimates** (``estimate``, not run by default: three exports of minutes each): the
  first estimate a new user gets in the export dialog (empty speed book) against the export's
  wall time, for the whole image at x4 and for a current-view export at x4 of a 960x640 view at
  400 %, and the current-view export again while the user keeps zooming (a wheel step every
  1.5 s at a moving cursor, five in then five out: its time over the untouched one's);
* **pan frame time** (``pan``) of the 1920x1080 zoom view while panning over super-resolved tiles that
  are already cached: ``ZoomView.pan_by`` plus Qt's handling of the update (the painted frame
  is scrolled, only the exposed strip and the overlays are painted, then flushed); and the
  cost of painting a *full* frame from the cached tiles (``ZoomView.paint`` into an offscreen
  image: what a zoom step costs), next to two baselines painted the same way: an unscaled
  1920x1080 blit (the floor) and the full view with no tiles (the smooth-scaled preview only);
* **wheel to first super-resolved tile** (``wheel``): from the last of a burst of wheel events (three
  notches, 16 ms apart; each burst ends at a new render level) to the first tile of the new
  level arriving on the GUI thread, with the encoder features already cached (settle delay,
  request, render of one tile, hand-over). The view asks for a small *focus* tile at the zoom
  anchor first (64x64 with the CPU's 128-pixel tiles), then the rest. Context in the same
  run: the renderer alone on one focus-size, one view-size and one 256x256 tile with cached
  features (same session, same level), and the settle delay.

The pan test's cache is filled by the bicubic source (fast to render; painting cost depends
only on the cached images, not on what rendered them); the wheel test uses the model.

Model (``--model``): a bundled model's name or a checkpoint path; ``lm-liif-random``: a
paper-size LM-LIIF with random decoder weights (speed only, labelled so in the output);
default the bundled ``cisrgan-edsr-baseline`` or ``liif-edsr-baseline``, else an EDSR-baseline
LIIF with random weights (the same architecture and cost; the pixels are meaningless, the
timings are not). ``--render-log FILE`` logs every step of the render thread. Runs headless (Qt offscreen platform).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cisr_zoom.core.devices import cpu_name

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

VIEW_W, VIEW_H = 1920, 1080
MARGIN = 96                  # tiles are rendered for a view this much larger on each side
RANDOM_SPEC = {"name": "liif", "args": {
    "encoder_spec": {"name": "edsr-baseline", "args": {}},
    "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [256, 256, 256, 256]}},
    "image_skip": True}}


#: ``--model`` value for an LM-LIIF with random decoder weights (speed only)
LM_LIIF_RANDOM = "lm-liif-random"


def pick_model(arg: str | None, tmp: Path):
    """``(checkpoint path, description)`` for ``--model``: a bundled model's name, a checkpoint
    path, :data:`LM_LIIF_RANDOM`, or (None) the bundled CiSRGAN/LIIF, else a random LIIF."""
    from cisr_zoom.core.checkpoint import bundled_models, save_checkpoint
    bundled = bundled_models()
    if arg and arg != LM_LIIF_RANDOM:
        if arg in bundled:
            return bundled[arg], f"bundled {arg}"
        return Path(arg), f"checkpoint {Path(arg).name}"
    import torch
    from cisr_zoom.core import models
    torch.manual_seed(0)
    if arg == LM_LIIF_RANDOM:
        from cisr_zoom.core.checkpoint import load_checkpoint
        from cisr_zoom.core.models.lmf import lmf_spec
        spec = lmf_spec("edsr-baseline")
        model = models.make(spec).eval()
        note = "paper-size LM-LIIF, RANDOM decoder weights (speed only; the pixels are meaningless)"
        if "liif-edsr-baseline" in bundled:   # the same encoder as the bundled LIIF: same encoder cost
            model.encoder.load_state_dict(load_checkpoint(bundled["liif-edsr-baseline"], "cpu").model.encoder.state_dict())
            note += ", encoder of the bundled LIIF"
        path = tmp / "lm-liif-random.pth"
        save_checkpoint(path, model, spec, meta={"note": note})
        return path, note
    for name in ("cisrgan-edsr-baseline", "liif-edsr-baseline"):
        if name in bundled:
            return bundled[name], f"bundled {name}"
    path = tmp / "liif-edsr-baseline-random.pth"
    save_checkpoint(path, models.make(RANDOM_SPEC).eval(), RANDOM_SPEC, meta={"note": "random weights, timing only"})
    return path, "EDSR-baseline LIIF, random weights (timing only)"


def full_view_test(args, view, scene, bridge, source, complete, wait_until, log, stats) -> dict:
    """Time to a fully super-resolved ``VIEW_W x VIEW_H`` view at ``args.view_zoom`` with no
    encoder features cached (as after opening an image), and the gaps between tiles: from the
    zoom to the first tile, and the longest wait between two tiles arriving on the GUI thread.
    The view's cursor is outside it, so tiles are ordered from the view centre."""
    import time as _time
    from PySide6.QtWidgets import QApplication
    from cisr_zoom.core.render.levels import level_size

    view.resize(VIEW_W, VIEW_H)
    QApplication.processEvents()
    view.set_sources([source])
    arrivals = []   # (GUI time, level PixelRect) of each accepted tile
    received = []   # each RenderedTile reaching the scene (its render timings)
    receive = scene._on_tile

    def on_tile(tile):
        received.append(tile)
        receive(tile)

    def on_added(src, lv, rect):
        if src == source:
            arrivals.append((_time.perf_counter(), rect))
    scene._on_tile = on_tile
    scene.tileAdded.connect(on_added)
    log(f"full view: {VIEW_W}x{VIEW_H} at {args.view_zoom * 100:.0f} %, no features cached")
    t0 = _time.perf_counter()
    view.set_physical_zoom(args.view_zoom)
    try:
        wait_until(complete, timeout=3600.0)
    finally:
        scene._on_tile = receive
        scene.tileAdded.disconnect(on_added)
    t_end = _time.perf_counter()
    level = view.current_level()
    times = [t for t, _ in arrivals]
    gaps = [b - a for a, b in zip([t0] + times, times)]
    worst = max(range(len(gaps)), key=gaps.__getitem__) if gaps else None
    # arrival order against each tile centre's distance from the view centre (level pixels):
    # Kendall's tau, 1.0 = strictly nearest first
    H, W = level_size(scene.image.size, level)
    cy, cx = view.vp.cy * H / scene.image.size[0], view.vp.cx * W / scene.image.size[1]
    dist = [((r.top + r.bottom) / 2 - cy) ** 2 + ((r.left + r.right) / 2 - cx) ** 2 for _, r in arrivals]
    pairs = [(i, j) for i in range(len(dist)) for j in range(i + 1, len(dist)) if dist[i] != dist[j]]
    tau = (sum(1 if dist[i] < dist[j] else -1 for i, j in pairs) / len(pairs)) if pairs else None
    out = {
        "view": f"{VIEW_W}x{VIEW_H} at physical zoom {args.view_zoom} (level {level}), encoder features not cached",
        "seconds_to_full_view": round(t_end - t0, 2),
        "seconds_to_first_tile": round(gaps[0], 2) if gaps else None,
        "longest_gap_between_tiles_s": round(max(gaps), 2) if gaps else None,
        "longest_gap_ends_at_tile": worst,
        "tiles": len(arrivals),
        "gaps_over_5_s": [[i, round(g, 1)] for i, g in enumerate(gaps) if g > 5.0],
        "arrival_order_vs_centre_distance_kendall_tau": None if tau is None else round(tau, 3),
        "render_seconds_per_tile": stats([tile.seconds for tile in received]),
        "per_tile_seconds": {   # render thread: waiting, encoder, decoder (see RenderedTile.timing)
            "queued": stats([tile.timing.queued for tile in received]),
            "encode": stats([tile.timing.encode for tile in received]),
            "decode": stats([tile.timing.decode for tile in received]),
            "encode_total": round(sum(tile.timing.encode for tile in received), 2),
            "decode_total": round(sum(tile.timing.decode for tile in received), 2)},
    }
    log(f"full view in {out['seconds_to_full_view']} s, longest gap {out['longest_gap_between_tiles_s']} s")
    return out


def warm_zoom_test(args, view, scene, bridge, source, complete, wait_until, log) -> dict:
    """Zoom the view from ``args.view_zoom`` to twice that, twice in one run: **cold**, with the
    encoder features dropped just before the zoom (encoder and decoder), and **warm**, after
    the app's own encode-ahead (the render thread's idle job that the settled view started)
    has finished (the decoder only). Each is timed from the zoom to a fully super-resolved
    view at the new zoom; the rendered tiles of the new zoom are dropped before each, so both
    render every visible pixel."""
    import time as _time
    view.resize(VIEW_W, VIEW_H)
    view.set_sources([source])
    session = scene.session(source)
    low, high = args.view_zoom, 2 * args.view_zoom

    def run_on_thread(fn):
        done = bridge.run(fn)
        wait_until(done.done, timeout=600.0)
        return done.result()

    def zoom_to_high(label: str) -> dict:
        for level in scene.tile_layer.levels(source):     # nothing of the new zoom is rendered yet
            if level != low_level:
                scene.tile_layer.drop_level(source, level)
        e0, c0 = session.encode_seconds, session.tiles.encode_calls
        t0 = _time.perf_counter()
        view.set_physical_zoom(high)
        wait_until(complete, timeout=3600.0)
        out = {"seconds_to_full_view": round(_time.perf_counter() - t0, 2),
               "encoder_seconds_during_zoom": round(session.encode_seconds - e0, 3),
               "encoder_boxes_during_zoom": session.tiles.encode_calls - c0}
        log(f"{label} zoom {low * 100:.0f} -> {high * 100:.0f} %: full view in {out['seconds_to_full_view']} s "
            f"(encoder {out['encoder_seconds_during_zoom']} s)")
        return out

    view.set_physical_zoom(low)
    wait_until(complete, timeout=3600.0)
    low_level = view.current_level()
    # cold: no encode-ahead, the view's features dropped (what a zoom costs with nothing cached)
    run_on_thread(lambda: (bridge.worker.cancel_ahead(), session.tiles.clear()))
    cold = zoom_to_high("cold")
    # back to the low zoom (its tiles are kept), where the view settles and starts the
    # app's encode-ahead; wait until that idle job has encoded what fits the budget
    run_on_thread(lambda: bridge.worker.cancel_ahead())
    view.set_physical_zoom(low)
    wait_until(complete, timeout=3600.0)
    t0 = _time.perf_counter()
    wait_until(lambda: not view._settle.isActive() and not bridge.encoding_ahead(), timeout=3600.0)
    ahead_s = _time.perf_counter() - t0
    h, w = session.lr_size
    cached = h * w - session.tiles.missing_pixels(0, h, 0, w)
    log(f"encode-ahead finished in {ahead_s:.1f} s: {cached} of {h * w} input pixels' features cached "
        f"({session.tiles.nbytes / 2 ** 20:.0f} MiB, {session.feature_dtype})")
    warm = zoom_to_high("warm")
    return {"from_to": [low, high], "cold": cold, "warm": warm,
            "warm_over_cold": round(warm["seconds_to_full_view"] / max(cold["seconds_to_full_view"], 1e-9), 3),
            "encode_ahead_s": round(ahead_s, 2), "input_pixels_cached": cached, "input_pixels": h * w,
            "feature_cache_mib": round(session.tiles.nbytes / 2 ** 20, 1), "feature_dtype": str(session.feature_dtype),
            "compute": session.compute_label}


def export_test(args, view, scene, bridge, source, wait_until, log, tmp: Path) -> dict:
    """Three identical exports of the whole image at ``args.export_scale`` through the export
    dialog (the app's code path): the first estimate, the second one (learned from the first),
    the real durations, the longest wait between two progress events; and, during the third
    export, the view zooming to a new level: how many of its tiles arrive while the export
    runs, and the longest wait between them."""
    import time as _time
    from .export.dialog import ExportDialog

    h, w = scene.image.size
    size = (int(round(h * args.export_scale)), int(round(w * args.export_scale)))
    runs = []
    for run in (1, 2, 3):
        d = ExportDialog(scene, None, 1.0, source, str(tmp))
        d.set_output_size(size[1], size[0], keep_aspect=False)
        d.path_edit.setText(str(tmp / f"export-{run}.png"))
        wait_until(lambda: d.estimate_seconds() is not None
                   and d._uncached.get((d.source(), d.region())) is not None, 600)   # the worker's answer
        estimate = d.estimate_seconds()
        to_encode = d.uncached_pixels()
        basis = {"export": "the previous export's speed", "view": "the view's render speed",
                 "probe": "a test render's speed"}[d.estimate_basis()]
        marks, rows_marks = [], []
        d.progressed.connect(lambda f: (marks.append(_time.perf_counter()), rows_marks.append(marks[-1])))
        d.encodedBoxes.connect(lambda b: marks.append(_time.perf_counter()))   # "reading the picture" events
        tiles = []

        def on_added(src, lv, rect):
            tiles.append(_time.perf_counter())
        log(f"export {run}: {size[1]}x{size[0]}, estimate {estimate:.1f} s ({basis})")
        t0 = _time.perf_counter()
        d.start_export()
        if run == 3:                        # the user zooms while the export runs
            scene.tileAdded.connect(on_added)
            view.set_physical_zoom(args.view_zoom * 1.25)
        wait_until(lambda: not d.running, 7200)
        t_end = _time.perf_counter()
        if run == 3:
            scene.tileAdded.disconnect(on_added)
        gaps = [b - a for a, b in zip([t0] + marks, marks)]
        during = [t for t in tiles if t <= t_end]
        tile_gaps = [b - a for a, b in zip([t0] + during, during)]
        entry = {"output": f"{size[1]}x{size[0]}", "estimate_s": round(estimate, 1), "estimate_from": basis,
                 "input_pixels_to_encode": to_encode,
                 "actual_s": round(t_end - t0, 1), "estimate_over_actual": round(estimate / (t_end - t0), 2),
                 "progress_events": len(marks), "first_progress_s": round(gaps[0], 2) if gaps else None,
                 "first_rows_written_s": round(rows_marks[0] - t0, 2) if rows_marks else None,
                 "longest_gap_between_progress_s": round(max(gaps), 2) if gaps else None}
        if run == 3:
            entry["view_tiles_during_export"] = len(during)
            entry["view_longest_wait_for_a_tile_during_export_s"] = round(max(tile_gaps), 2) if tile_gaps else None
            entry["view_complete_before_export_ended"] = bool(view.is_complete())
        runs.append(entry)
        log(f"export {run} took {entry['actual_s']} s, longest progress gap {entry['longest_gap_between_progress_s']} s")
        d.deleteLater()
    view.cancel_all()
    return {"runs": runs}


def _timed_export(dialog, wait_until, during=None) -> dict:
    """Run ``dialog``'s export as the user's Export button does; ``during(t0)`` is called after
    it starts (the user's actions meanwhile). Returns the first estimate, what it came from,
    the input pixels it charged for encoding, and the wall time until the dialog finished."""
    wait_until(lambda: dialog.estimate_seconds() is not None
               and dialog._uncached.get((dialog.source(), dialog.region())) is not None, 1800)
    estimate, basis, to_encode = dialog.estimate_seconds(), dialog.estimate_basis(), dialog.uncached_pixels()
    t0 = time.perf_counter()
    dialog.start_export()
    if during is not None:
        during(t0)
    wait_until(lambda: not dialog.running, 7200)
    actual = time.perf_counter() - t0
    H, W = dialog.output_size()
    return {"output": f"{W}x{H}", "estimate_s": round(estimate, 1), "estimate_from": basis,
            "input_pixels_to_encode": to_encode, "actual_s": round(actual, 1),
            "estimate_over_actual": round(estimate / actual, 2)}


def estimate_test(args, view, scene, bridge, source, complete, wait_until, log, tmp: Path) -> dict:
    """Issue 27 item 3, through the export dialog (the app's code path), each estimate the first
    one a new user gets (an empty speed book: what the view's tiles and the dialog's test
    render teach), against the export's wall time:

    * ``whole_x4``: the whole image at x4, the view at fit and finished, nothing touched while it runs;
    * ``current_view``: a ``--current-view`` window (default 960x640) at 400 %, its visible
      area exported at x4, the view finished and untouched;
    * ``current_view_zooming``: the same export again while the user keeps zooming (a wheel
      step every ``--zoom-every`` seconds at a moving cursor, five in then five out): its wall
      time over the untouched one's (the scheduler's promise: at most 2).
    """
    from PySide6.QtCore import QTimer
    from cisr_zoom.core.render.estimate import SpeedBook
    from .export.dialog import ExportDialog

    out = {}
    vw, vh = args.current_view
    view.resize(vw, vh)                            # a window's view, not the full-view test's
    scene.speeds = SpeedBook()                     # a new user: nothing measured yet
    view.fit()
    wait_until(complete, 1800)
    d = ExportDialog(scene, None, view.vp.physical_scale, source, str(tmp))
    d.scale_spin.setValue(4.0)
    d.path_edit.setText(str(tmp / "whole-x4.png"))
    log("estimate: whole image at x4")
    out["whole_x4"] = _timed_export(d, wait_until)
    log(f"estimate: whole image at x4: {out['whole_x4']}")
    d.deleteLater()

    view.set_physical_zoom(4.0)
    wait_until(complete, 1800)
    runs = []
    for name, zooming in (("current_view", False), ("current_view_zooming", True)):
        scene.speeds = SpeedBook()                 # the first estimate again, not the last export's
        d = ExportDialog(scene, view.vp.visible_image_rect(), view.vp.physical_scale, source, str(tmp))
        d.area_view.setChecked(True)
        d.scale_spin.setValue(4.0)
        d.path_edit.setText(str(tmp / f"{name}.png"))
        zooms = []

        def keep_zooming(t0, d=d, zooms=zooms):
            """A wheel step every ``--zoom-every`` s: five in, then five out, and so on, each at
            another point of the view (the cursor moves), so most steps show pixels and levels
            that are not rendered yet."""
            timer = QTimer()
            timer.setInterval(int(args.zoom_every * 1000))
            anchors = [(0.3, 0.3), (0.7, 0.4), (0.4, 0.7), (0.6, 0.6), (0.5, 0.2), (0.2, 0.6), (0.8, 0.8)]

            def step():
                if not d.running:
                    timer.stop()
                    return
                n = len(zooms)
                factor = 1.25 if (n // 5) % 2 == 0 else 0.8
                ax, ay = anchors[n % len(anchors)]
                view.zoom_at(factor, ax * view.viewport().width(), ay * view.viewport().height())
                zooms.append(round(time.perf_counter() - t0, 1))
            timer.timeout.connect(step)
            timer.start()
            d._zoom_timer = timer          # kept alive with the dialog
        log(f"estimate: {name}")
        entry = _timed_export(d, wait_until, keep_zooming if zooming else None)
        if zooming:
            entry["zoom_steps"] = len(zooms)
            entry["actual_over_untouched"] = round(entry["actual_s"] / runs[0][1]["actual_s"], 2)
        runs.append((name, entry))
        log(f"estimate: {name}: {entry}")
        d.deleteLater()
        view.set_physical_zoom(4.0)
        wait_until(complete, 1800)
    out.update(runs)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cisr_zoom.app.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", metavar="NAME_OR_PATH",
                    help=f"a bundled model's name, a checkpoint path, or {LM_LIIF_RANDOM} (an LM-LIIF with random "
                         f"decoder weights, for speed only); default: the bundled CiSRGAN, else a random LIIF")
    ap.add_argument("--image", help="image (default: the bundled sample)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--exact", action="store_true",
                    help="render in float32 (default: the app's auto precision, e.g. bfloat16 on CPUs with native bf16)")
    ap.add_argument("--zoom", type=float, default=3.3, help="physical zoom of the pan test (default 3.3)")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--bursts", type=int, default=5, help="wheel bursts to time (default 5; 0 skips the wheel test)")
    ap.add_argument("--settle-ms", type=int, default=80)
    ap.add_argument("--only", default="full_view,export,pan,wheel",
                    help="comma-separated tests to run: full_view, warm_zoom, export, estimate, pan, wheel "
                         "(default: all but warm_zoom and estimate)")
    ap.add_argument("--export-scale", type=float, default=2.0,
                    help="scale of the export test's two whole-image exports (default 2)")
    ap.add_argument("--render-log", metavar="FILE", default=None,
                    help="log every render step to FILE ('-': stderr; also CISR_ZOOM_RENDER_LOG=FILE)")
    ap.add_argument("--current-view", type=int, nargs=2, default=(960, 640), metavar=("W", "H"),
                    help="the estimate test's view size for its current-view exports (default 960 640)")
    ap.add_argument("--zoom-every", type=float, default=1.5,
                    help="seconds between the estimate test's wheel steps during its last export (default 1.5)")
    ap.add_argument("--view-zoom", type=float, default=4.0,
                    help="physical zoom of the full-view test (default 4.0 = 400 %%)")
    args = ap.parse_args(argv)
    tests = {t.strip() for t in args.only.split(",") if t.strip()}

    import torch
    from cisr_zoom.core.render.worker import enable_render_log
    enable_render_log(args.render_log)
    from .qt_compat import protect_none_refcount
    protect_none_refcount()
    from PySide6.QtCore import QEventLoop, QPoint, QPointF, Qt, QTimer
    from PySide6.QtGui import QImage, QPainter, QWheelEvent
    from PySide6.QtWidgets import QApplication
    import PySide6

    from cisr_zoom.resources import RESOURCES_DIR
    from .model_catalog import BICUBIC, ModelCatalog
    from cisr_zoom.core.render.levels import visible_level_rect
    from .viewer.scene import Scene
    from .viewer.zoom_view import ZoomView
    from .worker import RenderBridge

    app = QApplication.instance() or QApplication([sys.argv[0]])
    from .event_loop import attach_event_loop
    attach_event_loop(app)   # the window's coroutines advance as Qt processes events
    tmp = Path(tempfile.mkdtemp(prefix="cisr-bench-"))
    model_path, model_desc = pick_model(args.model, tmp)
    image = Path(args.image) if args.image else RESOURCES_DIR / "sample.jpg"

    catalog = ModelCatalog(bundled={}, user_paths=[model_path])
    source = catalog.entries()[0].id
    bridge = RenderBridge(catalog, device=args.device, exact_float32=args.exact)
    scene = Scene(bridge, catalog, 1024 * 2 ** 20)
    view = ZoomView(scene, "main", settle_ms=args.settle_ms)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.set_sources([source])

    def log(msg):
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def wait_until(cond, timeout=600.0, poll_ms=2):
        """Run the Qt event loop (sleeping in it, as the app does) until ``cond()``; a busy
        wait here would steal the CPU and the GIL from the render thread being measured."""
        if cond():
            return
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(poll_ms)
        poll.timeout.connect(lambda: cond() and loop.quit())
        t0 = time.perf_counter()
        limit = QTimer()
        limit.setSingleShot(True)
        limit.timeout.connect(loop.quit)
        limit.start(int(timeout * 1000))
        poll.start()
        loop.exec()
        poll.stop()
        limit.stop()
        if not cond():
            raise TimeoutError(f"benchmark step timed out after {time.perf_counter() - t0:.0f} s")

    def complete() -> bool:
        if view._settle.isActive() or view.live_requests():
            return False
        return covered()

    def covered() -> bool:
        k = view.current_level()
        vis = view.slot_visible_image_rect(view.slots[0])
        want = visible_level_rect(scene.image.size, k, vis)
        return scene.tile_layer.covers(view.sources[0], k, want)

    def worker_idle():
        """Returns once the worker has finished everything queued before this call."""
        done = bridge.run(lambda: None)
        wait_until(done.done)

    try:
        loading = bridge.loop.create_task(bridge.load_image(image, 1))
        view.resize(VIEW_W + 2 * MARGIN, VIEW_H + 2 * MARGIN)
        view.show()
        wait_until(loading.done)
        if loading.exception() is not None:
            print(loading.exception(), file=sys.stderr)
            return 1
        scene.set_image(loading.result())
        for src in (source, BICUBIC):
            wait_until(lambda: scene.session(src) is not None or scene.source_error(src), 120)
            if scene.source_error(src):
                print(scene.source_error(src), file=sys.stderr)
                return 1

        def stats(xs):
            xs = sorted(xs)
            if not xs:
                return {"n": 0}
            return {"median": round(statistics.median(xs), 2), "p95": round(xs[int(0.95 * (len(xs) - 1))], 2),
                    "max": round(xs[-1], 2), "n": len(xs)}

        result = {}
        if "full_view" in tests:
            result["full_view"] = full_view_test(args, view, scene, bridge, source, complete, wait_until, log, stats)
        if "warm_zoom" in tests:
            result["warm_zoom"] = warm_zoom_test(args, view, scene, bridge, source, complete, wait_until, log)
        if "export" in tests:
            result["export"] = export_test(args, view, scene, bridge, source, wait_until, log, tmp)
        if "estimate" in tests:
            result["estimate"] = estimate_test(args, view, scene, bridge, source, complete, wait_until, log, tmp)

        if "pan" in tests or "wheel" in tests:
            # -- 1. pan frames over cached tiles -------------------------------------------------
            # The cache is filled by the bicubic source (fast): painting does not depend on which
            # source rendered the cached images, only on their number and size.
            log(f"model {model_desc}; filling the tile cache for the pan test")
            view.set_sources([BICUBIC])
            view.set_physical_zoom(args.zoom)
            t0 = time.perf_counter()
            wait_until(complete)
            fill_s = time.perf_counter() - t0
            view.resize(VIEW_W, VIEW_H)
            wait_until(lambda: not view._settle.isActive() and not view.live_requests())
            assert (view.viewport().width(), view.viewport().height()) == (VIEW_W, VIEW_H), view.viewport().size()
            assert complete(), "cached tiles do not cover the view"
            level = view.current_level()
            log(f"tile cache filled in {fill_s:.1f} s; timing pan frames")
            target = QImage(VIEW_W, VIEW_H, QImage.Format.Format_ARGB32_Premultiplied)

            def paint_ms() -> float:
                p = QPainter(target)
                t = time.perf_counter()
                view.paint(p)
                p.end()
                return (time.perf_counter() - t) * 1000

            def pan_series(fn):
                """Pan back and forth within the rendered margin, timing ``fn`` after each step."""
                out = []
                for i in range(args.frames):
                    d = 6.0 if (i // 10) % 2 == 0 else -6.0
                    view.vp.pan_by(d, d / 2)
                    out.append(fn())
                return out

            def widget_pan_ms(i: int) -> float:
                """One pan frame as the user gets it: ``ZoomView.pan_by`` (the frame is scrolled and
                only the exposed strip painted) and Qt's paint + flush of that update."""
                d = 6.0 if (i // 10) % 2 == 0 else -6.0
                t = time.perf_counter()
                view.pan_by(d, d / 2)
                app.processEvents()
                return (time.perf_counter() - t) * 1000

            for _ in range(5):
                paint_ms()
            pan_paint = pan_series(paint_ms)
            view.viewport().repaint()
            app.processEvents()
            pan_widget = [widget_pan_ms(i) for i in range(args.frames)]
            assert covered(), "panning left the cached area"

            frame = QImage(VIEW_W, VIEW_H, QImage.Format.Format_RGB32)
            frame.fill(0xFF336699)

            def blit_ms() -> float:
                p = QPainter(target)
                t = time.perf_counter()
                p.drawImage(0, 0, frame)
                p.end()
                return (time.perf_counter() - t) * 1000
            blit = [blit_ms() for _ in range(args.frames)]

            def wheel_test():
                # -- 2. wheel to first super-resolved tile (features cached) ------------------------
                # The model's encoder features of the whole image are computed first (prefetch), so
                # every new level needs only the INN; between bursts the view's leftover requests are
                # cancelled and the worker is let idle, so each burst starts from the same state.
                log("encoding features of the whole image (prefetch)")
                view.set_sources([source])
                view.cancel_all()
                session = scene.session(source)
                h, w = scene.image.size
                prefetched = bridge.run(lambda: session.prefetch((-1.0, -1.0, 1.0, 1.0), max_fraction=1.0))
                wait_until(prefetched.done)
                log("timing wheel -> first tile")
                vw = view.viewport()
                centre = QPointF(VIEW_W / 2, VIEW_H / 2)
                first_tile, levels = [], []
                arrivals = []
                scene.tileAdded.connect(lambda s, lv, r: arrivals.append((time.perf_counter(), s, lv)))
                view.set_physical_zoom(args.zoom)
                for _ in range(args.bursts):
                    view.cancel_all()
                    worker_idle()
                    arrivals.clear()
                    for i in range(3):
                        ev = QWheelEvent(centre, QPointF(vw.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120),
                                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                                         Qt.ScrollPhase.NoScrollPhase, False)
                        QApplication.sendEvent(vw, ev)
                        t_last = time.perf_counter()
                        if i < 2:
                            t_next = t_last + 0.016
                            wait_until(lambda: time.perf_counter() >= t_next, poll_ms=1)
                    new_level = view.current_level()
                    levels.append(new_level)
                    wait_until(lambda: any(lv == new_level and s == source for _, s, lv in arrivals), 300)
                    first_tile.append((next(t for t, s, lv in arrivals if lv == new_level and s == source) - t_last) * 1000)
                view.cancel_all()
                worker_idle()

                # context: the renderer alone, one tile (the view's tile size) at the last level and
                # one 256x256 tile, features cached
                from cisr_zoom.core.render.levels import PixelRect, level_rect_region
                vis = visible_level_rect(scene.image.size, view.current_level(), view.vp.visible_image_rect())
                cy, cx = (vis.top + vis.bottom) // 2, (vis.left + vis.right) // 2
                context = {}
                focus_side = 2 * max(16, view.tile_size // 4)   # the view's first (focus) tile
                for side in sorted({focus_side, view.tile_size, 256}):
                    r = PixelRect(cy - side // 2, cx - side // 2, cy + side // 2, cx + side // 2)
                    region = level_rect_region(scene.image.size, view.current_level(), r)
                    ms = []
                    for _ in range(3):
                        t = time.perf_counter()
                        session.render(region, (side, side))
                        ms.append((time.perf_counter() - t) * 1000)
                    context[f"render_{side}x{side}_tile_features_cached"] = stats(ms)
                view.set_physical_zoom(args.zoom)
                view.cancel_all()
                return first_tile, levels, context

            if args.bursts <= 0:
                first_tile, levels, context = [0.0], [], {}
            else:
                first_tile, levels, context = wheel_test()

            # baseline: the same pan frames with no tiles (preview only)
            view.set_physical_zoom(args.zoom)
            view.cancel_all()
            view.set_sources([None])
            pan_preview = pan_series(paint_ms)

            result.update({
                "pan_frame_ms": {
                    "view": f"{VIEW_W}x{VIEW_H}, physical zoom {args.zoom}, level {level}, tiles cached",
                    "pan_frame_widget_scroll_and_exposed_strip": stats(pan_widget),
                    "full_frame_paint_cached_tiles": stats(pan_paint),
                    "baseline_blit_1920x1080": stats(blit),
                    "baseline_preview_only": stats(pan_preview),
                    "target_ms": 16},
                "wheel_to_first_tile_ms": {
                    "first_sr_tile": stats(first_tile),
                    "each": [round(x, 1) for x in first_tile],
                    "levels": levels,
                    "settle_delay_ms": args.settle_ms,
                    "tile_size": view.tile_size,
                    "first_tile_is_focus_tile_of_side": 2 * max(16, view.tile_size // 4),
                    **{f"context_{k}": v for k, v in context.items()},
                    "target_ms": 500},
                "pan_cache_fill_s_bicubic": round(fill_s, 2),
            })
        result = {
            "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "python": platform.python_version(), "torch": torch.__version__,
                        "qt": PySide6.__version__, "platform": QApplication.platformName(),
                        "date": time.strftime("%Y-%m-%d"),
                        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]},
            "model": model_desc, "device": bridge.device_text,
            "precision": scene.session(source).precision,
            "compute": scene.session(source).compute_label,
            "load_average_end": [round(x, 2) for x in os.getloadavg()], "image": f"{image.name} {scene.image.size[1]}x{scene.image.size[0]}",
            **result}
        print(json.dumps(result, indent=2))
        return 0
    finally:
        view.cancel_all()
        bridge.close()


if __name__ == "__main__":
    raise SystemExit(main())
