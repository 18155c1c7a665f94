"""Evaluation: how SR results are scored, as in the standard benchmarks and the CiSRGAN paper.

- :mod:`.bicubic`: MATLAB-compatible bicubic ``imresize`` (makes LR inputs; the bicubic baseline).
- :mod:`.metrics`: PSNR (RGB / BT.601 Y) and SSIM with LIIF's shave conventions.
- :mod:`.niqe`: NIQE with the project's own pristine model (``resources/niqe``).
- :mod:`.lpips`: LPIPS v0.1 (AlexNet), only with the published pretrained weights.
- :mod:`.benchmark`: the ``cisr eval`` pipeline and its tables.
"""
