"""Pack a small training subset for a machine that cannot see the training folders.

``python -m cisr_zoom.core.train.pack --data DIR [DIR ...] --out FOLDER [--max-mib 40]``

Cuts random square HR crops (``--crop`` pixels, default 256) from the images of the training
folders (never benchmark sets: :class:`.data.ImageBank` refuses them) and writes them as PNG
files ``FOLDER/crop_NNNNN.png`` until ``--max-mib`` MiB are used, spreading the crops evenly over
the source images. The folder is a training folder like any other (``cisr train --data FOLDER``);
it travels with the repository to a GPU machine (keep it out of git). A ``SOURCES.txt`` lists
where each crop came from.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..atomic import atomic_write_bytes
from ..errors import CisrError
from .data import ImageBank


def pack(dirs: Sequence[str], out: str, max_mib: float = 40.0, crop: int = 256, seed: int = 0) -> int:
    """Write the crops; returns how many were written."""
    bank = ImageBank.from_dirs(dirs, min_side=crop)
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    budget = int(max_mib * 2**20)
    used, n, lines = 0, 0, []
    order = rng.permutation(len(bank.images))
    rounds = 0
    while used < budget and rounds < 64:
        for i in order:
            img = bank.images[int(i)]
            h, w = img.shape[:2]
            y, x = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
            buf = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(img[y:y + crop, x:x + crop])).save(buf, format="PNG", optimize=True)
            data = buf.getvalue()
            if used + len(data) > budget:
                break
            atomic_write_bytes(dest / f"crop_{n:05d}.png", data)
            lines.append(f"crop_{n:05d}.png\t{bank.paths[int(i)].name}\t{y}\t{x}\t{crop}")
            used += len(data)
            n += 1
        else:
            rounds += 1
            continue
        break
    atomic_write_bytes(dest / "SOURCES.txt", ("file\tsource\ty\tx\tside\n" + "\n".join(lines) + "\n").encode())
    return n


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cisr_zoom.core.train.pack", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", required=True, metavar="DIR", help="training image folders")
    ap.add_argument("--out", required=True, help="folder to write the crops to")
    ap.add_argument("--max-mib", type=float, default=40.0, help="size budget in MiB (default 40)")
    ap.add_argument("--crop", type=int, default=256, help="crop side in pixels (default 256)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not (args.max_mib > 0 and args.crop >= 48):
        print("error: --max-mib must be > 0 and --crop >= 48", file=sys.stderr)
        return 1
    try:
        n = pack(args.data, args.out, args.max_mib, args.crop, args.seed)
    except (CisrError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: {n} crops of {args.crop}x{args.crop}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
