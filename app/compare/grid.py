"""The window's central area: the main view alone, or a grid of 2 (side by side) or 4 (2 x 2)
equal views, each with a source chooser.

View 1 is the main view itself; views 2-4 are
:class:`~cisr_zoom.app.viewer.zoom_view.ZoomView` s in its
:class:`~cisr_zoom.app.viewer.view_group.ViewGroup`, in ``MIRROR`` mode (the group's centre
and magnification), so zooming, panning or double-clicking in any of them moves all of
them, and the cursor in one is marked with a cross in the others. They render through the
scene like any view. Which source each view shows is the window's decision (no repeats, see
:mod:`.pairing`): a choice in a chooser is announced with :attr:`GridArea.sourceChosen`.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QToolButton, QVBoxLayout, QWidget

from ..viewer.scene import Scene
from ..viewer.view_group import MIRROR
from ..viewer.zoom_view import ZoomView
from .panel import ComparePane

#: Views per layout: the main view alone, two side by side, 2 x 2.
LAYOUTS = (1, 2, 4)


class GridArea(QWidget):
    sourceChosen = Signal(int, str)   # view index (0: the main view), the source the user picked
    useAsMain = Signal(str)

    def __init__(self, scene: Scene, main_view: ZoomView, parent=None):
        super().__init__(parent)
        self.scene = scene
        self.main_view = main_view
        self.n_views = 1
        # the main view's cell: the same header as the other cells (equal views)
        self.main_combo = QComboBox()
        self.main_combo.setToolTip("What the main view renders with")
        self.main_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.main_combo.setMinimumContentsLength(10)
        self.main_combo.activated.connect(lambda i: self._chosen(0, self.main_combo.itemData(i)))
        self.main_button = QToolButton()      # the window gives it the A/B flip action
        self.main_header = QWidget()
        top = QHBoxLayout(self.main_header)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.main_combo, 1)
        top.addWidget(self.main_button)
        self.main_cell = QWidget()
        lay = QVBoxLayout(self.main_cell)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.main_header)
        lay.addWidget(main_view, 1)
        self.cells: List[ComparePane] = []
        for i in (1, 2, 3):
            cell = ComparePane(scene, main_view.group, i, mode=MIRROR, view_id=f"grid{i}", owner_decides=True)
            cell.layout().setContentsMargins(0, 0, 0, 0)
            cell.sourceChosen.connect(lambda src, i=i: self._chosen(i, src))
            cell.useAsMain.connect(self.useAsMain)
            cell.setHidden(True)
            self.cells.append(cell)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.grid.addWidget(self.main_cell, 0, 0)
        for cell, (r, c) in zip(self.cells, ((0, 1), (1, 0), (1, 1))):
            self.grid.addWidget(cell, r, c)
        self.main_header.setHidden(True)
        self._main_bars = (main_view.horizontalScrollBarPolicy(), main_view.verticalScrollBarPolicy())
        self.refresh_choices()

    def _chosen(self, index: int, source: Optional[str]) -> None:
        if source is not None:
            self.sourceChosen.emit(index, source)

    # -- layout ------------------------------------------------------------------------
    def set_layout(self, n_views: int) -> None:
        """Show ``n_views`` (1, 2 or 4) equal views; hidden ones cancel their requests."""
        if n_views not in LAYOUTS:
            raise ValueError(f"a grid has 1, 2 or 4 views, not {n_views}")
        self.n_views = n_views
        grid = n_views > 1
        self.main_header.setHidden(not grid)
        h = max(self.main_header.sizeHint().height(), self.cells[0].combo.sizeHint().height(),
                self.cells[0].use_button.sizeHint().height())
        self.main_header.setFixedHeight(h)
        for cell in self.cells:
            cell.combo.setFixedHeight(h)
            cell.use_button.setFixedHeight(h)
        self.main_combo.setFixedHeight(h)
        self.main_button.setFixedHeight(h)
        mv = self.main_view
        mv.label_overlay = grid
        bars = (Qt.ScrollBarPolicy.ScrollBarAlwaysOff,) * 2 if grid else self._main_bars
        mv.setHorizontalScrollBarPolicy(bars[0])
        mv.setVerticalScrollBarPolicy(bars[1])
        for i, cell in enumerate(self.cells, start=1):
            shown = i < n_views
            cell.setHidden(not shown)
            if shown:
                cell.view.schedule_request()
            else:
                cell.view.cancel_all()
        self.grid.setColumnStretch(0, 1)
        self.grid.setColumnStretch(1, 1 if grid else 0)
        self.grid.setRowStretch(0, 1)
        self.grid.setRowStretch(1, 1 if n_views == 4 else 0)
        mv.viewport().update()

    # -- sources -----------------------------------------------------------------------
    def views(self) -> List[ZoomView]:
        """The grid's own views (not the main view), shown or not."""
        return [c.view for c in self.cells]

    def visible_views(self) -> List[ZoomView]:
        return [self.main_view] + [c.view for c in self.cells[: self.n_views - 1]]

    def show_sources(self, sources: Sequence[Optional[str]]) -> None:
        """The sources of views 1-4 as the window decided (view 1's is the main view's own,
        set by the window; only its chooser is updated here)."""
        sources = list(sources) + [None] * (4 - len(sources))
        i = self.main_combo.findData(sources[0]) if sources[0] is not None else -1
        self.main_combo.setCurrentIndex(i)
        for cell, src in zip(self.cells, sources[1:]):
            if cell.source != src or cell.view.message is None and src is None:
                cell.set_source(src)

    def sources(self) -> List[Optional[str]]:
        """What views 2-4 show (also the hidden ones)."""
        return [c.source for c in self.cells]

    def refresh_choices(self) -> None:
        cat = self.scene.catalog
        current = self.main_combo.currentData()
        self.main_combo.blockSignals(True)
        self.main_combo.clear()
        for src in cat.sources():
            self.main_combo.addItem(cat.label(src), src)
        self.main_combo.setCurrentIndex(self.main_combo.findData(current) if current is not None else -1)
        self.main_combo.blockSignals(False)
        for cell in self.cells:
            cell.refresh_choices()

