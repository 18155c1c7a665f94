"""Which source each compared position shows, without repeats (pure Python, no Qt).

Positions: 0 is the main view (the left side in split view, view 1 in the grid, A of the
A/B flip), 1 the second model (the right side, view 2, B), 2 and 3 the grid's other views.
Two positions never show the same source when the user picks one: the position that had it
takes the picking position's old source (a swap). A position may be empty (``None``) when
there are fewer sources than views.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple


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
