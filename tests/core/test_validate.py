"""core/validate.py: numeric values from the command line and configs."""

import argparse
import math

import pytest

from cisr_zoom.core.errors import UsageError
from cisr_zoom.core.validate import (POSITIVE, THREADS, Rule, arg_number, check_number, check_number_list,
                                     check_numbers, parse_number)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "3", None, True, -1, 0, 1025, 2.5])
def test_bad_thread_counts_are_refused(value):
    with pytest.raises(UsageError, match="--threads must be a whole number from 1 to 1,024"):
        check_number("--threads", value, THREADS)


def test_good_values_pass_and_are_converted():
    assert check_number("--threads", 4.0, THREADS) == 4 and isinstance(check_number("x", 4.0, THREADS), int)
    assert parse_number("--max-minutes", "1e1", POSITIVE) == 10.0
    with pytest.raises(UsageError):
        parse_number("--max-minutes", "0", POSITIVE)
    with pytest.raises(UsageError):
        parse_number("--max-minutes", "soon", POSITIVE)


def test_argparse_type_gives_a_parser_error():
    convert = arg_number("--tile", Rule(1, 10, integer=True))
    assert convert("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="must be a whole number from 1 to 10, got '-3'"):
        convert("-3")


def test_nested_keys_and_lists():
    cfg = {"train": {"lr_g": -1.0, "betas": [2, 3]}}
    with pytest.raises(UsageError, match="train.lr_g"):
        check_numbers(cfg, {"train.lr_g": Rule(0, 10, lo_open=True), "train.absent": THREADS})
    with pytest.raises(UsageError, match=r"train.betas\[0\]"):
        check_number_list("train.betas", cfg["train"]["betas"], Rule(0, 1), length=2)
    with pytest.raises(UsageError, match="must have 2 values"):
        check_number_list("train.betas", [0.9], Rule(0, 1), length=2)
    with pytest.raises(UsageError, match="list of numbers"):
        check_number_list("train.betas", "0.9,0.99", Rule(0, 1), length=2)
