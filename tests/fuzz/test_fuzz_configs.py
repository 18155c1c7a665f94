"""Hostile training configurations and ``cisr train`` options: refused before any work, no folder made."""

import pytest

from fuzzkit import expect_error, listing, run_cli, tiny_train_config

TOML_CASES = {
    "negative hidden": ("[network_g]\nhidden = -5\n", "network_g.hidden"),
    "zero hidden": ("[network_g]\nhidden = 0\n", "network_g.hidden"),
    "huge hidden": ("[network_g]\nhidden = 100000000\n", "network_g.hidden"),
    "unknown encoder": ('[network_g]\nencoder = "resnet-9000"\n', "unknown model"),
    "unknown encoder arg": ("[network_g]\nencoder_args = { wings = 2 }\n", "cannot build"),
    "encoder arg of wrong type": ('[network_g]\nencoder_args = { n_resblocks = "many" }\n', "cannot build"),
    "negative lr": ("[train]\nlr_g = -1\n", "train.lr_g"),
    "nan lr": ("[train]\nlr_g = nan\n", "train.lr_g"),
    "inf lr_d": ("[train]\nlr_d = inf\n", "train.lr_d"),
    "betas above 1": ("[train]\nbetas = [2, 3]\n", "train.betas"),
    "betas strings": ('[train]\nbetas = ["a", "b"]\n', "train.betas"),
    "one beta": ("[train]\nbetas = [0.9]\n", "train.betas"),
    "max_iters a string": ('[train]\nmax_iters = "lots"\n', "train.max_iters"),
    "negative max_iters": ("[train]\nmax_iters = -1\n", "train.max_iters"),
    "fractional batch": ("[datasets.train]\nbatch_size = 1.5\n", "batch_size"),
    "scale range reversed": ("[datasets.train]\nscale_min = 4.0\nscale_max = 2.0\n", "scale_min"),
    "negative milestone": ("[train]\nmilestones = [-5]\n", "train.milestones"),
    "zero gamma": ("[train]\ngamma = 0\n", "train.gamma"),
    "unknown key": ("[train]\nlearning_rate = 0.1\n", "unknown config key"),
    "malformed toml": ("[train\nmax_iters = 3\n", "cannot read config"),
    "section a number": ("train = 5\n", "must be a table"),
}


@pytest.mark.parametrize("case", sorted(TOML_CASES))
def test_bad_config(tmp_path, case):
    text, fragment = TOML_CASES[case]
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    before = listing(tmp_path)
    expect_error(run_cli("train", "--config", cfg, "--out", tmp_path / "run"), fragment)
    assert listing(tmp_path) == before


def test_binary_config(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_bytes(bytes(range(256)))
    expect_error(run_cli("train", "--config", cfg, "--out", tmp_path / "run"), "cannot read config")


OPTION_CASES = {
    "threads -3": (["--threads", "-3"], "--threads"),
    "threads 0": (["--threads", "0"], "--threads"),
    "max-iters -1": (["--max-iters", "-1"], "--max-iters"),
    "max-iters 1.5": (["--max-iters", "1.5"], "--max-iters"),
    "max-minutes nan": (["--max-minutes", "nan"], "--max-minutes"),
    "max-minutes -2": (["--max-minutes", "-2"], "--max-minutes"),
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_bad_train_options(tmp_path, assets, case):
    argv, fragment = OPTION_CASES[case]
    cfg = tmp_path / "ok.toml"
    cfg.write_text(tiny_train_config(assets / "images"))
    before = listing(tmp_path)
    expect_error(run_cli("train", "--config", cfg, "--out", tmp_path / "run", *argv), fragment)
    assert listing(tmp_path) == before


def test_out_that_is_a_file(tmp_path, assets):
    cfg = tmp_path / "ok.toml"
    cfg.write_text(tiny_train_config(assets / "images"))
    (tmp_path / "run").write_text("I am a file")
    expect_error(run_cli("train", "--config", cfg, "--out", tmp_path / "run"), "is a file")
    assert (tmp_path / "run").read_text() == "I am a file"
