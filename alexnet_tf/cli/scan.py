"""``alexnet-studio scan FOLDER [--json]``: check a dataset folder before training on it."""

from __future__ import annotations

import sys
from pathlib import Path

from ..fileio import json_text

# Refused files listed in the readable report before "... and N more" (--json lists all).
MAX_REFUSED_SHOWN = 50
# Skipped files named per reason (a folder can hold thousands of "._" files; --json lists all).
MAX_SKIPPED_NAMED = 5


def register(subparsers) -> None:
    """Add the ``scan`` command."""
    parser = subparsers.add_parser(
        "scan",
        help="check a dataset folder (one sub-folder per class) before training",
        description="Decode every file of a dataset folder once and report the classes and "
        "their image counts, files refused and why, hidden and system files skipped, warnings "
        "and errors. Nothing is written into the folder and symbolic links are not followed. "
        "Exit status 0 when the folder can be used for training, 1 when it has errors.",
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(handler=run_scan)


def _relative(path: str, root: str) -> str:
    prefix = root.rstrip("/\\") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def format_report(report: dict) -> str:
    """The human-readable report of a scan's ``to_dict()``."""
    root = report["root"]
    lines = [f"Dataset: {root}"]
    counts = report["counts"]
    if counts:
        width = max(len("class"), *(len(name) for name in counts))
        lines += ["", f"  {'class':<{width}}  images", f"  {'-' * width}  ------"]
        lines += [f"  {name:<{width}}  {count:>6}" for name, count in counts.items()]
        lines.append(f"  {'total':<{width}}  {report['num_images']:>6}")
    refused = report["refused"]
    if refused:
        lines += ["", f"Refused files ({len(refused)}):"]
        for entry in refused[:MAX_REFUSED_SHOWN]:
            lines.append(f"  {_relative(entry['path'], root)}: {entry['reason']}")
        if len(refused) > MAX_REFUSED_SHOWN:
            lines.append(f"  ... and {len(refused) - MAX_REFUSED_SHOWN} more (see --json)")
    skipped = report["skipped"]
    if skipped:
        by_reason: dict[str, list[str]] = {}
        for entry in skipped:
            by_reason.setdefault(entry["reason"], []).append(_relative(entry["path"], root))
        lines += ["", f"Skipped ({len(skipped)}, not images by design):"]
        for reason, names in sorted(by_reason.items()):
            named = ", ".join(names[:MAX_SKIPPED_NAMED])
            more = (
                f", ... and {len(names) - MAX_SKIPPED_NAMED} more"
                if len(names) > MAX_SKIPPED_NAMED
                else ""
            )
            lines.append(f"  {len(names)} x {reason}: {named}{more}")
    if report["warnings"]:
        lines += ["", "Warnings:"] + [f"  - {text}" for text in report["warnings"]]
    if report["errors"]:
        lines += ["", "Errors (training cannot start until these are fixed):"]
        lines += [f"  - {text}" for text in report["errors"]]
    else:
        lines += ["", f"Ready for training: {len(counts)} classes, {report['num_images']} images."]
    return "\n".join(lines)


def run_scan(args) -> int:
    """Scan the folder, print the report, return 0 when trainable and 1 otherwise."""
    from ..data.scan import scan_dataset

    show_progress = not args.json and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show_progress and (done == total or done % 50 == 0):
            print(f"\rdecoding {done}/{total}", end="", file=sys.stderr, flush=True)

    scan = scan_dataset(args.folder, progress=progress)
    if show_progress:
        print(file=sys.stderr)
    report = scan.to_dict()
    if args.json:
        print(json_text(report))
    else:
        print(format_report(report))
    return 0 if scan.trainable else 1
