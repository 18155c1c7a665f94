"""core/atomic.py: complete file or nothing, OS errors as one line, and the only rename in the project."""

import os
import re
from pathlib import Path

import pytest

from cisr_zoom.core.atomic import (append_text, atomic_write_bytes, atomic_writer, make_dirs,
                                   remove_temporary_files)
from cisr_zoom.core.errors import OutputError

REPO = Path(__file__).resolve().parents[2]


def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_interrupted_write_removes_its_temp_file(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(tmp_path / "a.png", suffix=".part") as f:
            f.write(b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_folders_created_for_a_failed_write_are_removed(tmp_path):
    with pytest.raises(ValueError):
        with atomic_writer(tmp_path / "new" / "deeper" / "f.txt", text=True) as f:
            f.write("x")
            raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_a_parent_that_is_a_file_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot create the folder .*file/sub"):
        atomic_write_bytes(tmp_path / "file" / "sub" / "out.png", b"data")
    with pytest.raises(OutputError):
        make_dirs(tmp_path / "file")
    assert isinstance(OutputError("m", 13), OSError)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_append_on_a_full_device_is_one_error():
    with pytest.raises(OutputError, match="no space left"):
        append_text("/dev/full", "line\n" * 10000)


def test_append_to_a_new_file_that_fails_removes_it(tmp_path, monkeypatch):
    from cisr_zoom.core import atomic
    log = tmp_path / "log.jsonl"

    class FullDisk:
        def __init__(self, path, mode):
            self.f = open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def tell(self):
            return self.f.tell()

        def truncate(self, n):
            return self.f.truncate(n)

        def write(self, data):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass
    monkeypatch.setattr(atomic, "open", FullDisk, raising=False)
    with pytest.raises(OutputError):
        append_text(log, "x\n")
    monkeypatch.undo()
    assert not log.exists()
    append_text(log, "a\n")
    append_text(log, "b\n")
    assert log.read_text() == "a\nb\n"


def test_temporary_files_of_writes_in_progress_can_be_removed(tmp_path):
    with pytest.raises(OutputError):
        with atomic_writer(tmp_path / "x.bin") as f:
            f.write(b"1")
            assert len([p for p in tmp_path.iterdir() if p.name.startswith(".x.bin.")]) == 1
            assert remove_temporary_files() == 1   # what a stop signal's handler does
    assert list(tmp_path.iterdir()) == []


def test_no_file_is_renamed_outside_core_atomic():
    """Every write goes through core/atomic.py: no other module of core/ or app/ renames files."""
    rename = re.compile(r"\bos\.(replace|rename)\b|\bshutil\.move\b")
    offenders = [f"{p.relative_to(REPO)}:{i}: {line.strip()}"
                 for folder in ("core", "app") for p in sorted((REPO / folder).rglob("*.py"))
                 if p != REPO / "core" / "atomic.py"
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if rename.search(line)]
    assert not offenders, offenders


def test_the_rename_check_can_fail(tmp_path):
    rename = re.compile(r"\bos\.(replace|rename)\b|\bshutil\.move\b")
    assert rename.search("    os.replace(tmp, path)") and rename.search("os.rename(a, b)")
