"""The one way this project walks a user's folder: ``scan``, ``train``, ``evaluate``, ``classify``.

Rules, the same for every command (and for the app, which calls the same functions):

- Symbolic links are never followed, and each one is reported with where it leads: back
  into the folder (its images would be counted twice, or the walk would loop), outside the
  folder (the command was not given that place), or nowhere (broken, or a loop).
- Hidden entries (a leading dot) and the files operating systems leave beside photos
  (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, ``__MACOSX``, AppleDouble ``._`` files) are
  skipped, with the reason.
- FIFOs, sockets and devices are skipped (opening a FIFO would block forever).
- A name that is not valid UTF-8 is refused (it could not be shown or stored in a report).
- A folder that cannot be read is refused with the reason; the walk goes on.

Nothing here opens a file; ``images.load_image`` decides what an image is.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

_SYSTEM_NAMES = {
    ".DS_Store": "macOS folder metadata (.DS_Store)",
    "Thumbs.db": "Windows thumbnail cache (Thumbs.db)",
    "desktop.ini": "Windows folder settings (desktop.ini)",
    "Desktop.ini": "Windows folder settings (desktop.ini)",
    "__MACOSX": "macOS archive metadata folder (__MACOSX)",
}
LINK = "symbolic link, not followed"  # every link's reason starts with this
LINK_INSIDE = f"{LINK} (it leads back into the folder: its files would be counted again)"
LINK_OUTSIDE = f"{LINK} (it leads outside the folder)"
LINK_BROKEN = f"{LINK} (it is broken or a loop)"
NOT_REGULAR = "not a regular file (a FIFO, socket or device)"
BAD_NAME = "the name is not valid UTF-8 text (rename it)"


@dataclass
class FolderEntries:
    """What a walk found, each list sorted by path.

    Attributes:
        folders: sub-folders (``list_folder`` only; a walk descends into them instead).
        files: regular files.
        skipped: ``(path, reason)`` left out by design: links, hidden and system entries,
            FIFOs, sockets and devices.
        refused: ``(path, reason)`` that are a problem: unreadable folders, names that are
            not UTF-8.
    """

    folders: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)


def system_file_reason(name: str, is_dir: bool = False) -> str | None:
    """Why a hidden or system entry named ``name`` is skipped, or None for an ordinary name."""
    if name in _SYSTEM_NAMES:
        return _SYSTEM_NAMES[name]
    if name.startswith("._"):
        return "macOS resource fork (AppleDouble '._' file)"
    if name.startswith("."):
        return "hidden folder" if is_dir else "hidden file"
    return None


def link_reason(link: Path, root: Path) -> str:
    """Why the link ``link`` found below ``root`` is not followed: one of ``LINK_INSIDE``,
    ``LINK_OUTSIDE``, ``LINK_BROKEN`` (fixed texts, so callers can tell them apart)."""
    try:
        target = link.resolve(strict=True)
        inside = root.resolve(strict=True)
    except (OSError, RuntimeError):  # broken, or a loop of links
        return LINK_BROKEN
    if target == inside or inside in target.parents:
        return LINK_INSIDE
    return LINK_OUTSIDE


def _scandir(folder: Path, entries: FolderEntries) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as iterator:
            return sorted(iterator, key=lambda entry: entry.name)
    except PermissionError:
        entries.refused.append((folder, "permission denied (the folder is not readable)"))
    except OSError as error:
        entries.refused.append((folder, f"the folder cannot be read ({error.strerror})"))
    return []


def _sort(entries: FolderEntries, root: Path) -> FolderEntries:
    def key(path: Path) -> str:
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    entries.folders.sort(key=key)
    entries.files.sort(key=key)
    entries.skipped.sort(key=lambda item: key(item[0]))
    entries.refused.sort(key=lambda item: key(item[0]))
    return entries


def _add(entries: FolderEntries, entry: os.DirEntry, root: Path) -> None:
    """File ``entry`` under the list it belongs to, looking at the link itself."""
    path = Path(entry.path)
    try:
        entry.name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 (surrogate-escaped by Python)
        entries.refused.append((path, BAD_NAME))
        return
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
    except OSError as error:  # vanished, or unreadable metadata
        entries.skipped.append((path, f"cannot be examined ({error.strerror})"))
        return
    if stat.S_ISLNK(mode):
        entries.skipped.append((path, link_reason(path, root)))
        return
    is_dir = stat.S_ISDIR(mode)
    reason = system_file_reason(entry.name, is_dir)
    if reason is not None:
        entries.skipped.append((path, reason))
    elif is_dir:
        entries.folders.append(path)
    elif stat.S_ISREG(mode):
        entries.files.append(path)
    else:
        entries.skipped.append((path, NOT_REGULAR))


def list_folder(folder: str | Path, root: str | Path | None = None) -> FolderEntries:
    """The entries directly in ``folder`` (``root``, the folder the user gave, decides which
    links lead back into it; by default ``folder`` itself)."""
    folder = Path(folder)
    root = folder if root is None else Path(root)
    entries = FolderEntries()
    for entry in _scandir(folder, entries):
        _add(entries, entry, root)
    return _sort(entries, folder)


def walk_files(folder: str | Path, root: str | Path | None = None) -> FolderEntries:
    """Every regular file in ``folder`` and the folders below it, by the rules above.

    ``files`` are sorted by path relative to ``folder``; ``folders`` stays empty.
    """
    folder = Path(folder)
    root = folder if root is None else Path(root)
    entries = FolderEntries()
    pending = [folder]
    while pending:
        level = list_folder(pending.pop(), root)
        pending.extend(level.folders)
        entries.files += level.files
        entries.skipped += level.skipped
        entries.refused += level.refused
    return _sort(entries, folder)
