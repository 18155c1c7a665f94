"""Export dialog: the whole image or the current view, at a chosen size, model and format.

The output size is given as a scale factor of the chosen area, or as width and height (the
aspect ratio locked or not); the suggested file name follows it (``photo-x4.png``,
``photo-5000x3333.png``). The dialog shows the output's megapixels and an estimated time with
the device and precision it renders in, from the scene's speed book
(:class:`~cisr_zoom.core.render.estimate.SpeedBook`, keyed by model, device and precision):
the last export's speed when there was one, else the view's tiles', else a test render's (one chunk of the
export itself, a band of its rows, rendered as its steps render it). It then exports on the render worker as a
background job (chunk by chunk, the views' tiles in between; the renderer streams rows to a
temporary file and renames it at the end) with a progress bar that moves with every band of
rows written, an ETA from this export's own throughput, and Cancel. A finished export teaches
the book. The dialog is not modal to the application: the main window keeps working, and it
opens at the window's top right corner (its progress page small), not over the middle of the
view, where a drag to pan would land on the dialog instead of the view.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Optional, Tuple

from PySide6.QtCore import QPoint, QTimer, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QRadioButton, QSizePolicy, QSpinBox, QStackedWidget,
                               QVBoxLayout, QWidget)

from cisr_zoom.core.coords import Region, region_of_rect
from cisr_zoom.core.errors import CisrError, error_message
from cisr_zoom.core.render.estimate import DECODE, EXPORT, PROBE, VIEW, ExportEta, RenderCost, SpeedKey
from cisr_zoom.core.imagewrite.formats import EXPORT_FORMATS, ExportFormat, export_format_of
from cisr_zoom.core.render.levels import ImageRect
from cisr_zoom.core.render.resample import is_reduction
from cisr_zoom.core.render.session import RenderCancelled

from ..model_catalog import BICUBIC
from ..viewer.scene import Scene

FORMATS = {f.label: f for f in EXPORT_FORMATS}
MAX_SIDE = 1_000_000
#: a file stem that ends in a size tag this dialog suggested: ``-x4``, ``-x2.5`` or ``-5000x3333``
SIZE_TAG = re.compile(r"^(.*)-(x[0-9.]+|[0-9]+x[0-9]+)$")


def size_tag(by_scale: bool, scale: float, width: int, height: int) -> str:
    """The file name tag of an output size: ``x4`` (by scale) or ``5000x3333`` (by size)."""
    return f"x{scale:g}" if by_scale else f"{width}x{height}"


def default_folder(image_path: Optional[Path], export_dir: Optional[str]) -> Path:
    """The last export folder, else the image's folder if writable (not the installed
    sample's), else the user's Pictures folder, else home."""
    from cisr_zoom.resources import RESOURCES_DIR
    if export_dir and Path(export_dir).is_dir():
        return Path(export_dir)
    if image_path is not None:
        parent = image_path.resolve().parent
        if parent != RESOURCES_DIR.resolve() and os.access(parent, os.W_OK):
            return parent
    pictures = Path.home() / "Pictures"
    return pictures if pictures.is_dir() else Path.home()


def format_seconds(s: float) -> str:
    if s < 1:
        return "under a second"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"



#: how the estimate names what measured its speed (:meth:`ExportDialog.estimate_basis`)
_BASIS_WORDS = {EXPORT: "as the last export", VIEW: "from the view's render speed", PROBE: "from a test render"}


def _format_of_path(path) -> Optional[ExportFormat]:
    try:
        return export_format_of(path)
    except CisrError:
        return None


def radio_pair(parent, first: str, second: str) -> Tuple[QRadioButton, QRadioButton]:
    """Two exclusive radio buttons, the first checked."""
    a, b = QRadioButton(first), QRadioButton(second)
    a.setChecked(True)
    group = QButtonGroup(parent)
    group.addButton(a)
    group.addButton(b)
    return a, b


def size_controls(dialog: QDialog) -> None:
    """The output size controls of the dialogs, as attributes of ``dialog``: ``by_scale`` (checked)
    and ``by_size`` radio buttons, ``scale_spin`` (4 x), ``width_spin`` and ``height_spin`` (px)."""
    dialog.by_scale, dialog.by_size = radio_pair(dialog, "Scale", "Size")
    dialog.scale_spin = QDoubleSpinBox()
    dialog.scale_spin.setRange(0.05, 256.0)
    dialog.scale_spin.setDecimals(3)
    dialog.scale_spin.setSingleStep(0.5)
    dialog.scale_spin.setValue(4.0)
    dialog.scale_spin.setSuffix(" x")
    dialog.width_spin, dialog.height_spin = QSpinBox(), QSpinBox()
    for sp in (dialog.width_spin, dialog.height_spin):
        sp.setRange(1, MAX_SIDE)
        sp.setSuffix(" px")
        sp.setGroupSeparatorShown(True)


def button_row(*buttons: QPushButton) -> QHBoxLayout:
    """The dialogs' row of buttons, flush right."""
    row = QHBoxLayout()
    row.addStretch(1)
    for b in buttons:
        row.addWidget(b)
    return row


def place_top_right(dialog: QDialog) -> None:
    """Move ``dialog`` to its parent window's top right corner (below its tool bar), right of
    the middle of the view where the screen allows, not centred over it: a centred dialog
    covers the middle of the view, where one drags to pan (a press there goes to the dialog,
    not the view)."""
    parent = dialog.parentWidget()
    inner = parent.geometry()
    central = parent.centralWidget() if hasattr(parent, "centralWidget") else None
    top = central.mapToGlobal(QPoint(0, 0)).y() if central is not None else inner.top()
    margin = 12
    width = dialog.frameGeometry().width()
    x = inner.right() - width - margin
    if central is not None:
        x = max(x, central.mapToGlobal(central.rect().center()).x() + 4 * margin)
    screen = (parent.screen() or dialog.screen()).availableGeometry()
    x = max(screen.left(), min(x, screen.right() - width))
    dialog.move(x, top + margin)


class RunningDialog(QDialog):
    """A dialog that runs a job on the render worker beside the view: not modal, opened at the
    window's top right corner (:func:`place_top_right`); closing it while the job runs stops the
    job (:meth:`stop`) and closes once the worker confirms."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._running = False
        self._close_when_done = False
        self._placed = False

    def stop(self) -> None:
        """Stop the running job (within one step of the render worker)."""
        raise NotImplementedError

    def showEvent(self, ev) -> None:
        """The first time, open at the main window's top right corner."""
        super().showEvent(ev)
        if not self._placed and self.parentWidget() is not None:
            self._placed = True
            place_top_right(self)

    def reject(self) -> None:
        if self._running:
            self._close_when_done = True
            self.stop()
            return  # closes when the worker confirms the stop
        super().reject()

    def closeEvent(self, ev) -> None:
        if self._running:
            self._close_when_done = True
            self.stop()
            ev.ignore()
            return
        super().closeEvent(ev)


class ExportDialog(RunningDialog):
    exportFinished = Signal(str, object, bool)   # path, error message or None, cancelled
    progressed = Signal(float)                   # fraction of the export done, 0..1
    encodedBoxes = Signal(int)                   # encoder boxes run by the export so far

    def __init__(self, scene: Scene, view_rect: Optional[ImageRect], view_scale: float,
                 default_source: Optional[str], export_dir: Optional[str] = None,
                 parent=None):
        """``view_rect``: the main view's visible image rectangle (image coordinates), or None;
        ``view_scale``: its physical zoom (offered by a button for "current view"; choosing that
        area never changes the scale typed). Speeds are
        read from, and a finished export's is written to, ``scene.speeds``."""
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.scene = scene
        self.bridge = scene.bridge
        self.view_rect = view_rect
        self.view_scale = max(view_scale, 0.01)
        self._updating = False
        self._started_at = 0.0
        self._fraction = 0.0                 # of the running export, 0..1
        self._probed: set = set()          # speed keys a test render was asked for
        self._eta: Optional[ExportEta] = None
        self._export_key: Optional[SpeedKey] = None
        self._uncached: dict = {}          # (source, region) -> input pixels not encoded yet (worker's answer)
        h, w = scene.image.size

        # -- area
        self.area_whole, self.area_view = radio_pair(self, f"Whole image ({w} x {h})", "Current view")
        self.area_view.setEnabled(view_rect is not None)
        area_box = QGroupBox("Area")
        al = QVBoxLayout(area_box)
        al.addWidget(self.area_whole)
        al.addWidget(self.area_view)

        # -- size
        size_controls(self)
        # "Current view" keeps the scale typed; this button takes the view's zoom on request
        self.view_zoom_button = QPushButton(f"Use the view's zoom ({self.view_scale:.3g} x)")
        self.view_zoom_button.setToolTip("Set the scale to the main view's magnification (what you see now)")
        self.view_zoom_button.clicked.connect(lambda: self.scale_spin.setValue(round(self.view_scale, 3)))
        self.lock_check = QCheckBox("Keep aspect ratio")
        self.lock_check.setChecked(True)
        size_box = QGroupBox("Output size")
        sl = QGridLayout(size_box)
        sl.addWidget(self.by_scale, 0, 0)
        sl.addWidget(self.scale_spin, 0, 1, 1, 3)
        sl.addWidget(self.by_size, 1, 0)
        sl.addWidget(self.width_spin, 1, 1)
        sl.addWidget(QLabel("x"), 1, 2)
        sl.addWidget(self.height_spin, 1, 3)
        sl.addWidget(self.lock_check, 2, 1, 1, 3)
        sl.addWidget(self.view_zoom_button, 3, 1, 1, 3)

        # -- model, format, file
        self.model_combo = QComboBox()
        cat = scene.catalog
        for src in cat.sources():
            self.model_combo.addItem(cat.label(src), src)
        i = self.model_combo.findData(default_source if default_source else BICUBIC)
        self.model_combo.setCurrentIndex(max(i, 0))
        self.format_combo = QComboBox()
        self.format_combo.addItems(list(FORMATS))
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(95)
        self.quality_spin.setToolTip("JPEG and WebP quality; WebP at 100 is lossless")
        self.quality_label = QLabel("Quality")
        self.pyramid_check = QCheckBox("Tiled pyramid (OME-TIFF levels, for image viewers)")
        self.pyramid_check.setToolTip("A tiled BigTIFF with half, quarter ... resolutions (OME-TIFF layout)")
        self.path_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        stem = scene.image.path.stem if scene.image.path else "image"
        folder = default_folder(scene.image.path, export_dir)
        self.path_edit.setText(str(folder / f"{stem}-x4.png"))
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Format", self.format_combo)
        form.addRow(self.quality_label, self.quality_spin)
        form.addRow("", self.pyramid_check)
        form.addRow("File", path_row)

        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.close_button = QPushButton("Close")
        buttons = button_row(self.close_button, self.export_button)

        setup = QWidget()
        v = QVBoxLayout(setup)
        v.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(area_box)
        top.addWidget(size_box, 1)
        v.addLayout(top)
        v.addLayout(form)
        v.addWidget(self.info_label)
        v.addLayout(buttons)

        # -- progress page
        self.progress_title = QLabel()
        self.progress_title.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(True)
        self.eta_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        pb = button_row(self.cancel_button)
        progress = QWidget()
        pv = QVBoxLayout(progress)
        pv.addWidget(self.progress_title)
        pv.addWidget(self.progress_bar)
        pv.addWidget(self.eta_label)
        pv.addStretch(1)
        pv.addLayout(pb)

        self.pages = QStackedWidget()
        self.pages.addWidget(setup)
        self.pages.addWidget(progress)
        lay = QVBoxLayout(self)
        lay.addWidget(self.pages)

        for wdg in (self.area_whole, self.area_view, self.by_scale, self.by_size):
            wdg.toggled.connect(self._on_mode)
        self.scale_spin.valueChanged.connect(self._on_scale)
        for wdg in (self.by_scale, self.by_size, self.area_whole, self.area_view):
            wdg.toggled.connect(self._suggest_name)
        self.width_spin.valueChanged.connect(self._on_width)
        self.height_spin.valueChanged.connect(self._on_height)
        self.lock_check.toggled.connect(self._on_lock)
        self.model_combo.currentIndexChanged.connect(self._refresh_info)
        self.format_combo.currentTextChanged.connect(self._on_format)
        self.path_edit.textChanged.connect(self._refresh_info)
        self.export_button.clicked.connect(self.start_export)
        self.close_button.clicked.connect(self.reject)
        self.cancel_button.clicked.connect(self.cancel_export)
        self._eta_timer = QTimer(self)
        self._eta_timer.setInterval(500)
        self._eta_timer.timeout.connect(self._update_eta)
        self._show_page(0)
        self._on_mode()
        self._on_format(self.format_combo.currentText())

    # -- placement: never over the middle of the view --------------------------------------
    def _show_page(self, index: int) -> None:
        """Show the settings (0) or progress (1) page, the dialog only as large as that page
        (the progress page is small: it keeps the view visible)."""
        for i in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.pages.widget(i).setSizePolicy(policy, policy)
        self.pages.setCurrentIndex(index)
        if self.isVisible():
            right = self.geometry().right()
            self.adjustSize()
            self.move(right - self.width() + 1, self.y())      # the top right corner stays

    # -- the area and its size -----------------------------------------------------------
    def base_size(self) -> Tuple[float, float]:
        """``(h, w)`` of the chosen area in image pixels."""
        if self.area_view.isChecked() and self.view_rect is not None:
            return self.view_rect.height, self.view_rect.width
        h, w = self.scene.image.size
        return float(h), float(w)

    def region(self) -> Region:
        """The chosen area as a ``core.coords`` region ``(y0, x0, y1, x1)``."""
        if self.area_view.isChecked() and self.view_rect is not None:
            h, w = self.scene.image.size
            r = self.view_rect
            return region_of_rect((h, w), r.y0, r.x0, r.y1, r.x1)
        return (-1.0, -1.0, 1.0, 1.0)

    def output_size(self) -> Tuple[int, int]:
        """``(H, W)`` of the output file."""
        if self.by_scale.isChecked():
            bh, bw = self.base_size()
            s = self.scale_spin.value()
            return max(1, int(round(bh * s))), max(1, int(round(bw * s)))
        return self.height_spin.value(), self.width_spin.value()

    def set_output_size(self, width: int, height: int, keep_aspect: bool = False) -> None:
        """Switch to width/height mode with this size (used by tests and scripts too)."""
        self.by_size.setChecked(True)
        self.lock_check.setChecked(keep_aspect)
        self.width_spin.setValue(width)
        if not keep_aspect:
            self.height_spin.setValue(height)

    def _on_mode(self, *_):
        if self._updating:
            return
        scale_mode = self.by_scale.isChecked()
        self.scale_spin.setEnabled(scale_mode)
        self.view_zoom_button.setEnabled(scale_mode and self.area_view.isChecked())
        for wdg in (self.width_spin, self.height_spin, self.lock_check):
            wdg.setEnabled(not scale_mode)
        self._sync_size_from_scale()
        self._refresh_info()

    def _sync_size_from_scale(self):
        if not self.by_scale.isChecked():
            if self.lock_check.isChecked():
                self._on_width(self.width_spin.value())
            return
        bh, bw = self.base_size()
        s = self.scale_spin.value()
        self._updating = True
        self.width_spin.setValue(max(1, int(round(bw * s))))
        self.height_spin.setValue(max(1, int(round(bh * s))))
        self._updating = False

    def _on_scale(self, _):
        if not self._updating:
            self._sync_size_from_scale()
            self._suggest_name()
            self._refresh_info()

    def _on_width(self, wv: int):
        self._on_side(wv, width_changed=True)

    def _on_height(self, hv: int):
        self._on_side(hv, width_changed=False)

    def _on_side(self, value: int, width_changed: bool):
        """One output side was edited: with the aspect lock on, set the other from the base ratio."""
        if self._updating:
            return
        if self.lock_check.isChecked():
            bh, bw = self.base_size()
            other, ratio = (self.height_spin, bh / bw) if width_changed else (self.width_spin, bw / bh)
            self._updating = True
            other.setValue(max(1, int(round(value * ratio))))
            self._updating = False
        self._suggest_name()
        self._refresh_info()

    def _on_lock(self, on: bool):
        if on:
            self._on_width(self.width_spin.value())
        self._refresh_info()

    # -- format and file -----------------------------------------------------------------
    def _on_format(self, name: str):
        lossy = FORMATS[name].name in ("jpeg", "webp")
        self.quality_spin.setEnabled(lossy)
        self.quality_label.setEnabled(lossy)
        self.pyramid_check.setEnabled(FORMATS[name].name == "tiff")
        p = self.path_edit.text().strip()
        if p:
            self.path_edit.setText(str(Path(p).with_suffix(FORMATS[name].suffixes[0])))
        self._refresh_info()

    def _suggest_name(self, *_):
        """Keep a suggested name's size tag in step with the chosen size (a name the user
        typed without such a tag is left alone)."""
        if self._updating:
            return
        p = Path(self.path_edit.text().strip() or "image.png")
        m = SIZE_TAG.match(p.stem)
        if m:
            H, W = self.output_size()
            tag = size_tag(self.by_scale.isChecked(), self.scale_spin.value(), W, H)
            name = f"{m.group(1)}-{tag}{p.suffix}"
            if name != p.name:
                self.path_edit.setText(str(p.with_name(name)))

    def _browse(self):
        fmt = self.format_combo.currentText()
        filters = ";;".join(f.file_filter for f in EXPORT_FORMATS)
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(), filters,
                                              FORMATS[fmt].file_filter)
        if path:
            found = _format_of_path(path)
            if found is not None:
                self.format_combo.setCurrentText(found.label)
            else:
                path = path + FORMATS[fmt].suffixes[0]
            self.path_edit.setText(path)

    def output_path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    # -- estimate ------------------------------------------------------------------------
    def source(self) -> str:
        return self.model_combo.currentData() or BICUBIC

    def precision(self) -> Optional[str]:
        """The precision ``source`` renders in (its session's; None until it is made)."""
        session = self.scene.session(self.source())
        return session.precision if session is not None else None

    def speed_key(self) -> Optional[SpeedKey]:
        """Where the chosen model's speed on this device in its precision is kept (None until
        its session is made)."""
        return self.scene.speed_key(self.source())

    def uncached_pixels(self) -> int:
        """Input pixels of the chosen area still to encode: the worker's answer, else all of them."""
        found = self._uncached.get((self.source(), self.region()))
        if found is not None:
            return found
        bh, bw = self.base_size()
        return int(round(bh * bw))

    def estimate_basis(self) -> Optional[str]:
        """What measured the estimate's speed: ``export``, ``view`` or ``probe`` (None: nothing yet)."""
        key = self.speed_key()
        return None if key is None else self.scene.speeds.basis(key, DECODE)

    def estimate_seconds(self) -> Optional[float]:
        """Seconds the export should take, from the speed book (None: nothing measured yet)."""
        key = self.speed_key()
        if key is None:
            return None
        H, W = self.output_size()
        return self.scene.speeds.estimate_seconds(key, H * W, self.uncached_pixels())

    async def _ask_uncached(self, source: str, region) -> None:
        """How much of the area the worker would still encode (cached features cost nothing)."""
        try:
            n = await self.bridge.uncached_pixels(source, self.scene.epoch, region)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the estimate then assumes nothing is cached
            return
        self._uncached[(source, region)] = n
        self._refresh_info()

    def _rendering_on(self) -> str:
        """``CPU (bfloat16)``: where and in what precision the export renders."""
        precision = self.precision()
        return self.bridge.device_text + (f" ({precision})" if precision else "")

    def _refresh_info(self, *_):
        H, W = self.output_size()
        mp = H * W / 1e6
        parts = [f"Output: {W:,} x {H:,} px ({mp:,.2f} megapixels)"]
        src = self.source()
        if (src, self.region()) not in self._uncached and self.scene.session(src) is not None and not self._running:
            self._uncached[(src, self.region())] = None      # asked once
            self.bridge.spawn(self._ask_uncached(src, self.region()))
        est = self.estimate_seconds()
        if self.scene.image is not None and is_reduction(self.region(), (H, W), self.scene.image.size):
            parts.append("not larger than the image: resampled (antialiased), no model runs")
        elif est is not None:
            parts.append(f"estimated time ≈ {format_seconds(est)} on {self._rendering_on()} "
                         f"({_BASIS_WORDS[self.estimate_basis()]})")
        else:
            parts.append("estimating time…")
            key = self.speed_key()
            if key is not None and key not in self._probed:
                self._probed.add(key)
                self.bridge.spawn(self._measure_speed(src, key, self.scene.epoch, self.region(), self.output_size()))
        problem = self.problem()
        if problem:
            parts.append(f"<b>{problem}</b>")
        elif self.output_path().exists():
            parts.append("the file exists and will be replaced")
        self.info_label.setText("; ".join(parts[:2]) + ("<br>" + "<br>".join(parts[2:]) if parts[2:] else ""))
        self.export_button.setEnabled(problem is None and not self._running)

    async def _measure_speed(self, source: str, key: SpeedKey, epoch: int, region, out_size) -> None:
        """Time one chunk of this export (``region`` at ``out_size``: its middle chunk, rendered
        as the export renders it) with ``source`` for the estimate, kept under ``key`` (the
        model, device and precision it was asked for; none shown if it fails)."""
        try:
            cost = await self.bridge.measure_speed(source, epoch, region, out_size)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the estimate is optional
            self._probed.discard(key)
            return
        self._on_speed(key, cost)

    def _on_speed(self, key: SpeedKey, cost: RenderCost):
        self.scene.speeds.learn(key, cost, PROBE)
        if key == self.speed_key():
            self._refresh_info()

    def problem(self) -> Optional[str]:
        p = self.path_edit.text().strip()
        if not p:
            return "Choose an output file."
        path = self.output_path()
        if _format_of_path(path) is None:
            return "The file name must end in " + ", ".join(f.suffixes[0] for f in EXPORT_FORMATS[:-1]) \
                + f" or {EXPORT_FORMATS[-1].suffixes[0]}."
        if not path.parent.is_dir():
            return f"The folder {path.parent} does not exist."
        if not os.access(path.parent, os.W_OK):
            return f"The folder {path.parent} is not writable."
        return None

    # -- running -------------------------------------------------------------------------
    def start_export(self) -> None:
        if self._running or self.problem() is not None:
            return
        H, W = self.output_size()
        path = self.output_path()
        fmt = _format_of_path(path).name
        self._running = True
        self._started_at = time.monotonic()
        self._fraction = 0.0
        self._boxes = 0
        self._export_key = self.speed_key()
        est = self.estimate_seconds()
        self._eta = ExportEta(H * W, None if est is None else est / (H * W / 1e6))
        self.progress_title.setText(f"Exporting {W:,} x {H:,} px with {self.scene.catalog.label(self.source())} "
                                    f"on {self._rendering_on()} to {path}")
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("0 %")
        self.eta_label.setText("Starting…")
        self._show_page(1)
        self.cancel_button.setEnabled(True)
        self._eta_timer.start()
        self.bridge.spawn(self._export(path, (H, W), fmt))

    async def _export(self, path: Path, out_size: Tuple[int, int], fmt: str) -> None:
        """The export, awaited on the GUI loop: progress as it goes, then the outcome."""
        error, cancelled, cost = None, False, None
        try:
            cost = await self.bridge.export(self.source(), self.scene.epoch, path, out_size, region=self.region(),
                                            fmt=fmt, jpeg_quality=self.quality_spin.value(), progress=self._on_progress,
                                            lossless=fmt == "webp" and self.quality_spin.value() == 100,
                                            pyramid=fmt == "tiff" and self.pyramid_check.isChecked(),
                                            encoded=self._on_encoded)
        except RenderCancelled:
            cancelled = True
        except asyncio.CancelledError:          # the window is closing: the worker stopped it
            self._on_finished(str(path), None, True)
            raise
        except Exception as e:  # noqa: BLE001 - shown in the dialog
            error = error_message(e)
        self._on_finished(str(path), error, cancelled, cost)

    def cancel_export(self) -> None:
        if self._running:
            self.cancel_button.setEnabled(False)
            self.eta_label.setText("Cancelling…")
            self.bridge.cancel_export()

    @property
    def running(self) -> bool:
        return self._running

    def _on_progress(self, rows_done: int, rows_total: int) -> None:
        """A band of rows was written (GUI loop)."""
        if self._running and rows_total:
            fraction = min(max(rows_done / rows_total, 0.0), 1.0)
            self._fraction = fraction
            self.progress_bar.setValue(int(fraction * 1000))
            self.progress_bar.setFormat(f"{self.percent_done()} %")
            self._update_eta()
            self.progressed.emit(fraction)          # after the bar and the label show it

    def percent_done(self) -> int:
        """The whole percent written, the one figure the bar and the label both show (Qt's own
        ``%p`` truncates while a formatted float rounds: 19.5 % read 19 % on the bar, 20 % below)."""
        return int(self._fraction * 100)

    def _on_encoded(self, boxes: int) -> None:
        """The export encoded one more box of the image's features (GUI loop): before the first
        rows are written this is the only sign of work, so it is said."""
        if not self._running:
            return
        self._boxes = boxes
        self.encodedBoxes.emit(boxes)
        self._update_eta()

    def _update_eta(self) -> None:
        if not self._running or not self.cancel_button.isEnabled():
            return
        elapsed = time.monotonic() - self._started_at
        f = self._fraction
        eta = self._eta
        left = None
        if eta is not None:
            eta.update(f, elapsed)
            left = eta.remaining_seconds()
        if f == 0.0 and self._boxes:        # no row written yet: say what is being done
            self.eta_label.setText(f"Reading the picture with the model (part {self._boxes}) · "
                                   f"elapsed {format_seconds(elapsed)}" + f" · {self._rendering_on()}")
            return
        self.eta_label.setText(f"{self.percent_done()} % · elapsed {format_seconds(elapsed)}"
                               + (f" · about {format_seconds(left)} left" if left is not None else "")
                               + f" · {self._rendering_on()}")

    def _on_finished(self, path: str, error, cancelled: bool, cost=None) -> None:
        if not self._running:
            return
        self._running = False
        self._eta_timer.stop()
        if cost is not None and self._export_key is not None:
            self.scene.speeds.learn(self._export_key, cost, EXPORT)
        self._uncached.clear()              # the export encoded what it needed
        self.exportFinished.emit(path, error, cancelled)
        if error is None and not cancelled:
            self.accept()
            return
        if self._close_when_done:
            super().reject()
            return
        self._show_page(0)
        self.info_label.setText("Export cancelled; nothing was written." if cancelled
                                else f"<b>Export failed:</b> {error}")
        self.export_button.setEnabled(True)

    def stop(self) -> None:
        self.cancel_export()
