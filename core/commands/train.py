"""``cisr train --config FILE``: train a LIIF (stage 1) or CiSRGAN (stage 2) model.

Checkpoints (``last.pth``, resumable) and the loss log (``log.jsonl``) go to ``--out``
(default ``runs/<config name>``). Runs unchanged under ``torchrun`` for multi-GPU/multi-node.
"""

from __future__ import annotations


DESCRIPTION = ("Train LIIF (stage 1) or CiSRGAN (stage 2). Shipped configs (pass the name): the .toml files of "
               "cisr_zoom/core/train/configs, e.g. cpu-liif-edsr-baseline, cpu-cisrgan-edsr-baseline, "
               "edsr-baseline-liif, cisrgan-edsr-baseline, gpu-liif-edsr-baseline, edsr-baseline-lm-liif. "
               "`cisr configs` lists them with a description. Multi-GPU: torchrun --nproc_per_node N -m cisr_zoom.core.cli train --config ...")


def add_parser(sub) -> None:
    from ..devices import DEVICE_HELP, device_arg
    from ..validate import NON_NEGATIVE_INT, POSITIVE, THREADS, arg_number
    p = sub.add_parser("train", help="train LIIF (stage 1) or CiSRGAN (stage 2) from a TOML config",
                       description=DESCRIPTION)
    p.add_argument("--config", help="TOML config file, or the name of a shipped config")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pth")
    p.add_argument("--new-schedule", action="store_true",
                   help="with --resume: start the config's lr schedule afresh at the resumed iteration")
    p.add_argument("--plot", metavar="RUN", help="draw RUN/log.jsonl (loss, lr, validation PSNR/LPIPS) as "
                                                 "RUN/curves.png and exit (see -o)")
    p.add_argument("-o", "--output", metavar="PNG", help="with --plot: where to write the figure")
    p.add_argument("--speed-test", action="store_true",
                   help="measure it/s of each speed option (float32/bf16, channels_last, prefetch) for "
                        "the config on this machine, print the table and exit (no checkpoint written)")
    p.add_argument("--speed-iters", type=int, default=6, metavar="N",
                   help="with --speed-test: timed iterations per option (after 2 warm-up ones; default 6)")
    p.add_argument("--max-iters", type=arg_number("--max-iters", NON_NEGATIVE_INT), help="stop after this many iterations in all (overrides the config)")
    p.add_argument("--max-minutes", type=arg_number("--max-minutes", POSITIVE), help="stop (with a checkpoint) after this many minutes of this run")
    p.add_argument("--out", help="output folder for checkpoints and logs (default runs/<name>)")
    p.add_argument("--vgg-weights", metavar="FILE",
                   help="ImageNet VGG state dict for perceptual_opt.type vgg19 (torchvision's vgg19-dcbbb7d3.pth) or "
                        "vgg16 (vgg16-397923af.pth, or the file `cisr weights fetch` makes)")
    p.add_argument("--init", metavar="CKPT", help="stage 2: stage-1 checkpoint to start from (overrides train.init_g)")
    p.add_argument("--device", default="auto", type=device_arg, help=f"{DEVICE_HELP} (default auto)")
    p.add_argument("--data", nargs="+", metavar="DIR", help="training image folders (override datasets.train.dirs)")
    p.add_argument("--threads", type=arg_number("--threads", THREADS), help="torch CPU threads (overrides train.threads)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..train.config import load_config
    from ..train.trainer import train

    from ..errors import CisrError

    if args.plot:
        from ..train.plot import plot_run
        png = plot_run(args.plot, args.output)
        print(png)
        return 0
    if not args.config:
        raise CisrError("cisr train needs --config FILE (or --plot RUN)")
    if args.new_schedule and not args.resume:
        raise CisrError("--new-schedule only applies with --resume")
    cfg = load_config(args.config)
    if args.init:
        cfg["train"]["init_g"] = args.init
    if args.threads:
        cfg["train"]["threads"] = args.threads
    if args.speed_test:
        from ..train.speed import print_table, speed_test
        import sys
        rows = speed_test(cfg, iters=args.speed_iters, device=args.device, data_dirs=args.data,
                          report=lambda line: print(line, file=sys.stderr, flush=True))
        print_table(rows)
        return 0
    out = Path(args.out) if args.out else Path("runs") / cfg["name"]
    if out.exists() and not out.is_dir():
        from ..errors import UsageError
        raise UsageError(f"--out '{out}' is a file; give a folder for checkpoints and logs")
    result = train(cfg, out, resume=args.resume, max_iters=args.max_iters, max_minutes=args.max_minutes,
                   vgg_weights=args.vgg_weights, device=args.device, data_dirs=args.data,
                   new_schedule=args.new_schedule)
    if result.is_main:
        print(f"{result.out_dir / 'last.pth'}: iteration {result.iteration} ({result.stopped_by})")
    if result.signum is not None:       # checkpointed; the status says it was stopped (128 + signal)
        from ..signals import StopSignal
        raise StopSignal(result.signum)
    return 0
