"""Subcommands of ``cisr`` (see :mod:`cisr_zoom.core.cli`)."""
