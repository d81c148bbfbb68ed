"""``alexnet-studio weights import FILE | download [--source S] [--url URL] | status``."""

from __future__ import annotations

import sys
import time

from ..errors import WeightsNotInstalledError


def register(subparsers) -> None:
    """Add the ``weights`` command group."""
    parser = subparsers.add_parser(
        "weights",
        help="install or inspect the ImageNet (BVLC AlexNet) weights",
        description="The pretrained ImageNet weights of the BVLC AlexNet: import a file you "
        "have, download the original, or see what is installed.",
    )
    commands = parser.add_subparsers(dest="weights_command", metavar="ACTION", required=True)

    imported = commands.add_parser(
        "import",
        help="install weights from a bvlc_alexnet.caffemodel or bvlc_alexnet.npy file",
        description="Convert and install the weights of a bvlc_alexnet.caffemodel (Caffe) or "
        "bvlc_alexnet.npy file. The format is recognised by content. The .npy is read without "
        "running any code it may carry.",
    )
    imported.add_argument("file", metavar="FILE")
    imported.set_defaults(handler=run_import)

    download = commands.add_parser(
        "download",
        help="download the original BVLC weights (about 240 MB) and install them",
        description="Download the BVLC AlexNet weights, verify them and install them. An "
        "interrupted download resumes where it stopped when run again.",
    )
    download.add_argument(
        "--source",
        choices=("caffemodel", "npy"),
        default="caffemodel",
        help="caffemodel: the BVLC original, sha1-verified (default); npy: a TensorFlow "
        "conversion of it",
    )
    download.add_argument("--url", help="download from this location instead of the official one")
    download.set_defaults(handler=run_download)

    status = commands.add_parser(
        "status",
        help="show whether ImageNet weights are installed",
        description="Show the installed ImageNet weights (source, sha1, date, path), or how to "
        "get them. Exit status 0 if installed, 1 if not.",
    )
    status.set_defaults(handler=run_status)


def run_import(args) -> int:
    """Import and install a weights file."""
    from ..weights.store import import_weights_file

    print(f"Importing {args.file} ...", file=sys.stderr)
    info = import_weights_file(args.file)
    _print_installed(info)
    return 0


def run_download(args) -> int:
    """Download, verify and install the weights, with a progress bar on stderr."""
    from ..weights.download import SOURCES, download_weights

    url = args.url or SOURCES[args.source][0]
    print(f"Downloading {url}", file=sys.stderr)
    bar = ProgressBar(sys.stderr)
    try:
        info = download_weights(args.source, url=args.url, progress=bar.update)
    finally:
        bar.close()
    _print_installed(info)
    return 0


def _print_installed(info: dict) -> None:
    from ..weights.store import installed_weights_path

    print(
        f"Installed ImageNet weights from {info['source']} ({info['format']}, sha1 {info['sha1']})."
    )
    print(f"  stored as {installed_weights_path()}")
    # The next classify answers without TensorFlow: convert the new weights for LiteRT, in
    # the background (the previous flatbuffer no longer matches the weights' digest).
    from ..errors import AlexNetStudioError
    from ..flatbuffer_cache import start_background_build

    try:
        start_background_build(None)
    except (OSError, AlexNetStudioError):
        pass  # the weights are installed; without a flatbuffer TensorFlow answers


def run_status(args) -> int:
    """Print what is installed (exit 0) or how to get weights (exit 1)."""
    from ..weights.store import installed_weights_info, installed_weights_path

    info = installed_weights_info()
    if info is None:
        print("ImageNet weights: not installed")
        print(str(WeightsNotInstalledError()))
        return 1
    print("ImageNet weights: installed")
    print(f"  source:   {info.get('source', 'unknown')} ({info.get('format', 'unknown format')})")
    if info.get("url"):
        print(f"  from:     {info['url']}")
    if info.get("sha1"):
        print(f"  sha1:     {info['sha1']}")
    if info.get("imported_at"):
        print(f"  imported: {info['imported_at']}")
    print(f"  path:     {installed_weights_path()}")
    return 0


class ProgressBar:
    """A text progress bar: redrawn in place on a terminal, a line every ~10% otherwise."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.next_percent = 0
        self.last_draw = 0.0
        self.drawn = False

    def update(self, done: int, total: int | None) -> None:
        """Show ``done`` of ``total`` bytes (``total`` may be unknown)."""
        megabytes = f"{done / 1e6:.1f}" + (f" / {total / 1e6:.1f} MB" if total else " MB")
        percent = 100 * done // total if total else None
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw < 0.1 and done != total:
                return
            self.last_draw = now
            if percent is None:
                line = f"\r{megabytes}"
            else:
                filled = self.WIDTH * done // total
                line = f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {percent:3d}%  {megabytes}"
            self.stream.write(line)
            self.drawn = True
        elif percent is not None and percent >= self.next_percent:
            self.stream.write(f"{percent:3d}%  {megabytes}\n")
            self.next_percent = (percent // 10 + 1) * 10
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line, if one was drawn."""
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
