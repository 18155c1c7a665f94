"""Image writers, apart from the renderer: rows in, a file out, in bounded memory.

``formats``: the export formats, what each holds, and what an output keeps of its input
(:func:`~.formats.output_style`); ``writers.open_writer`` picks the writer of a format: ``png``
(streaming PNG), ``tiff`` (streaming TIFF/BigTIFF strips), ``pyramid`` (tiled pyramidal BigTIFF),
``memory`` (JPEG/WebP through Pillow). A new format is a module here and a row in
``formats.EXPORT_FORMATS``; the renderer (``core/render/export.py``) only hands rows on.
"""
