"""core/ never imports Qt (statically, and at run time); app/ uses only core's public modules."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qasync")


def _imports(path: Path):
    """Absolute imports of a file: ``(module, names imported from it)``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, ()
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, tuple(a.name for a in node.names)


def private_core_uses(app_dir: Path, core_dir: Path):
    """Where files under ``app_dir`` reach past core's public surface: a core module that
    does not exist, a private module (``_x``), or a private name imported from one."""
    out = []
    for p in sorted(app_dir.rglob("*.py")):
        for module, names in _imports(p):
            parts = module.split(".")
            if parts[:2] != ["cisr_zoom", "core"]:
                continue
            rel = Path(*parts[2:]) if parts[2:] else Path()
            where = f"{p.relative_to(app_dir)}: {module}"
            if any(x.startswith("_") for x in parts[2:]):
                out.append(f"{where} (private module)")
            elif not ((core_dir / rel).with_suffix(".py").is_file() or (core_dir / rel / "__init__.py").is_file()):
                out.append(f"{where} (no such core module)")
            out.extend(f"{where}.{n} (private name)" for n in names if n.startswith("_"))
    return out


def test_core_sources_do_not_import_qt():
    offenders = [f"{p.relative_to(REPO)}: {m}" for p in (REPO / "core").rglob("*.py")
                 for m, _ in _imports(p) if m.split(".")[0] in QT]
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
    offenders = private_core_uses(REPO / "app", REPO / "core")
    assert not offenders, offenders


def test_the_private_core_check_catches_each_kind_of_violation(tmp_path):
    core = tmp_path / "core"
    (core / "render").mkdir(parents=True)
    for f in ("__init__.py", "render/__init__.py", "render/worker.py", "render/_pool.py"):
        (core / f).write_text("")
    app = tmp_path / "app"
    app.mkdir()
    (app / "ok.py").write_text("from cisr_zoom.core.render.worker import RenderWorker\nimport cisr_zoom.core.render\n")
    assert private_core_uses(app, core) == []
    (app / "bad.py").write_text("from cisr_zoom.core.render._pool import Pool\n"
                                "from cisr_zoom.core.render.worker import RenderWorker, _Job\n"
                                "import cisr_zoom.core.render.gone\n")
    found = private_core_uses(app, core)
    assert len(found) == 3
    assert any("_pool (private module)" in f for f in found)
    assert any("worker._Job (private name)" in f for f in found)
    assert any("gone (no such core module)" in f for f in found)
