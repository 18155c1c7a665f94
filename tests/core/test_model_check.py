"""core/model_check.py: hostile specs and state dicts are refused before any weight is allocated."""

import copy

import pytest
import torch

from cisr_zoom.core import models
from cisr_zoom.core.errors import CheckpointError
from cisr_zoom.core.model_check import MAX_PARAMETERS, build_meta_model, check_entry


@pytest.fixture
def entry(tiny_liif_spec):
    torch.manual_seed(0)
    model = models.make(tiny_liif_spec)
    return {"name": tiny_liif_spec["name"], "args": tiny_liif_spec["args"],
            "sd": {k: v.clone() for k, v in model.state_dict().items()}}


def test_a_good_entry_passes(entry):
    sd = check_entry(entry)
    assert set(sd) == set(entry["sd"])


def _with(entry, fn):
    e = copy.deepcopy(entry)
    fn(e)
    return e


@pytest.mark.parametrize("break_it, message", [
    (lambda e: e["args"].__setitem__("encoder_spec", 5), "must be a dict"),
    (lambda e: e["args"]["encoder_spec"].__setitem__("name", "resnet9000"), "unknown model"),
    (lambda e: e.__setitem__("args", [1, 2]), "args must be a dict"),
    (lambda e: e["args"]["imnet_spec"]["args"].__setitem__("hidden_list", [10**6]), "out of range"),
    (lambda e: e["args"]["imnet_spec"]["args"].__setitem__("hidden_list", [16] * 10**5), "a list of 100000"),
    (lambda e: e["args"]["imnet_spec"]["args"].__setitem__("hidden_list", [-16, 16]), "cannot build"),
    (lambda e: e["args"]["encoder_spec"]["args"].__setitem__("bogus", 1), "cannot build"),
    (lambda e: e.__setitem__("sd", list(e["sd"].values())), "not a dict of tensors"),
    (lambda e: e["sd"].__setitem__("imnet.layers.0.weight", "a string"), "not a tensor"),
    (lambda e: e["sd"].pop("imnet.layers.0.bias"), "missing 'imnet.layers.0.bias'"),
    (lambda e: e["sd"].__setitem__("extra.weight", torch.zeros(1)), "unexpected 'extra.weight'"),
    (lambda e: e["sd"].__setitem__("imnet.layers.0.bias", torch.zeros(3)), "has shape"),
    (lambda e: e["sd"]["imnet.layers.0.weight"].__setitem__((0, 0), float("nan")), "NaN or infinite"),
    (lambda e: e["sd"]["encoder.head.0.bias"].__setitem__(0, float("inf")), "NaN or infinite"),
    (lambda e: e["sd"].__setitem__("encoder.head.0.bias",
                                   e["sd"]["encoder.head.0.bias"].to(torch.int32)), "dtype int32"),
])
def test_hostile_entries_are_refused_with_one_line(entry, break_it, message):
    with pytest.raises(CheckpointError, match=message) as info:
        check_entry(_with(entry, break_it))
    assert "\n" not in str(info.value)


def test_deep_specs_are_refused(entry):
    deep = {}
    node = deep
    for _ in range(50):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(CheckpointError, match="nested deeper"):
        check_entry(_with(entry, lambda e: e["args"]["encoder_spec"]["args"].__setitem__("deep", deep)))


def test_the_parameter_ceiling_is_checked_on_the_meta_device(tiny_liif_spec):
    spec = copy.deepcopy(tiny_liif_spec)
    spec["args"]["imnet_spec"]["args"]["hidden_list"] = [60000, 60000]   # 3.6e9 weights: never allocated
    with pytest.raises(CheckpointError, match=f"the limit is {MAX_PARAMETERS:,}"):
        build_meta_model(spec)


def test_official_mean_shift_entries_are_ignored(entry):
    e = _with(entry, lambda e: e["sd"].update({"encoder.sub_mean.weight": torch.zeros(3, 3, 1, 1)}))
    assert "encoder.sub_mean.weight" not in check_entry(e)
