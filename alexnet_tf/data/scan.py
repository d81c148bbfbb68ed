"""The scan of a dataset folder: which images train which class, and what is wrong with the rest.

A dataset is a folder with one sub-folder per class; the sub-folder's name is the label (any
Unicode), and files in nested folders of a class belong to that class. Every candidate file
is fully decoded once with ``alexnet_tf.images.load_image``, so a truncated JPEG or a text
file named ``.jpg`` is found here, named, and kept out of training, instead of aborting an
epoch later. The scan only reads: it never writes into the folder, and it walks it by the
rules of ``alexnet_tf.folder_walk`` (no symbolic link followed; each is reported with where it
leads, so a link out of the folder, back into it, or a loop is harmless).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DatasetError, ImageLoadError
from ..folder_walk import list_folder, walk_files
from ..images import load_image

__all__ = [
    "DatasetError",
    "DatasetScan",
    "RefusedFile",
    "ScanItem",
    "require_trainable",
    "scan_dataset",
]

# The largest class at least this many times the smallest is reported as imbalanced.
IMBALANCE_RATIO = 5
# Threads that decode files during a scan (at most the number of CPUs).
DECODE_THREADS = 4
# Warnings that list files (duplicates) name at most this many, then say how many more.
MAX_LISTED = 10


def _text(path: Path) -> str:
    """``str(path)`` made printable: bytes that are not UTF-8 become U+FFFD (display only)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True)
class ScanItem:
    """An accepted image: its path, its label (index into ``DatasetScan.classes``), its sha1."""

    path: Path
    label: int
    sha1: str


@dataclass(frozen=True)
class RefusedFile:
    """A file (or folder) that is not used, and why."""

    path: Path
    reason: str


@dataclass
class DatasetScan:
    """What ``scan_dataset`` found in a folder.

    Attributes:
        root: the dataset folder.
        classes: class folder names, sorted; label ``i`` is ``classes[i]``.
        items: accepted images, sorted by ``(label, path)``.
        refused: files that could not be used, each with the reason.
        skipped: hidden and system files, symbolic links (not followed), files outside class
            folders and other entries that are not images by design.
        warnings: problems that do not stop training.
        errors: problems that stop training; each says what to fix.
        fingerprint: sha1 over the sorted ``(class, relative path, file sha1)`` of the items.
    """

    root: Path
    classes: list[str] = field(default_factory=list)
    items: list[ScanItem] = field(default_factory=list)
    refused: list[RefusedFile] = field(default_factory=list)
    skipped: list[RefusedFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def trainable(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors

    def counts(self) -> dict[str, int]:
        """Accepted images per class, in class order (classes with none included, as 0)."""
        counts = dict.fromkeys(self.classes, 0)
        for item in self.items:
            counts[self.classes[item.label]] += 1
        return counts

    def to_dict(self) -> dict:
        """A JSON-ready summary: what ``scan --json`` prints and a job's ``scan.json`` holds."""
        return {
            "root": str(self.root),
            "trainable": self.trainable,
            "classes": list(self.classes),
            "counts": self.counts(),
            "num_images": len(self.items),
            "fingerprint": self.fingerprint,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "refused": [{"path": _text(r.path), "reason": r.reason} for r in self.refused],
            "skipped": [{"path": _text(r.path), "reason": r.reason} for r in self.skipped],
            "items": [{"path": str(i.path), "label": i.label, "sha1": i.sha1} for i in self.items],
        }

    @classmethod
    def from_dict(cls, data: dict) -> DatasetScan:
        """Rebuild a scan from ``to_dict()`` output (e.g. a job's ``scan.json``)."""
        return cls(
            root=Path(data["root"]),
            classes=list(data["classes"]),
            items=[ScanItem(Path(i["path"]), int(i["label"]), i["sha1"]) for i in data["items"]],
            refused=[RefusedFile(Path(r["path"]), r["reason"]) for r in data["refused"]],
            skipped=[RefusedFile(Path(r["path"]), r["reason"]) for r in data["skipped"]],
            warnings=list(data["warnings"]),
            errors=list(data["errors"]),
            fingerprint=data["fingerprint"],
        )


def require_trainable(scan: DatasetScan) -> None:
    """Raise ``DatasetError`` listing every error of ``scan``; return if it can train."""
    if scan.errors:
        raise DatasetError(
            f"The dataset folder {scan.root} cannot be used for training:\n- "
            + "\n- ".join(scan.errors)
        )


def _class_files(
    folder: Path, root: Path, skipped: list[RefusedFile], refused: list[RefusedFile]
) -> list[Path]:
    """Regular files in ``folder`` and its sub-folders (``folder_walk``'s rules), sorted."""
    found = walk_files(folder, root)
    skipped += [RefusedFile(path, reason) for path, reason in found.skipped]
    refused += [RefusedFile(path, reason) for path, reason in found.refused]
    return found.files


def _file_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file(path: Path) -> tuple[object, str | None, str | None]:
    """Decode and hash one file: ``(image, sha1, None)`` or ``(None, None, reason)``."""
    try:
        image = load_image(path)
        sha1 = _file_sha1(path)
    except ImageLoadError as error:
        return None, None, error.reason
    except PermissionError:
        return None, None, "permission denied (the file is not readable)"
    except OSError as error:  # e.g. removed between decoding and hashing
        return None, None, f"cannot be read ({error.strerror or error})"
    return image, sha1, None


def _decoded(candidates: list[tuple[int, Path]]) -> Iterator[tuple[int, Path, tuple]]:
    """``(label, path, _check_file(path))`` for each candidate, in order.

    Files are decoded by a few threads (Pillow releases the GIL while decoding, so large
    JPEGs decode in parallel); at most ``workers + 1`` results wait at a time, which bounds
    the memory held by decoded images.
    """
    workers = max(1, min(DECODE_THREADS, os.cpu_count() or 1))
    remaining = iter(candidates)
    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="scan-decode") as pool:
        try:
            while True:
                while len(pending) <= workers:
                    candidate = next(remaining, None)
                    if candidate is None:
                        break
                    pending.append((*candidate, pool.submit(_check_file, candidate[1])))
                if not pending:
                    return
                label, path, future = pending.popleft()
                yield label, path, future.result()
        finally:  # the consumer stopped early (an on_image exception): drop queued work
            for *_, future in pending:
                future.cancel()


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _listed(lines: list[str], what: str) -> list[str]:
    """At most ``MAX_LISTED`` lines, then one line saying how many more there are."""
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more {what}."]


def _duplicate_warnings(scan: DatasetScan) -> list[str]:
    by_sha1: dict[str, list[ScanItem]] = {}
    for item in scan.items:
        by_sha1.setdefault(item.sha1, []).append(item)
    across, within = [], []
    for group in by_sha1.values():
        first = group[0]
        for other in group[1:]:
            a, b = _relative(first.path, scan.root), _relative(other.path, scan.root)
            if other.label != first.label:
                across.append(
                    f"Identical images filed under two classes: '{a}' "
                    f"(class '{scan.classes[first.label]}') and '{b}' "
                    f"(class '{scan.classes[other.label]}'). Keep it in one class only."
                )
            else:
                within.append(
                    f"Duplicate image in class '{scan.classes[first.label]}': '{a}' and '{b}' "
                    "are the same file content (it may land in both training and validation)."
                )
    return _listed(across, "identical images across classes") + _listed(
        within, "duplicates within a class"
    )


def _class_warnings_and_errors(scan: DatasetScan) -> None:
    counts = scan.counts()
    for name, count in counts.items():
        folder = scan.root / name
        if count == 0:
            scan.errors.append(
                f"Class '{name}' has no usable image: add images to {folder} or remove that folder."
            )
        elif count == 1:
            scan.warnings.append(
                f"Class '{name}' has only 1 usable image, too few to split into training and "
                "validation: it goes to training only (add more images to it)."
            )
    usable = {name: count for name, count in counts.items() if count > 0}
    if len(usable) < 2:
        scan.errors.append(
            f"Training needs at least 2 classes with usable images; {scan.root} has "
            f"{len(usable)}. Make one sub-folder per class (the folder name is the label) "
            "and put that class's images in it."
        )
    elif max(usable.values()) >= IMBALANCE_RATIO * min(usable.values()):
        largest = max(usable, key=usable.get)
        smallest = min(usable, key=usable.get)
        scan.warnings.append(
            f"Classes are strongly imbalanced: '{largest}' has {usable[largest]} images and "
            f"'{smallest}' only {usable[smallest]} "
            f"({usable[largest] / usable[smallest]:.1f}x). The model may favour the large "
            "classes; add images to the small ones if you can."
        )


def _fingerprint(scan: DatasetScan) -> str:
    rows = sorted(
        (scan.classes[item.label], _relative(item.path, scan.root), item.sha1)
        for item in scan.items
    )
    digest = hashlib.sha1()
    for row in rows:
        digest.update("\0".join(row).encode("utf-8", "surrogateescape") + b"\n")
    return digest.hexdigest()


def scan_dataset(
    folder: str | Path,
    *,
    on_image: Callable[[Path, int, object], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetScan:
    """Scan a dataset folder (one sub-folder per class), decoding every file once.

    Args:
        folder: the dataset folder. Only read; nothing is written into it.
        on_image: called as ``on_image(path, label, pil_image)`` for every accepted image, in
            the order of ``DatasetScan.items``, so a caller can cache the decoded pixels during
            the scan instead of decoding again. An exception it raises stops the scan.
        progress: called as ``progress(done, total)`` after each candidate file (and once with
            ``done=0`` before the first).

    Returns:
        A ``DatasetScan``. Problems with the folder are in its ``errors`` (not raised); call
        ``require_trainable(scan)`` to turn them into a ``DatasetError``.
    """
    root = Path(folder).expanduser().absolute()
    scan = DatasetScan(root=root)
    if not root.exists():
        scan.errors.append(f"The dataset folder {root} does not exist: check the path.")
        return scan
    if not root.is_dir():
        scan.errors.append(
            f"{root} is not a folder: give a folder with one sub-folder of images per class."
        )
        return scan

    top = list_folder(root)
    class_folders = top.folders
    scan.skipped += [
        RefusedFile(path, "not inside a class folder (put images in one folder per class)")
        for path in top.files
    ]
    scan.skipped += [RefusedFile(path, reason) for path, reason in top.skipped]
    scan.refused += [RefusedFile(path, reason) for path, reason in top.refused]
    class_folders.sort(key=lambda p: p.name)
    scan.classes = [path.name for path in class_folders]

    candidates = [
        (label, path)
        for label, class_folder in enumerate(class_folders)
        for path in _class_files(class_folder, root, scan.skipped, scan.refused)
    ]
    total = len(candidates)
    if progress is not None:
        progress(0, total)
    # closing(): if on_image raises, the decoding threads stop before the exception leaves.
    with contextlib.closing(_decoded(candidates)) as results:
        for done, (label, path, (image, sha1, reason)) in enumerate(results, start=1):
            if reason is not None:
                scan.refused.append(RefusedFile(path, reason))
            else:
                scan.items.append(ScanItem(path, label, sha1))
                if on_image is not None:
                    on_image(path, label, image)
            if progress is not None:
                progress(done, total)

    scan.skipped.sort(key=lambda r: str(r.path))
    scan.refused.sort(key=lambda r: str(r.path))
    if not scan.classes:
        scan.errors.append(
            f"No class folders in {root}: make one sub-folder per class (the folder name is "
            "the label) and put that class's images in it."
        )
    else:
        _class_warnings_and_errors(scan)
    scan.warnings.extend(_duplicate_warnings(scan))
    scan.fingerprint = _fingerprint(scan)
    return scan


def count_class_files(folder: str | Path) -> list[int]:
    """Files per class folder of ``folder`` (by the scan's rules), without opening any.

    An upper bound of the images ``scan_dataset`` would accept, cheap enough to check a
    job's settings before its folder is made (a few directory listings).
    """
    root = Path(folder).expanduser().absolute()
    return [len(walk_files(path, root).files) for path in list_folder(root).folders]
