"""core/ never imports Qt (statically, and at run time); app/ uses only core's public modules."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qasync")


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_core_sources_do_not_import_qt():
    offenders = [f"{p.relative_to(REPO)}: {m}" for p in (REPO / "core").rglob("*.py")
                 for m in _imports(p) if m.split(".")[0] in QT]
    assert not offenders, offenders


def test_importing_all_of_core_loads_no_qt():
    mods = sorted({".".join(("cisr_zoom",) + p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
                   for p in (REPO / "core").rglob("*.py")})
    code = ("import importlib, sys\n"
            f"for m in {mods!r}:\n    importlib.import_module(m)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT!r}]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_app_does_not_reach_into_private_core_modules():
    offenders = []
    for p in (REPO / "app").rglob("*.py"):
        for m in _imports(p):
            parts = m.split(".")
            if parts[:2] == ["cisr_zoom", "core"] and any(x.startswith("_") for x in parts[2:]):
                offenders.append(f"{p.relative_to(REPO)}: {m}")
    assert not offenders, offenders
