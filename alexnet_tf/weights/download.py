"""Downloading the BVLC weights: resumable, verified, and never installed half-done.

A download streams into ``NAME.part`` under ``weights_dir()/downloads`` and is resumed with an
HTTP ``Range`` request after a cut connection. Only a complete file whose sha1 matches (for
the caffemodel) becomes ``NAME`` (by ``os.replace``, like every atomic write of the project),
and only a file that then imports cleanly becomes the installed weights.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import DownloadError
from ..paths import weights_dir

# The public copies of the BVLC weights (alexnet-facts.md): URL, sha1 (None: not published).
SOURCES = {
    "caffemodel": (
        "http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel",
        "9116a64c0fbe4459d18f4bb6b56d647b63920377",
    ),
    "npy": ("http://www.cs.toronto.edu/~guerzhoy/tf_alexnet/bvlc_alexnet.npy", None),
}
FILE_NAMES = {"caffemodel": "bvlc_alexnet.caffemodel", "npy": "bvlc_alexnet.npy"}
CHUNK = 1 << 20
TIMEOUT_SECONDS = 30
USER_AGENT = "alexnet-studio"

Progress = Callable[[int, "int | None"], None]


def downloads_dir() -> Path:
    """Folder of partial and just-finished downloads."""
    folder = weights_dir() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def part_path(dest: str | Path) -> Path:
    """Where the download of ``dest`` accumulates until it is complete."""
    dest = Path(dest)
    return dest.with_name(dest.name + ".part")


def _open(url: str, start: int):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)  # noqa: S310


def _connect(url: str, start: int):
    """Open ``url`` from byte ``start``; return ``(response, offset, total)``.

    ``offset`` is where the response's body starts in the file: ``start`` if the server
    honoured the Range request (206), 0 if it sent the whole file (200).
    """
    try:
        response = _open(url, start)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # the part is as long as the file, or longer: restart
            error.close()
            return _connect(url, 0)
        raise DownloadError(
            f"Downloading {url} failed: the server answered HTTP {error.code} {error.reason}."
        ) from None
    except urllib.error.URLError as error:
        raise DownloadError(
            f"Cannot reach {url}: {_reason(error.reason)}. Check the network connection "
            "(or import a file you have with `alexnet-studio weights import FILE`)."
        ) from None
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"Cannot reach {url}: {_reason(error)}.") from None
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status == 206:
        match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != start:
            response.close()
            raise DownloadError(
                f"Downloading {url} failed: the server resumed at the wrong place "
                f"(Content-Range {response.headers.get('Content-Range')!r}, asked for {start})."
            )
        total = int(match.group(2)) if match.group(2) != "*" else None
        return response, start, total
    return response, 0, length


def _reason(reason) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"the host name could not be resolved ({reason.strerror})"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "no answer (timed out)"
    return str(getattr(reason, "strerror", None) or reason)


def download_file(
    url: str,
    dest: str | Path,
    expected_sha1: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming a previous partial download.

    Args:
        url: http(s) URL.
        dest: the final file; ``dest.part`` holds the bytes until the download is complete.
        expected_sha1: if given, a complete file with another sha1 is deleted and refused.
        progress: called as ``progress(done_bytes, total_bytes_or_None)`` as data arrives;
            an exception it raises stops the download (the part file is kept).

    Returns:
        ``dest``.

    Raises:
        DownloadError: HTTP error, no network, cut connection (the part file is kept for
            resuming) or wrong checksum (the part file is deleted).
    """
    from .store import file_sha1

    dest = Path(dest)
    part = part_path(dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0
    response, offset, total = _connect(url, start)
    done = offset
    try:
        with response, open(part, "r+b" if offset else "wb") as file:
            file.seek(offset)
            file.truncate()
            if progress:
                progress(done, total)
            while chunk := response.read(CHUNK):
                file.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            file.flush()
            os.fsync(file.fileno())
    except (OSError, http.client.HTTPException) as error:
        if isinstance(error, OSError) and error.filename:  # our own disk, not the network
            raise DownloadError(f"Cannot write {part}: {error.strerror}.") from None
        of_total = f" of {total}" if total else ""
        raise DownloadError(
            f"Downloading {url} was cut after {done}{of_total} bytes ({_reason(error)}); "
            "run the download again to resume."
        ) from None
    if total is not None and done != total:
        raise DownloadError(
            f"Downloading {url} was cut after {done} of {total} bytes (the connection "
            "closed early); run the download again to resume."
        )
    if expected_sha1:
        actual = file_sha1(part)
        if actual != expected_sha1.lower():
            part.unlink()
            raise DownloadError(
                f"Downloaded {url} but its sha1 is {actual}, not the expected {expected_sha1}: "
                "the file is damaged or not the right one, so it was deleted and nothing was "
                "installed."
            )
    os.replace(part, dest)
    return dest


def download_weights(
    source: str = "caffemodel", url: str | None = None, progress: Progress | None = None
) -> dict:
    """Download the BVLC AlexNet weights and install them.

    Args:
        source: ``"caffemodel"`` (sha1-verified) or ``"npy"`` (no published checksum; its
            structure is verified by importing it).
        url: another location of the same file (the caffemodel's checksum still applies).
        progress: ``progress(done_bytes, total_bytes_or_None)``.

    Returns:
        The installed weights' info (see ``store.import_weights_file``).

    Raises:
        DownloadError: the download failed (a partial file is kept for resuming).
        WeightsError: the downloaded file is not valid AlexNet weights (it is deleted).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}. Received: source={source!r}")
    from .store import import_weights_file

    official_url, sha1 = SOURCES[source]
    url = url or official_url
    dest = download_file(url, downloads_dir() / FILE_NAMES[source], sha1, progress)
    try:
        return import_weights_file(dest, extra_info={"url": url})
    finally:
        # the converted copy is what is kept; a file that failed to import must not linger
        dest.unlink(missing_ok=True)
