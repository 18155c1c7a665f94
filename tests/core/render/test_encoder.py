"""The encoder plan: which way the encoder runs per CPU kind, and what it costs in accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cisr_zoom.core.render import encoder as enc
from cisr_zoom.core.render.encoder import EncoderPlan, choose_encoder, cpu_kind
from cisr_zoom.core.render.session import RenderSession

AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
AVX512 = frozenset({"avx2", "avx512f"})
AVX2 = frozenset({"avx2", "fma"})


def test_cpu_kind_from_flags_and_onednn():
    assert cpu_kind(AMX, True) == "amx"
    assert cpu_kind(ZEN4, True) == "avx512_bf16"
    assert cpu_kind(AMX, False) == "avx512"          # oneDNN capped below bf16 (ONEDNN_MAX_CPU_ISA)
    assert cpu_kind(AVX512, False) == "avx512"
    assert cpu_kind(AVX2, False) == "avx2"
    assert cpu_kind(frozenset(), False) == "other"


def test_bf16_encoder_only_where_measured_faster_and_never_for_exact():
    kind = "amx"
    fast = choose_encoder(torch.device("cpu"), "bfloat16", kind)
    assert fast.dtype == torch.bfloat16 and fast.channels_last and fast.step_box > enc.STEP_BOX_FLOAT32
    exact = choose_encoder(torch.device("cpu"), "float32", kind)
    assert exact.dtype == torch.float32 and exact.channels_last and exact.step_box == enc.STEP_BOX_FLOAT32
    assert "bf16" in fast.label and "channels-last" in fast.label


@pytest.mark.parametrize("kind", ["avx512_bf16", "avx512", "avx2", "other"])
def test_float32_channels_last_elsewhere(kind):
    plan = choose_encoder(torch.device("cpu"), "bfloat16", kind)
    assert plan.dtype == torch.float32 and plan.channels_last


def test_gpu_sessions_keep_the_models_own_path():
    assert choose_encoder(torch.device("cuda"), "bfloat16", "amx") == EncoderPlan()


def _session(liif_factory, image, precision, plan):
    s = RenderSession(liif_factory(), image, precision=precision)
    s.encoder_plan = plan
    s._encoder = enc.planned_encoder(s.model, plan)
    return s


def test_channels_last_float32_encoder_matches_the_model(liif_factory, image):
    plan = EncoderPlan(torch.float32, True, enc.STEP_BOX_FLOAT32, "avx2")
    s = _session(liif_factory, image, "float32", plan)
    x = s._image.unsqueeze(0)
    from cisr_zoom.core.models.liif import encode_image
    with torch.no_grad():
        want = s.model.encode(x).feat
        got = encode_image(s._encoder, x).feat
    assert got.dtype == torch.float32 and got.is_contiguous()
    assert (got - want).abs().max().item() < 1e-5
    ref = RenderSession(liif_factory(), image, precision="float32")
    ref._encoder = None
    a, b = s.render((-1, -1, 1, 1), (74, 106)), ref.render((-1, -1, 1, 1), (74, 106))
    assert np.abs(a - b).max() < 1e-5


def test_bf16_encoder_error_is_bounded(liif_factory, image):
    """bf16 weights and activations in the encoder (as on AMX CPUs) against float32: the RGB
    stays within 3 8-bit levels everywhere and 50 dB PSNR (BENCHMARKS.md: the bundled LIIF on the
    sample photo); a model where bf16 were broken (e.g. features left in bf16 layout) fails."""
    plan = EncoderPlan(torch.bfloat16, True, enc.STEP_BOX_BF16, "amx")
    fast = _session(liif_factory, image, "float32", plan)
    exact = RenderSession(liif_factory(), image, precision="float32")
    exact._encoder = None
    a, b = fast.render((-1, -1, 1, 1), (74, 106)), exact.render((-1, -1, 1, 1), (74, 106))
    err = np.abs(a - b)
    psnr = 10 * np.log10(1.0 / float(np.mean(err.astype(np.float64) ** 2)))
    assert 0 < err.max() < 3 / 255 and psnr > 50


def test_session_names_its_encoder(liif_factory, image, monkeypatch):
    monkeypatch.setattr(enc, "cpu_kind", lambda *a: "amx")
    s = RenderSession(liif_factory(), image, precision="bfloat16")
    assert s.encoder_plan.dtype == torch.bfloat16 and s.step_box == enc.STEP_BOX_BF16
    assert s.compute_label.startswith("bfloat16, encoder bf16")
    e = RenderSession(liif_factory(), image, precision="float32")
    assert e.encoder_plan.dtype == torch.float32 and "encoder float32" in e.compute_label


def test_the_load_of_other_work_excludes_this_process_s_own_past(monkeypatch, tmp_path):
    """The 1-minute load average still counts our own work of the last minutes; the tasks runnable
    now besides the caller bound it, so a second job right after a first gets every idle core."""
    f = tmp_path / "loadavg"
    tasks = tmp_path / "task"
    for tid, state in ((101, "R"), (102, "R"), (103, "S")):       # two of our threads run, one sleeps
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (cisr (worker)) {state} 1 2 3\n")
    f.write_text("0.96 0.99 2.26 2/110 19393\n")                  # only our two threads run now
    assert enc.running_others(samples=2, interval_s=0, path=str(f), task_dir=str(tasks)) == 0
    f.write_text("16.2 15.0 14.1 18/300 1234\n")                  # 16 others want a core
    assert enc.running_others(samples=1, path=str(f), task_dir=str(tasks)) == 16
    assert enc.running_others(path=str(tmp_path / "absent")) is None
    monkeypatch.setattr(enc.os, "getloadavg", lambda: (0.96, 0.99, 2.26))
    monkeypatch.setattr(enc, "RUNNING_REUSE_S", 0.0)                # a fresh reading each call
    monkeypatch.setattr(enc, "running_others", lambda *a, **k: 0)
    assert enc.other_load() == 0.0 and enc.choose_threads(2) == 2   # the old rule gave 1
    monkeypatch.setattr(enc, "running_others", lambda *a, **k: 3)
    assert enc.other_load() == 0.96 and enc.choose_threads(2) == 1
    monkeypatch.setattr(enc, "running_others", lambda *a, **k: None)  # no /proc: the load average
    assert enc.other_load() == 0.96
    readings = []                                     # sessions made in a row share one reading
    monkeypatch.setattr(enc, "running_others", lambda *a, **k: readings.append(1) or 0)
    monkeypatch.setattr(enc, "RUNNING_REUSE_S", 60.0)
    monkeypatch.setattr(enc, "_RUNNING_SEEN", [])
    assert [enc.other_load() for _ in range(3)] == [0.0, 0.0, 0.0] and len(readings) == 1


def test_threads_follow_the_free_cores_and_the_environment(monkeypatch):
    assert enc.choose_threads(2, 0.1) == 2
    assert enc.choose_threads(2, 1.2) == 1          # another process keeps a core busy
    assert enc.choose_threads(2, 16.0) == 1
    assert enc.choose_threads(8, 3.0) == 5
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("CISR_ZOOM_THREADS", "1")
        assert enc.apply_threads() == 1
        assert "1 thread)" in EncoderPlan(torch.float32, True, 144, "avx2", 1).label
    finally:
        torch.set_num_threads(before)
