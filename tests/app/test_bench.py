"""The application benchmark (``python -m cisr_zoom.app.bench``) runs end to end on a tiny
model and image: it drives the real view, scene, export dialog and render worker, so a change
there that breaks it is caught here (its timings are not checked: speed is for benchmarks)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_the_app_benchmark_runs_every_test(tiny_checkpoints, test_image, qapp, capsys):
    from cisr_zoom.app.bench import main
    rc = main(["--model", str(tiny_checkpoints[0]), "--image", str(test_image), "--exact", "--view-zoom", "2",
               "--zoom", "2", "--frames", "3", "--bursts", "1", "--export-scale", "1.5"])
    out = capsys.readouterr().out
    assert rc == 0
    result = json.loads(out)
    assert result["device"] == "CPU" and result["precision"] == "float32"
    assert result["image"].endswith("128x96")
    for key in ("full_view", "export", "pan_frame_ms", "wheel_to_first_tile_ms"):
        assert any(k.startswith(key) for k in result), (key, sorted(result))


@pytest.mark.slow
def test_the_warm_zoom_benchmark_waits_for_the_apps_encode_ahead(tiny_checkpoints, test_image, qapp, capsys):
    """Cold (features dropped) and warm (after the app's own encode-ahead) zooms of the same view:
    the warm one runs the decoder only."""
    from cisr_zoom.app.bench import main
    rc = main(["--model", str(tiny_checkpoints[0]), "--image", str(test_image), "--only", "warm_zoom",
               "--view-zoom", "4"])
    out = capsys.readouterr().out
    assert rc == 0
    warm = json.loads(out)["warm_zoom"]
    assert warm["cold"]["encoder_boxes_during_zoom"] > 0
    assert warm["warm"]["encoder_boxes_during_zoom"] == 0
    assert warm["input_pixels_cached"] == warm["input_pixels"] == 96 * 128
    assert warm["feature_dtype"] == "torch.float16"
