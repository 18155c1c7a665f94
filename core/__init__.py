"""Everything that is not GUI: models, checkpoints, image I/O, rendering, training, evaluation.

This package never imports Qt (checked by ``tests/core/test_layering.py``).
"""
