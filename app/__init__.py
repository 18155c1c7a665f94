"""The PySide6 desktop application (``cisr-zoom``). Only this package imports Qt."""
