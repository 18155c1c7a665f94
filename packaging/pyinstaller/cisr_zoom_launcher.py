"""Entry script of the stand-alone bundle: the same as the installed ``cisr-zoom`` command."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen Windows/macOS child process must stop here
    from cisr_zoom.app.main import main

    raise SystemExit(main())
