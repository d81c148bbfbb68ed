"""Decoding a list of image files in chunks, one chunk ahead of the model (classify, evaluate).

Decoding photos costs more than classifying them (a 12 MP JPEG takes ~150 ms), so images are
decoded by two threads (Pillow releases the GIL) while the model works on the previous chunk.
Each image is warped to the network's 256x256 in the decoding thread: preprocessing the
256x256 image gives exactly the network input of the full one, and a chunk stays small.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ImageLoadError
from .images import load_image
from .preprocess import resize_for_network


@dataclass
class LoadedImage:
    """One input file: its 256x256 RGB pixels, or why it could not be used.

    Attributes:
        path: the file.
        resized: ``(256, 256, 3)`` uint8 RGB, or ``None`` when ``error`` is set.
        error: the reason the file could not be read (``ImageLoadError.reason``), or ``None``.
        size: ``(width, height)`` of the decoded image (EXIF orientation applied), or ``None``.
    """

    path: Path
    resized: np.ndarray | None = None
    error: str | None = None
    size: tuple[int, int] | None = None


def load_resized(path: Path, problem: str | None = None) -> LoadedImage:
    """Decode one file with the project's loader and warp it to 256x256."""
    if problem is None:
        try:
            image = load_image(path)
            return LoadedImage(path, resize_for_network(image), size=image.size)
        except ImageLoadError as error:
            problem = error.reason
    return LoadedImage(path, None, problem)


def iter_loaded_chunks(
    items: Iterable[tuple[Path, str | None]], chunk_size: int, workers: int = 2
) -> Iterator[list[LoadedImage]]:
    """Yield ``items`` (``(path, known problem or None)``) as decoded chunks, in order.

    The next chunk is decoding while the caller works on the current one; stopping the
    iteration early (``break``, an exception) waits only for the chunk in flight.
    """
    items = list(items)
    chunks = [items[start : start + chunk_size] for start in range(0, len(items), chunk_size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:

        def submit(chunk):
            return [pool.submit(load_resized, path, problem) for path, problem in chunk]

        pending = submit(chunks[0]) if chunks else []
        for index in range(len(chunks)):
            loaded = [future.result() for future in pending]
            pending = submit(chunks[index + 1]) if index + 1 < len(chunks) else []
            try:
                yield loaded
            except GeneratorExit:
                for future in pending:
                    future.cancel()
                raise
