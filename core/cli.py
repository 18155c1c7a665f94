"""``cisr``: the command-line interface.

Each subcommand lives in :mod:`cisr_zoom.core.commands` as a module with
``add_parser(subparsers)`` and ``run(args) -> int``. Errors that are the user's to fix
(:class:`CisrError`, usage errors, OS errors such as a full disk, out of memory) print one
line to stderr (:func:`~.errors.error_message`) and exit with status 1 (so does a path with a
loop of symbolic links, which pathlib reports as a ``RuntimeError``); a closed stdout pipe
(``cisr configs | head``) ends quietly with 141, as ``SIGPIPE`` would. SIGINT, SIGTERM and
SIGHUP stop cleanly (:mod:`.signals`): temporary files are removed, the status is 128 + the
signal number.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from .errors import CisrError, error_message, is_out_of_memory, is_symlink_loop

#: subcommands, in the order ``cisr --help`` lists them (module: the name with ``_`` for ``-``)
COMMANDS = ("upscale", "eval", "train", "bench", "info", "weights", "export-model", "configs")


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit status 1."""

    argv: Sequence[str] = ()

    def error(self, message: str):
        hint = dash_file_hint(OneLineParser.argv)
        self.exit(1, f"{self.prog}: error: {hint or message} (see '{self.prog} --help')\n")


def dash_file_hint(argv: Sequence[str]) -> Optional[str]:
    """A message for an existing file whose name starts with '-' (argparse takes it for an option)."""
    from pathlib import Path
    for a in argv:
        if a == "--":
            return None
        if a.startswith("-") and a != "-" and "=" not in a and Path(a).exists():
            return (f"'{a}' looks like an option, but it is a file name: write ./{a}, or put '--' "
                    f"before the file names")
    return None


def build_parser() -> argparse.ArgumentParser:
    from cisr_zoom import __version__
    parser = OneLineParser(prog="cisr", description="CiSR Zoom: arbitrary-scale super-resolution "
                                     "with LIIF and CiSRGAN.")
    parser.add_argument("--version", action="version", version=f"cisr-zoom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module_name = f"{__package__}.commands.{name.replace('-', '_')}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue  # command not part of this build
            raise
        module.add_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .atomic import remove_temporary_files
    from .signals import StopSignal, exit_status, stop_on_signals

    argv = sys.argv[1:] if argv is None else list(argv)
    OneLineParser.argv = argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:       # --help, --version, usage errors (one line, status 1)
        return e.code if isinstance(e.code, int) else 1
    with stop_on_signals():
        try:
            status = int(args.func(args) or 0)
            sys.stdout.flush()          # a closed pipe shows here, not at the interpreter's exit
            return status
        except KeyboardInterrupt as e:
            remove_temporary_files()
            why = f" ({e.name})" if isinstance(e, StopSignal) else ""
            print(f"cisr {_command(argv)}: interrupted{why}", file=sys.stderr)
            return exit_status(e)
        except BrokenPipeError:         # e.g. `cisr configs | head -3`: the reader has had enough
            remove_temporary_files()
            _silence_stdout()
            return 128 + 13             # as if killed by SIGPIPE, without a message
        except (CisrError, OSError, RecursionError) as e:
            print(f"cisr {_command(argv)}: error: {error_message(e)}", file=sys.stderr)
            return 1
        except BaseException as e:
            if not (is_out_of_memory(e) or is_symlink_loop(e)):
                raise
            print(f"cisr {_command(argv)}: error: {error_message(e)}", file=sys.stderr)
            return 1


def _silence_stdout() -> None:
    """Point stdout at the null device, so the interpreter's final flush of a closed pipe does
    not print a second error."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _command(argv: Sequence[str]) -> str:
    return next((a for a in argv if a in COMMANDS), "")


if __name__ == "__main__":
    raise SystemExit(main())
