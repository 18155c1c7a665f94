"""The no-repeat rule for compared positions (pure functions)."""

from cisr_zoom.app.compare.pairing import Choice, Pairing, assign, fill_distinct


def test_assign_swaps_with_the_position_that_had_the_source():
    assert assign(["a", "b"], 1, "a") == (["b", "a"], 0)
    assert assign(["a", "b", "c", None], 3, "b") == (["a", None, "c", "b"], 1)
    assert assign(["a", "b"], 0, "a") == (["a", "b"], None)        # no change
    assert assign(["a", "b"], 0, "c") == (["c", "b"], None)        # not shown elsewhere: no swap


def test_fill_distinct_replaces_repeats_and_unknowns():
    choices = ["a", "b", "c"]
    assert fill_distinct(["a", "b", "a", "a"], choices, start=2) == ["a", "b", "c", None]
    assert fill_distinct(["a", "b", "gone", None], choices, start=2) == ["a", "b", "c", None]
    assert fill_distinct(["a", "b", "c", "b"], choices + ["d"], start=2) == ["a", "b", "c", "d"]
    assert fill_distinct(["a", "b", None, "c"], choices, start=2) == ["a", "b", None, "c"]


class _Catalog:
    """The catalog as the pairing sees it: its sources in order, the defaults."""

    def __init__(self, sources):
        self._sources = list(sources)

    def sources(self):
        return list(self._sources)

    def __contains__(self, source):
        return source in self._sources

    def default_main(self):
        return self._sources[0] if self._sources else None

    def default_compare(self):
        return self._sources[1:3]


def _pairing(sources=("a", "b", "c", "d", "bicubic"), main="a", second="b", extra=("", "")):
    p = Pairing(_Catalog(sources))
    p.restore(main, second, list(extra))
    return p


def test_restore_falls_back_to_the_catalogs_defaults():
    p = _pairing(main="gone", second="gone", extra=["c"])
    assert (p.main, p.second, p.extra) == ("a", "b", ["c", None])
    p = _pairing(main="b", second="b")                              # never paired with itself
    assert (p.main, p.second) == ("b", "c")


def test_choose_swaps_and_refuses_leaving_the_second_model_without_a_source():
    p = _pairing()
    assert p.choose(1, "a") == Choice(True, moved=0)
    assert (p.main, p.second) == ("b", "a")
    assert p.choose(2, "c") == Choice(False)                        # grid view 3 is not shown
    assert p.choose(1, None) == Choice(False) and p.choose(0, "zzz") == Choice(False)
    assert p.choose(0, None) == Choice(True) and p.main is None     # the main view may show the preview
    assert p.choose(1, "b") == Choice(False, lacking=0)            # nothing in the main view: refused
    assert p.choose(0, "c") == Choice(True) and p.choose(1, "b") == Choice(True)
    lonely = _pairing(sources=["a"], main="a", second="a")
    assert lonely.second == "bicubic"                              # no other source: bicubic
    lonely.second = None
    assert lonely.choose(1, "a") == Choice(False, moved=0, lacking=0)


def test_a_grid_of_four_fills_views_3_and_4_and_flip_swaps_pairs():
    p = _pairing()
    p.set_views(4)
    assert p.shown() == ["a", "b", "c", "d"]
    assert p.choose(3, "a") == Choice(True, moved=0)
    assert p.shown() == ["d", "b", "c", "a"]
    assert p.flip().done and p.shown() == ["b", "d", "a", "c"]
    p.set_views(1)
    assert p.shown() == ["b", "d"] and p.every() == ["b", "d", "a", "c"]


def test_removing_a_source_moves_its_views_to_others():
    cat = _Catalog(["a", "b", "c", "d"])
    p = Pairing(cat)
    p.restore("a", "b", [])
    p.set_views(4)
    cat._sources.remove("a")
    p.remove("a")
    assert p.main == "b" and p.second == "c" and "a" not in p.every()
    assert len(set(p.shown()) - {None}) == len([s for s in p.shown() if s])   # no repeats
