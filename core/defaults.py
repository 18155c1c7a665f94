"""Defaults shared by the viewer and the command line (no heavy imports: the CLI reads this first)."""

#: The bundled model that the viewer and ``cisr upscale`` open with (one default for both): the
#: photo variant of LIIF (the authors' LIIF fine-tuned on camera and web degradations), made for
#: the pictures people open; ``liif-edsr-baseline`` reproduces the paper on clean inputs.
DEFAULT_MODEL = "liif-photo-edsr-baseline"
