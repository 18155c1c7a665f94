"""Training configuration: TOML files with BasicSR-style sections, merged over defaults.

Sections (every key optional; unknown keys are errors, so typos do not pass silently)::

    name = "edsr-baseline-liif"     # run name: default output folder runs/<name>
    stage = "liif"                  # "liif" (stage 1, pixel loss), "cisrgan" (stage 2, GAN) or "distill"
                                    # (an LM-LIIF twin of the train.init_g teacher: see train.distill)
    seed = 0

    [network_g]                     # the generator
    type = "liif"                   # decoder family (models.generator_types(): "liif" (models.liif_spec),
                                    # "lmf" (LM-LIIF, models.lmf_spec: hidden = 16, n_hidden = 6 for the
                                    # render MLP, args = {latent_hidden = [208]}))
    encoder = "edsr-baseline"       # or "rdn"
    hidden = 256                    # INN width; n_hidden hidden layers (5 linear layers in all)
    n_hidden = 4
    image_skip = false              # residual bilinear sample of the LR input (LTE-style)
    encoder_args = {}
    args = {}                       # options of the decoder family beyond the ones above

    [network_d]                     # stage 2 discriminator
    type = "vgg"                    # "vgg": ESRGAN's VGG-style (one logit per patch); "unet-sn":
                                    # Real-ESRGAN's spectral-norm U-Net (one logit per pixel)
    num_feat = 64
    input_size = 64                 # vgg: must equal datasets.train.patch_size
    num_down = 4                    # vgg: stride-2 stages, 64 -> 4x4 before the classifier

    [datasets.train]
    dirs = ["data/DIV2K/DIV2K_train_HR"]   # relative to the working folder; --data overrides
    lr_patch = 48                   # LR input side (pixels)
    scale_min = 1.0                 # s ~ U(scale_min, scale_max)
    scale_max = 4.0
    sample = "points"               # "points" (LIIF) or "patches" (CiSRGAN)
    n_points = 2304                 # points mode
    patch_size = 64                 # patches mode: HR block side
    batch_size = 16                 # per process
    augment = true                  # random flips / transpose
    degradation = "bicubic"         # or "matlab-bicubic"
    quantize_lr = true              # round LR to 8 bits like a real input file
    degrade = {}                    # real-photo degradations of the LR input (see train.degrade):
                                    # e.g. {blur_prob = 0.5, noise_prob = 0.5, jpeg_prob = 0.7}

    [train]
    max_iters = 1000
    lr_g = 1e-4
    lr_d = 1e-4
    betas = [0.9, 0.999]
    schedule = "multistep"          # "multistep", "constant" or "cosine" (see train.schedule)
    milestones = []                 # multistep: lr *= gamma at each (iterations since the origin)
    gamma = 0.5
    warmup_iters = 0                # cosine: linear warm-up
    budget_iters = 0                # cosine: decay ends here (0: none) ...
    budget_minutes = 0.0            # ... or after this much training time, whichever is first
    min_lr_ratio = 0.0              # cosine: final lr / lr_g
    init_g = ""                     # stage 2: stage-1 checkpoint to start from; distill: the teacher
    checkpoint_every = 100          # write <out>/last.pth
    snapshot_every = 0              # also keep <out>/iter_NNNNNNN.pth (0: never)
    log_every = 10
    threads = 0                     # torch CPU threads (0: torch's default)
    fast_query = true               # first-layer precompute (same values, less work)
    channels_last = false
    bf16 = "auto"                   # bfloat16 autocast: true, false or "auto" (on where the CPU has
                                    # native bf16 (AVX512-BF16/AMX) or on CUDA; off elsewhere, where it is slower)
    prefetch = true                 # draw the next batch in a second thread while this step runs
    ema_decay = 0.0                 # EMA of the generator (0: off; 0.999 as BasicSR): the EMA weights
                                    # are validated, snapshotted and shipped (see train.ema)

    [pixel_opt]
    type = "l1"
    weight = 1.0

    [perceptual_opt]                # "vgg16" / "vgg19" (ImageNet weights), "fft", "gradient", "fft+gradient" or "none"
    type = "none"
    weight = 1.0
    layer = ""                      # VGG layer ("": the last conv, vgg19 conv5_4 / vgg16 conv5_3)

    [gan_opt]                       # stage 2: relativistic average GAN
    type = "ragan"
    weight = 5e-3

    [period_opt]                    # energy of the error's LR-periodic part (the cell pattern;
    type = "lr-period"              # see train.losses.lr_period_loss); 0 = off
    weight = 0.0
    bins = 4                        # phase bins per axis inside one LR pixel
    debias = false                  # report the value without the random error's share (same gradient)

    [ldl_opt]                       # LDL artifact term (Liang et al. 2022; needs train.ema_decay > 0 and
    weight = 0.0                    # patches): L1 of the output weighted by the refined artifact map
    kernel = 7                      # local-variance window (pixels)

    [validation]                    # held-out images scored during training (see train.validation)
    holdout = 0                     # images taken out of the training folders (0: off)
    every = 500
    scales = [2, 4]
    crop = 192
    lpips = true
    photos = ""                     # real photos without ground truth: the cell pattern at photo_scales
    photo_scales = [4, 6]           # (ratio to bicubic's, smooth areas; see train.validation)
    photo_crop = 96

    [distill]                       # stage distill (train.distill): what is cached before the first step
    crops = 1200                    # LR crops (datasets.train's lr_patch, scales, degradations), encoded once
    query_points = 2304             # random points per crop where the teacher is queried ...
    query_scale_max = 30.0          # ... at one scale per crop, log-uniform in [1, query_scale_max]
    teacher_weight = 1.0            # L1 to the teacher's RGB (pixel_opt.weight: L1 to the HR pixels)
    cache_batch = 8                 # crops encoded at once while the cache is built
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any, Dict

from ..errors import CisrError, UsageError
from ..validate import Rule, check_number_list, check_numbers
from .degrade import DegradeSpec
from .schedule import validate_schedule
from .validation import ValidationSpec

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
STAGES = ("liif", "cisrgan", "distill")
DISCRIMINATOR_TYPES = ("vgg", "unet-sn")
PERCEPTUAL_TYPES = ("vgg16", "vgg19", "fft", "gradient", "fft+gradient", "none")

DEFAULTS: Dict[str, Any] = {
    "name": "run",
    "stage": "liif",
    "seed": 0,
    "network_g": {"type": "liif", "encoder": "edsr-baseline", "hidden": 256, "n_hidden": 4, "image_skip": False,
                  "encoder_args": {}, "args": {}},
    "network_d": {"type": "vgg", "num_feat": 64, "input_size": 64, "num_down": 4},
    "datasets": {"train": {"dirs": [], "lr_patch": 48, "scale_min": 1.0, "scale_max": 4.0, "sample": "points",
                           "n_points": 2304, "patch_size": 64, "batch_size": 16, "augment": True,
                           "degradation": "bicubic", "quantize_lr": True, "degrade": {}}},
    "train": {"max_iters": 1000, "lr_g": 1e-4, "lr_d": 1e-4, "betas": [0.9, 0.999], "schedule": "multistep",
              "milestones": [], "gamma": 0.5, "warmup_iters": 0, "budget_iters": 0, "budget_minutes": 0.0,
              "min_lr_ratio": 0.0, "init_g": "", "checkpoint_every": 100, "snapshot_every": 0, "log_every": 10,
              "threads": 0, "fast_query": True, "channels_last": False, "bf16": "auto",
              "prefetch": True, "ema_decay": 0.0},
    "pixel_opt": {"type": "l1", "weight": 1.0},
    "perceptual_opt": {"type": "none", "weight": 1.0, "layer": ""},
    "gan_opt": {"type": "ragan", "weight": 5e-3},
    "period_opt": {"type": "lr-period", "weight": 0.0, "bins": 4, "debias": False},
    "ldl_opt": {"weight": 0.0, "kernel": 7},
    "validation": {"holdout": 0, "every": 500, "scales": [2, 4], "crop": 192, "lpips": True, "photos": "",
                   "photo_scales": [4, 6], "photo_crop": 96},
    "distill": {"crops": 1200, "query_points": 2304, "query_scale_max": 30.0, "teacher_weight": 1.0,
                "cache_batch": 8},
}

#: sections whose keys are free-form (passed through to a model)
_FREE = {("network_g", "encoder_args"), ("network_g", "args"), ("datasets", "train", "degrade")}
#: keys that take a boolean or the string "auto"
_BOOL_OR_AUTO = {"train.bf16"}

#: ranges of the numeric keys (checked by :func:`cisr_zoom.core.validate.check_numbers`)
NUMBER_RULES = {
    "seed": Rule(0, 2**63 - 1, integer=True),
    "network_g.hidden": Rule(1, 8192, integer=True),
    "network_g.n_hidden": Rule(0, 64, integer=True),
    "network_d.num_feat": Rule(1, 4096, integer=True),
    "network_d.input_size": Rule(1, 4096, integer=True),
    "network_d.num_down": Rule(0, 12, integer=True),
    "datasets.train.lr_patch": Rule(1, 4096, integer=True),
    "datasets.train.scale_min": Rule(1, 1000),
    "datasets.train.scale_max": Rule(1, 1000),
    "datasets.train.n_points": Rule(1, 2**24, integer=True),
    "datasets.train.patch_size": Rule(1, 4096, integer=True),
    "datasets.train.batch_size": Rule(1, 65536, integer=True),
    "train.max_iters": Rule(0, 2**31 - 1, integer=True),
    "train.lr_g": Rule(0, 10, lo_open=True),
    "train.lr_d": Rule(0, 10, lo_open=True),
    "train.gamma": Rule(0, 1, lo_open=True),
    "train.checkpoint_every": Rule(0, 2**31 - 1, integer=True),
    "train.snapshot_every": Rule(0, 2**31 - 1, integer=True),
    "train.log_every": Rule(0, 2**31 - 1, integer=True),
    "train.threads": Rule(0, 1024, integer=True),
    "train.warmup_iters": Rule(0, 2**31 - 1, integer=True),
    "train.budget_iters": Rule(0, 2**31 - 1, integer=True),
    "train.budget_minutes": Rule(0, 1e7),
    "train.min_lr_ratio": Rule(0, 1),
    "pixel_opt.weight": Rule(0, 1e6),
    "perceptual_opt.weight": Rule(0, 1e6),
    "gan_opt.weight": Rule(0, 1e6),
    "period_opt.weight": Rule(0, 1e6),
    "period_opt.bins": Rule(2, 64, integer=True),
    "train.ema_decay": Rule(0, 0.99999),
    "ldl_opt.weight": Rule(0, 1e6),
    "ldl_opt.kernel": Rule(3, 31, integer=True),
    "distill.crops": Rule(1, 10**7, integer=True),
    "distill.query_points": Rule(1, 2**24, integer=True),
    "distill.query_scale_max": Rule(1, 1000),
    "distill.teacher_weight": Rule(0, 1e6),
    "distill.cache_batch": Rule(1, 4096, integer=True),
}


class TrainConfigError(CisrError):
    """A training configuration file is missing, malformed or inconsistent."""


def _merge(base: Dict[str, Any], over: Dict[str, Any], path: tuple = ()) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        where = ".".join(path + (k,))
        if k not in base:
            raise TrainConfigError(f"unknown config key '{where}'")
        if isinstance(base[k], dict) and (path + (k,)) not in _FREE:
            if not isinstance(v, dict):
                raise TrainConfigError(f"config key '{where}' must be a table")
            out[k] = _merge(base[k], v, path + (k,))
        else:
            if where in _BOOL_OR_AUTO:
                if not (isinstance(v, bool) or v == "auto"):
                    raise TrainConfigError(f"config key '{where}' must be true, false or \"auto\", got {v!r}")
            elif base[k] is not None and not isinstance(base[k], dict) and not _same_kind(base[k], v):
                raise TrainConfigError(f"config key '{where}' must be {type(base[k]).__name__}, got {v!r}")
            out[k] = copy.deepcopy(v)
    return out


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def from_dict(raw: Dict[str, Any]) -> Dict[str, Any]:
    """Defaults updated by ``raw``, validated."""
    cfg = _merge(DEFAULTS, raw)
    validate(cfg)
    return cfg


def shipped_configs() -> Dict[str, Path]:
    """The configs shipped with the package (``cisr train --config NAME``): name -> file."""
    return {x.stem: x for x in sorted(CONFIG_DIR.glob("*.toml"))}


def config_description(path: str | Path) -> str:
    """A config file's one-line description: the first clause of its leading comment (up to the
    first ``:``, ``;`` or ``.`` followed by a space, outside parentheses)."""
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(x for x in lines if x)
    depth = 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if depth == 0 and c in ":;." and text[i + 1:i + 2] in (" ", ""):
            return text[:i].strip()
    return text


def load_config(path: str | Path) -> Dict[str, Any]:
    """Read a TOML config (a path, or the name of a shipped config such as ``edsr-baseline-liif``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        shipped = CONFIG_DIR / f"{path}.toml"
        if shipped.is_file():
            p = shipped
        else:
            names = ", ".join(shipped_configs())
            raise TrainConfigError(f"config '{path}' is neither a file nor a shipped config ({names})")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TrainConfigError(f"cannot read config '{p}': {str(e).splitlines()[0]}") from None
    except OSError as e:
        raise TrainConfigError(f"cannot read config '{p}': {e.strerror or e}") from None
    return from_dict(raw)


def validate(cfg: Dict[str, Any]) -> None:
    try:
        check_numbers(cfg, NUMBER_RULES)
        check_number_list("train.betas", cfg["train"]["betas"], Rule(0, 1, integer=False), length=2)
        if not all(b < 1 for b in cfg["train"]["betas"]):
            raise UsageError(f"train.betas must be two numbers in [0, 1), got {cfg['train']['betas']!r}")
        check_number_list("train.milestones", cfg["train"]["milestones"], Rule(1, 2**31 - 1, integer=True))
    except UsageError as e:
        raise TrainConfigError(str(e)) from None
    if cfg["datasets"]["train"]["scale_min"] > cfg["datasets"]["train"]["scale_max"]:
        raise TrainConfigError("datasets.train.scale_min must not exceed scale_max")
    if cfg["stage"] not in STAGES:
        raise TrainConfigError(f"stage must be one of {', '.join(STAGES)}, got {cfg['stage']!r}")
    from .. import models
    if cfg["network_g"]["type"] not in models.generator_types():
        raise TrainConfigError(f"network_g.type must be one of {', '.join(models.generator_types())}, "
                               f"got {cfg['network_g']['type']!r}")
    _check_generator(cfg)
    data = cfg["datasets"]["train"]
    if data["sample"] not in ("points", "patches"):
        raise TrainConfigError(f"datasets.train.sample must be 'points' or 'patches', got {data['sample']!r}")
    for key in ("lr_patch", "batch_size", "n_points", "patch_size"):
        if int(data[key]) < 1:
            raise TrainConfigError(f"datasets.train.{key} must be positive")
    if cfg["perceptual_opt"]["type"] not in PERCEPTUAL_TYPES:
        raise TrainConfigError(f"perceptual_opt.type must be one of {', '.join(PERCEPTUAL_TYPES)}, "
                               f"got {cfg['perceptual_opt']['type']!r}")
    layer = cfg["perceptual_opt"]["layer"]
    if layer and cfg["perceptual_opt"]["type"] in ("vgg16", "vgg19"):
        from ..models import vgg16, vgg19
        names = (vgg16 if cfg["perceptual_opt"]["type"] == "vgg16" else vgg19).layer_names()
        if layer not in names:
            raise TrainConfigError(f"perceptual_opt.layer {layer!r} is not a {cfg['perceptual_opt']['type']} layer "
                                   f"(e.g. conv5_3 for vgg16, conv5_4 for vgg19)")
    if cfg["pixel_opt"]["type"] != "l1":
        raise TrainConfigError(f"pixel_opt.type must be 'l1', got {cfg['pixel_opt']['type']!r}")
    if cfg["period_opt"]["type"] != "lr-period":
        raise TrainConfigError(f"period_opt.type must be 'lr-period', got {cfg['period_opt']['type']!r}")
    if cfg["gan_opt"]["type"] != "ragan":
        raise TrainConfigError(f"gan_opt.type must be 'ragan', got {cfg['gan_opt']['type']!r}")
    if cfg["stage"] == "cisrgan":
        if data["sample"] != "patches":
            raise TrainConfigError("stage 'cisrgan' needs datasets.train.sample = 'patches' (the GAN and "
                                   "perceptual losses work on image patches)")
        if cfg["network_d"]["type"] not in DISCRIMINATOR_TYPES:
            raise TrainConfigError(f"network_d.type must be one of {', '.join(DISCRIMINATOR_TYPES)}, "
                                   f"got {cfg['network_d']['type']!r}")
        if cfg["network_d"]["type"] == "unet-sn" and data["patch_size"] % 8:
            raise TrainConfigError(f"network_d.type 'unet-sn' needs datasets.train.patch_size divisible by 8, "
                                   f"got {data['patch_size']}")
        if cfg["network_d"]["type"] == "vgg" and cfg["network_d"]["input_size"] != data["patch_size"]:
            raise TrainConfigError(f"network_d.input_size ({cfg['network_d']['input_size']}) must equal "
                                   f"datasets.train.patch_size ({data['patch_size']})")
    elif cfg["perceptual_opt"]["type"] != "none" and data["sample"] != "patches":
        raise TrainConfigError("a perceptual loss needs datasets.train.sample = 'patches'")
    if cfg["ldl_opt"]["weight"]:
        if not cfg["train"]["ema_decay"]:
            raise TrainConfigError("ldl_opt needs train.ema_decay > 0 (the artifact map compares with the EMA model)")
        if data["sample"] != "patches":
            raise TrainConfigError("ldl_opt needs datasets.train.sample = 'patches' (the artifact map works on images)")
        if cfg["ldl_opt"]["kernel"] % 2 == 0:
            raise TrainConfigError(f"ldl_opt.kernel must be odd, got {cfg['ldl_opt']['kernel']}")
    if cfg["stage"] == "distill":
        if data["sample"] != "points":
            raise TrainConfigError("stage 'distill' needs datasets.train.sample = 'points'")
        if cfg["network_g"]["type"] != "lmf":
            raise TrainConfigError("stage 'distill' makes an LM-LIIF twin: set network_g.type = 'lmf'")
        if cfg["perceptual_opt"]["type"] != "none" or cfg["ldl_opt"]["weight"] or cfg["period_opt"]["weight"]:
            raise TrainConfigError("stage 'distill' takes the L1 terms only (perceptual_opt, ldl_opt and "
                                   "period_opt must be off)")
    if cfg["train"]["max_iters"] < 0:
        raise TrainConfigError("train.max_iters must be >= 0")
    problem = validate_schedule(cfg["train"])
    if problem:
        raise TrainConfigError(problem)
    if not isinstance(data["degrade"], dict):
        raise TrainConfigError("datasets.train.degrade must be a table")
    DegradeSpec.from_dict(data["degrade"])
    ValidationSpec.from_config(cfg["validation"])


def _check_generator(cfg: Dict[str, Any]) -> None:
    """network_g builds (encoder name and arguments), checked on the meta device (no memory)."""
    from .. import models
    from ..model_check import build_meta_model
    g = cfg["network_g"]
    try:
        spec = models.generator_spec(g["type"], encoder=g["encoder"], hidden=int(g["hidden"]),
                                     n_hidden=int(g["n_hidden"]), image_skip=bool(g["image_skip"]),
                                     encoder_args=dict(g["encoder_args"]), **dict(g["args"]))
    except (TypeError, ValueError, KeyError) as e:
        raise TrainConfigError(f"network_g: {e}") from None
    try:
        build_meta_model(spec, "network_g")
    except CisrError as e:
        raise TrainConfigError(str(e)) from None
