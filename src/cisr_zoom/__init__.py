"""CiSR Zoom: continuous, arbitrary-scale image zoom rendered by implicit neural networks.

The installed package maps the repository folders under one import name:
``core/`` -> ``cisr_zoom.core`` (models, rendering, training, evaluation; never imports Qt),
``app/`` -> ``cisr_zoom.app`` (the PySide6 GUI) and ``resources/`` -> ``cisr_zoom.resources``
(bundled weights, icons and the sample image).
"""

__version__ = "0.1.0"
