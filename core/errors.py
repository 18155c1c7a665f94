"""Exceptions whose message is a complete one-line explanation for the user."""


class CisrError(Exception):
    """Base class: ``str(err)`` is shown to the user as is, without a traceback."""


class ImageLoadError(CisrError):
    """An input image cannot be used (missing, truncated, not an image, empty, too large)."""


class CheckpointError(CisrError):
    """A checkpoint cannot be loaded (missing, corrupt, unsafe, unknown architecture)."""
