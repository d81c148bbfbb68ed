"""Checking where a command will write, before the work that leads to the write.

``evaluate --csv`` on ImageNet runs for half an hour; a read-only folder or a folder named
like the CSV must be found before that, not in a traceback at the end. Every command that
writes a file or a folder the user names (``--out``, ``--csv``, export destinations, the data
folder of ``info --measure``, a job folder) checks it here first, and wraps its final write
in ``writing`` so a failure there (a full disk) is the same one-line error. The CLI turns
``DestinationError`` into ``error: PATH: reason`` and exit status 2.

Writability is tried, not guessed: a probe file is created and removed in the folder that
will receive the output (``os.access`` says yes to root on a read-only mount).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import DestinationError

_REASONS = {
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENOTDIR: "a file is in the way of the folder",
    errno.EISDIR: "it is a folder",
}


def os_reason(error: OSError) -> str:
    """A plain reason for an ``OSError`` of a write."""
    return _REASONS.get(error.errno, error.strerror or str(error))


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the folder a ``mkdir -p`` starts from)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _check_folder_writable(folder: Path, path: Path) -> None:
    """Create and remove a probe file in ``folder`` (reported against ``path``)."""
    base = _existing_ancestor(folder)
    if not base.is_dir():
        raise DestinationError(path, f"{base} is a file, not a folder")
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".alexnet-studio-probe-", dir=base)
    except OSError as error:
        where = "" if base == folder else f" (in {base})"
        raise DestinationError(path, f"cannot write here{where}: {os_reason(error)}") from None
    os.close(descriptor)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_file_destination(path: str | Path) -> Path:
    """Check that a file can be written at ``path`` (replacing a file there); return it absolute.

    Raises:
        DestinationError: ``path`` is a folder or a special file, a file is in the way of
            its folder, or that folder is not writable (read-only, no permission).
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise DestinationError(path, "is a folder; give the name of a file to write")
    if path.exists() and not path.is_file():
        raise DestinationError(path, "is not a regular file (a FIFO, socket or device)")
    _check_folder_writable(path.parent, path)
    return path


def check_parent_writable(path: str | Path) -> Path:
    """Check that the folder that will hold ``path`` (made if needed) is writable; return
    ``path`` absolute. For outputs whose own kind the caller checks (exports)."""
    path = Path(path).expanduser().absolute()
    _check_folder_writable(path.parent, path)
    return path


def check_folder_destination(path: str | Path) -> Path:
    """Check that a folder can be made (or written into) at ``path``; return it absolute.

    Raises:
        DestinationError: ``path`` is a file, or neither it nor the folder it would be made
            in is writable.
    """
    path = Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise DestinationError(path, "is a file, not a folder")
    _check_folder_writable(path, path)
    return path


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` of the write to ``path`` inside the block into ``DestinationError``."""
    try:
        yield
    except OSError as error:
        raise DestinationError(path, f"cannot be written: {os_reason(error)}") from None
