"""``python -m cisr_zoom`` runs the command-line interface (same as ``cisr``)."""

from cisr_zoom.core.cli import main

raise SystemExit(main())
