"""Image files in every case the loader must handle, written with Pillow (or by hand).

To try them by hand, ``python -m tests.bad_inputs OUT_DIR`` writes them (with the folder
cases) into a dataset folder.

``write_case(name, folder)`` writes one case and returns an ``ImageCase`` saying what
``load_image`` must return: the upright RGB pixels (with a tolerance for lossy formats), or
a refusal whose reason contains a given phrase. ``ACCEPTED`` and ``REFUSED`` list the names.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 64, 48  # not square, so a missed rotation changes the size


@dataclass(frozen=True)
class ImageCase:
    """One test file and what the loader must make of it.

    Attributes:
        name: the case's name.
        path: the file written.
        expected: the ``(H, W, 3)`` uint8 RGB pixels ``load_image`` must return, or ``None``
            when the file must be refused.
        tolerance: largest mean absolute difference allowed (lossy formats).
        reason: a phrase the refusal reason must contain (when ``expected`` is ``None``).
    """

    name: str
    path: Path
    expected: np.ndarray | None = None
    tolerance: float = 0.0
    reason: str | None = None


def upright_pixels() -> np.ndarray:
    """Four flat quadrants of distinct colours plus a white marker top-left: any flip shows."""
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    half_h, half_w = HEIGHT // 2, WIDTH // 2
    pixels[:half_h, :half_w] = (220, 40, 40)  # red, top left
    pixels[:half_h, half_w:] = (40, 200, 60)  # green, top right
    pixels[half_h:, :half_w] = (40, 60, 210)  # blue, bottom left
    pixels[half_h:, half_w:] = (230, 210, 40)  # yellow, bottom right
    pixels[2:10, 2:14] = (255, 255, 255)
    return pixels


def _save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def _case_rgb(fmt: str, suffix: str, tolerance: float = 0.0, **options):
    def write(name: str, folder: Path) -> ImageCase:
        pixels = upright_pixels()
        path = _save(Image.fromarray(pixels), folder / f"{name}{suffix}", format=fmt, **options)
        return ImageCase(name, path, pixels, tolerance)

    return write


def _gif_animated(name: str, folder: Path) -> ImageCase:
    pixels = upright_pixels()  # 5 colours: a GIF palette holds them exactly
    first = Image.fromarray(pixels)
    second = Image.fromarray(np.full_like(pixels, 90))
    path = folder / f"{name}.gif"
    first.save(path, format="GIF", save_all=True, append_images=[second], duration=100, loop=0)
    return ImageCase(name, path, pixels)


def _grayscale(name: str, folder: Path) -> ImageCase:
    grey = np.tile(np.linspace(0, 255, WIDTH).astype(np.uint8), (HEIGHT, 1))
    path = _save(Image.fromarray(grey, mode="L"), folder / f"{name}.png")
    return ImageCase(name, path, np.repeat(grey[..., None], 3, axis=-1))


def _palette(name: str, folder: Path) -> ImageCase:
    pixels = upright_pixels()
    image = Image.fromarray(pixels).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    path = _save(image, folder / f"{name}.png")
    return ImageCase(name, path, pixels)


def _palette_transparent(name: str, folder: Path) -> ImageCase:
    pixels = upright_pixels()
    image = Image.fromarray(pixels).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    index = image.getpixel((WIDTH - 1, HEIGHT - 1))  # the yellow quadrant becomes transparent
    path = _save(image, folder / f"{name}.png", transparency=index)
    expected = pixels.copy()
    expected[HEIGHT // 2 :, WIDTH // 2 :] = 255  # transparent -> white background
    return ImageCase(name, path, expected)


def _rgba(name: str, folder: Path) -> ImageCase:
    pixels = upright_pixels()
    alpha = np.full((HEIGHT, WIDTH, 1), 255, np.uint8)
    alpha[:, WIDTH // 2 :] = 128  # right half half-transparent
    path = _save(
        Image.fromarray(np.concatenate([pixels, alpha], -1), "RGBA"), folder / f"{name}.png"
    )
    a = alpha.astype(np.float64) / 255.0
    expected = np.round(pixels * a + 255.0 * (1 - a)).astype(np.uint8)  # over white
    return ImageCase(name, path, expected, tolerance=1.0)


def _cmyk_jpeg(name: str, folder: Path) -> ImageCase:
    pixels = upright_pixels()
    rgb = pixels.astype(np.int32)
    black = 255 - rgb.max(axis=-1, keepdims=True)  # a real separation, with a K channel
    cmy = np.where(black < 255, (255 - rgb - black) * 255 // np.maximum(255 - black, 1), 0)
    cmyk = np.concatenate([cmy, black], -1).astype(np.uint8)
    image = Image.fromarray(cmyk, mode="CMYK")
    path = _save(image, folder / f"{name}.jpg", format="JPEG", quality=95)
    return ImageCase(name, path, pixels, tolerance=6.0)


def _png16(name: str, folder: Path) -> ImageCase:
    values = np.tile(np.linspace(0, 65535, WIDTH), (HEIGHT, 1)).round().astype(np.uint16)
    path = _save(Image.fromarray(values), folder / f"{name}.png")
    grey = np.round(values / 65535.0 * 255.0).astype(np.uint8)  # rescaled, not clipped at 255
    return ImageCase(name, path, np.repeat(grey[..., None], 3, axis=-1), tolerance=0.5)


# How each EXIF orientation stores an upright picture, from the EXIF specification's meaning of
# the tag (where the stored row 0 / column 0 belong), written with NumPy, not Pillow.
_STORE_FOR_ORIENTATION = {
    2: lambda a: a[:, ::-1],  # mirrored horizontally
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1, :],  # mirrored vertically
    5: lambda a: a.transpose(1, 0, 2),  # transposed
    6: lambda a: np.rot90(a, 1),  # display rotates it 90 degrees clockwise
    7: lambda a: np.rot90(a.transpose(1, 0, 2), 2),  # transversed
    8: lambda a: np.rot90(a, -1),  # display rotates it 90 degrees counter-clockwise
}


def _exif_orientation(orientation: int):
    def write(name: str, folder: Path) -> ImageCase:
        pixels = upright_pixels()
        stored = np.ascontiguousarray(_STORE_FOR_ORIENTATION[orientation](pixels))
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = folder / f"{name}.jpg"
        Image.fromarray(stored).save(
            path, format="JPEG", quality=95, subsampling=0, exif=exif.tobytes()
        )
        return ImageCase(name, path, pixels, tolerance=4.0)

    return write


def _jpeg_bytes() -> bytes:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (HEIGHT * 4, WIDTH * 4, 3), dtype=np.uint8)  # many bytes
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _raw(suffix: str, data: bytes | None, reason: str):
    def write(name: str, folder: Path) -> ImageCase:
        path = folder / f"{name}{suffix}"
        path.write_bytes(_jpeg_bytes()[: len(_jpeg_bytes()) // 2] if data is None else data)
        return ImageCase(name, path, reason=reason)

    return write


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims huge dimensions: its pixel data is a few bytes, not the image."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _png_named(filename: str, pixels_fn=upright_pixels):
    def write(name: str, folder: Path) -> ImageCase:
        pixels = pixels_fn()
        path = _save(Image.fromarray(pixels), folder / filename, format="PNG")
        return ImageCase(name, path, pixels)

    return write


def _tiny() -> np.ndarray:
    return np.array([[[12, 34, 56]]], np.uint8)


def _panorama() -> np.ndarray:
    pixels = np.zeros((20, 20000, 3), np.uint8)
    pixels[:, :10000] = (200, 0, 0)
    pixels[:, 10000:] = (0, 0, 200)
    return pixels


_WRITERS = {
    "jpeg": _case_rgb("JPEG", ".jpg", tolerance=4.0, quality=95, subsampling=0),
    "png": _case_rgb("PNG", ".png"),
    "bmp": _case_rgb("BMP", ".bmp"),
    "gif_animated": _gif_animated,
    "webp": _case_rgb("WEBP", ".webp", lossless=True),
    "tiff": _case_rgb("TIFF", ".tif"),
    "grayscale": _grayscale,
    "palette": _palette,
    "palette_transparency": _palette_transparent,
    "rgba": _rgba,
    "cmyk_jpeg": _cmyk_jpeg,
    "png_16bit": _png16,
    **{f"exif_orientation_{o}": _exif_orientation(o) for o in range(2, 9)},
    "png_named_jpg": _png_named("actually_png.jpg"),
    "one_pixel": _png_named("one_pixel.png", _tiny),
    "panorama_20000x20": _png_named("panorama.png", _panorama),
    "name_with_spaces": _png_named("my holiday photo.png"),
    "name_unicode": _png_named("chat été 猫.png"),
    "name_no_extension": _png_named("photo_without_extension"),
    # Refused: (suffix, content or None for a truncated JPEG, phrase in the reason)
    "truncated_jpeg": _raw(".jpg", None, "truncated"),
    "empty": _raw(".jpg", b"", "empty"),
    "html_named_jpg": _raw(".jpg", b"<!DOCTYPE html>\n<html><body>404</body></html>\n", "HTML"),
    "decompression_bomb": _raw(".png", _png_header_only(40_000, 40_000), "too large"),
    "over_pixel_limit": _raw(".png", _png_header_only(10_000, 8_000), "too large"),
    "heic": _raw(".heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 64, "HEIC"),
    "text_file": _raw(".png", b"just some text, not an image at all\n" * 4, "not an image"),
    # Formats outside the allow-list, renamed .jpg: refused by content, and named.
    "psd_named_jpg": _raw(".jpg", b"8BPS\x00\x01" + b"\x00" * 72, "PSD"),
    "eps_named_jpg": _raw(".jpg", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n", "EPS"),
    "pdf_named_jpg": _raw(".jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
    "fits_named_jpg": _raw(".jpg", b"SIMPLE  =                    T".ljust(2880, b" "), "FITS"),
}

ACCEPTED = tuple(
    name
    for name in _WRITERS
    if name
    not in (
        "truncated_jpeg", "empty", "html_named_jpg", "decompression_bomb", "over_pixel_limit",
        "heic", "text_file", "psd_named_jpg", "eps_named_jpg", "pdf_named_jpg", "fits_named_jpg",
    )
)  # fmt: skip
REFUSED = tuple(name for name in _WRITERS if name not in ACCEPTED)
ALL = tuple(_WRITERS)


def write_case(name: str, folder: str | Path) -> ImageCase:
    """Write case ``name`` into ``folder`` (created if needed); return what the loader must do."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return _WRITERS[name](name, folder)


def write_all_cases(folder: str | Path) -> dict[str, ImageCase]:
    """Write every case into ``folder``; return them by name."""
    return {name: write_case(name, folder) for name in ALL}
