"""Entry point of the desktop application, ``cisr-zoom``."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    from cisr_zoom.app.desktop_integration import handle_desktop_flags  # no Qt; see packaging/
    if (code := handle_desktop_flags(argv)) is not None:  # --install-desktop / --uninstall-desktop
        return code
    print("cisr-zoom: the desktop application is not built yet; use `cisr upscale`.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
