"""``cisr bench``: measure the renderer and print the figures as JSON (see
:mod:`cisr_zoom.core.render.benchmark`). Progress goes to stderr, the JSON to stdout."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    from ..devices import DEVICE_HELP, device_arg
    from ..validate import THREADS, arg_number
    p = sub.add_parser("bench", help="benchmark the renderer (query, encoder, first tile, export memory); prints JSON",
                       description="Benchmark the viewport renderer: query throughput of the reference LIIF query, "
                                   "the fast path in float32 and in reduced precision (ratios measured in the same "
                                   "run), encoder throughput, tiling seam error, time to the first tile, and the "
                                   "peak memory of a 20000x15000 export. Takes minutes: 17 minutes were measured on a "
                                   "2-core CPU shared with other heavy jobs; --quick is about 4x shorter.")
    p.add_argument("--model", default=None, help="bundled model name or checkpoint path (default: the bundled "
                   "liif-edsr-baseline, else a freshly initialised paper-size LIIF)")
    p.add_argument("--device", default="auto", type=device_arg, help=f"{DEVICE_HELP} (default: auto)")
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds, 5000x3750 export")
    p.add_argument("--threads", type=arg_number("--threads", THREADS), default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--export-size", default=None, metavar="WxH",
                   help="export size (default 20000x15000; 5000x3750 with --quick)")
    p.add_argument("--no-export", action="store_true", help="skip the export memory measurement")
    p.add_argument("--only", default=None, metavar="LIST",
                   help="comma-separated subset: query,encoder,seams,first_tile,cuda_viewport,export,lm_decoder")
    p.add_argument("--all-precisions", action="store_true",
                   help="also measure precisions that are emulated (slow) on this device, e.g. bf16 on AVX2 CPUs")
    p.add_argument("-o", "--output", default=None, help="also write the JSON to this file")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import CisrError
    from ..render.benchmark import run_benchmark
    from .upscale import parse_size
    from ..render.benchmark import SECTIONS
    H, W = parse_size(args.export_size or ("5000x3750" if args.quick else "20000x15000"))
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    unknown = sorted(set(only or []) - set(SECTIONS))
    if unknown:
        raise CisrError(f"unknown --only section(s) {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    result = run_benchmark(model=args.model, device=args.device, quick=args.quick, threads=args.threads,
                           export_size=(H, W), skip_export=args.no_export, only=only,
                           all_precisions=args.all_precisions)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        from ..atomic import atomic_write_text
        atomic_write_text(args.output, text + "\n")
    return 0
