"""Real photographs for tests, from the sample images that ship with scikit-learn (no download)."""

from __future__ import annotations

from pathlib import Path


def sample_photo(name: str = "china.jpg") -> Path:
    """A real camera JPEG: ``china.jpg`` (640x427) or ``flower.jpg`` (640x427)."""
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images" / name
