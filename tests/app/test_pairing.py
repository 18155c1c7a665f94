"""The no-repeat rule for compared positions (pure functions)."""

from cisr_zoom.app.compare.pairing import assign, fill_distinct


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
