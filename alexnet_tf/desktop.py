"""Add AlexNet Studio to the desktop's menu, so it starts with a double-click or "Open with".

On Linux (and other freedesktop systems) this writes a ``.desktop`` entry and the icons into
the user's ``$XDG_DATA_HOME`` (``~/.local/share`` by default); no root rights are needed and
``uninstall_desktop_entry`` removes exactly those files. On Windows and macOS a shortcut is made
with the optional ``pyshortcuts`` library.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DesktopIntegrationError
from .fileio import write_bytes_atomic, write_text_atomic
from .paths import resource_path

APP_ID = "alexnet-studio"  # desktop file, icon and executable name
APP_NAME = "AlexNet Studio"
DESKTOP_FILE = f"{APP_ID}.desktop"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
MIME_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/gif", "image/webp", "image/tiff")
# One main category (Science) and two additional ones: with several main categories (e.g.
# Graphics;Science;Education) menus list the app once per category; desktop-file-validate warns.
CATEGORIES = ("Science", "ArtificialIntelligence", "ImageProcessing")
COMMENT = "Classify images with AlexNet, look inside every layer, fine-tune it on your own images"
PYSHORTCUTS_HINT = (
    "Making a shortcut on this system needs the pyshortcuts package: run "
    "`python -m pip install pyshortcuts` in the environment AlexNet Studio is installed in, "
    "then `alexnet-studio install-desktop` again."
)

# Characters the Desktop Entry spec reserves in Exec arguments (they need double quotes).
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


@dataclass
class DesktopChanges:
    """What an install or uninstall did, for the command line to print."""

    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def xdg_data_home() -> Path:
    """``$XDG_DATA_HOME``, or ``~/.local/share`` when it is unset or not absolute (the spec)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def desktop_entry_path() -> Path:
    """Where the menu entry goes: ``$XDG_DATA_HOME/applications/alexnet-studio.desktop``."""
    return xdg_data_home() / "applications" / DESKTOP_FILE


def icon_paths() -> dict[Path, str]:
    """Installed icon file -> the resource it is copied from, in the hicolor theme."""
    theme = xdg_data_home() / "icons" / "hicolor"
    icons = {
        theme / f"{size}x{size}" / "apps" / f"{APP_ID}.png": f"icons/{APP_ID}-{size}.png"
        for size in ICON_SIZES
    }
    icons[theme / "scalable" / "apps" / f"{APP_ID}.svg"] = f"icons/{APP_ID}.svg"
    return icons


def launch_command() -> list[str]:
    """The absolute command that starts the app from this installation.

    The ``alexnet-studio`` script beside this Python comes first (a virtual environment's
    ``bin/``), so the menu starts the same installation that wrote the entry, even when
    that environment is not activated; then one on ``PATH``; else ``python -m app.launch``.
    """
    # sys.executable is not resolved: a venv's python is a symlink out of the venv.
    interpreter = Path(sys.executable).absolute()
    names = (f"{APP_ID}.exe", APP_ID) if sys.platform == "win32" else (APP_ID,)
    for name in names:
        beside = interpreter.parent / name
        if beside.is_file() and os.access(beside, os.X_OK):
            return [str(beside)]
    on_path = shutil.which(APP_ID)
    if on_path:
        return [str(Path(on_path).absolute())]
    return [str(interpreter), "-m", "app.launch"]


def _quote_exec_argument(argument: str) -> str:
    """Quote one argument of an Exec line as the Desktop Entry spec says."""
    if _EXEC_RESERVED & set(argument):
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in argument)
        argument = f'"{escaped}"'
    return argument.replace("%", "%%")


def _escape_value(value: str) -> str:
    """Escape a string value of a desktop file (backslash, newline, tab)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def desktop_entry_text(command: list[str]) -> str:
    """The ``.desktop`` file that runs ``command`` with the files to open (``%F``)."""
    exec_line = " ".join(_quote_exec_argument(argument) for argument in command) + " %F"
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",  # the newest version desktop-file-validate 0.26 knows
        f"Name={APP_NAME}",
        "GenericName=Image Classifier",
        f"Comment={COMMENT}",
        f"Exec={_escape_value(exec_line)}",
        # the menu hides the entry if the program is gone (e.g. its environment was deleted)
        f"TryExec={_escape_value(command[0])}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "StartupNotify=true",
        f"Categories={';'.join(CATEGORIES)};",
        f"MimeType={';'.join(MIME_TYPES)};",
        "Keywords=AlexNet;neural network;deep learning;ImageNet;classifier;feature map;",
    ]
    return "\n".join(lines) + "\n"


def _refresh_caches(changes: DesktopChanges) -> None:
    """Tell the desktop about the change; the tools are optional, so their absence is fine."""
    applications = desktop_entry_path().parent
    commands = [["update-desktop-database", "-q", str(applications)]]
    theme = xdg_data_home() / "icons" / "hicolor"
    # Only refresh an icon cache that exists: a new one would be a file we could not remove
    # on uninstall without deleting other apps' entries, and icons are found without one.
    if (theme / "icon-theme.cache").exists():
        commands.append(["gtk-update-icon-cache", "-q", "-t", "-f", str(theme)])
    for command in commands:
        if shutil.which(command[0]) is None:
            changes.notes.append(f"{command[0]} is not installed; skipped (not required).")
            continue
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            changes.notes.append(f"{command[0]} did not run: {error}")
            continue
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            changes.notes.append(f"{command[0]} failed (ignored): {detail[0]}")
        else:
            changes.notes.append(f"Ran {command[0]}.")


def _install_freedesktop() -> DesktopChanges:
    changes = DesktopChanges()
    command = launch_command()
    if command[1:2] == ["-m"]:
        changes.notes.append(
            f"No {APP_ID} executable found; the entry runs {command[0]} -m app.launch."
        )
    for destination, resource in icon_paths().items():
        write_bytes_atomic(destination, resource_path(resource).read_bytes())
        changes.written.append(destination)
    entry = desktop_entry_path()
    write_text_atomic(entry, desktop_entry_text(command))
    entry.chmod(0o755)  # some file managers only launch entries marked executable
    changes.written.append(entry)
    _refresh_caches(changes)
    return changes


def _uninstall_freedesktop() -> DesktopChanges:
    changes = DesktopChanges()
    for path in [desktop_entry_path(), *icon_paths()]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        changes.removed.append(path)
    # Prune the <size>/apps folders install may have made, but only if nothing else is in them.
    theme = xdg_data_home() / "icons" / "hicolor"
    for path in icon_paths():
        for folder in (path.parent, path.parent.parent):
            if folder != theme:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # fails, harmlessly, when the folder is not empty
    _refresh_caches(changes)
    return changes


def _pyshortcuts():
    try:
        import pyshortcuts
    except ImportError:
        raise DesktopIntegrationError(PYSHORTCUTS_HINT) from None
    return pyshortcuts


def _shortcut_icon() -> Path:
    return resource_path(f"icons/{APP_ID}.{'ico' if sys.platform == 'win32' else 'icns'}")


def _shortcut_files(pyshortcuts, command: list[str]) -> list[Path]:
    """The files pyshortcuts makes for ``command`` (desktop, and Start Menu on Windows)."""
    from pyshortcuts.shortcut import shortcut

    spec = shortcut(command[0], pyshortcuts.get_folders(), name=APP_NAME)
    folders = [spec.desktop_dir] + ([spec.startmenu_dir] if sys.platform == "win32" else [])
    return [Path(folder) / spec.target for folder in folders]


def _install_shortcut() -> DesktopChanges:
    pyshortcuts = _pyshortcuts()
    command = launch_command()
    if len(command) > 1:
        raise DesktopIntegrationError(
            f"No {APP_ID} executable was found beside {sys.executable} or on PATH, so there "
            "is nothing for a shortcut to start. Reinstall AlexNet Studio with pip."
        )
    if " " in command[0]:  # pyshortcuts splits its command at the first space
        raise DesktopIntegrationError(
            f"{command[0]} has a space in its path, which pyshortcuts cannot handle. Make the "
            "shortcut by hand: right-click that file and choose 'Send to > Desktop' (Windows) "
            "or 'Make Alias' (macOS), or reinstall into a folder without spaces."
        )
    pyshortcuts.make_shortcut(
        command[0],
        name=APP_NAME,
        description=COMMENT,
        icon=str(_shortcut_icon()),
        terminal=False,
        desktop=True,
        startmenu=sys.platform == "win32",
    )
    files = [path for path in _shortcut_files(pyshortcuts, command) if path.exists()]
    return DesktopChanges(written=files)


def _uninstall_shortcut() -> DesktopChanges:
    pyshortcuts = _pyshortcuts()
    changes = DesktopChanges()
    for path in _shortcut_files(pyshortcuts, launch_command()):
        if path.is_dir():  # a macOS .app bundle
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        changes.removed.append(path)
    return changes


def is_freedesktop() -> bool:
    """Whether this system's menus follow freedesktop.org (Linux, BSD), not Windows or macOS."""
    return sys.platform not in ("win32", "darwin")


def install_desktop_entry() -> DesktopChanges:
    """Add AlexNet Studio to the desktop's menu, registered to open images.

    Returns:
        What was written where, and notes on the optional cache tools.

    Raises:
        DesktopIntegrationError: On Windows or macOS when ``pyshortcuts`` is not installed.
        OSError: When a file cannot be written (the message names it).
    """
    return _install_freedesktop() if is_freedesktop() else _install_shortcut()


def uninstall_desktop_entry() -> DesktopChanges:
    """Remove exactly what ``install_desktop_entry`` wrote; absent files are not an error."""
    return _uninstall_freedesktop() if is_freedesktop() else _uninstall_shortcut()
