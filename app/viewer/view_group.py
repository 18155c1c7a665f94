"""ViewGroup: the one state that the views of a group share (pure Python, no Qt).

The main view, its comparison loupes and its grid views show one image at one magnification:
each observes this model and edits it, none reads another view (as napari's ``Camera`` is the
one camera that its Qt canvas follows). It holds:

* ``camera``: a :class:`~.viewport.Viewport` in the main view's geometry (that view's size
  sets "fit" and the zoom limits): the group's centre and scale. Every member shows the image
  at its physical scale, centred on :meth:`ViewGroup.centre_for` (a loupe: the pointer).
* ``pointer``: the image point under the cursor, and ``pointer_member``, the member it is in
  (None: the cursor is in none). The others mark it; tiles are ordered from it.
* ``focus``: the image point of the last zoom's anchor, until the cursor leaves a view or the
  view pans (tiles start there once the cursor is gone).
* ``settled``: False from the moment the main view's requests are due until it made them;
  then the group's ``settled`` event tells the others to ask for theirs.

Members are opaque keys (the app's views), each with a mode: :data:`MAIN` (the one whose
geometry is the camera's), :data:`LOUPE` (centred on the pointer) or :data:`MIRROR` (centred
on the camera's centre). Observers connect to ``events.view`` (called with the exact shift of
a pure pan in the camera's logical pixels, else None), ``events.pointer`` and
``events.settled``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable, Dict, Hashable, List, Optional, Tuple

from .viewport import Viewport

#: member modes: the main view, a loupe (centred on the pointer), a mirror (the same centre)
MAIN, LOUPE, MIRROR = "main", "loupe", "mirror"

Point = Tuple[float, float]


class Event:
    """Callbacks called in the order they were connected."""

    def __init__(self) -> None:
        self._callbacks: List[Callable] = []

    def connect(self, callback: Callable) -> None:
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable) -> None:
        self._callbacks = [c for c in self._callbacks if c != callback]

    def emit(self, *args) -> None:
        for c in list(self._callbacks):
            c(*args)


class ViewGroup:
    """See the module docstring."""

    def __init__(self) -> None:
        self.camera = Viewport()
        self.members: Dict[Hashable, str] = {}
        self.pointer: Optional[Point] = None
        self.pointer_member: Optional[Hashable] = None
        self.focus: Optional[Point] = None
        self.settled = True
        self.auto_fit = True                 # the view refits when the main view is resized
        self._pan_rest = (0.0, 0.0)
        self.events = SimpleNamespace(view=Event(), pointer=Event(), settled=Event())

    # -- members -------------------------------------------------------------------------
    def join(self, member: Hashable, mode: str) -> None:
        if mode not in (MAIN, LOUPE, MIRROR):
            raise ValueError(f"unknown view mode {mode!r}")
        self.members[member] = mode

    def leave(self, member: Hashable) -> None:
        self.members.pop(member, None)
        self.unpoint(member)

    def centre_for(self, member: Hashable) -> Point:
        """The image point ``member`` shows at its middle: a loupe's is the pointer (unless the
        cursor is in no view, or in a loupe itself), every other's the camera's centre."""
        if self.members.get(member) == LOUPE and self.pointer is not None \
                and self.members.get(self.pointer_member) != LOUPE:
            return self.pointer
        return self.camera.cx, self.camera.cy

    # -- the view ------------------------------------------------------------------------
    def set_image(self, size: Tuple[int, int]) -> None:
        """A new image of ``size = (h, w)``: fit it."""
        self.camera.set_image_size(size)
        self.auto_fit = True
        self.focus = None
        self.events.view.emit(None)

    def resize(self, view_w: float, view_h: float, dpr: float) -> None:
        """The main view's widget is ``view_w x view_h`` logical pixels of ``dpr``."""
        self.camera.set_view_size(view_w, view_h, dpr)
        if self.auto_fit:
            self.camera.fit()
        self.events.view.emit(None)

    def fit(self) -> None:
        self.camera.fit()
        self.auto_fit = True
        self.focus = None
        self.events.view.emit(None)

    def zoom_at(self, factor: float, anchor: Optional[Point] = None) -> None:
        """Zoom by ``factor`` keeping image point ``anchor`` where it is on screen (None: the centre)."""
        self._scale_at(lambda s: self.camera.zoom_at(factor, *s), anchor)

    def set_physical_zoom(self, physical: float, anchor: Optional[Point] = None) -> None:
        """Zoom to ``physical`` screen pixels per image pixel, keeping ``anchor`` (image) in place."""
        self._scale_at(lambda s: self.camera.set_physical_scale(physical, *s), anchor)

    def _scale_at(self, change: Callable, anchor: Optional[Point]) -> None:
        self.auto_fit = False
        if anchor is None:
            change((None, None))
            self.focus = None
        else:
            s = self.camera.image_to_screen(*anchor)
            change(s)
            self.focus = self.camera.screen_to_image(*s)
        self.events.view.emit(None)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by ``(dx, dy)`` of the camera's logical pixels. Only whole pixels are
        moved (the rest is carried to the next pan), so a frame already painted stays exact
        after a shift: the observers are told the shift, which they may scroll by."""
        self.auto_fit = False
        tx, ty = self._pan_rest[0] + dx, self._pan_rest[1] + dy
        ix, iy = round(tx), round(ty)
        self._pan_rest = (tx - ix, ty - iy)
        if ix == 0 and iy == 0:
            return
        self.focus = None
        cam = self.camera
        cx, cy = cam.cx, cam.cy
        cam.pan_by(ix, iy)
        sx, sy = (cx - cam.cx) * cam.scale, (cy - cam.cy) * cam.scale   # after clamping
        exact = (cam.dpr == int(cam.dpr) and abs(sx - round(sx)) < 1e-6 and abs(sy - round(sy)) < 1e-6
                 and abs(sx) < cam.view_w and abs(sy) < cam.view_h)
        self.events.view.emit((int(round(sx)), int(round(sy))) if exact else None)

    def centre_on(self, cx: Optional[float] = None, cy: Optional[float] = None) -> None:
        """Centre on image point ``(cx, cy)`` (None: that coordinate stays), e.g. from a scroll bar."""
        self.auto_fit = False
        self.camera.centre_on(self.camera.cx if cx is None else cx, self.camera.cy if cy is None else cy)
        self.events.view.emit(None)

    # -- pointer and focus ---------------------------------------------------------------
    def point(self, member: Hashable, point: Point) -> None:
        """The cursor is in ``member``, over image point ``point``."""
        p = (float(point[0]), float(point[1]))
        if member == self.pointer_member and p == self.pointer:
            return
        self.pointer_member, self.pointer = member, p
        self.events.pointer.emit()

    def unpoint(self, member: Hashable) -> None:
        """The cursor left ``member`` (nothing changes if it was elsewhere)."""
        if self.pointer_member is not None and self.pointer_member == member:
            self.pointer_member, self.pointer = None, None
            self.events.pointer.emit()

    def forget_focus(self) -> None:
        self.focus = None

    # -- settling ------------------------------------------------------------------------
    def unsettle(self) -> None:
        """The main view's requests are due."""
        self.settled = False

    def settle(self, announce: bool = True) -> None:
        """The main view made its requests (``announce``: the others make theirs now) or
        dropped them (``announce=False``)."""
        self.settled = True
        if announce:
            self.events.settled.emit()
