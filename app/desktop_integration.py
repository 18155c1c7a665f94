"""Linux desktop integration: ``cisr-zoom --install-desktop`` / ``--uninstall-desktop``.

Installs, for the current user only, what a freedesktop desktop (GNOME, KDE, Xfce, ...) needs
to show CiSR Zoom in its application menu and in a file manager's "Open with" list:

- ``$XDG_DATA_HOME/applications/<APP_ID>.desktop`` - the entry, with ``Exec`` and ``TryExec``
  pointing at the absolute path of the program that ran the install (the ``cisr-zoom``
  script of a pip install, or the executable of a stand-alone bundle);
- ``$XDG_DATA_HOME/icons/hicolor/<N>x<N>/apps/<APP_ID>.png`` and ``.../scalable/apps/<APP_ID>.svg``;
- ``$XDG_DATA_HOME/metainfo/<APP_ID>.metainfo.xml`` - AppStream data for software centres.

``$XDG_DATA_HOME`` defaults to ``~/.local/share``. Every file is written to a temporary name in
its folder and renamed, so a file is either the old or the new one, never half-written.
Installing twice gives the same files; uninstalling removes exactly the files listed by
:func:`planned_files` (and the folders that become empty through that), nothing else.
The caches that ``update-desktop-database`` / ``gtk-update-icon-cache`` keep are refreshed
when those tools exist, and otherwise left alone.

Never imports Qt: the flags are handled before the application starts. The app's entry point
calls :func:`add_arguments` on its argparse parser and :func:`handle_args` on the result (or
:func:`handle_desktop_flags` on a raw argument list).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from cisr_zoom.core.atomic import atomic_write_bytes

APP_ID = "io.github.cisrzoom.CisrZoom"
"""The desktop-file ID (without ``.desktop``), AppStream component ID and icon name."""

ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)
"""PNG icon edge lengths in pixels, shipped as ``resources/icons/cisr-zoom-<N>.png``."""

INSTALL_FLAG = "--install-desktop"
UNINSTALL_FLAG = "--uninstall-desktop"

# Characters that force quoting of an Exec argument (Desktop Entry spec, "The Exec key").
_RESERVED = set(' \t\n"\'\\><~|&;$*?#()`')


def data_home(environ: dict[str, str] | None = None) -> Path:
    """The user's XDG data folder: ``$XDG_DATA_HOME`` when set and absolute, else ``~/.local/share``."""
    env = os.environ if environ is None else environ
    value = env.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def launch_command() -> list[str]:
    """The absolute command line that starts this installation of the app (file argument not included).

    A frozen bundle (PyInstaller) is its own executable; a pip install runs the ``cisr-zoom``
    script that started this process, else the one beside the running Python (a virtual
    environment's ``bin/``), else the one on ``PATH``, else ``python -m cisr_zoom.app.main``.
    Paths are made absolute but symbolic links are kept (resolving a venv's python would leave the venv).
    """
    if getattr(sys, "frozen", False):
        return [os.path.abspath(sys.executable)]
    candidates = []
    if sys.argv and sys.argv[0]:
        candidates.append(Path(sys.argv[0]))
    scripts = Path(sys.executable).parent
    candidates += [scripts / "cisr-zoom", scripts / "cisr-zoom.exe"]
    on_path = shutil.which("cisr-zoom")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.stem == "cisr-zoom" and candidate.is_file():
            return [os.path.abspath(candidate)]
    return [os.path.abspath(sys.executable), "-m", "cisr_zoom.app.main"]


def _quote_exec_arg(arg: str) -> str:
    """One Exec argument, quoted per the Desktop Entry spec (before the file-level string escaping)."""
    if "\n" in arg or "\r" in arg:
        raise ValueError(f"a path with a line break cannot be put in a desktop entry: {arg!r}")
    arg = arg.replace("%", "%%")
    if not arg or any(c in _RESERVED for c in arg):
        arg = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return arg


def _escape_string(value: str) -> str:
    """Escape a value of type string for a .desktop file (backslash is the only one a path needs)."""
    return value.replace("\\", "\\\\")


def desktop_entry_text(command: list[str], template: str | None = None) -> str:
    """The .desktop file to install: the shipped entry with Exec/TryExec set to ``command`` (+ ``%f``)."""
    if template is None:
        template = _resource_bytes("desktop", f"{APP_ID}.desktop").decode("utf-8")
    exec_value = _escape_string(" ".join(_quote_exec_arg(a) for a in command) + " %f")
    out = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + exec_value
        elif line.startswith("TryExec="):
            line = "TryExec=" + _escape_string(command[0])
        out.append(line)
    return "\n".join(out) + "\n"


def _resource_bytes(*parts: str) -> bytes:
    return resources.files("cisr_zoom.resources").joinpath(*parts).read_bytes()


def planned_files(home: Path, command: list[str] | None = None) -> dict[Path, bytes]:
    """Every file :func:`install_desktop` writes under the data folder ``home``, with its content."""
    command = launch_command() if command is None else command
    files = {
        home / "applications" / f"{APP_ID}.desktop": desktop_entry_text(command).encode("utf-8"),
        home / "metainfo" / f"{APP_ID}.metainfo.xml": _resource_bytes("desktop", f"{APP_ID}.metainfo.xml"),
        home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg": _resource_bytes("icons", "cisr-zoom.svg"),
    }
    for n in ICON_SIZES:
        files[home / "icons" / "hicolor" / f"{n}x{n}" / "apps" / f"{APP_ID}.png"] = _resource_bytes(
            "icons", f"cisr-zoom-{n}.png")
    return files


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data, mode=0o644)


def _refresh_caches(home: Path) -> None:
    """Refresh desktop/icon caches when the tools exist; missing tools or failures are ignored.

    The icon cache is only rebuilt where one already exists: creating a user-level
    ``icon-theme.cache`` would hide icons that other programs later install without updating it.
    Touching the theme folder is how the icon theme spec says "something changed".
    """
    apps = home / "applications"
    hicolor = home / "icons" / "hicolor"
    jobs = []
    if apps.is_dir() and shutil.which("update-desktop-database"):
        jobs.append(["update-desktop-database", "-q", str(apps)])
    if (hicolor / "icon-theme.cache").is_file() and shutil.which("gtk-update-icon-cache"):
        jobs.append(["gtk-update-icon-cache", "-q", "-t", "-f", str(hicolor)])
    for cmd in jobs:
        try:
            subprocess.run(cmd, check=False, timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError):
            pass
    if hicolor.is_dir():
        try:
            os.utime(hicolor)
        except OSError:
            pass


def install_desktop(home: Path | None = None, command: list[str] | None = None,
                    refresh_caches: bool = True) -> list[Path]:
    """Install the desktop entry, icons and metainfo for this user; returns the files (idempotent)."""
    home = data_home() if home is None else Path(home)
    files = planned_files(home, command)
    for path, data in files.items():
        try:
            if path.is_file() and path.read_bytes() == data:
                continue
        except OSError:
            pass
        _atomic_write(path, data)
    if refresh_caches:
        _refresh_caches(home)
    return list(files)


def uninstall_desktop(home: Path | None = None, refresh_caches: bool = True) -> list[Path]:
    """Remove what :func:`install_desktop` wrote (and folders left empty by that); returns the removed files."""
    home = Path(data_home() if home is None else home)
    removed = []
    for path in planned_files(home, command=["cisr-zoom"]):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
        folder = path.parent
        while folder != home and home in folder.parents:
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                break
            folder = folder.parent
    if refresh_caches:
        _refresh_caches(home)
    return removed


def _say(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    if stream is not None:  # a Windows GUI executable has no console streams
        print(text, file=stream)


def _install_or_uninstall(install: bool) -> int:
    """Do the work of one flag; the process exit status (0 done, 1 failed, 2 unsupported here)."""
    if sys.platform.startswith(("win", "darwin")):
        _say("cisr-zoom: desktop entries are for Linux desktops; on Windows and macOS use the "
             "stand-alone bundle (a .exe / .app) instead.", err=True)
        return 2
    home = data_home()
    try:
        if install:
            written = install_desktop(home)
            _say(f"Installed the CiSR Zoom desktop entry, icons and metainfo under {home} "
                 f"(starts: {' '.join(launch_command())}).")
            _say(f"  {written[0]}")
        else:
            removed = uninstall_desktop(home)
            _say(f"Removed {len(removed)} CiSR Zoom desktop file(s) from {home}.")
    except (OSError, ValueError) as exc:
        _say(f"cisr-zoom: desktop integration failed: {exc}", err=True)
        return 1
    return 0


def add_arguments(parser) -> None:
    """Add ``--install-desktop`` / ``--uninstall-desktop`` to the app's argparse parser."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(INSTALL_FLAG, action="store_true",
                       help="add CiSR Zoom to this user's application menu and 'Open with' list "
                            "(Linux; XDG_DATA_HOME or ~/.local/share), then exit")
    group.add_argument(UNINSTALL_FLAG, action="store_true",
                       help=f"remove what {INSTALL_FLAG} added, then exit")


def handle_args(args) -> int | None:
    """Act on the parsed flags of :func:`add_arguments`: an exit status, or None to start the app."""
    if getattr(args, "install_desktop", False):
        return _install_or_uninstall(install=True)
    if getattr(args, "uninstall_desktop", False):
        return _install_or_uninstall(install=False)
    return None


def handle_desktop_flags(argv: list[str] | None = None) -> int | None:
    """Same as :func:`handle_args` for a raw argument list (``sys.argv[1:]`` when None)."""
    args = sys.argv[1:] if argv is None else list(argv)
    install, uninstall = INSTALL_FLAG in args, UNINSTALL_FLAG in args
    if install and uninstall:
        _say(f"cisr-zoom: use either {INSTALL_FLAG} or {UNINSTALL_FLAG}, not both.", err=True)
        return 2
    if install or uninstall:
        return _install_or_uninstall(install)
    return None
