"""Desktop integration (``cisr-zoom --install-desktop``) against a temporary XDG_DATA_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cisr_zoom.app import desktop_integration as di

REPO = Path(__file__).resolve().parents[2]
DESKTOP_NAME = f"{di.APP_ID}.desktop"


@pytest.fixture
def xdg(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "data home"  # a space on purpose
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file (with content) and folder (None) under root."""
    out = {}
    for p in sorted(root.rglob("*")):
        out[str(p.relative_to(root))] = p.read_bytes() if p.is_file() else None
    return out


def _entry(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line and not line.startswith("#"))


def _exec_argv(exec_value: str) -> list[str]:
    """Parse an Exec value the way the Desktop Entry spec says (an independent reading, not the installer's code)."""
    # 1. Value of type string: \\ \s \n \t \r escapes.
    text, i = "", 0
    while i < len(exec_value):
        c = exec_value[i]
        if c == "\\" and i + 1 < len(exec_value):
            text += {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[exec_value[i + 1]]
            i += 2
        else:
            text += c
            i += 1
    # 2. Arguments: separated by spaces; inside "...", a backslash escapes " ` $ and itself.
    argv, cur, quoted, i, started = [], "", False, 0, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                assert text[i + 1] in '"`$\\', text
                cur += text[i + 1]
                i += 1
            elif c == '"':
                quoted = False
            else:
                cur += c
        elif c == '"':
            quoted = started = True
        elif c == " ":
            if started:
                argv.append(cur)
            cur, started = "", False
        else:
            assert c not in '\\"`$<>|&;*?#()\'~', f"unquoted reserved character in {text!r}"
            cur += c
            started = True
        i += 1
    assert not quoted
    if started:
        argv.append(cur)
    assert argv[-1] == "%f"
    return [a.replace("%%", "%") for a in argv[:-1]]


def test_data_home_follows_xdg(monkeypatch, tmp_path):
    assert di.data_home({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path
    # Relative values are invalid per the XDG spec and fall back to the default.
    monkeypatch.setenv("HOME", str(tmp_path))
    assert di.data_home({"XDG_DATA_HOME": "relative/dir"}) == tmp_path / ".local" / "share"
    assert di.data_home({}) == tmp_path / ".local" / "share"


def test_shipped_entry_has_the_required_keys():
    entry = _entry((REPO / "packaging/linux" / DESKTOP_NAME).read_text())
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "cisr-zoom %f" and entry["Terminal"] == "false"
    assert entry["Icon"] == di.APP_ID and entry["StartupWMClass"] == "cisr-zoom"
    assert set(entry["Categories"].split(";")) >= {"Graphics", "Viewer"}
    assert set(entry["MimeType"].strip(";").split(";")) == {
        "image/png", "image/jpeg", "image/tiff", "image/webp", "image/bmp"}
    for key in ("Name", "GenericName", "Comment"):
        assert entry[key]


def test_packaging_linux_is_the_shipped_resource():
    for name in (DESKTOP_NAME, f"{di.APP_ID}.metainfo.xml"):
        assert (REPO / "packaging/linux" / name).read_bytes() == (REPO / "resources/desktop" / name).read_bytes()


def test_icons_exist_in_every_size():
    for n in di.ICON_SIZES:
        with Image.open(REPO / "resources/icons" / f"cisr-zoom-{n}.png") as im:
            assert im.size == (n, n) and im.mode == "RGBA"
    assert b"<svg" in (REPO / "resources/icons/cisr-zoom.svg").read_bytes()


def test_install_writes_entry_icons_and_metainfo(xdg):
    cmd = ["/opt/My Apps/cisr-zoom"]
    written = di.install_desktop(command=cmd, refresh_caches=False)
    assert set(written) == set(di.planned_files(xdg, cmd))
    desktop = xdg / "applications" / DESKTOP_NAME
    entry = _entry(desktop.read_text())
    assert _exec_argv(entry["Exec"]) == cmd
    assert entry["TryExec"] == cmd[0]
    assert (xdg / "metainfo" / f"{di.APP_ID}.metainfo.xml").read_bytes() == \
        (REPO / "resources/desktop" / f"{di.APP_ID}.metainfo.xml").read_bytes()
    assert (xdg / "icons/hicolor/scalable/apps" / f"{di.APP_ID}.svg").is_file()
    for n in di.ICON_SIZES:
        with Image.open(xdg / f"icons/hicolor/{n}x{n}/apps/{di.APP_ID}.png") as im:
            assert im.size == (n, n)
    assert oct(desktop.stat().st_mode & 0o777) == "0o644"
    assert not list(xdg.rglob("*.tmp"))


@pytest.mark.parametrize("cmd", [
    ["/usr/local/bin/cisr-zoom"],
    ['/home/u/we$ird "dir"/`x`/back\\slash/100%/cisr-zoom'],
    ["/venv/bin/python", "-m", "cisr_zoom.app.main"],
])
def test_exec_quoting_round_trips(cmd):
    entry = _entry(di.desktop_entry_text(cmd))
    assert _exec_argv(entry["Exec"]) == cmd


def test_exec_rejects_line_breaks():
    with pytest.raises(ValueError):
        di.desktop_entry_text(["/tmp/a\nb/cisr-zoom"])


def test_install_is_idempotent(xdg):
    cmd = ["/usr/bin/cisr-zoom"]
    di.install_desktop(command=cmd, refresh_caches=False)
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in di.planned_files(xdg, cmd)}
    first = _tree(xdg)
    di.install_desktop(command=cmd, refresh_caches=False)
    assert _tree(xdg) == first
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in before} == before  # nothing rewritten


def test_reinstall_from_another_location_replaces_the_entry(xdg):
    di.install_desktop(command=["/old/cisr-zoom"], refresh_caches=False)
    di.install_desktop(command=["/new/cisr-zoom"], refresh_caches=False)
    entries = list((xdg / "applications").glob("*.desktop"))
    assert len(entries) == 1
    assert _exec_argv(_entry(entries[0].read_text())["Exec"]) == ["/new/cisr-zoom"]


def test_uninstall_removes_exactly_what_install_wrote(xdg):
    # Other applications' files, some in the very folders install writes to.
    for rel in ("applications/other.desktop", "icons/hicolor/48x48/apps/other.png", "metainfo/x.xml", "mime/keep"):
        (xdg / rel).parent.mkdir(parents=True, exist_ok=True)
        (xdg / rel).write_bytes(b"not ours")
    before = _tree(xdg)
    written = di.install_desktop(command=["/usr/bin/cisr-zoom"], refresh_caches=False)
    removed = di.uninstall_desktop(refresh_caches=False)
    assert sorted(removed) == sorted(written)
    assert _tree(xdg) == before
    assert di.uninstall_desktop(refresh_caches=False) == []  # a second uninstall is a no-op


def test_uninstall_on_an_empty_home_leaves_it_empty(xdg):
    xdg.mkdir()
    di.install_desktop(command=["/usr/bin/cisr-zoom"], refresh_caches=False)
    di.uninstall_desktop(refresh_caches=False)
    assert _tree(xdg) == {}


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(xdg, monkeypatch):
    di.install_desktop(command=["/old/cisr-zoom"], refresh_caches=False)
    desktop = xdg / "applications" / DESKTOP_NAME
    old = desktop.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(di.os, "replace", boom)
    with pytest.raises(OSError):
        di.install_desktop(command=["/new/cisr-zoom"], refresh_caches=False)
    assert desktop.read_bytes() == old
    assert not [p for p in xdg.rglob("*") if p.name.endswith(".tmp")]


def test_launch_command_of_a_frozen_bundle(monkeypatch, tmp_path):
    exe = tmp_path / "dist" / "cisr-zoom" / "cisr-zoom"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(exe))
    assert di.launch_command() == [str(exe)]


def test_launch_command_prefers_the_running_script(monkeypatch, tmp_path):
    script = tmp_path / "bin" / "cisr-zoom"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr(sys, "argv", [str(script), "--install-desktop"])
    assert di.launch_command() == [str(script)]


def test_launch_command_falls_back_to_python_m(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "main.py")])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    monkeypatch.setattr(di.shutil, "which", lambda name: None)
    assert di.launch_command() == [str(tmp_path / "python3"), "-m", "cisr_zoom.app.main"]


def test_flags_are_handled_and_others_ignored(xdg, capsys):
    assert di.handle_desktop_flags(["photo.png"]) is None
    assert di.handle_desktop_flags([]) is None
    assert di.handle_desktop_flags([di.INSTALL_FLAG, di.UNINSTALL_FLAG]) == 2
    assert di.handle_desktop_flags([di.INSTALL_FLAG]) == 0
    assert (xdg / "applications" / DESKTOP_NAME).is_file()
    assert str(xdg) in capsys.readouterr().out
    assert di.handle_desktop_flags([di.UNINSTALL_FLAG]) == 0
    assert not (xdg / "applications" / DESKTOP_NAME).exists()


def test_argparse_interface(xdg):
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("image", nargs="?")
    di.add_arguments(parser)
    assert di.handle_args(parser.parse_args(["photo.png"])) is None
    assert di.handle_args(parser.parse_args([di.INSTALL_FLAG])) == 0
    assert (xdg / "applications" / DESKTOP_NAME).is_file()
    assert di.handle_args(parser.parse_args([di.UNINSTALL_FLAG])) == 0
    assert not (xdg / "applications" / DESKTOP_NAME).exists()
    with pytest.raises(SystemExit):
        parser.parse_args([di.INSTALL_FLAG, di.UNINSTALL_FLAG])


def test_unwritable_data_home_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))  # a file where a folder must be
    assert di.handle_desktop_flags([di.INSTALL_FLAG]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cisr-zoom: desktop integration failed:") and "\n" not in err


def test_entry_point_dispatches_the_flags_before_qt(xdg):
    """`cisr-zoom --install-desktop` runs the installer without starting the GUI."""
    code = (
        "import sys; from cisr_zoom.app.main import main; rc = main(['--install-desktop']); "
        "assert 'PySide6.QtWidgets' not in sys.modules, 'Qt was started'; sys.exit(rc)")
    env = dict(os.environ, XDG_DATA_HOME=str(xdg))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (xdg / "applications" / DESKTOP_NAME).is_file()


@pytest.mark.skipif(not shutil.which("update-desktop-database"), reason="update-desktop-database not installed")
def test_install_refreshes_the_desktop_database(xdg):
    di.install_desktop(command=["/usr/bin/cisr-zoom"])
    cache = (xdg / "applications" / "mimeinfo.cache").read_text()
    assert f"image/png={DESKTOP_NAME};" in cache
    di.uninstall_desktop()
    assert DESKTOP_NAME not in (xdg / "applications" / "mimeinfo.cache").read_text()


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-validate not installed "
                    "(Debian: desktop-file-utils)")
def test_desktop_files_validate(xdg):
    di.install_desktop(command=["/opt/My Apps/cisr-zoom"], refresh_caches=False)
    for path in (REPO / "packaging/linux" / DESKTOP_NAME, xdg / "applications" / DESKTOP_NAME):
        proc = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


@pytest.mark.skipif(not shutil.which("appstreamcli"), reason="appstreamcli not installed (Debian: appstream)")
def test_metainfo_validates():
    proc = subprocess.run(["appstreamcli", "validate", "--no-net",
                           str(REPO / "packaging/linux" / f"{di.APP_ID}.metainfo.xml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_app_declares_the_desktop_file_name():
    """Wayland compositors and GNOME match the window to the entry by this name (QGuiApplication.desktopFileName)."""
    source = (REPO / "app" / "main.py").read_text()
    assert f'setDesktopFileName("{di.APP_ID}")' in source or "setDesktopFileName(di.APP_ID)" in source \
        or "setDesktopFileName(APP_ID)" in source
