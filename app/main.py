"""Entry point of the desktop application, ``cisr-zoom``."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    print("cisr-zoom: the desktop application is not built yet; use `cisr upscale`.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
