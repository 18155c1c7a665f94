"""The bundle build script, PyInstaller spec and launch checker parse and reject bad input (no build here)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "packaging" / "build_bundle.sh"


@pytest.mark.skipif(not shutil.which("bash"), reason="bash not installed")
def test_build_script_parses_and_documents_itself():
    assert subprocess.run(["bash", "-n", str(BUILD)]).returncode == 0
    proc = subprocess.run(["bash", str(BUILD), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    assert "--torch cpu" in proc.stdout and "--torch cuda" in proc.stdout and "dist/cisr-zoom" in proc.stdout


@pytest.mark.skipif(not shutil.which("bash"), reason="bash not installed")
@pytest.mark.parametrize("args", [["--torch", "rocm"], ["--frobnicate"]])
def test_build_script_rejects_bad_arguments_before_doing_anything(args, tmp_path):
    proc = subprocess.run(["bash", str(BUILD), *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "build_bundle:" in proc.stderr


def test_spec_is_python_and_collects_the_resources():
    spec = (REPO / "packaging/pyinstaller/cisr-zoom.spec").read_text()
    ast.parse(spec)
    assert 'collect_data_files("cisr_zoom.resources")' in spec
    launcher = REPO / "packaging/pyinstaller/cisr_zoom_launcher.py"
    ast.parse(launcher.read_text())


def _catches_import_error(t: ast.Try) -> bool:
    names = set()
    for h in t.handlers:
        for n in ([h.type] if not isinstance(h.type, ast.Tuple) else h.type.elts):
            if isinstance(n, ast.Name):
                names.add(n.id)
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def test_spec_does_not_exclude_what_the_app_imports():
    """Modules excluded from the bundle must not be imported by the app's own code (an import
    guarded by ``except ImportError`` is optional and may be excluded)."""
    spec = (REPO / "packaging/pyinstaller/cisr-zoom.spec").read_text()
    excludes = ast.literal_eval(spec[spec.index("excludes = [") + len("excludes = "):spec.index("]\n", spec.index(
        "excludes = [")) + 1])
    imported = set()
    for folder in ("app", "core", "cisr_zoom"):
        for path in (REPO / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            optional = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) and _catches_import_error(t)
                        for stmt in t.body for n in ast.walk(stmt)}
            for node in ast.walk(tree):
                if id(node) in optional:
                    continue
                if isinstance(node, ast.Import):
                    imported.update(a.name for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imported.add(node.module)
                    imported.update(f"{node.module}.{a.name}" for a in node.names)
    clash = {m for m in imported for e in excludes if m == e or m.startswith(e + ".")}
    assert clash == set(), f"the bundle excludes modules the app imports: {sorted(clash)}"


def test_launch_checker_help():
    proc = subprocess.run([sys.executable, str(REPO / "packaging/linux/check_desktop_launch.py"), "--help"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "--image" in proc.stdout
