"""The batch job that ``cisr upscale`` and the app's File > Upscale Folder... both run
(:mod:`cisr_zoom.core.batch`): the policy for existing outputs, a bad file that does not stop
the batch, what it tells as it goes, and a stop that leaves nothing half-written."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from cisr_zoom.core.batch import (FAILED, OVERWRITE, SKIP, SKIPPED, WRITTEN, Batch, BatchEvents, BatchOptions,
                                  expand_inputs, run_to_end)
from cisr_zoom.core.render import export


@pytest.fixture
def folder(tmp_path, rng):
    d = tmp_path / "in"
    d.mkdir()
    for name, (h, w) in (("a.png", (9, 11)), ("c.png", (8, 10))):
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(d / name)
    (d / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return d


class Recorder(BatchEvents):
    def __init__(self):
        self.events = []

    def file_started(self, index, total, source):
        self.events.append(("started", index, total, os.path.basename(source)))

    def file_rendering(self, index, total, result):
        self.events.append(("rendering", index, result.output.name, result.out_size))

    def file_progress(self, index, total, rows_done, rows):
        self.events.append(("progress", index, rows_done, rows))

    def file_finished(self, index, total, result):
        self.events.append(("finished", index, result.status))


def _batch(model_ckpt, **kw):
    return Batch(BatchOptions(model=str(model_ckpt), device="cpu", **{"scale": (2.0, 2.0), **kw}))


def _run(batch, files, out, should_stop=None, events=None):
    return run_to_end(batch.steps(files, out, should_stop, events))


def listing(d):
    return sorted(os.listdir(d)) if d.is_dir() else []


def test_a_bad_file_is_one_line_and_the_batch_goes_on(tmp_path, model_ckpt, folder):
    files, several, problems = expand_inputs([str(folder)])
    assert several and not problems and [os.path.basename(f) for f in files] == ["a.png", "b.png", "c.png"]
    rec = Recorder()
    out = tmp_path / "out"
    o = _run(_batch(model_ckpt), files, out, events=rec)
    assert (o.written, o.skipped, o.failed, o.cancelled) == (2, 0, 1, False)
    assert listing(out) == ["a_x2.png", "c_x2.png"]
    bad = o.results[1]
    assert bad.status == FAILED and "b.png" in bad.message and "\n" not in bad.message
    with Image.open(out / "a_x2.png") as im:
        assert im.size == (22, 18)
    # what it told, in order: each file starts, renders with progress, finishes
    assert rec.events[0] == ("started", 1, 3, "a.png")
    assert rec.events[1] == ("rendering", 1, "a_x2.png", (18, 22))
    assert rec.events[2][:2] == ("progress", 1) and rec.events[-1] == ("finished", 3, WRITTEN)
    assert ("finished", 2, FAILED) in rec.events
    rows = [e for e in rec.events if e[0] == "progress" and e[1] == 1]
    assert rows[-1][2:] == (18, 18)


def test_existing_outputs_refused_skipped_or_replaced(tmp_path, model_ckpt, folder):
    files = [str(folder / "a.png"), str(folder / "c.png")]
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x2.png").write_bytes(b"old")
    o = _run(_batch(model_ckpt), files, out)                             # the default: refuse, counted as a failure
    assert (o.written, o.skipped, o.failed) == (1, 0, 1) and "exists" in o.results[0].message
    assert (out / "a_x2.png").read_bytes() == b"old"
    o = _run(_batch(model_ckpt, policy=SKIP), files, out)
    assert (o.written, o.skipped, o.failed) == (0, 2, 0) and o.results[0].status == SKIPPED
    assert (out / "a_x2.png").read_bytes() == b"old"
    o = _run(_batch(model_ckpt, policy=OVERWRITE), files, out)
    assert (o.written, o.skipped, o.failed) == (2, 0, 0)
    with Image.open(out / "a_x2.png") as im:
        assert im.size == (22, 18)
    assert listing(out) == ["a_x2.png", "c_x2.png"]


def test_the_refusal_says_what_to_do_in_the_words_it_is_given(tmp_path, model_ckpt, folder):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x2.png").write_bytes(b"old")
    o = _run(_batch(model_ckpt, exists_hint="choose Skip or Overwrite"), [str(folder / "a.png")], out)
    assert o.results[0].message.endswith("exists: choose Skip or Overwrite")


def test_a_stop_ends_the_batch_within_a_step_and_leaves_nothing_half_written(tmp_path, model_ckpt, folder, monkeypatch):
    monkeypatch.setattr(export, "EXPORT_CHUNK_PIXELS", 64)          # many steps per file
    files = [str(folder / "a.png"), str(folder / "c.png")]
    out = tmp_path / "out"
    rec = Recorder()
    stop = []
    steps = _batch(model_ckpt).steps(files, out, lambda: bool(stop), rec)
    while not any(e[0] == "progress" for e in rec.events):         # the first file is under way
        next(steps)
    stop.append(True)
    o = run_to_end(steps)
    assert o.cancelled and (o.written, o.skipped, o.failed) == (0, 0, 0)
    assert not any(e[0] == "finished" for e in rec.events)
    assert not any(e == ("started", 2, 2, "c.png") for e in rec.events)
    assert listing(out) == []       # no output, no temporary file; the folder this run made is gone


def test_a_stop_between_files_keeps_the_finished_ones(tmp_path, model_ckpt, folder):
    files = [str(folder / "a.png"), str(folder / "c.png")]
    out = tmp_path / "out"
    stop = []

    class StopAfterFirst(Recorder):
        def file_finished(self, index, total, result):
            super().file_finished(index, total, result)
            stop.append(True)
    rec = StopAfterFirst()
    o = _run(_batch(model_ckpt), files, out, lambda: bool(stop), rec)
    assert o.cancelled and o.written == 1 and listing(out) == ["a_x2.png"]


def test_closing_the_steps_mid_file_removes_its_temporary_file(tmp_path, model_ckpt, folder, monkeypatch):
    """The render thread closes a stepped job when the window closes: the generator's cleanup
    runs and nothing is left."""
    monkeypatch.setattr(export, "EXPORT_CHUNK_PIXELS", 64)
    out = tmp_path / "out"
    out.mkdir()
    rec = Recorder()
    steps = _batch(model_ckpt).steps([str(folder / "a.png")], out, None, rec)
    while not any(e[0] == "progress" for e in rec.events):
        next(steps)
    assert listing(out) != []           # the temporary file is there while it runs
    steps.close()
    assert listing(out) == []


def test_size_and_format_name_the_outputs(tmp_path, model_ckpt, folder):
    out = tmp_path / "out"
    o = _run(Batch(BatchOptions(model=str(model_ckpt), device="cpu", size=(12, 20), fmt="jpeg")),
             [str(folder / "a.png")], out)
    assert o.written == 1 and listing(out) == ["a_20x12.jpg"]
    with Image.open(out / "a_20x12.jpg") as im:
        assert im.size == (20, 12) and im.format == "JPEG"


def test_options_need_one_of_scale_and_size_and_a_known_policy():
    with pytest.raises(ValueError):
        BatchOptions()
    with pytest.raises(ValueError):
        BatchOptions(scale=(2.0, 2.0), size=(4, 4))
    with pytest.raises(ValueError):
        BatchOptions(scale=(2.0, 2.0), policy="sometimes")
