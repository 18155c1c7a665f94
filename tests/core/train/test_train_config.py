"""Training configs: the shipped ones load; mistakes are one-line errors."""

import pytest

from cisr_zoom.core.train.config import CONFIG_DIR, TrainConfigError, from_dict, load_config
from cisr_zoom.core.train.trainer import discriminator_spec, generator_spec

SHIPPED = ["edsr-baseline-liif", "rdn-liif", "cisrgan-edsr-baseline", "cisrgan-rdn", "cpu-liif-edsr-baseline",
           "cpu-cisrgan-edsr-baseline", "cpu-cisrgan-period-edsr-baseline"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load(name):
    assert (CONFIG_DIR / f"{name}.toml").is_file()
    cfg = load_config(name)
    assert cfg["name"] == name
    assert generator_spec(cfg)["name"] == "liif"
    if cfg["stage"] == "cisrgan":
        assert cfg["datasets"]["train"]["sample"] == "patches" and cfg["train"]["init_g"]
        assert cfg["pixel_opt"]["weight"] == 1e-2 and cfg["gan_opt"]["weight"] == 5e-3
        assert cfg["perceptual_opt"]["weight"] == 1.0
        assert discriminator_spec(cfg)["args"]["input_size"] == cfg["datasets"]["train"]["patch_size"]


def test_paper_recipe_values():
    cfg = load_config("cisrgan-rdn")
    assert cfg["network_g"]["encoder"] == "rdn" and cfg["network_g"]["image_skip"] is False
    assert cfg["perceptual_opt"]["type"] == "vgg19" and cfg["perceptual_opt"]["layer"] == "conv5_4"
    d = cfg["datasets"]["train"]
    assert (d["lr_patch"], d["patch_size"], d["batch_size"], d["scale_min"], d["scale_max"]) == (64, 64, 16, 1.0, 4.0)
    assert cfg["train"]["lr_g"] == cfg["train"]["lr_d"] == 1e-4
    assert load_config("cpu-liif-edsr-baseline")["network_g"]["image_skip"] is True


def test_config_mistakes_are_clear(tmp_path):
    with pytest.raises(TrainConfigError, match="unknown config key 'train.max_iter'"):
        from_dict({"train": {"max_iter": 3}})
    with pytest.raises(TrainConfigError, match="must be int"):
        from_dict({"train": {"max_iters": "many"}})
    with pytest.raises(TrainConfigError, match="patches"):
        from_dict({"stage": "cisrgan"})
    with pytest.raises(TrainConfigError, match="perceptual_opt.type"):
        from_dict({"perceptual_opt": {"type": "lpips"}})
    with pytest.raises(TrainConfigError, match="period_opt.type"):
        from_dict({"period_opt": {"type": "fft"}})
    with pytest.raises(TrainConfigError, match="period_opt.bins"):
        from_dict({"period_opt": {"bins": 1}})
    with pytest.raises(TrainConfigError, match="period_opt.weight"):
        from_dict({"period_opt": {"weight": -1.0}})
    assert from_dict({})["period_opt"]["weight"] == 0.0  # off unless a config asks for it
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(TrainConfigError, match="cannot read config"):
        load_config(bad)
    with pytest.raises(TrainConfigError, match="neither a file nor a shipped config"):
        load_config(tmp_path / "missing.toml")


def test_shipped_configs_that_start_from_a_bundled_file_describe_its_generator():
    """A config whose train.init_g is a bundled model must build that model's generator (a bundled
    file replaced by another architecture would otherwise break the config at its first run)."""
    from pathlib import Path

    from cisr_zoom.core.checkpoint import bundled_models, read_checkpoint
    from cisr_zoom.core.train.config import load_config, shipped_configs
    from cisr_zoom.core.train.trainer import generator_spec, same_generator

    bundled = {p.name: p for p in bundled_models().values()}
    checked = 0
    for name in shipped_configs():
        cfg = load_config(name)
        init = Path(cfg["train"]["init_g"]).name if cfg["train"]["init_g"].startswith("resources/weights/") else None
        if init is None or init not in bundled:
            continue
        entry = read_checkpoint(bundled[init])["model"]
        assert same_generator({"name": entry["name"], "args": entry["args"]}, generator_spec(cfg)), name
        checked += 1
    assert checked >= 2
