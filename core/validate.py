"""The one validation of numeric values from the command line and configuration files.

:func:`check_number` checks one value (type, finiteness, range) and raises
:class:`~.errors.UsageError` with a line naming the option or key; :func:`arg_number` makes
an ``argparse`` ``type=`` from the same rule, so a bad ``--threads -3`` is refused by the
parser with one line. :func:`check_numbers` applies a table of rules to a nested config.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .errors import UsageError


@dataclass(frozen=True)
class Rule:
    """A numeric value: ``integer`` or real, ``lo <= v <= hi`` (``lo_open``: ``lo < v``)."""

    lo: Optional[float] = None
    hi: Optional[float] = None
    integer: bool = False
    lo_open: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        lo, hi = _show(self.lo), _show(self.hi)
        if self.lo is not None and self.hi is not None:
            return f"{kind} {'above' if self.lo_open else 'from'} {lo} {'up ' if self.lo_open else ''}to {hi}"
        if self.lo is not None:
            return f"{kind} {'above' if self.lo_open else '>='} {lo}"
        if self.hi is not None:
            return f"{kind} <= {hi}"
        return f"a finite {kind}"


def _show(v: Optional[float]) -> str:
    return f"{int(v):,}" if v is not None and float(v).is_integer() else f"{v:g}" if v is not None else ""


def check_number(where: str, value: Any, rule: Rule) -> float | int:
    """``value`` as int/float if it satisfies ``rule``, else :class:`UsageError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where} must be {rule.describe()}, got {value!r}")
    if not math.isfinite(value):
        raise UsageError(f"{where} must be {rule.describe()}, got {value!r}")
    if rule.integer and value != int(value):
        raise UsageError(f"{where} must be {rule.describe()}, got {value!r}")
    if rule.lo is not None and (value <= rule.lo if rule.lo_open else value < rule.lo):
        raise UsageError(f"{where} must be {rule.describe()}, got {value!r}")
    if rule.hi is not None and value > rule.hi:
        raise UsageError(f"{where} must be {rule.describe()}, got {value!r}")
    return int(value) if rule.integer else float(value)


def parse_number(where: str, text: str, rule: Rule) -> float | int:
    """Parse ``text`` (``"3"``, ``"2.5"``, ``"1e3"``) and check it against ``rule``."""
    try:
        value: Any = float(str(text).strip())
        return check_number(where, value, rule)
    except (ValueError, UsageError):
        raise UsageError(f"{where} must be {rule.describe()}, got {text!r}") from None


def arg_number(option: str, rule: Rule):
    """An ``argparse`` ``type=`` callable enforcing ``rule`` for ``option`` (e.g. ``--threads``)."""
    def convert(text: str):
        try:
            return parse_number(option, text, rule)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix(f"{option} ")) from None
    convert.__name__ = rule.describe()   # argparse names the type in some messages
    return convert


def check_numbers(cfg: Mapping[str, Any], rules: Mapping[str, Rule]) -> None:
    """Check every dotted key of ``rules`` (``"train.lr_g"``) that ``cfg`` holds."""
    for key, rule in rules.items():
        node: Any = cfg
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None:
            check_number(key, node, rule)


def check_number_list(where: str, values: Any, rule: Rule, length: Optional[int] = None,
                      max_length: int = 10_000) -> list:
    """A list of numbers each satisfying ``rule`` (of exactly ``length`` items, if given)."""
    if not isinstance(values, (list, tuple)):
        raise UsageError(f"{where} must be a list of numbers, got {values!r}")
    if length is not None and len(values) != length:
        raise UsageError(f"{where} must have {length} values, got {len(values)}")
    if len(values) > max_length:
        raise UsageError(f"{where} has {len(values)} values; at most {max_length} are allowed")
    return [check_number(f"{where}[{i}]", v, rule) for i, v in enumerate(values)]


#: rules shared by several commands
THREADS = Rule(1, 1024, integer=True)
POSITIVE_INT = Rule(1, 2**31 - 1, integer=True)
NON_NEGATIVE_INT = Rule(0, 2**31 - 1, integer=True)
POSITIVE = Rule(0, None, lo_open=True)
QUALITY = Rule(1, 100, integer=True)

