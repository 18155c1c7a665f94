"""``cisr configs [NAME]``: the training configs shipped with the package.

Without NAME, one line per config: its name and the first clause of its leading comment. With
NAME, the config file as it is (TOML, comments included), ready to copy and edit.
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("configs", help="list the shipped training configs, or print one",
                       description="List the training configs shipped with CiSR Zoom (for `cisr train "
                                   "--config NAME`) with a one-line description each, or print the config "
                                   "NAME (to copy and edit).")
    p.add_argument("name", nargs="?", metavar="NAME", help="a shipped config's name: print its TOML")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import UsageError
    from ..train.config import config_description, shipped_configs

    configs = shipped_configs()
    if args.name:
        name = args.name[:-5] if args.name.endswith(".toml") else args.name
        path = configs.get(name)
        if path is None:
            raise UsageError(f"no shipped config named {args.name!r} (shipped: {', '.join(configs) or 'none'})")
        print(path.read_text(encoding="utf-8"), end="")
        return 0
    width = max((len(n) for n in configs), default=0)
    for name, path in configs.items():
        print(f"{name:<{width}}  {config_description(path)}")
    return 0
