"""``--device``: ``cuda:N`` is accepted by every command that takes a device, spelled-wrong names
are usage errors, and a device that does not exist here is one line naming what does."""

import argparse

import pytest
import torch

from cisr_zoom.core import devices
from cisr_zoom.core.cli import build_parser, main
from cisr_zoom.core.errors import CisrError


@pytest.mark.parametrize("text, name", [("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda"), ("cuda:0", "cuda:0"),
                                        ("cuda:1", "cuda:1"), (" Cuda:12 ", "cuda:12"), ("cuda:007", "cuda:7"),
                                        ("mps", "mps")])
def test_device_names_are_normalised(text, name):
    assert devices.device_arg(text) == name


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:-1", "cuda:x", "cpu:1", "mps:0", "auto:0", "cuda:1:2",
                                  "", "cuda:10000"])
def test_misspelled_devices_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="choose auto, cpu, cuda, cuda:N"):
        devices.device_arg(text)


@pytest.mark.parametrize("argv", [
    ["upscale", "in.png", "-o", "out.png", "--scale", "2"],
    ["eval", "--data", "d", "--model", "bicubic"],
    ["bench", "--quick"],
    ["train", "--config", "cpu-liif-edsr-baseline"],
])
def test_every_command_parses_cuda_n(argv):
    args = build_parser().parse_args(argv + ["--device", "cuda:1"])
    assert args.device == "cuda:1"


def test_the_app_parses_cuda_n():
    from cisr_zoom.app.main import build_parser as app_parser
    assert app_parser().parse_args(["--device", "cuda:1"]).device == "cuda:1"
    with pytest.raises(SystemExit):
        app_parser().parse_args(["--device", "gpu1"])


def test_misspelled_device_is_a_one_line_usage_error(capsys):
    assert main(["upscale", "in.png", "-o", "out.png", "--scale", "2", "--device", "gpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown device 'gpu'" in err[0] and "cuda:N" in err[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_cuda_1_without_any_gpu_is_one_line(tmp_path, capsys):
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "in.png")
    with pytest.raises(CisrError, match=r"device 'cuda:1' is not available on this machine \(available: cpu"):
        devices.pick_device("cuda:1")
    for argv in (["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--scale", "2"],
                 ["eval", "--data", str(tmp_path), "--model", "bicubic", "-q"],
                 ["train", "--config", "cpu-liif-edsr-baseline", "--out", str(tmp_path / "run"), "--max-iters", "1"]):
        assert main(argv + ["--device", "cuda:1"]) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "'cuda:1' is not available" in err[0], (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


@pytest.fixture
def one_fake_gpu(monkeypatch):
    """torch reports one CUDA GPU (nothing is ever allocated on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Fake GPU")


def test_cuda_1_on_a_one_gpu_machine_names_the_gpu_there_is(one_fake_gpu):
    assert devices.cuda_devices() == [("cuda:0", "Fake GPU")]
    assert devices.pick_device("cuda:0") == torch.device("cuda", 0)
    assert devices.pick_device("cuda") == torch.device("cuda")
    with pytest.raises(CisrError) as e:
        devices.pick_device("cuda:1")
    assert str(e.value) == "device 'cuda:1' is not available: this machine has 1 CUDA GPU (cuda:0 (Fake GPU))"


def test_info_lists_each_gpu(one_fake_gpu, capsys):
    assert main(["info"]) == 0
    assert "devices: cuda:0 (Fake GPU), cpu" in capsys.readouterr().out
