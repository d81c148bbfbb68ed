"""A small image-folder dataset with visually distinct classes, for scan and training tests.

``make_image_folder(root)`` writes ``root/<class>/<image>`` files that AlexNet learns in a few
epochs even from scratch (each class is a different kind of pattern), with random position,
scale, colour and noise so it is not trivial, plus (by default) the bad files a user's folder
really has. It returns what it wrote, so tests can assert the scan's report exactly.

Keep the signature stable: the scan, training-engine and app tests all use it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# Class folder names, in sorted order, so label i is CLASS_NAMES[i] for the first n classes.
CLASS_NAMES = ("a_blobs", "b_hstripes", "c_vstripes", "d_checkers", "e_rings", "f_triangles")


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """Dim noise, so no class is identifiable from a flat background alone."""
    level = int(rng.integers(20, 90))
    noise = rng.integers(0, 40, (size, size, 3))
    return Image.fromarray(np.clip(level + noise, 0, 255).astype(np.uint8), "RGB")


def _colour(rng: np.random.Generator, dominant: int | None = None) -> tuple[int, int, int]:
    rgb = [int(v) for v in rng.integers(60, 160, 3)]
    if dominant is not None:
        rgb = [int(v) // 2 for v in rgb]
        rgb[dominant] = int(rng.integers(200, 256))
    return tuple(rgb)


def _blobs(draw, rng, size):  # red-dominant filled ellipses
    for _ in range(int(rng.integers(2, 5))):
        r = rng.uniform(0.1, 0.25) * size
        cx, cy = rng.uniform(r, size - r, 2)
        draw.ellipse((cx - r, cy - r * rng.uniform(0.6, 1.4), cx + r, cy + r), fill=_colour(rng, 0))


def _stripes(draw, rng, size, horizontal: bool):
    period = int(rng.integers(max(4, size // 10), max(6, size // 4)))
    width = max(2, period // 2)
    offset = int(rng.integers(0, period))
    colour = _colour(rng)
    for start in range(-period + offset, size, period):
        box = (0, start, size, start + width) if horizontal else (start, 0, start + width, size)
        draw.rectangle(box, fill=colour)


def _checkers(draw, rng, size):
    cell = int(rng.integers(max(3, size // 10), max(5, size // 5)))
    ox, oy = rng.integers(0, cell, 2)
    colour = _colour(rng, 2)  # blue-dominant
    for y in range(-cell, size, cell):
        for x in range(-cell, size, cell):
            if ((x + y) // cell) % 2 == 0:
                draw.rectangle((x + ox, y + oy, x + ox + cell - 1, y + oy + cell - 1), fill=colour)


def _rings(draw, rng, size):  # green circles (outlines)
    for _ in range(int(rng.integers(1, 4))):
        r = rng.uniform(0.15, 0.4) * size
        cx, cy = rng.uniform(r * 0.5, size - r * 0.5, 2)
        width = max(2, size // 20)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=_colour(rng, 1), width=width)


def _triangles(draw, rng, size):  # yellow-ish filled triangles
    for _ in range(int(rng.integers(1, 4))):
        s = rng.uniform(0.25, 0.5) * size
        x, y = rng.uniform(0, size - s, 2)
        colour = (
            int(rng.integers(200, 256)),
            int(rng.integers(180, 240)),
            int(rng.integers(0, 60)),
        )
        draw.polygon([(x, y + s), (x + s, y + s), (x + s / 2, y)], fill=colour)


_PAINTERS = (
    _blobs,
    lambda d, r, s: _stripes(d, r, s, horizontal=True),
    lambda d, r, s: _stripes(d, r, s, horizontal=False),
    _checkers,
    _rings,
    _triangles,
)


def make_class_image(label: int, size: int = 64, rng: np.random.Generator | None = None):
    """One RGB Pillow image of class ``label`` (0 <= label < 6), randomised by ``rng``."""
    rng = np.random.default_rng() if rng is None else rng
    image = _background(rng, size)
    _PAINTERS[label](ImageDraw.Draw(image), rng, size)
    pixels = np.asarray(image, np.int16) + rng.integers(-12, 13, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _truncated_jpeg(rng: np.random.Generator, size: int) -> bytes:
    import io

    buffer = io.BytesIO()
    make_class_image(0, size, rng).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    return data[: len(data) // 2]


def make_image_folder(
    root: str | Path,
    classes: int = 3,
    per_class: int = 20,
    size: int = 64,
    bad_files: bool = True,
    seed: int = 0,
) -> dict:
    """Write a dataset folder of visually distinct classes (and, optionally, bad files).

    Args:
        root: the folder to create (parents too); it may exist but should be empty.
        classes: number of classes, 1 to 6 (names ``CLASS_NAMES[:classes]``: blobs,
            horizontal stripes, vertical stripes, checkerboards, rings, triangles).
        per_class: good images per class. Most are JPEG; every fifth is a PNG, and in the
            first class one sits in a nested sub-folder (it still belongs to that class).
        size: width and height of the images in pixels.
        bad_files: also write, in the first class folder, a truncated JPEG and an AppleDouble
            ``._<name>.jpg`` file; in the last, a text file named ``.jpg`` and a ``Thumbs.db``;
            and ``.DS_Store`` in the root. These never become training images.
        seed: the random seed; the same arguments write the same files.

    Returns:
        A dict: ``root`` (Path), ``classes`` (list of names, sorted), ``counts`` (good images
        per class), ``num_images``, ``images`` (class -> list of Paths), ``refused`` (Paths a
        scan must refuse: truncated, not an image), ``skipped`` (Paths a scan must skip:
        hidden and system files).
    """
    if not 1 <= classes <= len(_PAINTERS):
        raise ValueError(f"classes must be between 1 and {len(_PAINTERS)}. Received: {classes=}")
    if per_class < 0:
        raise ValueError(f"per_class must be >= 0. Received: {per_class=}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    names = list(CLASS_NAMES[:classes])
    images: dict[str, list[Path]] = {}
    for label, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(per_class):
            image = make_class_image(label, size, rng)
            if label == 0 and i == 1:
                (folder / "nested").mkdir(exist_ok=True)
                path = folder / "nested" / f"{name}_{i:03d}.jpg"
            elif i % 5 == 4:
                path = folder / f"{name}_{i:03d}.png"
            else:
                path = folder / f"{name}_{i:03d}.jpg"
            if path.suffix == ".jpg":
                image.save(path, quality=92)
            else:
                image.save(path)
            paths.append(path)
        images[name] = sorted(paths)
    refused: list[Path] = []
    skipped: list[Path] = []
    if bad_files:
        first, last = root / names[0], root / names[-1]
        truncated = first / "truncated.jpg"
        truncated.write_bytes(_truncated_jpeg(rng, size))
        apple_double = first / f"._{names[0]}_000.jpg"
        apple_double.write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64))
        text = last / "notes.jpg"
        text.write_text("This is a text file someone named .jpg\n", encoding="utf-8")
        thumbs = last / "Thumbs.db"
        thumbs.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(120))
        ds_store = root / ".DS_Store"
        ds_store.write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
        refused = sorted([truncated, text])
        skipped = sorted([apple_double, thumbs, ds_store])
    counts = {name: len(paths) for name, paths in images.items()}
    return {
        "root": root,
        "classes": names,
        "counts": counts,
        "num_images": sum(counts.values()),
        "images": images,
        "refused": refused,
        "skipped": skipped,
    }
