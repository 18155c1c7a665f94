"""core/errors.py: one user-facing line for any exception."""

import errno

import pytest
import torch

from cisr_zoom.core.errors import (CisrError, OutputError, error_message, is_out_of_memory, output_error)


def test_cisr_errors_are_shown_as_they_are():
    assert error_message(CisrError("the image is too large")) == "the image is too large"


@pytest.mark.parametrize("err", [MemoryError(), torch.OutOfMemoryError("CUDA out of memory. Tried 2 GiB"),
                                 RuntimeError("MPS backend out of memory (allocated 3 GB)")])
def test_out_of_memory_is_recognised_and_explained(err):
    assert is_out_of_memory(err)
    msg = error_message(err)
    assert msg.startswith("out of memory: try a smaller output") and "\n" not in msg


def test_other_errors_are_not_out_of_memory():
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))   # only runtime errors carry it as text


def test_os_errors_name_the_reason_and_file():
    assert error_message(PermissionError(errno.EACCES, "Permission denied", "/ro/x.png")) == \
        "Permission denied: '/ro/x.png'"
    out = output_error("/full/x.png", OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(out, OutputError) and isinstance(out, OSError) and out.errno == errno.ENOSPC
    assert str(out) == "cannot write '/full/x.png': no space left on the device"
    assert error_message(out) == str(out)


def test_anything_else_is_one_line_with_its_type_and_what_to_do():
    msg = error_message(ValueError("bad\nsecond line"))
    assert msg.startswith("unexpected error (ValueError: bad)") and "report" in msg and "second" not in msg
    assert error_message(KeyError()).startswith("unexpected error (KeyError)")
    assert "\n" not in error_message(RecursionError("maximum recursion depth exceeded"))
