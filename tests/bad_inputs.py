"""Every bad input of the robustness issue, as small records: how it is made, what must happen.

Image files come from ``tests/image_cases.py`` (which also knows the exact pixels
``load_image`` must return); this module adds the image cases it lacks (text named ``.jpg``,
damaged TIFF tags) and the folder cases (links, FIFOs, devices, permissions, empty, single
and nested classes). Every test of bad inputs (the loader, the scan, ``scan``, ``classify``,
``train``, the app) takes its cases from here.

``python -m tests.bad_inputs OUT_DIR`` writes a dataset folder holding every case and prints
each with its expected outcome, to try by hand (``alexnet-studio scan OUT_DIR``, the app).

Outcomes:
    ``accepted``: used for training / classified (``load_image`` returns upright RGB).
    ``refused``: listed in the scan's ``refused`` (and refused by ``classify``) with a reason.
    ``skipped``: listed in the scan's ``skipped`` with a reason, never opened.
    ``error``: a scan error that blocks training until the user fixes the folder.
    ``warning``: used, and the scan warns.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tests import image_cases


@dataclass(frozen=True)
class BadInput:
    """One case.

    Attributes:
        name: the case's name.
        how: how the file or folder is made.
        outcome: ``accepted``, ``refused``, ``skipped``, ``error`` or ``warning``.
        reason: a phrase the reason (or the scan's error/warning) contains; "" when accepted.
        make: ``make(class_folder) -> path`` writes the case inside ``class_folder`` (a class of a
            dataset) and returns the path the scan reports (for ``error``/``warning`` cases,
            the class folder the case makes beside ``class_folder``).
        needs_root: only root can make it (a device file).
    """

    name: str
    how: str
    outcome: str
    reason: str
    make: Callable[[Path], Path]
    needs_root: bool = False


# ---- image files -----------------------------------------------------------------------------

_HOW = {
    "jpeg": "a plain JPEG (control)",
    "png": "a plain PNG (control)",
    "bmp": "a BMP",
    "gif_animated": "an animated GIF whose second frame is flat grey: the first frame is used",
    "webp": "a lossless WebP",
    "tiff": "a TIFF",
    "grayscale": "an 8-bit greyscale PNG (a horizontal ramp)",
    "palette": "a palette (mode P) PNG",
    "palette_transparency": "a palette PNG with a transparent colour (composited over white)",
    "rgba": "an RGBA PNG, half transparent on the right (composited over white)",
    "cmyk_jpeg": "a CMYK JPEG with a real black channel",
    "png_16bit": "a 16-bit greyscale PNG ramp 0..65535 (clipping would make it all white)",
    **{
        f"exif_orientation_{o}": f"a JPEG stored turned, EXIF orientation {o}: upright when read"
        for o in range(2, 9)
    },
    "png_named_jpg": "a PNG named .jpg (the content decides)",
    "one_pixel": "a 1x1 PNG",
    "panorama_20000x20": "a 20000x20 PNG panorama",
    "name_with_spaces": "a PNG whose name has spaces",
    "name_unicode": "a PNG named with accents and CJK",
    "name_no_extension": "a PNG with no extension",
    "truncated_jpeg": "the first half of a JPEG",
    "empty": "a 0-byte .jpg",
    "html_named_jpg": "an HTML page (a 404 saved as a photo) named .jpg",
    "decompression_bomb": "a 200-byte PNG declaring 40000x40000 pixels",
    "over_pixel_limit": "a PNG declaring 10000x8000 pixels (over the 64-megapixel limit)",
    "heic": "an HEIC file header (ftyp heic); Pillow cannot decode HEIC",
    "text_file": "plain text named .png",
    "psd_named_jpg": "a Photoshop header named .jpg",
    "eps_named_jpg": "an EPS header named .jpg",
    "pdf_named_jpg": "a PDF header named .jpg",
    "fits_named_jpg": "a FITS header named .jpg",
}


def _from_image_cases(name: str) -> BadInput:
    def make(folder: Path) -> Path:
        return image_cases.write_case(name, folder).path

    refused = name in image_cases.REFUSED
    reason = _reason_of(name) if refused else ""
    return BadInput(name, _HOW[name], "refused" if refused else "accepted", reason, make)


def _reason_of(name: str) -> str:
    # image_cases keeps the reason in the case it writes: write one into a scratch folder.
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        return image_cases.write_case(name, scratch).reason


def _text_named_jpg(folder: Path) -> Path:
    path = folder / "notes.jpg"
    path.write_text("Shopping list:\n- milk\n- bread\n", encoding="utf-8")
    return path


def _tiff_with_damaged_tag(tag: int, filename: str, value: int | None = None):
    """A TIFF of ``image_cases.upright_pixels()`` whose ``tag`` claims 10^6 values (the data
    it points to is beyond the end of the file: Pillow skips the tag and warns), or, given
    ``value``, holds that value instead."""

    def make(folder: Path) -> Path:
        buffer = io.BytesIO()
        image = Image.fromarray(image_cases.upright_pixels())
        image.save(buffer, format="TIFF", description="holiday")
        data = bytearray(buffer.getvalue())
        offset = struct.unpack("<I", data[4:8])[0]
        for index in range(struct.unpack("<H", data[offset : offset + 2])[0]):
            entry = offset + 2 + 12 * index
            if struct.unpack("<H", data[entry : entry + 2])[0] == tag:
                if value is None:
                    data[entry + 4 : entry + 8] = struct.pack("<I", 1_000_000)
                else:
                    data[entry + 8 : entry + 10] = struct.pack("<H", value)
                break
        else:
            raise AssertionError(f"no tag {tag} in the TIFF Pillow wrote")
        path = folder / filename
        path.write_bytes(bytes(data))
        return path

    return make


IMAGE_CASES: dict[str, BadInput] = {
    **{name: _from_image_cases(name) for name in image_cases.ALL},
    "text_named_jpg": BadInput(
        "text_named_jpg", "plain text named .jpg", "refused", "not an image", _text_named_jpg
    ),
    "tiff_damaged_description": BadInput(
        "tiff_damaged_description",
        "a TIFF whose ImageDescription tag points past the end of the file (Pillow warns)",
        "accepted",
        "",
        _tiff_with_damaged_tag(270, "damaged_description.tif"),
    ),
    "tiff_damaged_width": BadInput(
        "tiff_damaged_width",
        "a TIFF whose ImageWidth tag points past the end of the file",
        "refused",
        "TIFF data is damaged",
        _tiff_with_damaged_tag(256, "damaged_width.tif"),
    ),
    "tiff_absurd_samples_per_pixel": BadInput(
        "tiff_absurd_samples_per_pixel",
        "a TIFF claiming 57600 samples per pixel (Pillow logs an error, then refuses it)",
        "refused",
        "TIFF data is damaged",
        _tiff_with_damaged_tag(277, "absurd_samples.tif", value=57600),
    ),
}

# What load_image must return for the accepted images this module adds.
EXTRA_EXPECTED = {"tiff_damaged_description": image_cases.upright_pixels()}


# ---- folder cases ---------------------------------------------------------------------------


def _png(path: Path, colour=(200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), colour).save(path, format="PNG")
    return path


def _empty_class(folder: Path) -> Path:
    empty = folder.parent / "empty_class"
    empty.mkdir()
    return empty


def _single_image_class(folder: Path) -> Path:
    single = folder.parent / "single_image_class"
    _png(single / "only.png", (30, 30, 200))
    return single


def _nested(folder: Path) -> Path:
    return _png(folder / "2019" / "summer" / "deep.png")


def _outside(folder: Path) -> Path:
    """A real image outside the dataset (beside the dataset folder), for links to point at."""
    root = folder.parent
    outside = root.parent / f"{root.name}_outside"
    return _png(outside / "secret.png")


def _symlink_out_file(folder: Path) -> Path:
    link = folder / "escape.png"
    link.symlink_to(_outside(folder))
    return link


def _symlink_out_folder(folder: Path) -> Path:
    link = folder / "escape_folder"
    link.symlink_to(_outside(folder).parent, target_is_directory=True)
    return link


def _symlink_loop(folder: Path) -> Path:
    link = folder / "loop"
    link.symlink_to(folder.parent, target_is_directory=True)  # back to the dataset root
    return link


def _symlink_to_itself(folder: Path) -> Path:
    link = folder / "self.jpg"
    link.symlink_to(link)
    return link


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.jpg"
    os.mkfifo(path)  # opening it to read would wait for a writer forever
    return path


def _char_device(folder: Path) -> Path:
    path = folder / "zero.jpg"
    # /dev/zero's numbers: reading it would never end.
    os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))
    return path


def _unreadable(folder: Path) -> Path:
    path = _png(folder / "locked.png")
    path.chmod(0)  # root reads it anyway: see can_make and unprivileged()
    return path


FOLDER_CASES: dict[str, BadInput] = {
    case.name: case
    for case in (
        BadInput("empty_class_folder", "a class folder with no file", "error",
                 "has no usable image", _empty_class),
        BadInput("single_image_class", "a class folder with one image", "warning",
                 "only 1 usable image", _single_image_class),
        BadInput("nested_subfolders", "an image two folders below its class folder",
                 "accepted", "", _nested),
        BadInput("symlink_out_file", "a link to an image outside the dataset", "skipped",
                 "symbolic link, not followed", _symlink_out_file),
        BadInput("symlink_out_folder", "a link to a folder outside the dataset", "skipped",
                 "symbolic link, not followed", _symlink_out_folder),
        BadInput("symlink_loop", "a link from a class folder back to the dataset root",
                 "skipped", "symbolic link, not followed", _symlink_loop),
        BadInput("symlink_to_itself", "a link that points at itself", "skipped",
                 "symbolic link, not followed", _symlink_to_itself),
        BadInput("fifo", "a FIFO named .jpg (os.mkfifo)", "skipped", "not a regular file",
                 _fifo),
        BadInput("char_device", "a character device named .jpg with /dev/zero's numbers "
                 "(os.mknod, root only)", "skipped", "not a regular file", _char_device,
                 needs_root=True),
        BadInput("unreadable_file", "a PNG with mode 000 (as root, read with the capabilities "
                 "that bypass permissions dropped: see unprivileged())", "refused",
                 "permission denied", _unreadable),
    )
}  # fmt: skip

ALL_CASES: dict[str, BadInput] = {**IMAGE_CASES, **FOLDER_CASES}


def is_root() -> bool:
    """True when running as root (who can make device files and read mode-000 files)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def can_make(case: BadInput) -> bool:
    """Whether this process can make ``case`` here (a device file needs root)."""
    return is_root() or not case.needs_root


def unprivileged(argv: list[str]) -> list[str] | None:
    """``argv`` run so that file permissions apply, even for root.

    Root reads a mode-000 file through the CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
    capabilities; ``setpriv`` (util-linux) drops them. Returns ``argv`` unchanged for other
    users, and None when root cannot drop them (no setpriv).
    """
    if not is_root():
        return list(argv)
    import shutil

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *argv]


def make_dataset(root: str | Path, cases=None, per_class: int = 4) -> dict[str, Path]:
    """Write a dataset folder holding ``cases`` (default: every case this process can make).

    Two good classes, ``good_a`` and ``good_b`` (``per_class`` distinct images each), so the
    rest can train; the cases go into class ``cases`` (folder cases that make a class of their
    own put it beside). Returns ``{case name: path the scan reports}``.
    """
    root = Path(root)
    rng = np.random.default_rng(0)
    for name, colour in (("good_a", (220, 40, 40)), ("good_b", (40, 40, 220))):
        for index in range(per_class):
            noise = rng.integers(-30, 30, (24, 32, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / name / f"{name}_{index}.png")
    folder = root / "cases"
    folder.mkdir(parents=True, exist_ok=True)
    chosen = ALL_CASES.values() if cases is None else (ALL_CASES[n] for n in cases)
    return {case.name: case.make(folder) for case in chosen if can_make(case)}


def restore_permissions(root: str | Path) -> None:
    """Make every mode-000 file under ``root`` readable again (so it can be deleted)."""
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath, name)
            if not path.is_symlink() and path.is_file() and path.stat().st_mode & 0o777 == 0:
                path.chmod(0o644)


def main(argv: list[str]) -> int:
    """``python -m tests.bad_inputs OUT_DIR``: write every case, print the expected outcomes."""
    if len(argv) != 1:
        print("usage: python -m tests.bad_inputs OUT_DIR", file=sys.stderr)
        return 2
    paths = make_dataset(argv[0])
    for name, case in ALL_CASES.items():
        if name not in paths:
            print(f"{name}: not made ({case.how}; needs root)")
            continue
        outcome = case.outcome + (f" ({case.reason})" if case.reason else "")
        print(f"{paths[name]}: {outcome}  [{case.how}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
