"""``cisr``: the command-line interface.

Each subcommand lives in :mod:`cisr_zoom.core.commands` as a module with
``add_parser(subparsers)`` and ``run(args) -> int``. Errors that are the user's to fix
(:class:`CisrError`) print one line to stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from .errors import CisrError

#: subcommand modules, in the order ``cisr --help`` lists them
COMMANDS = ("upscale", "eval", "train", "bench", "info", "weights")


def build_parser() -> argparse.ArgumentParser:
    from cisr_zoom import __version__
    parser = argparse.ArgumentParser(prog="cisr", description="CiSR Zoom: arbitrary-scale super-resolution "
                                     "with LIIF and CiSRGAN.")
    parser.add_argument("--version", action="version", version=f"cisr-zoom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__package__}.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__package__}.commands.{name}":
                continue  # command not part of this build
            raise
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CisrError as e:
        print(f"cisr {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cisr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
