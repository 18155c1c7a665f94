"""Which source each compared position shows, without repeats (pure Python, no Qt).

Positions: 0 is the main view (the left side in split view, view 1 in the grid, A of the
A/B flip), 1 the second model (the right side, view 2, B), 2 and 3 the grid's other views.
Two positions never show the same source when the user picks one: the position that had it
takes the picking position's old source (a swap). A position may be empty (``None``) when
there are fewer sources than views. :class:`Pairing` holds the positions and these rules;
the main window only wires its menus and choosers to it and words its outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from cisr_zoom.core.render.sources import BICUBIC


def assign(shown: Sequence[Optional[str]], index: int, source: str) -> Tuple[List[Optional[str]], Optional[int]]:
    """``shown`` with ``source`` at ``index``; a position that already showed ``source`` takes
    the one ``index`` showed. Returns the new list and that position (None: no swap)."""
    out = list(shown)
    old = out[index]
    swapped = None
    if old != source:
        for j, s in enumerate(out):
            if j != index and s == source:
                out[j] = old
                swapped = j
        out[index] = source
    return out, swapped


def fill_distinct(shown: Sequence[Optional[str]], choices: Sequence[str], start: int = 0) -> List[Optional[str]]:
    """``shown`` with each position from ``start`` on that repeats an earlier one, is empty or
    is not among ``choices`` given the first choice not shown yet (empty if every choice is)."""
    out = list(shown)
    for i in range(start, len(out)):
        s = out[i]
        if s is None or s not in choices or s in out[:i]:
            out[i] = next((c for c in choices if c not in out[:i] and c not in out[i + 1:]), None)
    return out


@dataclass(frozen=True)
class Choice:
    """What :meth:`Pairing.choose` did: ``done`` (False: refused, nothing changed), ``moved``
    (the position that took the chooser's old source, a swap; None: none) and, when refused,
    ``lacking`` (the position that would have been left without a source)."""

    done: bool
    moved: Optional[int] = None
    lacking: Optional[int] = None


class Pairing:
    """Which source each compared position shows (see the module docstring), and the rules:
    no source twice, only the main view may be empty, the grid's views 3-4 filled from the
    catalog's sources. ``catalog``: anything with ``sources()``, ``in``, ``default_main()`` and
    ``default_compare()`` (the app's :class:`~cisr_zoom.app.model_catalog.ModelCatalog`)."""

    def __init__(self, catalog) -> None:
        self.catalog = catalog
        self.main: Optional[str] = None          # position 0: the main view, A
        self.second: Optional[str] = None        # position 1: the right side, view 2, B
        self.extra: List[Optional[str]] = [None, None]   # positions 2-3: grid views 3 and 4
        self.n_views = 1                         # views in the grid (1, 2 or 4)

    def shown(self) -> List[Optional[str]]:
        """The positions compared now: main and second, and grid views 3-4 in a grid of 4."""
        return [self.main, self.second] + (list(self.extra) if self.n_views == 4 else [])

    def every(self) -> List[Optional[str]]:
        """All four positions, grid views 3-4 included whether shown or not."""
        return [self.main, self.second] + list(self.extra)

    def restore(self, main: Optional[str], second: Optional[str], extra: Sequence[str]) -> None:
        """The sources remembered (any of them gone from the catalog: its defaults)."""
        cat = self.catalog
        self.main = main if main in cat else cat.default_main()
        self.second = second if second in cat and second != self.main else \
            next((c for c in cat.default_compare() + cat.sources() if c != self.main), BICUBIC)
        extra = [g or None for g in list(extra)[:2]]
        self.extra = extra + [None] * (2 - len(extra))

    def choose(self, index: int, source: Optional[str]) -> Choice:
        """Show ``source`` at position ``index``; a position that showed it already takes
        ``index``'s old source. Refused when ``index`` is not compared now, ``source`` is
        unknown, or the main view would be left without a source it had or the second model
        without any (only the main view may show nothing: the preview)."""
        shown = self.shown()
        if index >= len(shown) or (source is not None and source not in self.catalog):
            return Choice(False)
        if source is None:
            if index != 0:
                return Choice(False)
            new, moved = list(shown), None
            new[0] = None
        else:
            new, moved = assign(shown, index, source)
        if new[1] is None or (new[0] is None and index != 0):
            return Choice(False, moved, 1 if new[1] is None else 0)
        self.main, self.second = new[0], new[1]
        if len(new) > 2:
            self.extra = new[2:]
        return Choice(True, moved)

    def flip(self) -> Choice:
        """A/B: the main model and the second model change places (in a grid of 4, views 3-4 too)."""
        done = self.choose(0, self.second)
        if done.done and self.n_views == 4:
            self.extra = self.extra[::-1]
        return done

    def set_views(self, n_views: int) -> None:
        """The grid shows ``n_views``; with 4, views 3-4 are given sources not shown elsewhere."""
        self.n_views = n_views
        if n_views == 4:
            self.extra = fill_distinct(self.every(), self.catalog.sources(), start=2)[2:]

    def remove(self, source: str) -> None:
        """``source`` left the catalog: whoever showed it shows another."""
        cat = self.catalog
        if self.main == source:
            self.main = cat.default_main()
        if self.second in (source, self.main):
            self.second = next((c for c in cat.sources() if c != self.main), BICUBIC)
        self.extra = [None if g == source else g for g in self.extra]
        if self.n_views == 4:
            self.extra = fill_distinct(self.every(), cat.sources(), start=2)[2:]
