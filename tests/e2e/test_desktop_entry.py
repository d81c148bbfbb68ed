"""``alexnet-studio install-desktop``: the Linux menu entry, its icons, and a launch through it.

Every test points ``XDG_DATA_HOME`` at a temporary folder, so the real menu is never touched.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from alexnet_tf.desktop import ICON_SIZES, desktop_entry_text, install_desktop_entry
from tests.cli import run_cli
from tests.model_fixtures import install_random_weights

pytestmark = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="freedesktop menu entries are Linux/BSD only"
)
MIME_TYPES = {"image/jpeg", "image/png", "image/bmp", "image/gif", "image/webp", "image/tiff"}


@pytest.fixture
def xdg_data(tmp_path, monkeypatch):
    """An XDG data folder that already holds another app's entry and icon."""
    folder = tmp_path / "xdg-data"
    (folder / "applications").mkdir(parents=True)
    (folder / "applications" / "other.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Other\nExec=other %F\nMimeType=image/png;\n"
    )
    (folder / "icons/hicolor/48x48/apps").mkdir(parents=True)
    Image.new("RGB", (48, 48), "red").save(folder / "icons/hicolor/48x48/apps/other.png")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


def files_under(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*") if path.is_file()}


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def exec_argv(exec_value: str, files: list[str]) -> list[str]:
    """Expand an Exec value as a launcher does (Desktop Entry spec), independently of the app."""
    unescaped = exec_value.encode().decode("unicode_escape")  # \\ \s \n \t of string values
    words, word, quoted, escaped, started = [], "", False, False, False
    for char in unescaped:
        if escaped:  # inside quotes, \ escapes " ` $ and \ itself
            word, escaped = word + char, False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted, started = not quoted, True
        elif char == " " and not quoted:
            if started:
                words.append(word)
            word, started = "", False
        else:
            word, started = word + char, True
    if started:
        words.append(word)
    argv = []
    for word in words:
        if word == "%F":
            argv.extend(files)
        else:
            argv.append(word.replace("%%", "%"))
    return argv


def validate(path: Path) -> str:
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-validate is missing: apt-get install desktop-file-utils")
    result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_install_writes_a_valid_entry_and_icons_and_uninstall_removes_them(xdg_data):
    before = files_under(xdg_data)
    result = run_cli("install-desktop")
    assert result.returncode == 0, result.stderr
    entry_file = xdg_data / "applications" / "alexnet-studio.desktop"
    assert str(entry_file) in result.stdout

    assert validate(entry_file) == "", "desktop-file-validate has warnings or hints"
    entry = read_entry(entry_file)
    assert entry["Name"] == "AlexNet Studio"
    assert entry["Icon"] == "alexnet-studio"
    assert set(entry["MimeType"].rstrip(";").split(";")) == MIME_TYPES
    program = Path(exec_argv(entry["Exec"], [])[0])
    assert program.is_absolute() and os.access(program, os.X_OK), entry["Exec"]
    assert entry["Exec"].endswith(" %F")

    for size in ICON_SIZES:
        icon = xdg_data / f"icons/hicolor/{size}x{size}/apps/alexnet-studio.png"
        assert str(icon) in result.stdout
        assert Image.open(icon).size == (size, size)
    svg = xdg_data / "icons/hicolor/scalable/apps/alexnet-studio.svg"
    assert svg.read_text().lstrip().startswith("<?xml")
    if shutil.which("update-desktop-database"):  # "Open with" lists the app for images
        cache = (xdg_data / "applications" / "mimeinfo.cache").read_text()
        assert "image/jpeg=" in cache and "alexnet-studio.desktop" in cache

    result = run_cli("install-desktop", "--uninstall")
    assert result.returncode == 0, result.stderr
    assert str(entry_file) in result.stdout
    cache = Path("applications/mimeinfo.cache")
    assert files_under(xdg_data) - {cache} == before, "uninstall left files or removed others'"
    if (xdg_data / cache).exists():
        assert "alexnet-studio" not in (xdg_data / cache).read_text()
    assert not (xdg_data / "icons/hicolor/16x16").exists(), "empty icon folders were left"

    again = run_cli("install-desktop", "--uninstall")
    assert again.returncode == 0 and "Nothing to remove" in again.stdout


def test_exec_line_quotes_awkward_program_paths(tmp_path):
    command = ['/opt/My Apps/100% "AI" $HOME/bin\\x/alexnet-studio']
    entry_file = tmp_path / "alexnet-studio.desktop"
    entry_file.write_text(desktop_entry_text(command))
    validate(entry_file)
    assert exec_argv(read_entry(entry_file)["Exec"], ["/a b.png"]) == [*command, "/a b.png"]


@pytest.mark.slow
def test_launching_the_exec_line_opens_the_window_with_the_image(xdg_data, tmp_path):
    install_random_weights()  # into this test's ALEXNET_STUDIO_HOME, inherited by the app
    install_desktop_entry()
    photo = tmp_path / "holiday photos" / "beach (1).png"
    photo.parent.mkdir()
    Image.radial_gradient("L").convert("RGB").resize((320, 240)).save(photo)

    entry = read_entry(xdg_data / "applications" / "alexnet-studio.desktop")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ALEXNET_STUDIO_EXIT_AFTER_SHOWN": "1"}
    env["PYTHONFAULTHANDLER"] = "1"  # a hung app prints its threads' stacks on SIGABRT
    app = subprocess.Popen(
        exec_argv(entry["Exec"], [str(photo)]),
        env=env,
        cwd=tmp_path,  # a menu starts the app from the home folder, not from this checkout
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = app.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        app.send_signal(signal.SIGABRT)
        stdout, stderr = app.communicate()
        pytest.fail(f"the app did not quit; stdout:\n{stdout}\nstderr:\n{stderr[-6000:]}")
    result = subprocess.CompletedProcess(app.args, app.returncode, stdout, stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert reports, f"the window never showed the image; stderr:\n{result.stderr[-3000:]}"
    assert reports[-1]["shown"] == str(photo)
    assert reports[-1]["visible"] is True
    assert "beach (1).png" in reports[-1]["title"]
