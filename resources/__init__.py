"""Package data: bundled weights (``weights/``), icons and the sample image."""

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = RESOURCES_DIR / "weights"
