"""The benchmark's measurements run and report consistent figures (tiny model; no timing asserts)."""

from __future__ import annotations

import numpy as np

from cisr_zoom.core.render import benchmark


def test_query_and_seam_figures(liif_factory, image):
    model = liif_factory()
    q = benchmark.bench_query(model, benchmark.torch.device("cpu"), image, patch=12, scale=3, rounds=1,
                              precisions=["bfloat16"], sync=lambda: None)
    assert q["output"] == [36, 36]
    assert q["fast_float32"]["max_abs_diff_vs_reference"] < 1e-4
    assert q["fast_float32"]["ratio_vs_reference"] > 0 and q["reference"]["mpix_per_s"] > 0
    assert 30 < q["fast_reduced"]["bfloat16"]["psnr_vs_float32_db"] < 200
    s = benchmark.bench_seams(model, benchmark.torch.device("cpu"), image, lr_tile=8, box=16)
    assert s["encode_calls"] > 1 and s["projected_feature_max_abs_diff"] < 1e-4
    assert s["rgb_max_abs_diff_vs_whole_image_reference"] < 1e-3


def test_export_child_measures_memory_and_cleans_up(tmp_path):
    """In-process (``cisr bench`` runs the same function in a child process)."""
    cfg = {"threads": 1, "device": "cpu", "size": [300, 400], "input": [15, 20], "model": "light",
           "chunk": 65536, "dir": str(tmp_path)}
    full = benchmark._export_child(cfg)
    assert full["file_size_wh"] == [400, 300] and full["peak_rss_mb"] >= full["rss_before_export_mb"] > 10
    part = benchmark._export_child(dict(cfg, max_chunks=1))
    assert part["cancelled_after_chunks"] == 1 and part["left_behind"] == [] and part["file_mb"] is None


def test_sample_image_sizes():
    img = benchmark.sample_image((30, 40))
    assert img.shape == (30, 40, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
