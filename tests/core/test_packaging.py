"""The explicit package list in pyproject.toml covers every source folder."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    dirs = cfg["package-dir"]
    expected = set()
    for pkg, folder in dirs.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            expected.add(".".join((pkg,) + rel))
    assert expected - listed == set(), f"add to [tool.setuptools] packages: {sorted(expected - listed)}"


def test_no_generic_top_level_names():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "cisr_zoom" or p.startswith("cisr_zoom.") for p in cfg["packages"])
