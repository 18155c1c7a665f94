"""The renderer benchmark behind ``cisr bench``: every figure of issue 3 from one run.

All speeds are measured in the same process, on the same machine, interleaved round by round
(reference, fast float32, reduced precisions), and reported as medians; the headline figures are
ratios to the reference method measured in that run:

* query throughput (output megapixels/s): (a) the reference, ``LIIF.query`` on every output pixel
  centre in chunks of 30000 coordinates; (b) the fast path in float32; (c) the fast path in each
  reduced precision this device offers. Features are computed beforehand for all of them (the
  encoder is timed separately); the fast path's per-LR-pixel projection is also reported.
* encoder throughput (input megapixels/s);
* seam error of tiled encoding (features and RGB) against encoding the whole image at once;
* time to the first 256x256 tile of a 1280x800 viewport at scale 4: cold (new session on a
  2000x1500 and a 4000x3000 image) and warm (features of the view already cached);
* peak resident memory of a PNG export of a 20000x15000 output, in a child process;
* the LM-LIIF decoder (``lm_decoder``): a paper-size LM-LIIF (random decoder weights, the LIIF's
  encoder weights) against the LIIF fast path and the reference ``LIIF.query`` in the same run,
  per precision: decode throughput with latents cached, end to end (encoder and latent stage
  included) and the time of a full 1920x1080 viewport at x4 from cached latents.

Throughput does not depend on the weight values, so a freshly initialised paper-size LIIF is a
valid stand-in when no trained model is bundled; the precision figures (PSNR of reduced vs
float32 output) do depend on the weights and are only indicative with random ones.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..devices import cpu_name, speed_flags
from .encoder import choose_encoder, cpu_kind
from ..coords import make_cell, make_coord, region_of_rect
from ..models.liif import liif_spec
from ..precision import PRECISIONS, cpu_has_native_bf16, int8_available, resolve_precision
from .session import RenderSession
from .tiles import plan_tiles

REFERENCE_CHUNK = 30000
SECTIONS = ("query", "encoder", "seams", "first_tile", "cuda_viewport", "export", "lm_decoder")


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB: ``VmHWM`` on Linux (unlike
    ``ru_maxrss`` it is not inherited from the parent across fork/exec), else ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 if sys.platform != "darwin" else r / 2**20


def machine_info(device: torch.device) -> Dict[str, Any]:
    cpu = cpu_name()
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")(),
            "cpu_native_bf16": cpu_has_native_bf16(), "int8_kernels": int8_available(),
            "cpu_kind": cpu_kind(), "speed_flags": speed_flags(),
            "encoder_plan": choose_encoder(device, resolve_precision("auto", device), threads=torch.get_num_threads()).label,
            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return info


# -- model and images -----------------------------------------------------------------------------

def load_bench_model(model: Optional[str]) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    """``model`` (name or path), else the bundled default, else a fresh paper-size LIIF."""
    from ..checkpoint import bundled_models, load_checkpoint
    from ..defaults import DEFAULT_MODEL
    name = model or (DEFAULT_MODEL if DEFAULT_MODEL in bundled_models() else None)
    if name is not None:
        lm = load_checkpoint(name, "cpu")
        desc = {"name": lm.name, "path": str(lm.path), "source": "bundled" if model is None else "given",
                "spec": lm.spec}
        return lm.model, desc
    torch.manual_seed(0)
    from .. import models
    spec = liif_spec("edsr-baseline")
    m = models.make(spec).eval()
    return m, {"name": "liif-edsr-baseline (fresh)", "source": "freshly initialised paper-size LIIF "
               "(EDSR-baseline 16x64 + MLP 4x256, torch seed 0): no bundled liif-edsr-baseline; "
               "throughput does not depend on weight values, precision errors do", "spec": spec}


def sample_image(size: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """The bundled sample photograph (600x400), resized (bicubic) to ``size = (h, w)`` if given;
    a smooth synthetic image if the sample is missing."""
    from PIL import Image
    try:
        from cisr_zoom.resources import RESOURCES_DIR
        img = Image.open(RESOURCES_DIR / "sample.jpg").convert("RGB")
    except (OSError, ImportError):
        h, w = size or (400, 600)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        return np.stack([0.5 + 0.4 * np.sin(x / 17), 0.5 + 0.4 * np.cos(y / 13), (x + y) / (h + w)], 2)
    if size is not None:
        img = img.resize((size[1], size[0]), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255.0


def _time(fn: Callable[[], Any], sync: Callable[[], None]) -> Tuple[float, Any]:
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t0, out


# -- the measurements -----------------------------------------------------------------------------

def bench_query(model, device, image, patch: int, scale: int, rounds: int, precisions: List[str],
                sync) -> Dict[str, Any]:
    h, w = image.shape[:2]
    y0, x0 = (h - patch) // 2, (w - patch) // 2
    crop = np.ascontiguousarray(image[y0:y0 + patch, x0:x0 + patch])
    H = W = patch * scale
    region = (-1.0, -1.0, 1.0, 1.0)
    sessions = {p: RenderSession(model, crop, device=device, precision=p) for p in ["float32"] + precisions}
    for s in sessions.values():                        # features (encoder + projection) cached
        s.prefetch(region, max_fraction=1.0)
        s.render(region, (8, 8))
    ref_model = sessions["float32"].model
    with torch.no_grad():
        x = torch.from_numpy(crop.transpose(2, 0, 1).copy())[None].to(device)
        feats = ref_model.encode(x)
        coords = make_coord((H, W), region, device=device)[None]
        cells = make_cell((H, W), region, n=H * W, device=device)[None]

        def reference():
            return ref_model.query(feats, coords, cells, chunk_size=REFERENCE_CHUNK)[0].view(H, W, 3).clamp(0, 1)
        times: Dict[str, List[float]] = {k: [] for k in ["reference"] + list(sessions)}
        outs: Dict[str, np.ndarray] = {}
        for r in range(rounds):
            t, out = _time(reference, sync)
            times["reference"].append(t)
            outs["reference"] = out.cpu().numpy()
            for p, s in sessions.items():
                if r > 0 and p != "float32" and min(times[p]) > 1.5 * max(times["reference"]):
                    continue    # far slower than the reference here (e.g. emulated bf16): one round is enough
                t, out = _time(lambda: s.render(region, (H, W)), sync)
                times[p].append(t)
                outs[p] = out
            _log(f"query round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()
                                                                if len(v) == r + 1))
        # the projection (first-layer feature part, once per LR pixel) the fast path needs
        dec = sessions["float32"].decoder
        t_proj = statistics.median(_time(lambda: dec.precompute(feats.feat), sync)[0] for _ in range(rounds))
    mp = H * W / 1e6
    ref_t = statistics.median(times["reference"])
    res: Dict[str, Any] = {
        "lr_patch": [patch, patch], "output": [H, W], "scale": scale, "rounds": rounds,
        "reference": {"method": f"LIIF.query in chunks of {REFERENCE_CHUNK} coordinates, float32",
                      "seconds": [round(t, 4) for t in times["reference"]], "mpix_per_s": round(mp / ref_t, 5)},
    }
    f32 = outs["float32"]
    for p in sessions:
        t = statistics.median(times[p])
        entry = {"seconds": [round(x, 4) for x in times[p]], "mpix_per_s": round(mp / t, 5),
                 "ratio_vs_reference": round(ref_t / t, 3)}
        if p == "float32":
            entry["max_abs_diff_vs_reference"] = float(np.abs(f32 - outs["reference"]).max())
            entry["projection_seconds"] = round(t_proj, 4)
            entry["ratio_vs_reference_incl_projection"] = round(ref_t / (t + t_proj), 3)
            res["fast_float32"] = entry
        else:
            entry["psnr_vs_float32_db"] = round(_psnr(outs[p], f32), 2)
            entry["max_abs_diff_vs_float32"] = float(np.abs(outs[p] - f32).max())
            res.setdefault("fast_reduced", {})[p] = entry
    return res


def bench_encoder(model, device, image, size: int, rounds: int, sync) -> Dict[str, Any]:
    crop = np.ascontiguousarray(image[:size, :size])
    x = torch.from_numpy(crop.transpose(2, 0, 1).copy())[None].to(device)
    m = RenderSession(model, crop[:4, :4], device=device).model
    with torch.no_grad():
        m.encode(x[..., :16, :16])
        ts = [_time(lambda: m.encode(x), sync)[0] for _ in range(rounds)]
    t = statistics.median(ts)
    return {"input": list(crop.shape[:2]), "seconds": [round(v, 3) for v in ts],
            "input_mpix_per_s": round(crop.shape[0] * crop.shape[1] / 1e6 / t, 5)}


def bench_seams(model, device, image, lr_tile: int, box: int) -> Dict[str, Any]:
    s = RenderSession(model, image, device=device, lr_tile=lr_tile, max_encode_box=box)
    h, w = s.lr_size
    tiled, _, _ = s.tiles.window(0, h, 0, w)
    with torch.no_grad():
        x = torch.from_numpy(image.transpose(2, 0, 1).copy())[None].to(device)
        whole = s.decoder.precompute(s.model.encode(x).feat)[0].permute(1, 2, 0).to(tiled.dtype)
    feat_err = float((tiled - whole).abs().max())
    # an output region straddling tile seams (and the image border), scale 2
    region = region_of_rect((h, w), 0, lr_tile // 2, lr_tile * 3 // 2, lr_tile * 3 // 2)
    size = (lr_tile * 3, lr_tile * 2)
    rgb_err = float(np.abs(s.render(region, size) - s.render_reference(region, size)).max())
    return {"image": [h, w], "lr_tile": lr_tile, "encode_box": box, "halo": s.halo,
            "encode_calls": s.tiles.encode_calls,
            "projected_feature_max_abs_diff": feat_err,
            "rgb_max_abs_diff_vs_whole_image_reference": rgb_err, "rgb_region_output": list(size)}


def bench_first_tile(model, device, sizes: List[Tuple[int, int]], view=(800, 1280), scale=4.0,
                     tile=256, reduced: Optional[str] = None, sync=lambda: None) -> Dict[str, Any]:
    vh, vw = view
    res: Dict[str, Any] = {"viewport": [vh, vw], "tile": tile, "scale": scale, "cold": {}}

    def view_region(h, w, dy=0.0, dx=0.0):
        cy, cx = h / 2 + dy, w / 2 + dx
        hh, hw = vh / scale / 2, vw / scale / 2
        return region_of_rect((h, w), cy - hh, cx - hw, cy + hh, cx + hw)

    warm_session = None
    for (h, w) in sizes:
        img = sample_image((h, w))
        region = view_region(h, w)
        first = plan_tiles(region, view, tile)[0]
        sync()
        t0 = time.perf_counter()
        s = RenderSession(model, img, device=device)
        s.render(first.region, (first.height, first.width))
        sync()
        t = time.perf_counter() - t0
        res["cold"][f"{w}x{h}"] = round(t, 3)
        _log(f"first tile, cold, {w}x{h} image: {t:.2f}s")
        if warm_session is None:
            warm_session = (s, img, h, w)
        del img
    s, img, h, w = warm_session
    region = view_region(h, w, dy=16, dx=-24)               # the view panned
    first = plan_tiles(region, view, tile)[0]
    entries = [("float32", s)]
    if reduced:
        entries.append((reduced, RenderSession(model, img, device=device, precision=reduced)))
    res["warm"] = {}
    for p, sess in entries:
        sess.prefetch(region, max_fraction=1.0)
        t, _ = _time(lambda: sess.render(first.region, (first.height, first.width)), sync)
        res["warm"][p] = round(t, 3)
        _log(f"first tile, warm (features cached), {p}: {t:.2f}s")
    return res


def bench_cuda_viewport(model, device, sync) -> Optional[Dict[str, Any]]:
    if device.type != "cuda":
        return None
    img = sample_image((1500, 2000))
    out: Dict[str, Any] = {"viewport": [1080, 1920], "scale": 4.0}
    region = region_of_rect((1500, 2000), 750 - 135, 1000 - 240, 750 + 135, 1000 + 240)
    for p in ["float32", resolve_precision("auto", device)]:
        s = RenderSession(model, img, device=device, precision=p)
        s.prefetch(region, max_fraction=1.0)
        s.render(region, (1080, 1920))
        ts = [_time(lambda: s.render(region, (1080, 1920)), sync)[0] for _ in range(3)]
        out[p] = round(statistics.median(ts), 4)
    return out


# -- export in a child process (its peak RSS is the export's own) -----------------------------------

LIGHT_SPEC = {"name": "liif", "args": {
    "encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 16, "no_upsampling": True}},
    "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [8]}},
    "local_ensemble": False}}


def _export_child(cfg: Dict[str, Any]) -> Dict[str, Any]:
    from .. import models
    from .export import export_image
    from .session import RenderCancelled
    torch.set_num_threads(int(cfg["threads"]))
    if cfg["model"] == "light":
        torch.manual_seed(0)
        model = models.make(LIGHT_SPEC).eval()
    else:
        model, _ = load_bench_model(cfg.get("model_arg"))
    img = sample_image(tuple(cfg["input"]))
    session = RenderSession(model, img, device=cfg["device"], chunk_size=cfg.get("chunk"))
    rss_before = _rss_mb()
    out = Path(cfg["dir"]) / "export.png"
    max_chunks = cfg.get("max_chunks")
    seen = {"chunks": 0}
    if session.decoder is not None:
        decode = session.decoder.decode

        def counting_decode(*a, **k):
            seen["chunks"] += 1
            return decode(*a, **k)
        session.decoder.decode = counting_decode

    def stop():
        return max_chunks is not None and seen["chunks"] >= max_chunks
    t0 = time.perf_counter()
    cancelled = False
    try:
        export_image(session, out, tuple(cfg["size"]), compress_level=1, should_stop=stop,
                     strip_rows=cfg.get("strip_rows"))
    except RenderCancelled:
        cancelled = True
    t = time.perf_counter() - t0
    res = {"seconds": round(t, 2), "peak_rss_mb": round(_rss_mb(), 1), "rss_before_export_mb": round(rss_before, 1),
           "cancelled_after_chunks": max_chunks if cancelled else None,
           "file_mb": round(out.stat().st_size / 2**20, 1) if out.exists() else None,
           "left_behind": sorted(os.listdir(cfg["dir"])) if cancelled else None}
    if out.exists():
        with open(out, "rb") as f:          # the PNG header (Pillow would refuse 300 MP as a "bomb")
            head = f.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            res["file_size_wh"] = [int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")]
        out.unlink()
    return res


def run_export_child(cfg: Dict[str, Any], timeout: float = 1800) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cisr-bench-export-") as d:
        cfg = dict(cfg, dir=d)
        cmd = [sys.executable, "-m", "cisr_zoom.core.render.benchmark", "export-child", json.dumps(cfg)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"export child failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
        return json.loads(p.stdout.strip().splitlines()[-1])


def bench_lm_decoder(liif_model, device, image, patch: int, scale: int, rounds: int, precisions: List[str],
                     sync, viewport: Tuple[int, int] = (1080, 1920)) -> Dict[str, Any]:
    """LM-LIIF vs LIIF on the same crop, device and precisions, interleaved round by round.

    Ratios are output throughputs: ``decode_*`` with latents (features) cached, ``end_to_end``
    with a new session per render (encoder + latent stage + decoding), both against the
    reference ``LIIF.query`` (float32; end to end: encoder included) and against the LIIF fast
    path at the same precision. The viewport is rendered once per precision from cached latents."""
    from .. import models
    from ..models.lmf import lmf_spec
    torch.manual_seed(0)
    lmf = models.make(lmf_spec("edsr-baseline")).eval()
    lmf.encoder.load_state_dict(liif_model.encoder.state_dict())     # same encoder, same cost
    h, w = image.shape[:2]
    y0, x0 = (h - patch) // 2, (w - patch) // 2
    crop = np.ascontiguousarray(image[y0:y0 + patch, x0:x0 + patch])
    H = W = patch * scale
    region = (-1.0, -1.0, 1.0, 1.0)
    mp = H * W / 1e6
    precs = ["float32"] + [p for p in precisions if p in lmf.describe().precisions]
    cached = {(a, p): RenderSession(m, crop, device=device, precision=p)
              for a, m in (("liif", liif_model), ("lmf", lmf)) for p in precs}
    for sess in cached.values():
        sess.prefetch(region, max_fraction=1.0)
        sess.render(region, (8, 8))
    ref_model = cached[("liif", "float32")].model
    x = torch.from_numpy(crop.transpose(2, 0, 1).copy())[None].to(device)
    coords = make_coord((H, W), region, device=device)[None]
    cells = make_cell((H, W), region, n=H * W, device=device)[None]
    times: Dict[str, List[float]] = {}

    def record(key, fn):
        t, _ = _time(fn, sync)
        times.setdefault(key, []).append(t)

    with torch.no_grad():
        feats = ref_model.encode(x)
        for r in range(rounds):
            record("reference", lambda: ref_model.query(feats, coords, cells, chunk_size=REFERENCE_CHUNK))
            record("reference_end_to_end", lambda: ref_model.query(ref_model.encode(x), coords, cells,
                                                                   chunk_size=REFERENCE_CHUNK))
            for (a, p), sess in cached.items():
                record(f"{a}_{p}_decode", lambda: sess.render(region, (H, W)))
            for p in precs:
                record(f"lmf_{p}_end_to_end",
                       lambda: RenderSession(lmf, crop, device=device, precision=p).render(region, (H, W)))
            _log(f"lm_decoder round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()))
    med = {k: statistics.median(v) for k, v in times.items()}
    res: Dict[str, Any] = {
        "lr_patch": [patch, patch], "output": [H, W], "scale": scale, "rounds": rounds,
        "lmf_model": "paper-size LM-LIIF (latent MLP [208], render MLP 6 x 16; random decoder weights, torch "
                     "seed 0; encoder weights of the LIIF): throughput does not depend on weight values",
        "reference": {"method": "LIIF.query, float32, features cached", "mpix_per_s": round(mp / med["reference"], 5),
                      "end_to_end_mpix_per_s": round(mp / med["reference_end_to_end"], 5)},
        "seconds": {k: [round(t, 4) for t in v] for k, v in times.items()},
    }
    for p in precs:
        lm_t, li_t, e2e = med[f"lmf_{p}_decode"], med[f"liif_{p}_decode"], med[f"lmf_{p}_end_to_end"]
        entry = {"decode_mpix_per_s": round(mp / lm_t, 4),
                 "decode_ratio_vs_reference": round(med["reference"] / lm_t, 2),
                 "decode_ratio_vs_liif_fast_path_same_precision": round(li_t / lm_t, 2),
                 "liif_fast_path_decode_mpix_per_s": round(mp / li_t, 5),
                 "end_to_end_mpix_per_s": round(mp / e2e, 4),
                 "end_to_end_ratio_vs_reference_end_to_end": round(med["reference_end_to_end"] / e2e, 2)}
        vh, vw = viewport
        lr = (min(image.shape[0], max(1, vh // scale)), min(image.shape[1], max(1, vw // scale)))
        view_img = np.ascontiguousarray(image[:lr[0], :lr[1]])
        vs = RenderSession(lmf, view_img, device=device, precision=p)
        vs.prefetch(region, max_fraction=1.0)
        t, _ = _time(lambda: vs.render(region, (lr[0] * scale, lr[1] * scale)), sync)
        entry["viewport_from_cached_latents_s"] = round(t, 3)
        entry["viewport_output"] = [lr[0] * scale, lr[1] * scale]
        res[p] = entry
        _log(f"lm_decoder {p}: {entry}")
    return res


# -- the whole benchmark --------------------------------------------------------------------------------

def run_benchmark(model: Optional[str] = None, device: str = "auto", quick: bool = False,
                  threads: Optional[int] = None, export_size: Tuple[int, int] = (15000, 20000),
                  skip_export: bool = False, only: Optional[List[str]] = None,
                  all_precisions: bool = False) -> Dict[str, Any]:
    """Run the measurements (all, or those named in ``only``: query, encoder, seams,
    first_tile, cuda_viewport, export) and return the JSON-ready result."""
    from ..devices import pick_device
    want = set(only or SECTIONS)
    if skip_export:
        want.discard("export")
    if threads:
        torch.set_num_threads(int(threads))
    dev = pick_device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    t_start = time.perf_counter()
    net, model_desc = load_bench_model(model)
    n_params = sum(p.numel() for p in net.parameters())
    image = sample_image()
    reduced = [p for p in PRECISIONS if p != "float32" and _usable(p, dev)]
    skipped = {}
    if dev.type == "cpu" and not cpu_has_native_bf16() and not all_precisions and "bfloat16" in reduced:
        reduced.remove("bfloat16")   # emulated: several times slower than float32, costs minutes to show it
        skipped["bfloat16"] = "no native bf16 on this CPU (emulated bf16 is slower than float32); --all-precisions measures it"
    auto = resolve_precision("auto", dev)
    result: Dict[str, Any] = {
        "benchmark": "cisr bench (renderer)", "quick": quick,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(dev),
        "model": dict(model_desc, parameters=n_params),
        "test_image": "bundled sample photograph (600x400), crops and bicubic resizes of it",
    }
    _log(f"model: {model_desc['name']}; device {dev}; threads {torch.get_num_threads()}; reduced: {reduced}")

    def section(name: str, fn: Callable[[], Any]) -> Any:
        """Run one measurement; a failure is recorded in the JSON instead of losing the run."""
        try:
            result[name] = fn()
        except Exception as e:  # noqa: BLE001 - reported in the output
            _log(f"{name} failed: {type(e).__name__}: {e}")
            result[name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        return result[name]

    rounds = 2 if quick else 3
    if "query" in want:
        q = section("query", lambda: bench_query(net, dev, image, patch=24 if quick else 48, scale=4,
                                                 rounds=rounds, precisions=reduced, sync=sync))
        if "error" not in q:
            if skipped:
                q["skipped_precisions"] = skipped
            red = q.get("fast_reduced", {}).get(auto, {})
            result["headline"] = {
                "fast_float32_vs_reference": q["fast_float32"]["ratio_vs_reference"],
                "reduced_precision": auto if auto != "float32" else None,
                "reduced_vs_reference": red.get("ratio_vs_reference"),
                "reduced_psnr_vs_float32_db": red.get("psnr_vs_float32_db"),
            }
            _log(f"headline: {result['headline']}")
    if "encoder" in want:
        enc = section("encoder", lambda: bench_encoder(net, dev, image, size=64 if quick else 128, rounds=2,
                                                       sync=sync))
        _log(f"encoder: {enc.get('input_mpix_per_s')} input MP/s")
    if "seams" in want:
        seam_img = np.ascontiguousarray(image[100:100 + (72 if quick else 120), 150:150 + (96 if quick else 160)])
        seams = section("seams", lambda: bench_seams(net, dev, seam_img, lr_tile=24 if quick else 48,
                                                     box=48 if quick else 96))
        _log(f"seams: {seams.get('rgb_max_abs_diff_vs_whole_image_reference')} max abs RGB")
    if "first_tile" in want:
        sizes = [(750, 1000), (1500, 2000)] if quick else [(1500, 2000), (3000, 4000)]
        section("first_tile", lambda: bench_first_tile(net, dev, sizes, reduced=auto if auto != "float32" else None,
                                                       tile=128 if quick else 256, sync=sync))
    if "lm_decoder" in want:
        section("lm_decoder", lambda: bench_lm_decoder(net, dev, image, patch=24 if quick else 48, scale=4,
                                                       rounds=rounds, precisions=[auto] if auto != "float32" else [],
                                                       sync=sync))
    if "cuda_viewport" in want:
        section("cuda_viewport_1920x1080_s", lambda: bench_cuda_viewport(net, dev, sync))
    result["bench_process_peak_rss_mb"] = round(_rss_mb(), 1)
    if "export" in want:
        H, W = export_size
        light = dev.type != "cuda"
        cfg = {"threads": torch.get_num_threads(), "device": str(dev), "size": [H, W],
               "input": [max(1, H // 20), max(1, W // 20)], "model": "light" if light else "bench",
               "model_arg": model, "chunk": 262144 if light else None}
        _log(f"export {W}x{H} PNG in a child process ({cfg['model']} model)...")
        section("export", lambda: _bench_export(cfg, light, quick, W, H, model_desc))
    result["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    result["seconds_total"] = round(time.perf_counter() - t_start, 1)
    return result


def _bench_export(cfg, light, quick, W, H, model_desc) -> Dict[str, Any]:
    exp = run_export_child(cfg)
    exp.update({"size_wh": [W, H], "format": "png (zlib level 1)", "input_wh": cfg["input"][::-1],
                "model": ("light stand-in: EDSR-baseline 1x16 + MLP [8], no local ensemble (the paper-size "
                          "model would take hours for 300 MP on this CPU; memory of the export pipeline "
                          "does not depend on it, the model's own share is measured below)")
                if light else model_desc["name"]})
    _log(f"export: {exp['peak_rss_mb']} MB peak RSS in {exp['seconds']} s")
    if light:
        part = run_export_child(dict(cfg, model="bench", chunk=None, max_chunks=4 if quick else 12))
        part["note"] = ("the benchmark model exporting the same output, cancelled after "
                        f"{part['cancelled_after_chunks']} render chunks (strip buffers, feature "
                        "cache and INN activations allocated); nothing may be left behind")
        exp["bench_model_partial"] = part
        _log(f"bench model, partial export: {part['peak_rss_mb']} MB peak RSS")
    return exp


def _usable(precision: str, device: torch.device) -> bool:
    try:
        resolve_precision(precision, device)
        return True
    except Exception:  # noqa: BLE001 - not offered on this device
        return False


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "export-child":
    print(json.dumps(_export_child(json.loads(sys.argv[2]))))
