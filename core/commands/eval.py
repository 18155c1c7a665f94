"""``cisr eval``: benchmark tables (PSNR, SSIM, NIQE, LPIPS, artifact ratios) for bicubic and models;
NIQE model fitting.

    cisr eval --model bicubic --model liif-edsr-baseline --data Set5 --scales 2,3,4 -o set5.md
    cisr eval -m bicubic -m liif-edsr-baseline --data Set14 --scales 4 --degrade jpeg:75
    cisr eval --no-reference photos/ -m bicubic -m liif-edsr-baseline --scales 4,6 --figures figs/
    cisr eval --fit-niqe TRAIN_DIR [TRAIN_DIR ...] -o pristine.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARK_NAMES = ("set5", "set14", "b100", "bsd100", "urban100", "manga109", "div2k_valid", "div2k-valid")


def add_parser(sub) -> None:
    from ..devices import DEVICE_HELP, device_arg
    from ..validate import POSITIVE_INT, arg_number
    p = sub.add_parser("eval", help="score bicubic and models on HR image sets (PSNR, SSIM, NIQE, LPIPS)",
                       description="Make LR inputs from HR images with MATLAB-compatible bicubic, "
                                   "super-resolve them and print a table (rows: model x metric, "
                                   "columns: scales). PSNR/SSIM on Y with `scale` pixels shaved for "
                                   "benchmark sets, PSNR on RGB with scale+6 shaved for DIV2K.")
    p.add_argument("--model", "-m", action="append", metavar="M",
                   help="'bicubic', a bundled model name or a checkpoint path; repeat for several "
                        "(default: bicubic)")
    p.add_argument("--data", "-d", action="append", metavar="DIR",
                   help="folder of HR images, or a folder containing HR/; repeat for several sets")
    p.add_argument("--scales", default="2,3,4,6,12,24,30", help="whole-number scales, comma separated "
                   "(default: %(default)s)")
    p.add_argument("--metrics", default=None,
                   help="any of psnr,ssim,niqe,lpips,cell,blocking (default: all; with --no-reference: "
                        "niqe,cell,blocking); cell: energy at the input-pixel period, blocking: at the period "
                        "of 8 input pixels (JPEG), each as a ratio to the ground truth's and to bicubic's "
                        "(median over images)")
    p.add_argument("--degrade", metavar="SPEC",
                   help="degrade each LR input after the bicubic downscale, score against the clean HR: "
                        "jpeg:Q (Q 1-100; Pillow, 4:2:0 chroma) or realistic (blur, noise, JPEG 50-90 with a "
                        "fixed seed per image)")
    p.add_argument("--no-reference", action="append", metavar="DIR",
                   help="photos without ground truth: each image is the LR input; NIQE, the artifact ratios "
                        "to bicubic (in the smooth half of each photo) and a crop figure per image and scale; "
                        "repeat for several folders")
    p.add_argument("--crop", type=arg_number("--crop", POSITIVE_INT), metavar="N",
                   help="with --no-reference: use only the central NxN pixels of each photo (faster)")
    p.add_argument("--figures", metavar="DIR",
                   help="with --no-reference: write the crop figures here (default: next to --out, in "
                        "OUT-figures/; none without --out)")
    p.add_argument("--figure-crop", type=arg_number("--figure-crop", POSITIVE_INT), default=96, metavar="N",
                   help="the figures' LR crop side in pixels, centred (default: %(default)s)")
    p.add_argument("--kind", choices=("auto", "benchmark", "div2k"), default="auto",
                   help="scoring convention; auto: div2k when the folder name contains DIV2K, else benchmark")
    p.add_argument("--out", "-o", metavar="FILE", help="save the results: .json (with per-image values), "
                   ".md or .csv; with --fit-niqe: the .npz to write")
    p.add_argument("--limit", type=arg_number("--limit", POSITIVE_INT), metavar="N", help="only the first N images of each set (sorted by name)")
    p.add_argument("--device", default="auto", type=device_arg, help=f"{DEVICE_HELP} (default: auto)")
    p.add_argument("--chunk-size", type=arg_number("--chunk-size", POSITIVE_INT), default=30000, help="query points per model call (default: %(default)s)")
    p.add_argument("--lpips-alexnet", metavar="FILE",
                   help="ImageNet AlexNet weights for LPIPS (torchvision's alexnet-owt-7be5be79.pth or the file "
                        "`cisr weights fetch` makes; default: looked up in torch's hub cache, else downloaded)")
    p.add_argument("--lpips-linear", metavar="FILE",
                   help="LPIPS v0.1 linear layers (the lpips package's weights/v0.1/alex.pth; `cisr weights fetch` "
                        "puts them in the hub cache)")
    p.add_argument("--niqe-model", metavar="FILE", help="NIQE pristine model .npz (default: the bundled one)")
    p.add_argument("--fit-niqe", nargs="+", metavar="DIR",
                   help="fit a NIQE pristine model on the HR images in these folders (training images, "
                        "never test sets) and write it to --out")
    p.add_argument("--allow-test-sets", action="store_true",
                   help="with --fit-niqe: accept folders named like benchmark test sets")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda msg: print(msg, file=sys.stderr, flush=True)


def _parse_scales(text: str) -> list[int]:
    from ..errors import CisrError
    from ..validate import Rule, parse_number
    out = []
    for part in text.split(","):
        part = part.strip().lower().lstrip("x")
        if not part:
            continue
        out.append(parse_number("--scales", part, Rule(1, 1000, integer=True)))
    if not out:
        raise CisrError("no scales given")
    return out


def fit_niqe(dirs, out, allow_test_sets: bool, quiet: bool) -> int:
    from ..errors import CisrError
    from ..eval.benchmark import hr_folder, list_images
    from ..eval.niqe import fit_pristine
    from ..imageio import load_image
    if not out:
        raise CisrError("--fit-niqe needs --out FILE.npz")
    folders = [hr_folder(d) for d in dirs]
    for d, f in zip(dirs, folders):
        parts = {p.lower() for p in Path(d).resolve().parts} | {f.resolve().parent.name.lower()}
        if parts & set(BENCHMARK_NAMES) and not allow_test_sets:
            raise CisrError(f"'{d}' looks like a test set; NIQE's pristine model must come from other "
                            f"images (use --allow-test-sets to override)")
    files = [p for f in folders for p in list_images(f)]
    say = _progress(quiet)

    def images():
        for i, p in enumerate(files):
            if say:
                say(f"NIQE fit: {i + 1}/{len(files)} {p.parent.name}/{p.name}")
            yield f"{p.parent.name}/{p.name}", load_image(p).rgb

    try:
        model = fit_pristine(images())
    except ValueError as e:
        raise CisrError(str(e)) from None
    model.info["folders"] = ["/".join(Path(d).resolve().parts[-2:]) for d in dirs]  # no local paths
    model.save(out)
    info = model.info
    print(f"NIQE pristine model: {info['patches_used']} of {info['patches_total']} patches "
          f"({info['patch']}x{info['patch']}, sharpness > {info['sharpness_threshold']} x max) "
          f"from {info['images']} images -> {out}")
    return 0


def _check_sources(args) -> None:
    """One of --data / --no-reference, and only the options that belong to it (a one-line error)."""
    from ..errors import CisrError
    if not args.data and not args.no_reference:
        raise CisrError("give --data DIR (a folder of HR images or one containing HR/) or --no-reference DIR")
    if args.data and args.no_reference:
        raise CisrError("--data and --no-reference are separate runs: give one of them")
    if args.degrade and args.no_reference:
        raise CisrError("--degrade makes LR inputs from ground truth; --no-reference photos are the inputs")
    if args.data:   # options of the no-reference run only: refused rather than silently ignored
        given = [o for o, v in (("--crop", args.crop), ("--figures", args.figures),
                                ("--figure-crop", args.figure_crop != 96)) if v]
        if given:
            raise CisrError(f"{' and '.join(given)} {'works' if len(given) == 1 else 'work'} only with "
                            f"--no-reference (photos without ground truth)")


def run(args) -> int:
    from ..atomic import probe_writable
    from ..devices import pick_device
    from ..errors import CisrError
    from ..eval import benchmark as B

    if args.fit_niqe:
        return fit_niqe(args.fit_niqe, args.out, args.allow_test_sets, args.quiet)
    _check_sources(args)
    if args.out and Path(args.out).suffix.lower() not in (".json", ".md", ".csv"):
        raise CisrError(f"cannot save results as '{Path(args.out).name}': use a .json, .md or .csv file name")
    if args.out:
        probe_writable(args.out)          # the same rule as every output file: its folder must exist
    scales = _parse_scales(args.scales)
    from ..eval.degrade_lr import parse_degrade
    degrade = parse_degrade(args.degrade) if args.degrade else None
    kind = None if args.kind == "auto" else args.kind
    default = ",".join(B.NO_REFERENCE_METRICS if args.no_reference else B.DEFAULT_METRICS)
    metrics = [m.strip().lower() for m in (args.metrics or default).split(",") if m.strip()]
    if args.no_reference:
        wrong = [m for m in metrics if m in B.METRICS and m not in B.NO_REFERENCE_METRICS]
        if wrong:
            raise CisrError(f"--no-reference: {', '.join(wrong)} need(s) a ground truth; choose from "
                            f"{', '.join(B.NO_REFERENCE_METRICS)}")
    device = pick_device(args.device)
    for d in ([] if args.no_reference else args.data):   # a scale no image can be scored at: one line
        B.check_sizes(d, scales, kind, args.limit)
    methods = [B.make_method(m, device, args.chunk_size) for m in (args.model or ["bicubic"])]
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise CisrError(f"two models have the same name ({', '.join(names)}): rename a checkpoint file")
    scorers = B.Scorers(metrics, device, lpips_backbone=args.lpips_alexnet, lpips_linear=args.lpips_linear,
                        niqe_model=args.niqe_model, say=_progress(args.quiet))
    results = []
    figures = args.figures or (str(Path(args.out).with_name(Path(args.out).stem + "-figures")) if args.out else None)
    for d in args.no_reference or []:
        r = B.evaluate_no_reference(methods, d, scales, scorers, limit=args.limit, progress=_progress(args.quiet),
                                    crop=args.crop, figures=figures, figure_crop=args.figure_crop)
        results.append(r)
        print(B.format_text(r))
        if figures:
            print(f"crop figures: {figures}/<image>_x<scale>.png")
        print()
    for d in args.data or []:
        r = B.evaluate(methods, d, scales, scorers, kind=kind, limit=args.limit, progress=_progress(args.quiet),
                       degrade=degrade)
        results.append(r)
        print(B.format_text(r))
        print()
    if args.out:
        B.write_results(args.out, results, B.run_info(device, methods, degrade))
        print(f"saved {args.out}")
    return 0
