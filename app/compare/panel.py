"""Comparison panel: loupes showing, at the main view's magnification, the region around
the cursor rendered by other sources.

Each pane is a :class:`~cisr_zoom.app.viewer.zoom_view.ZoomView` in the main view's
:class:`~cisr_zoom.app.viewer.view_group.ViewGroup`, in ``LOUPE`` mode: the group's zoom,
centred on the image point under the cursor in the main view or a grid view (on the group's
centre while the cursor is elsewhere), with a source chooser and a "Use as main" button.
Zooming or panning in a pane edits the group, so every view stays synchronised. The panes render through the scene like any view (their own requests, the
one render thread).
"""

from __future__ import annotations

from typing import List, Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QSplitter, QToolButton, QVBoxLayout, QWidget

from ..model_catalog import BICUBIC
from ..viewer.scene import Scene
from ..viewer.view_group import LOUPE, ViewGroup
from ..viewer.zoom_view import ZoomView


#: What an empty grid view says (fewer sources than views).
EMPTY_MESSAGE = "Every source is shown in another view. Add a model with Model → Add Model File… to compare more."


class ComparePane(QWidget):
    """A source chooser, a "Use as main" button and a view of ``group`` in ``mode``. With ``owner_decides``
    (the grid's views) a choice in the chooser is only announced (``sourceChosen``): the
    owner decides what every view shows (no repeats) and calls :meth:`set_source`, which
    then also accepts ``None`` (an empty view)."""

    useAsMain = Signal(str)
    sourceChanged = Signal()
    sourceChosen = Signal(str)      # owner_decides: the user picked this source

    def __init__(self, scene: Scene, group: ViewGroup, index: int, mode: str = LOUPE, view_id: Optional[str] = None,
                 owner_decides: bool = False, parent=None):
        super().__init__(parent)
        self.scene = scene
        self.owner_decides = owner_decides
        self.combo = QComboBox()
        self.combo.setToolTip("What this pane renders with")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(10)
        self.use_button = QToolButton()
        self.use_button.setText("Use as main")
        self.use_button.setToolTip("Show this pane's model in the main view")
        self.view = ZoomView(scene, view_id or f"pane{index}", settle_ms=40)
        self.view.label_overlay = True
        self.view.join(group, mode)
        self.view.setMinimumSize(120, 90)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.combo, 1)
        top.addWidget(self.use_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        self.combo.currentIndexChanged.connect(self._on_combo)
        self.use_button.clicked.connect(lambda: self.source and self.useAsMain.emit(self.source))
        self.refresh_choices()

    @property
    def source(self) -> Optional[str]:
        return self.view.sources[0]

    def refresh_choices(self) -> None:
        cat = self.scene.catalog
        current = self.source
        self.combo.blockSignals(True)
        self.combo.clear()
        for src in cat.sources():
            e = cat.get(src)
            self.combo.addItem(cat.label(src), src)
            if e is not None:
                self.combo.setItemData(self.combo.count() - 1, str(e.path), Qt.ItemDataRole.ToolTipRole)
        i = self.combo.findData(current)
        self.combo.setCurrentIndex(i if i >= 0 else -1)
        self.combo.blockSignals(False)
        if current not in cat and not (self.owner_decides and current is None):
            self.set_source(BICUBIC)

    def set_source(self, source: Optional[str]) -> None:
        if source not in self.scene.catalog and not (self.owner_decides and source is None):
            source = BICUBIC
        i = self.combo.findData(source) if source is not None else -1
        if i != self.combo.currentIndex():
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(i)
            self.combo.blockSignals(False)
        self.view.set_sources([source])
        self.view.message = EMPTY_MESSAGE if source is None else None
        self.view.viewport().update()
        self.use_button.setEnabled(source not in (BICUBIC, None))
        self.sourceChanged.emit()

    def _on_combo(self, i: int) -> None:
        src = self.combo.itemData(i)
        if src is None:
            return
        if self.owner_decides:
            self.combo.blockSignals(True)          # shown once the owner has decided
            self.combo.setCurrentIndex(self.combo.findData(self.source) if self.source is not None else -1)
            self.combo.blockSignals(False)
            self.sourceChosen.emit(src)
        else:
            self.set_source(src)


class ComparePanel(QWidget):
    useAsMain = Signal(str)
    sourcesChanged = Signal()

    def __init__(self, scene: Scene, group: ViewGroup, n_panes: int = 3, parent=None):
        super().__init__(parent)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.panes: List[ComparePane] = []
        for i in range(n_panes):
            pane = ComparePane(scene, group, i)
            pane.useAsMain.connect(self.useAsMain)
            pane.sourceChanged.connect(self.sourcesChanged)
            self.splitter.addWidget(pane)
            self.panes.append(pane)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)

    def sources(self) -> List[Optional[str]]:
        """Sources of the panes in use."""
        return [p.source for p in self.panes if not p.isHidden()]

    def set_sources(self, sources: List[str]) -> None:
        """One pane per source (at most as many as there are panes); the others are hidden
        and request nothing."""
        sources = list(sources)[: len(self.panes)] or [BICUBIC]
        for i, pane in enumerate(self.panes):
            if i < len(sources):
                pane.set_source(sources[i])
                pane.setHidden(False)
            else:
                pane.setHidden(True)
                pane.view.cancel_all()

    def refresh_choices(self) -> None:
        for p in self.panes:
            p.refresh_choices()

    def views(self) -> List[ZoomView]:
        return [p.view for p in self.panes]

    def set_active(self, active: bool) -> None:
        """A hidden panel requests nothing (its views cancel their work)."""
        for p in self.panes:
            v = p.view
            v.setEnabled(active)
            if not active:
                v.cancel_all()
            else:
                v.schedule_request()
