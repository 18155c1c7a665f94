"""``cisr export-model CKPT OUT``: a compact model file from a (training) checkpoint.

Keeps the generator and its model card (``meta``), drops the optimizer and discriminator states
and the training counters, stores the weights as float16 unless ``--float32`` (loaded back as
float32). OUT's suffix picks the format: ``.pth`` (torch) or ``.safetensors``. The file is written
atomically (nothing appears on any error); an existing OUT is replaced only with ``--overwrite``.
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("export-model", help="write a checkpoint's model as a compact .pth or .safetensors file",
                       description="Write the model of a checkpoint (e.g. runs/NAME/last.pth) as a compact model "
                                   "file: weights in float16 (default), optimizer and discriminator dropped, model "
                                   "card kept. OUT's suffix picks the format (.pth or .safetensors).")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file or bundled model name")
    p.add_argument("output", metavar="OUT", help="model file to write (.pth or .safetensors)")
    p.add_argument("--float32", action="store_true", help="keep float32 weights (default float16: half the size)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..atomic import probe_writable
    from ..checkpoint import CHECKPOINT_SUFFIXES, resolve_model_path
    from ..errors import UsageError
    from ..train.export import export_model

    src = resolve_model_path(args.checkpoint)
    out = Path(args.output).expanduser()
    if out.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise UsageError(f"'{out}': the output's suffix must be one of {', '.join(CHECKPOINT_SUFFIXES)} "
                         f"(.safetensors for the safetensors format, else torch's)")
    if out.is_dir():
        raise UsageError(f"'{out}' is a folder: name the model file to write")
    if out.exists():
        if out.resolve() == src.resolve():
            raise UsageError(f"refusing to overwrite the input '{src}' with the output")
        if not args.overwrite:
            raise UsageError(f"'{out}' exists: pass --overwrite to replace it")
    probe_writable(out)                  # a read-only or full disk: one line before any work
    meta = export_model(src, out, half=not args.float32, overwrite=args.overwrite)
    size = out.stat().st_size
    print(f"{out}: {meta['weights_dtype']} weights, {size / 2**20:.2f} MiB (from {src})")
    return 0
