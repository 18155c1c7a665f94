"""Malicious and malformed checkpoints for ``cisr upscale --model`` and ``cisr info``."""

import copy
import pickle

import pytest
import torch

from fuzzkit import expect_error, listing, run_cli


class RunsCode:
    """Unpickling this would call ``open(marker, 'w')``: a stand-in for any code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _entry(assets):
    return torch.load(assets / "tiny.pth", weights_only=True)


def _edit(fn):
    def build(obj, tmp_path):
        obj = copy.deepcopy(obj)
        fn(obj)
        return obj
    return build


def _args(obj):
    return obj["model"]["args"]


CASES = {
    "pickled code": (lambda obj, t: {"model": RunsCode(t / "PWNED")}, "pickled python objects"),
    "top level a list": (lambda obj, t: [1, 2, 3], "no model entry"),
    "no model entry": (lambda obj, t: {"meta": {}}, "no model entry"),
    "model entry a string": (_edit(lambda o: o.__setitem__("model", "liif")), "no model entry"),
    "unknown architecture": (_edit(lambda o: o["model"].__setitem__("name", "transformer-xxl")), "unknown model"),
    "name an int": (_edit(lambda o: o["model"].__setitem__("name", 7)), "unknown model"),
    "args a string": (_edit(lambda o: o["model"].__setitem__("args", "big")), "args must be a dict"),
    "encoder_spec an int": (_edit(lambda o: _args(o).__setitem__("encoder_spec", 5)), "must be a dict"),
    "encoder unknown": (_edit(lambda o: _args(o)["encoder_spec"].__setitem__("name", "vit")), "unknown model"),
    "encoder args unknown": (_edit(lambda o: _args(o)["encoder_spec"]["args"].__setitem__("wings", 2)),
                             "cannot build"),
    "hidden_list 1e6 wide": (_edit(lambda o: _args(o)["imnet_spec"]["args"].__setitem__("hidden_list", [10**6])),
                             "out of range"),
    "hidden_list 1e5 long": (_edit(lambda o: _args(o)["imnet_spec"]["args"].__setitem__("hidden_list", [16] * 10**5)),
                             "a list of"),
    "terabyte model": (_edit(lambda o: _args(o)["imnet_spec"]["args"].__setitem__("hidden_list", [65536] * 60)),
                       "parameters"),
    "negative width": (_edit(lambda o: _args(o)["imnet_spec"]["args"].__setitem__("hidden_list", [-16])),
                       "cannot build"),
    "state dict a list": (_edit(lambda o: o["model"].__setitem__("sd", list(o["model"]["sd"].values()))),
                          "not a dict of tensors"),
    "state dict entry a number": (_edit(lambda o: o["model"]["sd"].__setitem__("imnet.layers.0.bias", 1.5)),
                                  "not a tensor"),
    "missing weight": (_edit(lambda o: o["model"]["sd"].pop("imnet.layers.0.weight")), "missing"),
    "wrong shape": (_edit(lambda o: o["model"]["sd"].__setitem__("imnet.layers.0.bias", torch.zeros(5))),
                    "has shape"),
    "nan weights": (_edit(lambda o: o["model"]["sd"]["imnet.layers.0.weight"].fill_(float("nan"))), "nan"),
    "inf weights": (_edit(lambda o: o["model"]["sd"]["encoder.head.0.weight"].__setitem__(0, float("inf"))),
                    "infinite"),
    "int32 weights": (_edit(lambda o: o["model"]["sd"].__setitem__(
        "imnet.layers.0.bias", o["model"]["sd"]["imnet.layers.0.bias"].to(torch.int32))), "int32"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_checkpoint_one_line_no_output_no_code_run(tmp_path, assets, case):
    build, fragment = CASES[case]
    ckpt = tmp_path / "bad.pth"
    torch.save(build(_entry(assets), tmp_path), ckpt)
    before = listing(tmp_path)
    r = run_cli("upscale", assets / "photo.png", "-o", tmp_path / "out.png", "--scale", "2", "--model", ckpt)
    expect_error(r, fragment)
    assert listing(tmp_path) == before          # no output, no temp file, and no PWNED marker


FILES = {
    "empty file": b"",
    "random bytes": bytes(range(256)) * 8,
    "raw pickle with code": pickle.dumps(RunsCode("/nonexistent/PWNED")),
}


@pytest.mark.parametrize("case", sorted(FILES))
def test_unreadable_checkpoint_files(tmp_path, assets, case):
    ckpt = tmp_path / "bad.pth"
    ckpt.write_bytes(FILES[case])
    before = listing(tmp_path)
    expect_error(run_cli("info", ckpt), "checkpoint")
    expect_error(run_cli("upscale", assets / "photo.png", "-o", tmp_path / "o.png", "--scale", "2", "--model", ckpt))
    assert listing(tmp_path) == before


def test_truncated_checkpoint(tmp_path, assets):
    ckpt = tmp_path / "bad.pth"
    data = (assets / "tiny.pth").read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    expect_error(run_cli("info", ckpt), "checkpoint")


def test_folder_named_like_a_checkpoint(tmp_path, assets):
    (tmp_path / "model.pth").mkdir()
    expect_error(run_cli("info", tmp_path / "model.pth"))


def test_an_encoder_without_a_decoder_is_refused_by_info_as_by_upscale(tmp_path, assets):
    """An encoder's state in the model-entry format (no decoder): both commands, one line, the same words."""
    from cisr_zoom.core import models
    spec = {"name": "edsr-baseline", "args": {"n_resblocks": 1, "n_feats": 8, "no_upsampling": True}}
    torch.save({"model": {**spec, "sd": models.make(spec).state_dict()}}, tmp_path / "encoder_only.pth")
    info = run_cli("info", tmp_path / "encoder_only.pth")
    up = run_cli("upscale", assets / "photo.png", "-o", tmp_path / "o.png", "--scale", "2",
                 "--model", tmp_path / "encoder_only.pth", "-q")
    expect_error(info, "not an image decoder")
    expect_error(up, "not an image decoder")
    assert info.stdout == ""
    assert info.lines[0].split("error: ", 1)[1] == up.lines[0].split("error: ", 1)[1]
    assert listing(tmp_path) == {"encoder_only.pth"}
