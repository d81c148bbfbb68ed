"""The one loader for users' image files. Everything that opens a user's image calls ``load_image``.

It turns any supported file into upright 8-bit RGB, or raises ``ImageLoadError`` naming the
file and the reason. It checks dimensions before decoding, so a decompression bomb (a small
file with huge dimensions) is refused without allocating its pixels, and it decodes fully, so
a truncated file is caught here rather than in the middle of an epoch.
"""

from __future__ import annotations

import logging
import re
import stat
import warnings
from enum import StrEnum
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError
from .folder_walk import (
    BAD_NAME,
    LINK,
    LINK_BROKEN,
    LINK_INSIDE,
    LINK_OUTSIDE,
    NOT_REGULAR,
    walk_files,
)

# Formats accepted by content, whatever the file is named. MPO is what many cameras write
# for JPEGs with a preview; Pillow reports it separately from JPEG.
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF")
# What Image.open is asked to try. MPO has no opener of its own (the JPEG opener returns
# MPO files), and naming it makes Image.open fail with KeyError on every non-JPEG file.
_OPEN_FORMATS = tuple(name for name in ALLOWED_FORMATS if name != "MPO")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_PIXELS = 64_000_000  # 8000x8000; a decoded RGB image of this size is 192 MB

# Pillow reports what it skips in a damaged file (TIFF tags pointing past the end, corrupt EXIF,
# odd palettes) with warnings and log records, which would print on the terminal of every
# command. The loader's answer is the image or an ImageLoadError naming the file and the reason,
# so these are silenced here, once (a catch_warnings per call would race between the scan's
# decoding threads). Pillow's log records stop at its own logger: the CLI prints WARNING and
# above from the root logger, where they would appear as a bare "ERROR: ..." line.
warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
logging.getLogger("PIL").addHandler(logging.NullHandler())
logging.getLogger("PIL").propagate = False

# Signatures of the allowed formats: a file that has one but cannot be opened is damaged, not
# "not an image".
_SIGNATURES = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")


def _sniff_unsupported(head: bytes) -> str | None:
    """Name formats people commonly have, so the refusal says more than 'not an image'."""
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        kind = "AVIF" if head[8:12] == b"avif" else "HEIC/HEIF"
        return f"{kind} images are not supported; convert it to JPEG or PNG"
    if head.startswith(b"%PDF"):
        return "this is a PDF document, not an image"
    if head.startswith(b"8BPS"):
        return "Photoshop (PSD) files are not supported; export it as JPEG or PNG"
    if head.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        return "PostScript/EPS files are not supported; export it as JPEG or PNG"
    if head.startswith(b"SIMPLE  ="):
        return "FITS files are not supported; export it as JPEG or PNG"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg")):
        return "this is a text/HTML/SVG file, not a photo"
    kind = "WEBP" if head[:4] == b"RIFF" and head[8:12] == b"WEBP" else None
    kind = kind or next((k for sig, k in _SIGNATURES.items() if head.startswith(sig)), None)
    if kind is not None:
        return f"the {kind} data is damaged (its header cannot be read)"
    return None


def _too_large(pillow_message: str, max_pixels: int) -> str:
    """The reason for a file Pillow itself refuses as a decompression bomb (from its header)."""
    declared = re.search(r"\((\d+) pixels\)", pillow_message)
    size = f"{int(declared.group(1)) // 1_000_000} megapixels; " if declared else ""
    return f"image is too large ({size}the limit is {max_pixels // 1_000_000} megapixels)"


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency over white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (and 32-bit integer) greyscale: rescale to 0..255 rather than clip.
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode == "I" and array.max() > 65535:
            top = float(array.max())
        array = np.clip(np.round(array * (255.0 / top)), 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        lo, hi = float(array.min()), float(array.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        image = Image.fromarray(((array - lo) * scale).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("LA", "La", "PA"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def load_image(
    path: str | Path, max_pixels: int = MAX_PIXELS, *, at_least: int | None = None
) -> Image.Image:
    """Load a user's image file as an upright 8-bit RGB Pillow image.

    Args:
        path: the file. Its name and extension do not matter; the content decides.
        max_pixels: images with more pixels are refused before decoding.
        at_least: for a preview only: a JPEG may be decoded at a reduced scale (1/2, 1/4,
            1/8) as long as both sides stay at least this large; much faster for big photos.

    Returns:
        A fully decoded ``PIL.Image.Image`` in mode ``RGB`` with the EXIF orientation applied.

    Raises:
        ImageLoadError: the file is missing, unreadable, not an image, in an unsupported
            format, truncated or damaged, or too large.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # opening a FIFO would block forever
            raise ImageLoadError(path, "not a regular file (a FIFO, socket or device)")
        with open(path, "rb") as file:
            head = file.read(64)
            if not head:
                raise ImageLoadError(path, "the file is empty (0 bytes)")
            file.seek(0)
            try:
                image = Image.open(file, formats=_OPEN_FORMATS)
            except UnidentifiedImageError:
                reason = _sniff_unsupported(head) or "not an image file this app can read"
                raise ImageLoadError(path, reason) from None
            except Image.DecompressionBombError as error:
                raise ImageLoadError(path, _too_large(str(error), max_pixels)) from None
            width, height = image.size
            if width * height > max_pixels:
                raise ImageLoadError(
                    path,
                    f"image is too large ({width}x{height} pixels; "
                    f"the limit is {max_pixels // 1_000_000} megapixels)",
                )
            if width < 1 or height < 1:
                raise ImageLoadError(path, f"image has no pixels ({width}x{height})")
            image.seek(0)  # first frame of animations
            if at_least is not None and image.format == "JPEG":
                image.draft("RGB", (at_least, at_least))
            image.load()
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except IsADirectoryError:
        raise ImageLoadError(path, "this is a folder, not a file") from None
    except PermissionError:
        raise ImageLoadError(path, "permission denied (the file is not readable)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        message = str(error)
        if "truncated" in message.lower():
            reason = "the file is truncated (incomplete download or copy?)"
        else:
            reason = f"the image data is damaged ({message or type(error).__name__})"
        raise ImageLoadError(path, reason) from None
    except Image.DecompressionBombError as error:
        raise ImageLoadError(path, _too_large(str(error), max_pixels)) from None
    except MemoryError:
        raise ImageLoadError(path, "not enough memory to decode this image") from None


def is_hidden_or_system(path: Path) -> bool:
    """Files that operating systems leave beside photos and that are never training images."""
    name = path.name
    return name.startswith(".") or name in ("Thumbs.db", "desktop.ini", "Desktop.ini")


def list_image_files(folder: str | Path) -> list[Path]:
    """Image-like files directly in ``folder`` or below it (sorted, hidden files skipped).

    Symlinks are not followed. Files are selected by extension here only to list a folder
    given to ``classify``; ``load_image`` still decides by content.
    """
    return find_image_files(folder)[0]


class InputProblem(StrEnum):
    """Why a path a user gave (or one found in a folder a user gave) is not read as an image.

    A type, so that callers choose by kind, never by wording; the value is what users read.
    The folder's entries are judged by ``folder_walk``, whose texts these are.
    """

    EMPTY_FOLDER = "no image files in this folder"
    SYMLINK = LINK  # a link given by name is read by the loader; this is the kind's prefix
    LINK_INSIDE = LINK_INSIDE
    LINK_OUTSIDE = LINK_OUTSIDE
    LINK_BROKEN = LINK_BROKEN
    NOT_REGULAR = NOT_REGULAR
    BAD_NAME = BAD_NAME
    UNREADABLE_FOLDER = "the folder cannot be read (no permission, or damaged)"


def find_image_files(
    folder: str | Path, root: str | Path | None = None
) -> tuple[list[Path], list[tuple[Path, InputProblem]]]:
    """``list_image_files(folder)``, and the entries named like images that it passes over.

    The folder is walked by ``folder_walk``'s rules, as ``scan`` and ``evaluate`` walk it;
    ``root`` (default ``folder``) is the folder the user gave, which links may lead back into.

    Returns:
        ``(files, passed_over)``: the sorted image-like regular files, and ``(path, problem)``
        for each symbolic link (saying where it leads), each FIFO, socket or device with an
        image extension, each unreadable folder and each name that is not UTF-8, so a
        command can say why ``photo.jpg`` was not classified instead of dropping it
        silently. Hidden and system entries are left out without a word.
    """
    found = walk_files(folder, root)
    files = [path for path in found.files if path.suffix.lower() in IMAGE_SUFFIXES]
    passed_over = [
        (path, InputProblem(reason) if reason == BAD_NAME else InputProblem.UNREADABLE_FOLDER)
        for path, reason in found.refused
    ] + [
        (path, InputProblem(reason))
        for path, reason in found.skipped
        if not is_hidden_or_system(path)
        and (reason.startswith(LINK) or path.suffix.lower() in IMAGE_SUFFIXES)
        and reason in {problem.value for problem in InputProblem}
    ]
    return files, sorted(passed_over)


def expand_inputs(paths) -> list[tuple[Path, InputProblem | None]]:
    """The one expansion of the paths a user gives (command line, drop, Open): in order,
    ``(path, None)`` for each file to read, ``(path, problem)`` for what will not be.

    A folder becomes the image-like files below it (``folder_walk``'s rules: no links
    followed), and the links and special files that it passes over, each with its
    ``InputProblem``; a folder with none of either is ``(folder, InputProblem.EMPTY_FOLDER)``.
    A file given by name is kept whatever its extension or kind: the loader decides by
    content and refuses what is not a regular file with its own message.
    """
    expanded = []
    for path in map(Path, paths):
        if path.is_dir():
            files, passed_over = find_image_files(path)
            if not files and not passed_over:
                expanded.append((path, InputProblem.EMPTY_FOLDER))
            found = [(file, None) for file in files] + passed_over
            expanded.extend(sorted(found, key=lambda item: item[0]))
        else:
            expanded.append((path, None))
    return expanded
