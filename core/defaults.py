"""Defaults shared by the viewer and the command line (no heavy imports: the CLI reads this first)."""

#: The bundled model that the viewer and ``cisr upscale`` open with (one default for both): the
#: LIIF authors' EDSR-baseline LIIF, the bundled model without a cell pattern on real photos.
DEFAULT_MODEL = "liif-edsr-baseline"
