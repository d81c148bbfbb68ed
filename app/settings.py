"""What the app remembers between runs: window geometry, last folder, recent images.

Stored with ``QSettings`` in an INI file inside the data folder, so it moves with the rest of
the user's data and tests (which set ``ALEXNET_STUDIO_HOME``) never touch the real one.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from alexnet_tf.paths import data_home

MAX_RECENT = 10


class AppSettings:
    """Typed access to the app's ``QSettings``."""

    def __init__(self):
        self._settings = QSettings(str(data_home() / "settings.ini"), QSettings.Format.IniFormat)

    def geometry(self) -> QByteArray | None:
        value = self._settings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self._settings.setValue("window/geometry", geometry)

    def window_state(self) -> QByteArray | None:
        value = self._settings.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def set_window_state(self, state: QByteArray) -> None:
        self._settings.setValue("window/state", state)

    def last_folder(self) -> str:
        """The folder of the last opened image, or the home folder."""
        folder = self._settings.value("files/last_folder", "")
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def set_last_folder(self, folder: str | Path) -> None:
        self._settings.setValue("files/last_folder", str(folder))

    def recent_images(self) -> list[str]:
        """Recently opened images, newest first (only those that still exist)."""
        value = self._settings.value("files/recent", [])
        if isinstance(value, str):  # QSettings returns a lone string for one-item lists
            value = [value]
        return [path for path in (value or []) if Path(path).is_file()]

    def add_recent_image(self, path: str | Path) -> None:
        path = str(path)
        recent = [p for p in self.recent_images() if p != path]
        self._settings.setValue("files/recent", [path, *recent][:MAX_RECENT])

    def inference_precision(self) -> str:
        """``"fp32"`` (exact, the default) or ``"bf16"`` (faster on CPUs with bf16 units)."""
        value = self._settings.value("inference/precision", "fp32")
        return value if value in ("fp32", "bf16") else "fp32"

    def set_inference_precision(self, precision: str) -> None:
        self._settings.setValue("inference/precision", precision)

    def atlas_folder(self) -> str | None:
        """The folder the Layers view's unit atlas was last built from, if it still exists."""
        folder = self._settings.value("atlas/folder", "")
        return folder if folder and Path(folder).is_dir() else None

    def set_atlas_folder(self, folder: str | Path) -> None:
        self._settings.setValue("atlas/folder", str(folder))

    def sync(self) -> None:
        self._settings.sync()
