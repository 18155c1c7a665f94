"""The CI gates can fail: the project's import contracts and ruff rules, run on small fixtures
that break them (and on copies that keep them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (pip install '.[test]')")
    return exe


def _contracts_file(tmp: Path) -> Path:
    section = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[tool.importlinter]", f'root_packages = {section["root_packages"]!r}'.replace("'", '"'),
             f'include_external_packages = {str(section.get("include_external_packages", False)).lower()}']
    for c in section["contracts"]:
        lines.append("\n[[tool.importlinter.contracts]]")
        for k, v in c.items():
            lines.append(f"{k} = " + (f'"{v}"' if isinstance(v, str) else str(v).replace("'", '"')
                                       if not isinstance(v, bool) else str(v).lower()))
    p = tmp / "contracts.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


def _fixture_package(root: Path, bad: dict[str, str]) -> None:
    """A skeleton of the project's package layout; ``bad`` maps module paths to their source."""
    for pkg in ("cisr_zoom", "cisr_zoom/core", "cisr_zoom/core/render", "cisr_zoom/core/train",
                "cisr_zoom/core/models", "cisr_zoom/core/imagewrite", "cisr_zoom/app"):
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").write_text("")
    (root / "cisr_zoom/core/render/tiles.py").write_text("from cisr_zoom.core.models import liif\n"
                                                        "from cisr_zoom.core.imagewrite import png\n")
    (root / "cisr_zoom/core/imagewrite/png.py").write_text("import numpy\n")
    (root / "cisr_zoom/core/models/liif.py").write_text("import torch\n")
    (root / "cisr_zoom/core/train/trainer.py").write_text("from cisr_zoom.core.render import tiles\n")
    (root / "cisr_zoom/app/main.py").write_text("import PySide6\nfrom cisr_zoom.core.render import tiles\n")
    for rel, src in bad.items():
        (root / rel).write_text(src)


def _lint_imports(tmp: Path, bad: dict[str, str]) -> subprocess.CompletedProcess:
    site = tmp / "site"
    _fixture_package(site, bad)
    cfg = _contracts_file(tmp)
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([_tool("lint-imports"), "--config", str(cfg), "--no-cache"], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=120)


def test_contracts_hold_on_a_package_that_keeps_the_layers(tmp_path):
    proc = _lint_imports(tmp_path, {})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "broken" not in proc.stdout.lower().split("contracts:")[-1].split(",")[0]


@pytest.mark.parametrize("module, source, contract", [
    ("cisr_zoom/core/render/bad.py", "from cisr_zoom.core.train import trainer\n", "the renderer never imports training"),
    ("cisr_zoom/core/bad.py", "import PySide6.QtCore\n", "core never imports Qt or qasync"),
    ("cisr_zoom/core/models/bad.py", "import cisr_zoom.core.render.tiles\n", "models never import the renderer"),
    ("cisr_zoom/core/imagewrite/bad.py", "import cisr_zoom.core.render.tiles\n", "image writers never import"),
    ("cisr_zoom/core/imagewrite/bad.py", "import torch\n", "image writers never import"),
])
def test_a_layer_violation_breaks_its_contract(tmp_path, module, source, contract):
    proc = _lint_imports(tmp_path, {module: source})
    assert proc.returncode != 0
    broken = [line for line in proc.stdout.splitlines() if "BROKEN" in line]
    assert any(contract in line for line in broken), proc.stdout[-3000:]


def test_ruff_rules_catch_a_real_error(tmp_path):
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]
    select = ",".join(cfg["lint"]["select"])
    (tmp_path / "bad.py").write_text("import os\n\ndef f():\n    return undefined_name\n")
    (tmp_path / "good.py").write_text("def f(x):\n    return x + 1\n")
    ruff = _tool("ruff")
    bad = subprocess.run([ruff, "check", "--isolated", "--select", select, "bad.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    good = subprocess.run([ruff, "check", "--isolated", "--select", select, "good.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "F821" in bad.stdout and "F401" in bad.stdout
    assert good.returncode == 0, good.stdout


def test_ruff_complexity_bounds_catch_a_tangled_function(tmp_path):
    """C901 and PLR0915 are selected with the project's bounds: a function of 11 branches and
    51 statements breaks both; one under them passes."""
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    select = ",".join(cfg["select"])
    bounds = ["--config", f"lint.mccabe.max-complexity = {cfg['mccabe']['max-complexity']}",
              "--config", f"lint.pylint.max-statements = {cfg['pylint']['max-statements']}"]
    tangled = "def f(x):\n" + "".join(f"    if x == {i}:\n        x += {i}\n" for i in range(11)) \
        + "".join(f"    x += {i}\n" for i in range(30)) + "    return x\n"
    (tmp_path / "tangled.py").write_text(tangled)
    (tmp_path / "plain.py").write_text("def f(x):\n    if x:\n        return 1\n    return 2\n")
    ruff = _tool("ruff")
    runs = {name: subprocess.run([ruff, "check", "--isolated", "--select", select, *bounds, name], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60) for name in ("tangled.py", "plain.py")}
    assert runs["tangled.py"].returncode == 1
    assert "C901" in runs["tangled.py"].stdout and "PLR0915" in runs["tangled.py"].stdout
    assert runs["plain.py"].returncode == 0, runs["plain.py"].stdout
