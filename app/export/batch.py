"""File > Upscale Folder...: many images into a folder, the same job as ``cisr upscale``.

The dialog takes input files or folders (a folder: the images directly inside it, as ``cisr
upscale`` reads one), an output folder (made if missing), a model (the catalog's models, the
default model first chosen), a scale or a target size, a format (the input's own, or one for
all) and what to do with outputs that exist (skip them or replace them). It then runs
:class:`cisr_zoom.core.batch.Batch` -- the very job of ``cisr upscale``: its output names, its
metadata handling (ICC, EXIF, resolution, bit depth, greyness), its atomic, create-or-fail
writes -- on the render worker as a background job (:meth:`RenderBridge.upscale_batch`: one
export chunk per step, the views' tiles first, a fair share of the thread), with a progress bar
for the file and one for the whole batch, and Cancel (within one step; the file in progress is
not written). A file that fails is listed with its one-line reason and the batch goes on; the
end is a summary: written, skipped, failed. Like the Export dialog it is not modal and opens at
the window's top right corner, so the view stays in the user's hands.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import List, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QPlainTextEdit, QProgressBar, QPushButton, QStackedWidget, QVBoxLayout, QWidget)

from cisr_zoom.core.batch import (FAILED, OVERWRITE, SKIP, SKIPPED, BatchOptions, FileResult, Outcome,
                                  expand_inputs)
from cisr_zoom.core.errors import error_message
from cisr_zoom.core.imageio import READABLE_SUFFIXES
from cisr_zoom.core.imagewrite.formats import EXPORT_FORMATS

from .dialog import RunningDialog, button_row, radio_pair, size_controls

#: the format choice that keeps each input's own (PNG, JPEG, TIFF, WebP; others become PNG)
SAME_FORMAT_LABEL = "Same as input"
#: how the refusal of an existing output reads in the window (no policy refuses here; a file
#: that appears while the batch runs is refused with it)
EXISTS_HINT = "choose Overwrite to replace it"


class UpscaleFolderDialog(RunningDialog):
    """The batch dialog (see the module docstring)."""

    batchFinished = Signal(object, object)     # Outcome or None, error message or None
    progressed = Signal(float, float)          # fraction of the file, of the batch (0..1)

    def __init__(self, bridge, catalog, default_source: Optional[str] = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Upscale Folder")
        self.bridge = bridge
        self.catalog = catalog
        self._generation = 0
        self._total = 0
        self._problems = 0              # inputs that named no image (counted as failures)
        self.outcome: Optional[Outcome] = None

        # -- inputs
        self.input_list = QListWidget()
        self.input_list.setToolTip("Image files, or folders (the images directly inside each)")
        add_files = QPushButton("Add Files…")
        add_folder = QPushButton("Add Folder…")
        clear = QPushButton("Clear")
        add_files.clicked.connect(self._browse_files)
        add_folder.clicked.connect(self._browse_folder)
        clear.clicked.connect(lambda: self.set_inputs([]))
        in_buttons = QHBoxLayout()
        for b in (add_files, add_folder, clear):
            in_buttons.addWidget(b)
        in_buttons.addStretch(1)

        # -- output folder
        self.folder_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        # -- model, size, format, policy
        self.model_combo = QComboBox()
        for e in catalog.entries():
            self.model_combo.addItem(e.label, e.id)
        wanted = catalog.default_main() or default_source
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(wanted)))
        size_controls(self)
        self.width_spin.setValue(3840)
        self.height_spin.setValue(2160)
        size_row = QHBoxLayout()
        size_row.addWidget(self.by_scale)
        size_row.addWidget(self.scale_spin)
        size_row.addSpacing(12)
        size_row.addWidget(self.by_size)
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("x"))
        size_row.addWidget(self.height_spin)
        self.format_combo = QComboBox()
        self.format_combo.addItem(SAME_FORMAT_LABEL, None)
        for f in EXPORT_FORMATS:
            self.format_combo.addItem(f.label, f.name)
        self.skip_radio, self.overwrite_radio = radio_pair(self, "Skip", "Overwrite")
        policy_row = QHBoxLayout()
        policy_row.addWidget(self.skip_radio)
        policy_row.addWidget(self.overwrite_radio)
        policy_row.addStretch(1)
        form = QFormLayout()
        form.addRow("Output folder", folder_row)
        form.addRow("Model", self.model_combo)
        form.addRow("Output size", size_row)
        form.addRow("Format", self.format_combo)
        form.addRow("Existing files", policy_row)

        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.start_button = QPushButton("Upscale")
        self.start_button.setDefault(True)
        self.close_button = QPushButton("Close")
        buttons = button_row(self.close_button, self.start_button)
        setup = QWidget()
        v = QVBoxLayout(setup)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(QLabel("Images"))
        v.addWidget(self.input_list, 1)
        v.addLayout(in_buttons)
        v.addLayout(form)
        v.addWidget(self.info_label)
        v.addLayout(buttons)

        # -- progress page
        self.file_label = QLabel()
        self.file_bar = QProgressBar()
        self.overall_label = QLabel()
        self.overall_bar = QProgressBar()
        for bar in (self.file_bar, self.overall_bar):
            bar.setRange(0, 1000)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.done_button = QPushButton("Close")
        self.again_button = QPushButton("Upscale More…")
        pb = button_row(self.again_button, self.done_button, self.cancel_button)
        progress = QWidget()
        pv = QVBoxLayout(progress)
        pv.setContentsMargins(0, 0, 0, 0)
        for w in (self.file_label, self.file_bar, self.overall_label, self.overall_bar, self.log, self.summary_label):
            pv.addWidget(w)
        pv.addLayout(pb)

        self.pages = QStackedWidget()
        self.pages.addWidget(setup)
        self.pages.addWidget(progress)
        QVBoxLayout(self).addWidget(self.pages)

        for wdg in (self.by_scale, self.by_size):
            wdg.toggled.connect(self._refresh)
        self.folder_edit.textChanged.connect(self._refresh)
        self.start_button.clicked.connect(self.start)
        self.close_button.clicked.connect(self.reject)
        self.cancel_button.clicked.connect(self.cancel)
        self.done_button.clicked.connect(self.accept)
        self.again_button.clicked.connect(lambda: self.pages.setCurrentIndex(0))
        self._refresh()

    # -- choices -------------------------------------------------------------------------
    def inputs(self) -> List[str]:
        return [self.input_list.item(i).text() for i in range(self.input_list.count())]

    def set_inputs(self, paths) -> None:
        """The input files and folders (also for tests and scripts); an empty output folder
        becomes ``upscaled`` next to the first input."""
        self.input_list.clear()
        self.input_list.addItems([str(p) for p in paths])
        if paths and not self.folder_edit.text().strip():
            first = Path(paths[0])
            self.folder_edit.setText(str((first if first.is_dir() else first.parent) / "upscaled"))
        self._refresh()

    def _browse_files(self) -> None:
        pattern = " ".join(f"*{s}" for s in READABLE_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(self, "Images to upscale", "", f"Images ({pattern})")
        if files:
            self.set_inputs(self.inputs() + files)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to upscale")
        if folder:
            self.set_inputs(self.inputs() + [folder])

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def output_folder(self) -> Path:
        return Path(self.folder_edit.text().strip()).expanduser()

    def options(self) -> BatchOptions:
        """The :class:`BatchOptions` chosen (the bridge adds the device, precision and decoder)."""
        entry = self.catalog.get(self.model_combo.currentData())
        size = (self.height_spin.value(), self.width_spin.value()) if self.by_size.isChecked() else None
        scale = None if size else (self.scale_spin.value(),) * 2
        return BatchOptions(scale=scale, size=size, fmt=self.format_combo.currentData(),
                            policy=OVERWRITE if self.overwrite_radio.isChecked() else SKIP,
                            model=str(entry.path) if entry is not None else None, exists_hint=EXISTS_HINT)

    def problem(self) -> Optional[str]:
        """Why the batch cannot start (checked before any work), or None."""
        if not self.inputs():
            return "Add images or a folder of images."
        if self.catalog.get(self.model_combo.currentData()) is None:
            return "No model: add one with Model > Add Model File."
        if not self.folder_edit.text().strip():
            return "Choose an output folder."
        folder = self.output_folder()
        existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
        if existing is None or not existing.is_dir():
            return f"The output folder {folder} cannot be made: {existing} is a file."
        if not os.access(existing, os.W_OK):
            return f"The folder {existing} is not writable."
        return None

    def _refresh(self, *_) -> None:
        self.scale_spin.setEnabled(self.by_scale.isChecked())
        for sp in (self.width_spin, self.height_spin):
            sp.setEnabled(self.by_size.isChecked())
        problem = self.problem()
        self.info_label.setText(f"<b>{problem}</b>" if problem else
                                "Each image is written as NAME_xSCALE (or NAME_WIDTHxHEIGHT) in the output "
                                "folder, with its colour profile, EXIF and resolution, as cisr upscale does.")
        self.start_button.setEnabled(problem is None and not self._running)

    # -- running -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if self._running or self.problem() is not None:
            return
        files, _, problems = expand_inputs(self.inputs())
        self._running = True
        self.start_button.setEnabled(False)
        self._generation += 1
        self._total = len(files)
        self.outcome = None
        self.log.clear()
        for p in problems:
            self.log.appendPlainText(f"failed: {p}")
        self._problems = len(problems)
        self.file_label.setText("Loading the model…")
        self.overall_label.setText(f"0 of {len(files)} images")
        self.file_bar.setValue(0)
        self.overall_bar.setValue(0)
        self.summary_label.clear()
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.done_button.hide()
        self.again_button.hide()
        self.pages.setCurrentIndex(1)
        self.bridge.spawn(self._run(files, self.output_folder(), self.options(), self._generation))

    async def _run(self, files, folder, options, generation) -> None:
        outcome, error = None, None
        try:
            outcome = await self.bridge.upscale_batch(files, folder, options, self, generation)
        except asyncio.CancelledError:           # the window is closing: the worker stopped it
            self._finish(generation, None, "cancelled")
            raise
        except Exception as e:  # noqa: BLE001 - shown in the dialog
            error = error_message(e)
        self._finish(generation, outcome, error)

    def cancel(self) -> None:
        if self._running:
            self.cancel_button.setEnabled(False)
            self.file_label.setText("Cancelling…")
            self.bridge.cancel_batch()

    # -- events of the batch (GUI loop, through RenderBridge.upscale_batch) ----------------
    def file_started(self, generation: int, index: int, total: int, source: str) -> None:
        if generation != self._generation:
            return
        self.file_label.setText(f"{Path(source).name} ({index} of {total})")
        self._show_progress(index, 0.0)

    def file_rendering(self, generation: int, index: int, total: int, result: FileResult) -> None:
        if generation == self._generation:
            H, W = result.out_size
            self.file_label.setText(f"{Path(result.source).name} → {result.output.name}, {W:,} x {H:,} px "
                                    f"({index} of {total})")

    def file_progress(self, generation: int, index: int, total: int, rows_done: int, rows: int) -> None:
        if generation == self._generation and rows:
            self._show_progress(index, rows_done / rows)

    def file_finished(self, generation: int, index: int, total: int, result: FileResult) -> None:
        if generation != self._generation:
            return
        name = Path(result.source).name
        if result.status == FAILED:
            self.log.appendPlainText(f"failed: {name}: {result.message}")
        elif result.status == SKIPPED:
            self.log.appendPlainText(f"skipped: {name} ({result.output.name} exists)")
        else:
            self.log.appendPlainText(f"written: {result.output}")
        self._show_progress(index, 1.0)

    def _show_progress(self, index: int, fraction: float) -> None:
        overall = (index - 1 + fraction) / max(1, self._total)
        self.file_bar.setValue(int(round(fraction * 1000)))
        self.overall_bar.setValue(int(round(overall * 1000)))
        done = index if fraction >= 1.0 else index - 1
        self.overall_label.setText(f"{done} of {self._total} images")
        self.progressed.emit(fraction, overall)

    def _finish(self, generation: int, outcome: Optional[Outcome], error: Optional[str]) -> None:
        if generation != self._generation or not self._running:
            return
        self._running = False
        if outcome is not None:
            outcome.failed += self._problems
        self.outcome = outcome
        self.cancel_button.hide()
        self.done_button.show()
        self.again_button.show()
        if outcome is None:
            self.summary_label.setText(f"<b>Nothing was upscaled:</b> {error}")
        else:
            stopped = "Cancelled: " if outcome.cancelled else ""
            self.summary_label.setText(f"{stopped}{outcome.written} written, {outcome.skipped} skipped, "
                                       f"{outcome.failed} failed")
        self._refresh()
        self.batchFinished.emit(outcome, error)
        if self._close_when_done:
            super().reject()

    def stop(self) -> None:
        self.cancel()
