"""The library's exceptions. Each message names the file and the reason, and says what to do."""

from __future__ import annotations

from pathlib import Path


class AlexNetStudioError(Exception):
    """Base class of every error this project raises on purpose."""


class ImageLoadError(AlexNetStudioError):
    """A user's image could not be read. ``path`` and ``reason`` are kept for reports."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class WeightsError(AlexNetStudioError):
    """A weight file is missing, malformed, unsafe or does not fit the model."""


class WeightsNotInstalledError(WeightsError):
    """No ImageNet weights are installed yet."""

    def __init__(self):
        super().__init__(
            "No ImageNet weights are installed, so predictions would be meaningless. "
            "Run `alexnet-studio weights download` (about 240 MB) or "
            "`alexnet-studio weights import FILE` with a bvlc_alexnet.caffemodel or .npy you have."
        )


class DownloadError(AlexNetStudioError):
    """A download failed; any partial file is kept for resuming, never installed."""


class ModelLoadError(AlexNetStudioError):
    """A model file could not be loaded (missing, damaged, or refused by safe mode)."""


class ModelOutputError(AlexNetStudioError):
    """A model produced NaN or infinite outputs: its answer is refused, never shown."""


class DatasetError(AlexNetStudioError):
    """A dataset folder cannot be used for training; the message lists what to fix."""


class ExportError(AlexNetStudioError):
    """A trained model cannot be exported (no model yet, bad format, destination exists)."""


class DesktopIntegrationError(AlexNetStudioError):
    """The app could not be added to (or removed from) the desktop's menu."""


class DamagedFileError(AlexNetStudioError):
    """A file this project wrote earlier (a cache, a job file) is damaged or not its own.

    Readers treat such a file as absent (a cache) or the job as damaged, naming ``path``.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DestinationError(AlexNetStudioError):
    """An output path cannot be written (a folder where a file goes, read-only, no space).

    The command line exits with status 2 on it, naming ``path`` and the reason.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ExportDestinationError(DestinationError, ExportError):
    """An export's destination exists and may not be replaced, or cannot be written."""
